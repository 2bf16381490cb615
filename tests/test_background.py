"""The one start/stop helper of the alerting side's loops (vigil_alerting/background.py)."""

from __future__ import annotations

import threading

from vigil_alerting.background import LoopThread

from support import wait_for


def test_a_loop_starts_once_wakes_early_and_stops_after_its_round() -> None:
    rounds: list[int] = []
    worker: LoopThread

    def loop() -> None:
        while not worker.stopping.is_set():
            rounds.append(threading.get_ident())
            worker.wake.wait(3600)  # only a wake ends this wait
            worker.wake.clear()

    worker = LoopThread("vigil-test-loop", loop)
    assert not worker.running
    worker.start()
    worker.start()  # a second start is a no-op: one thread
    wait_for(lambda: len(rounds) == 1, 30, "round 1")
    worker.wake.set()
    wait_for(lambda: len(rounds) == 2, 30, "round 2")
    assert worker.running and len(set(rounds)) == 1
    worker.stop(timeout_s=30)
    assert not worker.running
    worker.start()  # and it starts again after a stop
    wait_for(lambda: len(rounds) == 3, 30, "round 3")
    worker.stop(timeout_s=30)
    assert not worker.running
