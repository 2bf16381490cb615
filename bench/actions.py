"""Action throughput: N actions through the real worker (``ActionQueue`` built from the settings
as ``vigil serve`` builds it, on embedded chDB) against a fake remediator in its own process that
answers 200 after a fixed delay. Per concurrency (1 and VIGIL_REMEDIATOR_CONCURRENCY):

- throughput: actions/s from the first enqueue to the last ``completed`` stored;
- queue-to-start latency p50/p99: the task's ``enqueued_at`` → the remediator receiving it
  (all N are enqueued in one burst from one thread, so this includes the wait behind the
  backlog; ``--rate`` enqueues them at a steady rate instead, for the latency without one);
- the floor: the same N POSTs sent directly, with the worker's HTTP client (urllib) from as many
  threads as the concurrency, no queue and no storage, in the same run; and the ratio.

The load average is printed next to each figure: the reference machine is shared.

    .venv/bin/python bench/actions.py                          # 1000 actions, 20 ms remediator
    .venv/bin/python bench/actions.py --actions 200 --delay-ms 50 --concurrency 1 8
    .venv/bin/python bench/actions.py --actions 300 --rate 10    # steady 10 actions/s
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from vigil_alerting.actions.queue import ActionQueue
from vigil_alerting.actions.store import ActionRecord
from vigil_server.settings import VigilSettings
from vigil_server.wiring.alerting import make_actions


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def arrivals(url: str, since: int) -> list[list]:
    with urllib.request.urlopen(f"{url}/stats?since={since}", timeout=60) as response:
        return json.loads(response.read())


def count(url: str) -> int:
    with urllib.request.urlopen(f"{url}/count", timeout=60) as response:
        return int(response.read())


def make_queue(s: VigilSettings, system_database: str, concurrency: int) -> ActionQueue:
    """The queue as the server builds it (its wiring's ``make_actions``), in a database and at
    a concurrency of this run's (no incidents: the tasks name none)."""
    return make_actions(
        s.model_copy(update={"system_database": system_database, "remediator_concurrency": concurrency})
    )


def through_worker(
    s: VigilSettings, url: str, n: int, concurrency: int, rnd: int, rate: float
) -> dict[str, float]:
    queue = make_queue(s, f"bench_actions_{rnd}", concurrency)
    queue.open()
    done = threading.Event()
    completed: list[float] = []
    failed: list[ActionRecord] = []

    def on_version(a: ActionRecord) -> None:
        if a.status == "completed":
            completed.append(time.time())
        elif a.status == "failed":
            failed.append(a)
        if len(completed) + len(failed) >= n:
            done.set()

    queue.subscribe(on_version)
    queue.start()
    before = count(url)
    try:
        t0 = time.time()
        for i in range(n):
            if rate > 0 and (ahead := t0 + i / rate - time.time()) > 0:
                time.sleep(ahead)  # a steady arrival rate, not a burst
            queue.enqueue("bench", "restart", f"pod-{i:05d}", severity="high", params={"grace_s": 0})
        enqueued_s = time.time() - t0
        if not done.wait(timeout=max(600.0, n * 1.0)):
            raise SystemExit(f"only {len(completed)} of {n} actions completed")
        if failed:
            raise SystemExit(f"{len(failed)} actions failed, e.g. {failed[0].answer}")
        elapsed = max(completed) - t0
    finally:
        queue.stop()
    got = arrivals(url, before)
    latency = [(received - enqueued) * 1000 for received, _, enqueued, _ in got]
    return {
        "rate": n / elapsed,
        "elapsed": elapsed,
        "enqueue_s": enqueued_s,
        "p50": percentile(latency, 50),
        "p99": percentile(latency, 99),
        "tasks": len(got),
        "distinct": len({a[1] for a in got}),
    }


def direct(url: str, n: int, concurrency: int) -> dict[str, float]:
    """The floor: the same POSTs (same body shape and headers) with the worker's HTTP client."""

    def post(i: int) -> None:
        action_id = uuid.uuid4().hex
        task = {
            "task_id": f"{action_id}.1", "action_id": action_id, "action": "restart", "target": f"pod-{i:05d}",
            "severity": "high", "params": {"grace_s": 0}, "incident": None, "enqueued_at": t0,
        }  # fmt: skip
        request = urllib.request.Request(
            f"{url}/task",
            data=json.dumps(task).encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": action_id},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    before = count(url)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(n)))
    elapsed = time.time() - t0
    latency = [(received - enqueued) * 1000 for received, _, enqueued, _ in arrivals(url, before)]
    return {
        "rate": n / elapsed,
        "elapsed": elapsed,
        "p50": percentile(latency, 50),
        "p99": percentile(latency, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the fake remediator's answer delay")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=None,
        help="tasks in flight per remediator (default: 1 and VIGIL_REMEDIATOR_CONCURRENCY)",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=float, default=0.0, help="actions enqueued per second (0: all at once)"
    )
    args = parser.parse_args()
    sink = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("remediator_sink.py")),
            "--delay-ms",
            str(args.delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    url = f"http://127.0.0.1:{json.loads(sink.stdout.readline())['port']}"
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-actions-"))
    s = VigilSettings(data_dir=work, remediator_url=f"{url}/task")
    levels = args.concurrency or sorted({1, s.remediator_concurrency})
    arrival = f"at {args.rate:g}/s" if args.rate > 0 else "in one burst"
    print(
        f"{args.actions} actions enqueued {arrival}, remediator answers after {args.delay_ms:g} ms; "
        f"load average {load()}"
    )
    try:
        for rnd, concurrency in enumerate(levels):
            w = through_worker(s, url, args.actions, concurrency, rnd, args.rate)
            print(
                f"concurrency {concurrency}: worker {w['rate']:.1f} actions/s ({w['elapsed']:.1f} s, "
                f"enqueueing took {w['enqueue_s']:.1f} s), queue-to-start p50 {w['p50']:.0f} ms, "
                f"p99 {w['p99']:.0f} ms; {w['tasks']} tasks for {w['distinct']} actions; load average {load()}",
                flush=True,
            )
            if args.rate > 0:  # the throughput is the arrival rate: no floor to compare with
                print(
                    f"RESULT actions concurrency {concurrency} at {args.rate:g}/s: queue-to-start "
                    f"p50 {w['p50']:.0f} ms p99 {w['p99']:.0f} ms; load average {load()}",
                    flush=True,
                )
                continue
            f = direct(url, args.actions, concurrency)
            print(
                f"concurrency {concurrency}: floor (direct POSTs) {f['rate']:.1f} actions/s ({f['elapsed']:.1f} s), "
                f"start p50 {f['p50']:.0f} ms, p99 {f['p99']:.0f} ms; load average {load()}",
                flush=True,
            )
            print(
                f"RESULT actions concurrency {concurrency}: {w['rate']:.1f} actions/s, "
                f"queue-to-start p50 {w['p50']:.0f} ms p99 {w['p99']:.0f} ms; floor {f['rate']:.1f} actions/s; "
                f"worker/floor {w['rate'] / f['rate']:.3f}; load average {load()}",
                flush=True,
            )
    finally:
        sink.kill()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
