"""Ingest benchmark: OTLP/gRPC into `vigil serve`, next to a parse-and-ack sink and a direct
insert of the same spans into the same ClickHouse, measured in the same run.

    make bench                                          # 8 clients x 8 in flight (defaults)
    make bench BENCH_ARGS="--clients 1 --inflight 1"    # one exporter, one request in flight
    make bench BENCH_ARGS="--requests 1200 --clients 16"
    make bench BENCH_ARGS="--rate 10000 --requests 200 --clients 1 --inflight 1"   # steady load
    make bench BENCH_ARGS="--dedup-window 0"            # idempotent ingest off (default: on, 600 s)
    make bench BENCH_ARGS="--dedup-compare 5"           # ack throughput, dedup off vs on, alternating
    make bench BENCH_ARGS="--rules-compare 3"           # end to end, 200 alert rules off vs on, alternating

What it does:
1. builds the reference payload (bench/reference_payload.py): N requests of 512 spans,
   serialised before timing;
2. sends them to a parse-and-ack sink (bench/ack_sink.py: parses each request, answers OK):
   the ceiling the clients and gRPC allow here;
3. starts ``vigil serve`` as a subprocess on embedded chDB in a fresh directory, on loopback,
   and sends the same requests with the same clients (each call waits for its ack, as OTLP
   exporters do; a retryable refusal is retried after a short pause). Two clocks: the last
   ack (acknowledged = fsynced in the write-ahead log), and the moment the log has nothing
   left for ClickHouse (end to end: every span stored);
4. meanwhile a probe sends a one-span request every 250 ms and polls SearchSpans (every
   100 ms, for all probes at once) until it is visible: the freshness, ack → queryable;
5. stops the server (SIGTERM), opens the same chDB directory and counts the stored spans:
   the count must equal what was acknowledged;
6. inserts the same spans, already decoded to Arrow (untimed), straight into a copy of
   ``otel_traces`` in batches of the server's batch size: ClickHouse's own ingest rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_payload import SPANS_PER_REQUEST, build_request, kv

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
POLL_S = 0.1  # the freshness probe's polling interval (its resolution)
READY_S = 300  # --rules-compare starts a server per round: a loaded machine may take minutes
HERE = Path(__file__).resolve().parent


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _tree_pids(pid: int) -> list[int]:
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(c) for c in children.read_text().split()]
    return pids


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its child processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """Resident memory of ``pid`` alone and of it with its children (Linux /proc)."""
    main = total = 0
    for p in _tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    total += rss
                    main = rss if p == pid else main
        except OSError:
            continue
    return main, total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(port: int, path: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:  # 503 has a JSON body too
        return json.loads(err.read())


def wait_ready(http_port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if http_json(http_port, "/ready").get("reason") == "ok":
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("vigil serve did not become ready")


def wait_written(http_port: int, timeout_s: float = 600) -> None:
    """Until the write-ahead log has nothing left for ClickHouse."""
    deadline = time.monotonic() + timeout_s
    while http_json(http_port, "/ready")["ingest"]["backlog_records"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the write-ahead log was not written in time")
        time.sleep(0.02)


def server_metrics(http_port: int) -> tuple[str, str, str]:
    """Who decoded the spans, the INSERTs' count and mean size, fsyncs, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        lines = r.read().decode().splitlines()
    values: dict[str, float] = {}
    for line in lines:
        if not line.startswith("#") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    decoders = ", ".join(
        f"{name.split(chr(34))[1]} {value:,.0f} spans"  # vigil_decoder_spans_total{decoder="..."}
        for name, value in values.items()
        if name.startswith("vigil_decoder_spans_total")
    )
    count = values.get("vigil_writer_insert_seconds_count", 0)
    seconds = values.get("vigil_writer_insert_seconds_sum", 0)
    spans = values.get("vigil_batcher_batch_spans_sum", 0)
    inserts = (
        f"{count:.0f} INSERTs of {spans / max(count, 1):,.0f} spans, {seconds / max(count, 1):.2f} s each"
    )
    lag = "commit lag of each batch's oldest record (vigil_batcher_commit_lag_seconds): " + ", ".join(
        f"p{q * 100:g} <= {_quantile_bound(values, 'vigil_batcher_commit_lag_seconds', q)} s"
        for q in (0.5, 0.99)
    )
    inserts += f"; {lag}"
    fsyncs = values.get("vigil_wal_fsync_seconds_count", 0)
    fsync_s = values.get("vigil_wal_fsync_seconds_sum", 0)
    fsync = f"{fsyncs:.0f} fsyncs, {fsync_s / max(fsyncs, 1) * 1000:.2f} ms each"
    return decoders, inserts, fsync


