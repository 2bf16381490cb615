"""Issue 34's benchmark on the whole server path, and ingest with the notifier busy vs without
it, alternating (off, on, on, off, ...), so that drift in the machine's load falls on both alike.

    .venv/bin/python bench/notify_ingest.py --latency          # 3 bursts of 1000, no ingest
    .venv/bin/python bench/notify_ingest.py --during-burst --repeat 3600   # that burst in ingest
    .venv/bin/python bench/notify_ingest.py                    # every group re-sent every 2 s

Each run is a fresh ``vigil serve`` (embedded chDB) with the same rules file: one span-count
rule grouped by ``vigil.user`` (``--interval``, 5 s). A seed request of ``--alerts`` spans, one
per user, makes that many alert instances fire in one evaluation. "on" also sets
VIGIL_ALERTMANAGER_CONFIG (``group_by: [alertname, vigil.user]``, ``group_wait: 0s``,
``repeat_interval: --repeat``) with one webhook receiver in its own process.

``--latency``: only the burst, in a fresh server per round: notifications and groups, first
delivery p50/p99 from the evaluation (the alerts' ``startsAt``), the CPU of the notifier's threads
and of the server. Otherwise the reference payload is sent (``--clients`` x ``--inflight``) and the
ack rate and the server's CPU µs per span per run are printed, with the medians' ratio on/off:
by default after the first burst was delivered, while the notifier re-sends every group each
``--repeat`` seconds; with ``--during-burst`` the seed is sent just before (on runs only, unless
``--off-seeds``), so the one burst falls in the measured ingest.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
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
from ingest import _tree_pids, free_port, send_all, tree_cpu_s, wait_ready, wait_written
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


def threads_cpu_s(pid: int, prefix: str) -> float:
    """CPU seconds used so far by the threads of ``pid`` (and its children) whose OS name starts
    with ``prefix`` (the notifier names its threads ``vigil-notifier`` and ``vigil-notify-db``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _tree_pids(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                if not (task / "comm").read_text().startswith(prefix):
                    continue
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def first_deliveries(sink_url: str, since: int) -> list[tuple[float, dict[str, str]]]:
    """Each notification after the ``since``-th: seconds from its evaluation (the first alert's
    ``startsAt``, the evaluation's timestamp) to its arrival, and its group labels."""
    got = json.loads(urllib.request.urlopen(f"{sink_url}/stats?since={since}", timeout=30).read())
    return [(at - dt.datetime.fromisoformat(starts).timestamp(), labels) for at, labels, _, starts in got]


def percentiles(latencies: list[float]) -> str:
    lat = sorted(latencies)
    if not lat:
        return "none arrived"
    p99 = lat[min(len(lat) - 1, max(0, int(len(lat) * 0.99) - 1))]
    return f"p50 {lat[len(lat) // 2]:.3f} s, p99 {p99:.3f} s, last {lat[-1]:.3f} s"


def start_server(
    args: argparse.Namespace, on: bool, sink_url: str
) -> tuple[subprocess.Popen[bytes], Path, int, int]:
    """A fresh ``vigil serve`` with the per-user rule (and, ``on``, the alertmanager
    configuration): the process, its data directory, its OTLP gRPC and HTTP ports, once ready."""
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-notify-ingest-"))
    rules = work / "rules.json"
    rules.write_text(
        json.dumps(
            [{"name": "per-user", "severity": "warning", "target": SERVICE, "group_by": ["vigil.user"],
              "window": "1h", "interval": args.interval, "condition": {"type": "spans", "measure": "count", "threshold": 0}}]
        )
    )  # fmt: skip
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ, VIGIL_DATA_DIR=str(work), VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port), VIGIL_QUERY_PORT=str(query_port), VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING", VIGIL_DRIFT_INTERVAL_S="0", VIGIL_RULES_FILE=str(rules),
        VIGIL_RULES_INTERVAL_S=str(args.interval),
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
    except BaseException:
        stop_server(server, work)
        raise
    return server, work, grpc_port, http_port


def stop_server(server: subprocess.Popen[bytes], work: Path) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)
    subprocess.run(["rm", "-rf", str(work)], check=False)


