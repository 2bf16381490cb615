"""Ingest benchmark: end-to-end OTLP/gRPC → ClickHouse spans/s, next to a direct insert of
the same spans into the same ClickHouse in the same run (the ceiling), and their ratio.

    make bench                      # defaults below
    make bench BENCH_ARGS="--requests 400 --clients 16"

What it does:
1. builds the reference payload (bench/reference_payload.py): N requests of 512 spans,
   serialised before timing;
2. starts ``vigil serve`` as a subprocess on embedded chDB in a fresh directory, on loopback;
3. several concurrent gRPC clients send the requests (each waits for its ack, as OTLP
   exporters do; a retryable refusal is retried after a short pause) and the clock stops at
   the last ack;
4. stops the server (SIGTERM), opens the same chDB directory and counts the stored spans:
   the count must equal what was acknowledged;
5. inserts the same spans, already decoded to Arrow (untimed), straight into a copy of
   ``otel_traces`` in batches of the server's batch size: ClickHouse's own ingest rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_payload import SPANS_PER_REQUEST, build_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its child processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(c) for c in children.read_text().split()]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(http_port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("vigil serve did not become ready")


def server_metrics(http_port: int) -> tuple[str, str]:
    """Who decoded the spans, and the INSERTs' count and mean size, from /metrics."""
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
    return decoders, inserts


async def send_all(port: int, bodies: list[bytes], clients: int, inflight: int) -> tuple[float, int, int]:
    """``clients`` channels, each with up to ``inflight`` export calls outstanding (as the OTel
    Collector's exporter does with its sending queue consumers); each call waits for its ack."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    retries = 0
    acked = 0

    async def caller(export: grpc.aio.UnaryUnaryMultiCallable) -> None:
        nonlocal retries, acked
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            while True:
                try:
                    await export(body, timeout=60)
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

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, acked, retries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600, help="requests of 512 spans (default 600)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent gRPC clients (default 8)")
    parser.add_argument("--inflight", type=int, default=8, help="outstanding requests per client (default 8)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--settle-s",
        type=float,
        default=0.0,
        help="idle seconds between server start and the run (default 0)",
    )
    args = parser.parse_args()

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

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    grpc_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(free_port()),
        VIGIL_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port)
        time.sleep(args.settle_s)
        asyncio.run(send_all(grpc_port, warmup, 4, 1))
        client_cpu = _cpu(resource.RUSAGE_SELF)
        server_cpu = _tree_cpu_s(server.pid)
        elapsed, acked, retries = asyncio.run(send_all(grpc_port, measured, args.clients, args.inflight))
        server_cpu = _tree_cpu_s(server.pid) - server_cpu
        client_cpu = _cpu(resource.RUSAGE_SELF) - client_cpu
        decoders, inserts = server_metrics(http_port)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"vigil serve exited with {code}")

    e2e = acked / elapsed
    client = connect(f"chdb://{work / 'clickhouse'}")
    stored = int(client.command("SELECT count() FROM otel.otel_traces"))
    expected = acked + len(warmup) * SPANS_PER_REQUEST
    print(
        f"end to end: {acked} spans acknowledged in {elapsed:.2f} s = {e2e:,.0f} spans/s "
        f"({args.clients} clients x {args.inflight} in flight, {retries} retried requests); stored {stored} of {expected}"
    )
    print(
        f"cpu during the run: server {server_cpu / acked * 1e6:.1f} us/span "
        f"({server_cpu / elapsed:.2f} cores; decode workers and embedded ClickHouse included), "
        f"load clients {client_cpu / acked * 1e6:.1f} us/span"
    )
    print(f"decoded by: {decoders}; {inserts}")
    if stored != expected:
        raise SystemExit(f"LOST SPANS: stored {stored}, expected {expected}")

    # The ceiling: the same spans, already columnar, straight into the same ClickHouse.
    tables = [decode_spans(r, DecodeLimits()).table for r in requests[4:]]
    everything = pa.concat_tables(tables)
    client.command("CREATE TABLE otel.bench_direct AS otel.otel_traces")
    started = time.perf_counter()
    batch = VigilSettings().batch_max_spans  # the same batch size as the server's
    for offset in range(0, everything.num_rows, batch):
        client.insert_arrow(
            "otel.bench_direct", everything.slice(offset, batch), settings={"async_insert": 0}
        )
    direct_s = time.perf_counter() - started
    direct = everything.num_rows / direct_s
    print(
        f"direct insert (Arrow, no decode): {everything.num_rows} spans in {direct_s:.2f} s = {direct:,.0f} spans/s"
    )
    print(f"RESULT end_to_end={e2e:,.0f} spans/s direct={direct:,.0f} spans/s ratio={e2e / direct:.2f}")


if __name__ == "__main__":
    main()