def _quantile_bound(values: dict[str, float], histogram: str, q: float) -> str:
    """The upper bound of the histogram bucket holding quantile ``q`` (Prometheus exposition)."""
    buckets = sorted(
        (float(name.split('le="')[1].split('"')[0]), count)
        for name, count in values.items()
        if name.startswith(f"{histogram}_bucket")
    )
    total = buckets[-1][1] if buckets else 0
    for le, count in buckets:
        if total and count >= q * total:
            return f"{le:g}"
    return "?"


LATENCIES: list[float] = []  # seconds from send to ack, of every request of the last send_all


async def send_all(
    port: int, bodies: list[bytes], clients: int, inflight: int, rate: float = 0.0
) -> tuple[float, int, int]:
    """``clients`` channels, each with up to ``inflight`` export calls outstanding (as the OTel
    Collector's exporter does with its sending queue consumers); each call waits for its ack.
    ``rate`` > 0: request k is not sent before k x 512 / rate seconds (a steady load, not a
    saturating one)."""
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)
    retries = 0
    acked = 0

    async def caller(export: grpc.aio.UnaryUnaryMultiCallable) -> None:
        nonlocal retries, acked
        while True:
            try:
                index, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if rate > 0:
                await asyncio.sleep(started + index * SPANS_PER_REQUEST / rate - time.perf_counter())
            while True:
                try:
                    sent = time.perf_counter()
                    await export(body, timeout=60)
                    LATENCIES.append(time.perf_counter() - sent)
                    acked += SPANS_PER_REQUEST
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    retries += 1
                    await asyncio.sleep(0.05)

    async def client() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            await asyncio.gather(*(caller(export) for _ in range(inflight)))

    LATENCIES.clear()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, acked, retries


async def probe_freshness(grpc_port: int, query_port: int, stop: asyncio.Event) -> list[float]:
    """Every 250 ms a one-span request; seconds from its ack until SearchSpans returns it (to
    within POLL_S). One poller asks for all waiting probes at once, so that probing hardly
    loads the server."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from vigil.query.v1 import query_pb2, query_pb2_grpc

    delays: list[float] = []
    waiting: dict[str, tuple[float, int]] = {}  # span id → (when acknowledged, its start time)
    rng = random.Random(99)
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as ingest,
        grpc.aio.insecure_channel(f"127.0.0.1:{query_port}") as query,
    ):
        export = ingest.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        search = query_pb2_grpc.QueryServiceStub(query).SearchSpans

        async def one() -> None:
            request = ExportTraceServiceRequest()
            rs = request.resource_spans.add()
            rs.resource.attributes.append(kv("service.name", "freshness-probe"))
            now = time.time_ns()
            span = Span(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name="probe")
            span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
            rs.scope_spans.add().spans.append(span)
            try:
                await export(request.SerializeToString(), timeout=30)
            except grpc.aio.AioRpcError:
                return
            waiting[span.span_id.hex()] = (time.perf_counter(), now)

        async def poll() -> None:
            while not stop.is_set() or waiting:
                if waiting:
                    oldest = min(start_ns for _, start_ns in waiting.values())
                    spec = query_pb2.SearchSpansRequest(
                        filter=query_pb2.SpanFilter(
                            service_name="freshness-probe",
                            start_time_min_unix_nano=oldest,
                            start_time_max_unix_nano=2**62,
                        ),
                        page_size=1000,
                    )
                    seen = {s.span_id for s in (await search(spec, timeout=30)).spans}
                    now = time.perf_counter()
                    for span_id in [i for i in waiting if i in seen]:
                        delays.append(now - waiting.pop(span_id)[0])
                await asyncio.sleep(POLL_S)

        poller = asyncio.create_task(poll())
        sends = []
        while not stop.is_set():
            sends.append(asyncio.create_task(one()))
            await asyncio.sleep(0.25)
        await asyncio.gather(*sends)
        await poller
    return delays


async def run_vigil(
    grpc_port: int, http_port: int, query_port: int, bodies: list[bytes], args: argparse.Namespace
) -> tuple[float, float, int, int, list[float]]:
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_freshness(grpc_port, query_port, stop)) if args.freshness else None
    started = time.perf_counter()
    ack_s, acked, retries = await send_all(grpc_port, bodies, args.clients, args.inflight, args.rate)
    await asyncio.to_thread(wait_written, http_port)
    e2e_s = time.perf_counter() - started
    stop.set()
    delays = await probe if probe else []
    return ack_s, e2e_s, acked, retries, delays


def run_sink(bodies: list[bytes], clients: int, inflight: int) -> float:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "ack_sink.py"), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "sink ready"
        elapsed, acked, _ = asyncio.run(send_all(port, bodies, clients, inflight))
    finally:
        sink.terminate()
        sink.wait(30)
    return acked / elapsed


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def ack_rate_once(bodies: list[bytes], args: argparse.Namespace, window: str) -> tuple[float, float]:
    """Spans/s acknowledged by a fresh ``vigil serve`` with VIGIL_INGEST_DEDUP_WINDOW_S=window,
    and the server's CPU µs per span meanwhile (less sensitive than the rate to a busy machine)."""
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-dedup-"))
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(query_port),
        VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING",
        VIGIL_DRIFT_INTERVAL_S="0",
        VIGIL_INGEST_DEDUP_WINDOW_S=window,
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port)
        asyncio.run(send_all(grpc_port, bodies[:4], 4, 1))
        wait_written(http_port)
        cpu = tree_cpu_s(server.pid)
        ack_s, acked, _ = asyncio.run(send_all(grpc_port, bodies[4:], args.clients, args.inflight, args.rate))
        cpu = tree_cpu_s(server.pid) - cpu
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return acked / ack_s, cpu / acked * 1e6