def run_burst(args: argparse.Namespace, sink_url: str) -> tuple[list[float], int, float, float]:
    """The server path alone: the seed's users all fire in one evaluation. Latencies from the
    evaluation, distinct groups notified, the notifier threads' CPU and the server's meanwhile."""
    server, work, grpc_port, _ = start_server(args, True, sink_url)
    try:
        before = count(sink_url)
        notifier0, server0 = threads_cpu_s(server.pid, "vigil-notif"), tree_cpu_s(server.pid)
        asyncio.run(send_all(grpc_port, [seed_request(args.alerts)], 1, 1))
        deadline = time.time() + 300
        while count(sink_url) < before + args.alerts:
            if time.time() > deadline:
                raise SystemExit(f"the burst did not arrive: {count(sink_url) - before} of {args.alerts}")
            time.sleep(0.1)
        notifier = threads_cpu_s(server.pid, "vigil-notif") - notifier0
        whole = tree_cpu_s(server.pid) - server0
        got = first_deliveries(sink_url, before)
    finally:
        stop_server(server, work)
    return [lat for lat, _ in got], len({labels["vigil.user"] for _, labels in got}), notifier, whole


def run_once(
    bodies: list[bytes], args: argparse.Namespace, on: bool, sink_url: str
) -> tuple[float, float, int, list[float]]:
    """Spans/s acknowledged, the server's CPU µs per span meanwhile, notifications delivered
    meanwhile, and (``--during-burst``) their latencies from the evaluation."""
    server, work, grpc_port, http_port = start_server(args, on, sink_url)
    try:
        before = count(sink_url)
        asyncio.run(send_all(grpc_port, bodies[:4], 4, 1))
        wait_written(http_port)
        if args.during_burst:
            if on or args.off_seeds:  # else "off" has no burst at all: no seed, no alerts, nothing sent
                asyncio.run(send_all(grpc_port, [seed_request(args.alerts)], 1, 1))
                wait_written(http_port)  # the next evaluation (within --interval) fires every user
        else:
            asyncio.run(send_all(grpc_port, [seed_request(args.alerts)], 1, 1))
            if on:  # the first burst delivered: the notifier is in its repeat cycle
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
        latencies = [lat for lat, _ in first_deliveries(sink_url, sent0)] if args.during_burst else []
    finally:
        stop_server(server, work)
    return acked / ack_s, cpu / acked * 1e6, delivered, latencies


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
    parser.add_argument("--interval", type=float, default=5.0, help="the rule's evaluation interval, seconds")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="only the server path without ingest: --rounds bursts, each in a fresh server; first "
        "delivery p50/p99 from the evaluation, groups notified, the notifier threads' CPU",
    )
    parser.add_argument(
        "--off-seeds",
        action="store_true",
        help="with --during-burst: the off runs get the seed too (the 1,000 alerts and incidents, "
        "no notifier), so the ratio is the notifier's share alone",
    )
    args = parser.parse_args()
    if args.latency:
        main_latency(args)
        return
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
                rate, cpu, delivered, latencies = run_once(bodies, args, on, sink_url)
                rates[on].append(rate)
                cpus[on].append(cpu)
                burst = f" ({percentiles(latencies)} from the evaluation)" if on and args.during_burst else ""
                print(
                    f"round {i + 1}: notifier {'on ' if on else 'off'}: ack {rate:,.0f} spans/s, server "
                    f"{cpu:.1f} us/span, {delivered} notifications delivered meanwhile{burst}; "
                    f"load average {os.getloadavg()[0]:.1f}",
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


def main_latency(args: argparse.Namespace) -> None:
    sink = subprocess.Popen([sys.executable, str(HERE / "notify_sink.py")], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    sink_url = f"http://127.0.0.1:{json.loads(sink.stdout.readline())['port']}"
    try:
        for i in range(args.rounds):
            latencies, groups, notifier, whole = run_burst(args, sink_url)
            print(
                f"RESULT notify burst round {i + 1}: {len(latencies)} notifications for {groups} groups; first "
                f"delivery from the evaluation {percentiles(latencies)}; notifier threads CPU {notifier:.2f} s, "
                f"server {whole:.2f} s; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        sink.kill()


if __name__ == "__main__":
    main()
