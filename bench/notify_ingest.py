"""Ingest with the notifier busy vs without it, alternating (off, on, on, off, ...), so that drift
in the machine's load falls on both alike.

    .venv/bin/python bench/notify_ingest.py                    # 3 rounds each, 300 requests of 512 spans
    .venv/bin/python bench/notify_ingest.py --rounds 5 --requests 600

Each run is a fresh ``vigil serve`` (embedded chDB) with the same rules file: one span-count
rule grouped by ``vigil.user`` (interval 5 s). A seed request of ``--alerts`` spans, one per
user, makes that many alert instances fire in one evaluation. "on" also sets
VIGIL_ALERTMANAGER_CONFIG (``group_by: [alertname, vigil.user]``, ``group_wait: 0s``,
``repeat_interval: --repeat``) with one webhook receiver in its own process, and waits for the
first burst to be delivered; then, in both, the reference payload is sent (``--clients`` x
``--inflight``) while the notifier re-sends every group each ``--repeat`` seconds (or, with
``--during-burst --repeat 3600``, from the seed on, so that the one burst falls in it). Prints the
ack rate and the server's CPU µs per span per run, and the medians' ratio on/off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import free_port, send_all, tree_cpu_s, wait_ready, wait_written
from reference_payload import build_request

HERE = Path(__file__).resolve().parent
SERVICE = "bench-notify-users"


def seed_request(users: int) -> bytes:
    """One span per user (`user.id`, the `vigil.user` group key), now, on one service."""
    now = time.time_ns()
    spans = [
        Span(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="call",
            start_time_unix_nano=now - 1_000_000,
            end_time_unix_nano=now,
            attributes=[KeyValue(key="user.id", value=AnyValue(string_value=f"u{u:05d}"))],
        )
        for u in range(users)
    ]
    resource = KeyValue(key="service.name", value=AnyValue(string_value=SERVICE))
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource={"attributes": [resource]}, scope_spans=[ScopeSpans(spans=spans)])
        ]
    )
    return request.SerializeToString()


def count(url: str) -> int:
    return int(urllib.request.urlopen(f"{url}/count", timeout=10).read())


def run_once(
    bodies: list[bytes], args: argparse.Namespace, on: bool, sink_url: str
) -> tuple[float, float, int]:
    """Spans/s acknowledged, the server's CPU µs per span meanwhile, notifications delivered meanwhile."""
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-notify-ingest-"))
    rules = work / "rules.json"
    rules.write_text(
        json.dumps(
            [{"name": "per-user", "severity": "warning", "target": SERVICE, "group_by": ["vigil.user"],
              "window": "1h", "interval": 5, "condition": {"type": "spans", "measure": "count", "threshold": 0}}]
        )
    )  # fmt: skip
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ, VIGIL_DATA_DIR=str(work), VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port), VIGIL_QUERY_PORT=str(query_port), VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING", VIGIL_DRIFT_INTERVAL_S="0", VIGIL_RULES_FILE=str(rules), VIGIL_RULES_INTERVAL_S="5",
    )  # fmt: skip
    if on:
        config = work / "alertmanager.yml"
        config.write_text(
            yaml.safe_dump(
                {"route": {"receiver": "r", "group_by": ["alertname", "vigil.user"], "group_wait": "0s",
                           "group_interval": "1s", "repeat_interval": f"{args.repeat}s"},
                 "receivers": [{"name": "r", "webhook_configs": [{"url": f"{sink_url}/bulk"}]}]}
            )
        )  # fmt: skip
        env["VIGIL_ALERTMANAGER_CONFIG"] = str(config)
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port, 240)
        before = count(sink_url)
        asyncio.run(send_all(grpc_port, bodies[:4], 4, 1))
        wait_written(http_port)
        asyncio.run(send_all(grpc_port, [seed_request(args.alerts)], 1, 1))
        if args.during_burst:
            pass  # measured from now: the rule's next evaluation fires every user while spans arrive
        elif on:  # the first burst delivered: the notifier is in its repeat cycle
            deadline = time.time() + 300
            while count(sink_url) < before + args.alerts:
                if time.time() > deadline:
                    raise SystemExit(f"the first burst did not arrive: {count(sink_url) - before}")
                time.sleep(0.2)
        else:  # the same evaluations have started (the rule fires; nothing is sent)
            time.sleep(3)
        sent0 = count(sink_url)
        cpu = tree_cpu_s(server.pid)
        ack_s, acked, _ = asyncio.run(send_all(grpc_port, bodies[4:], args.clients, args.inflight))
        cpu = tree_cpu_s(server.pid) - cpu
        delivered = count(sink_url) - sent0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return acked / ack_s, cpu / acked * 1e6, delivered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--repeat", type=float, default=2.0, help="repeat_interval, seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--during-burst",
        action="store_true",
        help="measure from the seed on (the first burst of --alerts notifications falls in the run; "
        "use with a long --repeat), instead of from the first burst delivered",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = time.time_ns() - 600 * 10**9
    bodies = [build_request(rng, base + i * 1_000_000).SerializeToString() for i in range(args.requests + 4)]
    sink = subprocess.Popen([sys.executable, str(HERE / "notify_sink.py")], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    sink_url = f"http://127.0.0.1:{json.loads(sink.stdout.readline())['port']}"
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    try:
        for i in range(args.rounds):
            for on in (False, True) if i % 2 == 0 else (True, False):
                rate, cpu, delivered = run_once(bodies, args, on, sink_url)
                rates[on].append(rate)
                cpus[on].append(cpu)
                print(
                    f"round {i + 1}: notifier {'on ' if on else 'off'}: ack {rate:,.0f} spans/s, server "
                    f"{cpu:.1f} us/span, {delivered} notifications delivered meanwhile",
                    flush=True,
                )
    finally:
        sink.kill()
    off, on_ = statistics.median(rates[False]), statistics.median(rates[True])
    cpu_off, cpu_on = statistics.median(cpus[False]), statistics.median(cpus[True])
    print(
        f"RESULT notify ingest: ack median off={off:,.0f} on={on_:,.0f} spans/s, on/off={on_ / off:.3f} "
        f"({args.rounds} rounds each, {args.alerts} alerts re-sent every {args.repeat:g} s); server cpu median "
        f"off={cpu_off:.1f} on={cpu_on:.1f} us/span"
    )


if __name__ == "__main__":
    main()