def dedup_compare(args: argparse.Namespace) -> None:
    """Ack throughput with idempotent ingest off and on, alternating (off, on, on, off, ...), so
    that drift in the machine's load falls on both alike."""
    rng = random.Random(args.seed)
    base = 1_700_000_000_000_000_000
    bodies = [
        build_request(rng, base + i * 10_000_000_000).SerializeToString() for i in range(args.requests + 4)
    ]
    rates: dict[str, list[float]] = {"0": [], args.dedup_window: []}
    cpus: dict[str, list[float]] = {"0": [], args.dedup_window: []}
    order = ["0", args.dedup_window]
    for i in range(args.dedup_compare):
        for window in order if i % 2 == 0 else order[::-1]:
            rate, cpu = ack_rate_once(bodies, args, window)
            rates[window].append(rate)
            cpus[window].append(cpu)
            print(
                f"round {i + 1}: window {window} s: ack {rate:,.0f} spans/s, server {cpu:.1f} us/span",
                flush=True,
            )
    off, on = statistics.median(rates["0"]), statistics.median(rates[args.dedup_window])
    cpu_off, cpu_on = statistics.median(cpus["0"]), statistics.median(cpus[args.dedup_window])
    print(
        f"RESULT dedup: ack median off={off:,.0f} on={on:,.0f} spans/s, on/off={on / off:.3f} "
        f"(cost {(1 - on / off) * 100:+.1f}%; {args.dedup_compare} rounds each, {args.clients} clients x "
        f"{args.inflight} in flight); server cpu median off={cpu_off:.1f} on={cpu_on:.1f} us/span "
        f"(on/off={cpu_on / cpu_off:.3f})"
    )


