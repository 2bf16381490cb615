"""Acknowledgement pacing (batch/pacing.py): requests wait, in order, while more than the bound
waits for the writers; each reserves its cost until appended, so a burst cannot overshoot;
nothing waits during an outage or for longer than the maximum wait; the bound follows how
long the writers take. The last test runs it in the batcher, in front of a real log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from test_batcher import RecordingWriter, make_batcher, open_log, stop, until

from vigil_collector.batch.pacing import Pacer
from vigil_collector.wal.records import RecordKind


class Backlog:
    """What the pacer reads: cost waiting for the writers, and whether the last INSERT worked."""

    def __init__(self) -> None:
        self.unwritten = 0
        self.healthy = True

    def pacer(self, **kw: float) -> Pacer:
        opts = {"target_s": 1.0, "floor": 100, "ceiling": 1000, "max_wait_s": 5.0} | kw
        pacer = Pacer(
            target_s=opts["target_s"],
            floor=int(opts["floor"]),
            ceiling=int(opts["ceiling"]),
            unwritten=lambda: self.unwritten,
            healthy=lambda: self.healthy,
            max_wait_s=opts["max_wait_s"],
        )
        return pacer


async def _hold(pacer: Pacer, cost: int, order: list[int], release: asyncio.Event, backlog: Backlog) -> None:
    async with pacer.admitted(cost):
        order.append(cost)
        await release.wait()
        backlog.unwritten += cost  # appended: now the log counts it


def test_a_burst_is_let_in_up_to_the_bound_then_in_order() -> None:
    async def run() -> None:
        backlog = Backlog()
        pacer = backlog.pacer()  # bound 500 before any commit: half the ceiling
        assert pacer.bound() == 500
        order: list[int] = []
        release = asyncio.Event()
        tasks = [asyncio.create_task(_hold(pacer, 200 + i, order, release, backlog)) for i in range(6)]
        await until(lambda: len(order) + pacer.waiting == 6, "every request let in or waiting")
        assert order == [200, 201]  # 401 reserved; a third would pass 500
        assert pacer.holding is False and not pacer.appending  # let in at once, being appended
        release.set()
        await until(lambda: backlog.unwritten == 401, "the two let in appended")
        assert order == [200, 201] and pacer.waiting == 4  # the log holds them now
        assert pacer.holding
        async with asyncio.timeout(2):  # well within the 5 s a request may wait
            while not all(t.done() for t in tasks):
                backlog.unwritten = 0  # a batch committed
                pacer.committed(0.5)
                await asyncio.sleep(0.01)
        assert order == [200, 201, 202, 203, 204, 205]  # first come, first served

    asyncio.run(run())


def test_a_request_larger_than_the_bound_gets_in_when_nothing_waits() -> None:
    async def run() -> None:
        backlog = Backlog()
        pacer = backlog.pacer()
        async with pacer.admitted(5000):
            pass
        backlog.unwritten = 1
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                async with pacer.admitted(5000):
                    pass

    asyncio.run(run())


def test_nothing_waits_longer_than_the_maximum_or_during_an_outage() -> None:
    async def run() -> None:
        backlog = Backlog()
        backlog.unwritten = 10_000
        pacer = backlog.pacer(max_wait_s=0.2, ceiling=10_000)  # bound 5000: held
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with pacer.admitted(10):
            waited = loop.time() - started
        assert 0.15 < waited < 3.0

        order: list[int] = []
        release = asyncio.Event()
        release.set()
        held = asyncio.create_task(_hold(pacer, 10, order, release, backlog))
        await until(lambda: order or pacer.waiting, "the request let in or waiting")
        assert order == []
        backlog.healthy = False  # an INSERT failed: not paced, the waiting are let in
        pacer.wake()
        await asyncio.wait_for(held, 1)
        assert order == [10] and not pacer.paced

    asyncio.run(run())


def test_a_cancelled_request_gives_its_place_back() -> None:
    async def run() -> None:
        backlog = Backlog()
        backlog.unwritten = 450
        pacer = backlog.pacer()
        order: list[int] = []
        release = asyncio.Event()
        release.set()
        first = asyncio.create_task(_hold(pacer, 100, order, release, backlog))
        second = asyncio.create_task(_hold(pacer, 20, order, release, backlog))
        await until(lambda: order or pacer.waiting == 2, "both requests waiting")
        assert order == []
        first.cancel()
        await until(lambda: first.done(), "the cancelled request gone")
        assert pacer.waiting == 1
        backlog.unwritten = 0
        pacer.wake()
        await asyncio.wait_for(second, 1)
        assert order == [20]
        backlog.unwritten = 0
        async with asyncio.timeout(1), pacer.admitted(500):  # no reservation was left behind
            assert order == [20]

    asyncio.run(run())


def test_the_bound_follows_how_long_batches_take_while_requests_wait() -> None:
    async def run() -> None:
        backlog = Backlog()
        pacer = backlog.pacer(target_s=1.0, floor=100, ceiling=1000)
        pacer.committed(3.0)  # nobody was held: the bound did not limit anything
        assert pacer.bound() == 500
        backlog.unwritten = 300
        release = asyncio.Event()
        waiter = asyncio.create_task(_hold(pacer, 5000, [], release, backlog))  # never fits
        await until(lambda: pacer.waiting, "the request waiting")
        bounds = []
        for _ in range(20):  # slower than the target: smaller, by at most a fifth each
            pacer.committed(4.0)
            bounds.append(pacer.bound())
        assert bounds[0] == int(500 / 1.2) and bounds[-1] == 100  # down to the floor
        for _ in range(30):  # faster: larger, up to the ceiling
            pacer.committed(0.25)
        assert pacer.bound() == 1000
        backlog.unwritten = 0
        pacer.wake()  # nothing waits for the writers: in it goes, however large
        release.set()
        await asyncio.wait_for(waiter, 1)

    asyncio.run(run())


def test_batcher_paces_appends_to_its_bound(tmp_path: Path) -> None:
    """Many requests at once against held writers: what waits for them never passes the
    bound by more than the request let in on an empty log, and all get in once it commits."""

    async def run() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        writer.release.clear()  # ClickHouse hangs
        batcher = make_batcher(wal, writer, max_items=1000, pace_s=1.0)

        async def request(i: int) -> None:
            async with batcher.admitted(100):
                await wal.append(RecordKind.TRACES_OTLP, 100, b"x%d" % i)

        tasks = [asyncio.create_task(request(i)) for i in range(30)]
        bound = batcher.pacer.bound()
        async with asyncio.timeout(4):  # the first ones are appended (fsynced)...
            while sum(1 for t in tasks if t.done()) < bound // 100:
                await asyncio.sleep(0.01)
        # ...and the rest wait for the pacer while the INSERT hangs: once all of them are
        # counted as held, none of them has been appended.
        held = f"vigil_ingest_paced_requests {30 - bound // 100}.0"
        async with asyncio.timeout(4):
            while held not in generate_latest(batcher._metrics.registry).decode():
                await asyncio.sleep(0.01)
        assert sum(1 for t in tasks if t.done()) == bound // 100
        metrics = generate_latest(batcher._metrics.registry).decode()
        assert f"vigil_ingest_pace_bound_spans {bound}.0" in metrics
        writer.release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        await batcher.flushed()
        assert len(writer.stored) == 30
        assert await stop(wal, batcher)

    asyncio.run(run())


def test_what_the_pacer_lets_in_goes_into_the_next_batch(tmp_path: Path) -> None:
    """Paced, a free writer's batch takes all that the bound leaves beyond the batch being
    written: a request let in and left out would wait for another whole INSERT to be visible
    (before, each batch took a lane's share of the bound, and the rest waited)."""

    async def run() -> None:
        wal = open_log(tmp_path)
        writers = [RecordingWriter(), RecordingWriter()]
        for w in writers:
            w.release.clear()  # both INSERTs hang until the batches are cut
        batcher = make_batcher(wal, *writers, max_items=1000, max_wait_s=0.3, pace_s=1.0)
        bound = batcher.pacer.bound()

        async def request(i: int) -> None:
            async with batcher.admitted(100):
                await wal.append(RecordKind.TRACES_OTLP, 100, b"x%d" % i)

        await request(0)  # a small batch, cut after max_wait
        async with asyncio.timeout(4):
            while not any(w.attempts for w in writers):
                await asyncio.sleep(0.01)
        # The bound leaves room for more than a lane's share beside it: all of it is let in.
        others = (bound - 100) // 100
        assert others * 100 > bound // len(writers)
        await asyncio.wait_for(asyncio.gather(*(request(i) for i in range(1, 1 + others))), 4)
        async with asyncio.timeout(4):
            while sum(w.attempts for w in writers) < 2:
                await asyncio.sleep(0.01)
        for w in writers:
            w.release.set()
        await asyncio.wait_for(batcher.flushed(), 5)
        assert sorted(len(p) for w in writers for _, p in w.inserts) == [1, others]
        assert await stop(wal, batcher)

    asyncio.run(run())
