"""Memory during a ClickHouse outage: `vigil serve` whose storage is unreachable, fed at full
speed; the write-ahead log takes the spans until it is full, then ingest answers 'retry'.
Samples the server's resident memory (the process alone, and with its decode workers) and
the log's size every half second, and prints the maxima.

    make bench-outage                               # 120 s, 8 clients x 8 in flight
    make bench-outage BENCH_ARGS="--seconds 30 --drain"

``--drain`` then restarts the server on embedded ClickHouse with the same log and times how
long it takes to write the backlog; every acknowledged span must be stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import EXPORT, free_port, http_json, tree_cpu_s, tree_rss_bytes, wait_written
from reference_payload import SPANS_PER_REQUEST, build_request

MIB = 1024 * 1024


async def flood(
    port: int, bodies: list[bytes], clients: int, inflight: int, seconds: float
) -> tuple[int, int]:
    """Send for ``seconds``; a refused request is retried after 50 ms. Returns (acked spans, refusals)."""
    acked = refused = 0
    deadline = time.monotonic() + seconds

    async def caller(export: grpc.aio.UnaryUnaryMultiCallable, offset: int) -> None:
        nonlocal acked, refused
        i = offset
        while time.monotonic() < deadline:
            try:
                await export(bodies[i % len(bodies)], timeout=30)
                acked += SPANS_PER_REQUEST
                i += 1
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                refused += 1
                await asyncio.sleep(0.05)

    async def client(k: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            await asyncio.gather(*(caller(export, k * inflight + j) for j in range(inflight)))

    await asyncio.gather(*(client(k) for k in range(clients)))
    return acked, refused


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--drain", action="store_true", help="then write the backlog to embedded ClickHouse")
    args = parser.parse_args()

    rng = random.Random(5)
    base = 1_700_000_000_000_000_000
    # Distinct requests, so that a drained backlog can be counted span by span.
    bodies = [build_request(rng, base + i * 10_000_000_000).SerializeToString() for i in range(400)]
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-outage-"))
    wal_dir = work / "wal"
    grpc_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work / "offline"),
        VIGIL_WAL_DIR=str(wal_dir),
        VIGIL_STORAGE_DSN=f"http://default:@127.0.0.1:{free_port()}",  # nothing listens there
        VIGIL_STORAGE_CONNECT_TIMEOUT_S="1",
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(free_port()),
        VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="ERROR",
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    peak_main = peak_tree = peak_wal = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                http_json(http_port, "/health")
                break
            except OSError:
                time.sleep(0.2)
        stop = False

        def sample() -> None:
            nonlocal peak_main, peak_tree, peak_wal
            while not stop:
                main_rss, tree_rss = tree_rss_bytes(server.pid)
                peak_main, peak_tree = max(peak_main, main_rss), max(peak_tree, tree_rss)
                peak_wal = max(peak_wal, sum(p.stat().st_size for p in wal_dir.glob("*.wal")))
                time.sleep(0.5)

        import threading

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started, cpu_before = time.monotonic(), tree_cpu_s(server.pid)
        acked, refused = asyncio.run(flood(grpc_port, bodies, args.clients, args.inflight, args.seconds))
        elapsed = time.monotonic() - started
        cpu_s = tree_cpu_s(server.pid) - cpu_before
        stop = True
        sampler.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    print(
        f"outage of {elapsed:.0f} s, {args.clients} clients x {args.inflight} in flight: {acked:,} spans "
        f"acknowledged into the log ({acked / elapsed:,.0f}/s), {refused:,} requests refused once it was full"
    )
    # With no ClickHouse to write to, this is what the acknowledgement alone costs (receive,
    # check, log, fsync), next to the whole ingest's figure in `make bench`.
    print(
        f"server cpu: {cpu_s / max(acked, 1) * 1e6:.1f} us per acknowledged span "
        f"({cpu_s / elapsed:.2f} cores; decode workers included, no ClickHouse in the process)"
    )
    print(
        f"peak RSS: server {peak_main / MIB:,.0f} MiB, with decode workers {peak_tree / MIB:,.0f} MiB; "
        f"peak log size {peak_wal / MIB:,.0f} MiB"
    )
    print(f"RESULT peak_rss_mib={peak_main / MIB:.0f} peak_tree_rss_mib={peak_tree / MIB:.0f}")
    if not args.drain:
        return

    env.pop("VIGIL_STORAGE_DSN")
    env["VIGIL_DATA_DIR"] = str(work / "data")
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        started = time.monotonic()
        while True:
            try:
                http_json(http_port, "/health")
                break
            except OSError:
                time.sleep(0.2)
        wait_written(http_port, timeout_s=3600)
        drained_s = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    from vigil_storage import connect

    stored = int(
        connect(f"chdb://{work / 'data' / 'clickhouse'}").command("SELECT count() FROM otel.otel_traces")
    )
    print(
        f"drain: {stored:,} spans written in {drained_s:.0f} s after the restart ({stored / drained_s:,.0f}/s)"
    )
    if stored != acked:
        raise SystemExit(f"stored {stored}, acknowledged {acked}")


if __name__ == "__main__":
    main()