def rule_evaluations(http_port: int) -> int:
    """vigil_rule_evaluations_total, all results, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("vigil_rule_evaluations_total")
        )
    )


def e2e_rate_once(
    bodies: list[bytes], args: argparse.Namespace, rules_file: Path | None
) -> tuple[float, float, int]:
    """End-to-end spans/s (acked and stored) of a fresh ``vigil serve``, with the alert rules of
    ``rules_file`` evaluating meanwhile or none; the server's CPU µs per span; and how many rule
    evaluations ran during the measured sending."""
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-rules-ingest-"))
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(query_port),
        VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING",
        VIGIL_INGEST_DEDUP_WINDOW_S=args.dedup_window,
        VIGIL_RULES_INTERVAL_S=str(args.rules_interval),
    )
    if rules_file:
        env["VIGIL_RULES_FILE"] = str(rules_file)
    else:
        # "Off" is no rule at all: not the built-in drift and self-monitoring ones either.
        env["VIGIL_DRIFT_INTERVAL_S"] = "0"
        env["VIGIL_SELF_MONITOR_RULES_DISABLED"] = '["*"]'
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port, READY_S)
        asyncio.run(send_all(grpc_port, bodies[:4], 4, 1))
        wait_written(http_port)
        cpu, evaluations = tree_cpu_s(server.pid), rule_evaluations(http_port)
        started = time.perf_counter()
        _, acked, _ = asyncio.run(send_all(grpc_port, bodies[4:], args.clients, args.inflight, args.rate))
        wait_written(http_port)
        e2e_s = time.perf_counter() - started
        cpu, evaluations = tree_cpu_s(server.pid) - cpu, rule_evaluations(http_port) - evaluations
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return acked / e2e_s, cpu / acked * 1e6, evaluations


def rules_compare(args: argparse.Namespace) -> None:
    """End-to-end ingest with no rules and with bench/rules.py's 200 rules of mixed kinds
    evaluating at ``--rules-interval`` against the same server, alternating (off, on, on, off,
    ...) so that drift in the machine's load falls on both alike."""
    from rules import policies

    rng = random.Random(args.seed)
    # Spans of the last minutes, so that the rules' windows hold them.
    base = time.time_ns() - 10 * 60 * 10**9
    bodies = [
        build_request(rng, base + i * 100_000_000).SerializeToString() for i in range(args.requests + 4)
    ]
    rules_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-rules-file-"))
    rules_file = rules_dir / "rules.json"
    rules_file.write_text(json.dumps({"policies": [p for _, p in policies(args.rules)]}))
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    evaluated = 0
    try:
        for i in range(args.rules_compare):
            for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                rate, cpu, evaluations = e2e_rate_once(bodies, args, rules_file if mode == "on" else None)
                rates[mode].append(rate)
                cpus[mode].append(cpu)
                evaluated += evaluations if mode == "on" else 0
                print(
                    f"round {i + 1}: rules {mode}: end to end {rate:,.0f} spans/s, server {cpu:.1f} us/span, "
                    f"{evaluations} rule evaluations while sending",
                    flush=True,
                )
    finally:
        subprocess.run(["rm", "-rf", str(rules_dir)], check=False)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(
        f"RESULT rules: end to end median off={off:,.0f} on={on:,.0f} spans/s, on/off={on / off:.3f} "
        f"(target >= 0.9; {args.rules_compare} rounds each, {args.rules} rules at {args.rules_interval:g} s, "
        f"{evaluated} evaluations while sending in all; {args.clients} clients x {args.inflight} in flight); "
        f"server cpu median off={statistics.median(cpus['off']):.1f} on={statistics.median(cpus['on']):.1f} us/span"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600, help="requests of 512 spans (default 600)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent gRPC clients (default 8)")
    parser.add_argument("--inflight", type=int, default=8, help="outstanding requests per client (default 8)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="spans/s to send at (default 0: as fast as the server acks)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-freshness", dest="freshness", action="store_false", help="skip the probe")
    parser.add_argument("--no-direct", dest="direct", action="store_false", help="skip the direct insert")
    parser.add_argument(
        "--dedup-window",
        default="600",
        help="VIGIL_INGEST_DEDUP_WINDOW_S of the server (0: idempotent ingest off)",
    )
    parser.add_argument(
        "--dedup-compare",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only measure ack throughput with idempotent ingest off and on, alternating, ROUNDS times each",
    )
    parser.add_argument(
        "--rules-compare",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only measure end-to-end ingest with no alert rules and with --rules rules evaluating, "
        "alternating, ROUNDS times each",
    )
    parser.add_argument("--rules", type=int, default=200, help="rules for --rules-compare (default 200)")
    parser.add_argument(
        "--rules-interval",
        type=float,
        default=30.0,
        help="VIGIL_RULES_INTERVAL_S for --rules-compare (default 30)",
    )
    args = parser.parse_args()
    if args.rules_compare:
        rules_compare(args)
        return
    if args.dedup_compare:
        dedup_compare(args)
        return

    from vigil_collector.decode import DecodeLimits, decode_spans
    from vigil_server.settings import VigilSettings
    from vigil_storage import connect

    rng = random.Random(args.seed)
    base = 1_700_000_000_000_000_000
    requests = [build_request(rng, base + i * 10_000_000_000) for i in range(args.requests + 4)]
    bodies = [r.SerializeToString() for r in requests]
    warmup, measured = bodies[:4], bodies[4:]
    span_bytes = sum(map(len, measured)) / (len(measured) * SPANS_PER_REQUEST)
    print(
        f"payload: {len(measured)} requests x {SPANS_PER_REQUEST} spans, {span_bytes:.0f} B/span (protobuf)"
    )
    shape = f"{args.clients} clients x {args.inflight} in flight"

    sink = run_sink(measured, args.clients, args.inflight)
    print(f"parse-and-ack sink: {sink:,.0f} spans/s ({shape})")

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(query_port),
        VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING",
        VIGIL_INGEST_DEDUP_WINDOW_S=args.dedup_window,
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port)
        asyncio.run(send_all(grpc_port, warmup, 4, 1))
        wait_written(http_port)
        client_cpu = _cpu(resource.RUSAGE_SELF)
        server_cpu = tree_cpu_s(server.pid)
        ack_s, e2e_s, acked, retries, delays = asyncio.run(
            run_vigil(grpc_port, http_port, query_port, measured, args)
        )
        server_cpu = tree_cpu_s(server.pid) - server_cpu
        client_cpu = _cpu(resource.RUSAGE_SELF) - client_cpu
        decoders, inserts, fsync = server_metrics(http_port)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"vigil serve exited with {code}")

    ack_rate, e2e = acked / ack_s, acked / e2e_s
    client = connect(f"chdb://{work / 'clickhouse'}")
    stored = int(
        client.command("SELECT count() FROM otel.otel_traces WHERE ServiceName != 'freshness-probe'")
    )
    expected = acked + len(warmup) * SPANS_PER_REQUEST
    print(
        f"vigil: {acked} spans acknowledged in {ack_s:.2f} s = {ack_rate:,.0f} spans/s; all stored in ClickHouse "
        f"after {e2e_s:.2f} s = {e2e:,.0f} spans/s end to end ({shape}, {retries} retried requests); "
        f"stored {stored} of {expected}"
    )
    print(
        f"ack latency per request: p50 {percentile(LATENCIES, 50) * 1000:.1f} ms, "
        f"p99 {percentile(LATENCIES, 99) * 1000:.1f} ms, max {max(LATENCIES) * 1000:.1f} ms"
    )
    if delays:
        print(
            f"freshness (ack -> visible in SearchSpans, {len(delays)} probes): p50 {percentile(delays, 50):.2f} s, "
            f"p99 {percentile(delays, 99):.2f} s, max {max(delays):.2f} s"
        )
    print(
        f"cpu during the run: server {server_cpu / acked * 1e6:.1f} us/span "
        f"({server_cpu / e2e_s:.2f} cores; decode workers and embedded ClickHouse included), "
        f"load clients {client_cpu / acked * 1e6:.1f} us/span"
    )
    print(f"decoded by: {decoders}; {inserts}; {fsync}")
    if stored != expected:
        raise SystemExit(f"LOST SPANS: stored {stored}, expected {expected}")

    result = f"RESULT ack={ack_rate:,.0f} end_to_end={e2e:,.0f} sink={sink:,.0f} spans/s ack/sink={ack_rate / sink:.2f}"
    if args.direct:
        # The ceiling: the same spans, already columnar, straight into the same ClickHouse
        # (a copy of the table without the deduplication window, which would hash every block).
        tables = [decode_spans(r, DecodeLimits()).table for r in requests[4:]]
        everything = pa.concat_tables(tables)
        client.command("CREATE TABLE otel.bench_direct AS otel.otel_traces")
        client.command("ALTER TABLE otel.bench_direct MODIFY SETTING non_replicated_deduplication_window = 0")
        started = time.perf_counter()
        batch = VigilSettings().batch_max_cost  # the same batch size as the server's
        for offset in range(0, everything.num_rows, batch):
            client.insert_arrow(
                "otel.bench_direct", everything.slice(offset, batch), settings={"async_insert": 0}
            )
        direct_s = time.perf_counter() - started
        direct = everything.num_rows / direct_s
        print(
            f"direct insert (Arrow, no decode): {everything.num_rows} spans in {direct_s:.2f} s = {direct:,.0f} spans/s"
        )
        result += f" direct={direct:,.0f} end_to_end/direct={e2e / direct:.2f}"
    print(result)


if __name__ == "__main__":
    main()
