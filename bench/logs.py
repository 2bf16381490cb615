"""Logs ingest benchmark: OTLP/gRPC LogsService into `vigil serve`, next to a direct insert of
the same records into the same ClickHouse, measured in the same run.

    make bench-logs                                      # 8 clients x 8 in flight
    make bench-logs BENCH_ARGS="--clients 1 --inflight 1"

The reference record is ~400 B (protobuf): a service's log line with a trace and span id,
severity, four attributes and a resource of five. Requests hold 512 records. Two clocks, as in
bench/ingest.py: the last acknowledgement (fsynced in the write-ahead log) and the moment the
log has nothing left for ClickHouse (end to end). Then the same records, decoded to Arrow
beforehand, are inserted straight into a copy of ``otel_logs``: ClickHouse's own rate.
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
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from ingest import free_port, wait_ready, wait_written
from reference_payload import SERVICES, WORDS, kv

EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
RECORDS_PER_REQUEST = 512


def build_logs(rng: random.Random, start_ns: int) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    service = rng.choice(SERVICES)
    for key, value in (
        ("service.name", service),
        ("service.version", "1.4.2"),
        ("deployment.environment", "prod"),
        ("host.name", f"node-{rng.randrange(40)}"),
        ("telemetry.sdk.language", "python"),
    ):
        rl.resource.attributes.append(kv(key, value))
    sl = rl.scope_logs.add()
    sl.scope.name = f"{service}.handlers"
    for i in range(RECORDS_PER_REQUEST):
        record = sl.log_records.add(
            time_unix_nano=start_ns + i * 1_000_000,
            observed_time_unix_nano=start_ns + i * 1_000_000 + 5_000,
            severity_number=rng.choice((9, 9, 9, 13, 17)),
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
            flags=1,
        )
        record.severity_text = {9: "INFO", 13: "WARN", 17: "ERROR"}[record.severity_number]
        record.body.string_value = " ".join(rng.choice(WORDS) for _ in range(rng.randint(28, 44)))
        record.attributes.append(kv("code.function", rng.choice(("handle", "plan", "call_tool", "respond"))))
        record.attributes.append(kv("code.lineno", rng.randrange(1, 900)))
        record.attributes.append(kv("user.id", f"user-{rng.randrange(5000)}"))
        record.attributes.append(kv("gen_ai.request.model", rng.choice(("gpt-4o", "claude-sonnet-4"))))
    return request


async def send_all(
    port: int, bodies: list[bytes], clients: int, inflight: int, method: str = EXPORT
) -> float:
    """Send every body with ``clients`` channels of ``inflight`` calls each (retrying what is
    refused as retryable); the seconds until the last acknowledgement."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def caller(export: grpc.aio.UnaryUnaryMultiCallable) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                try:
                    await export(body, timeout=60)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    await asyncio.sleep(0.05)

    async def client() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            await asyncio.gather(*(caller(export) for _ in range(inflight)))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests of 512 records (default 400)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from vigil_collector.decode.logs import decode_logs
    from vigil_collector.decode.spans import DecodeLimits
    from vigil_storage import connect

    rng = random.Random(args.seed)
    base = 1_700_000_000_000_000_000
    requests = [build_logs(rng, base + i * 10_000_000_000) for i in range(args.requests)]
    bodies = [r.SerializeToString() for r in requests]
    records = len(bodies) * RECORDS_PER_REQUEST
    print(
        f"payload: {len(bodies)} requests x {RECORDS_PER_REQUEST} records, {sum(map(len, bodies)) / records:.0f} B/record"
    )

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-logs-"))
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(work),
        "VIGIL_OTLP_GRPC_PORT": str(grpc_port),
        "VIGIL_OTLP_HTTP_PORT": str(http_port),
        "VIGIL_QUERY_PORT": str(query_port),
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_DRIFT_INTERVAL_S": "0",
    }
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(http_port)
        started = time.perf_counter()
        ack_s = asyncio.run(send_all(grpc_port, bodies, args.clients, args.inflight))
        wait_written(http_port)
        e2e_s = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"vigil serve exited with {code}")
    client = connect(f"chdb://{work / 'clickhouse'}")
    stored = int(client.command("SELECT count() FROM otel.otel_logs"))
    if stored != records:
        raise SystemExit(f"LOST RECORDS: stored {stored} of {records}")
    table = pa.concat_tables(decode_logs(r, DecodeLimits()).table for r in requests)
    client.command("CREATE TABLE otel.bench_direct_logs AS otel.otel_logs")
    client.command(
        "ALTER TABLE otel.bench_direct_logs MODIFY SETTING non_replicated_deduplication_window = 0"
    )
    direct_started = time.perf_counter()
    for offset in range(0, table.num_rows, 50_000):  # the server's batch size
        client.insert_arrow(
            "otel.bench_direct_logs", table.slice(offset, 50_000), settings={"async_insert": 0}
        )
    direct = table.num_rows / (time.perf_counter() - direct_started)
    shape = f"{args.clients} clients x {args.inflight} in flight"
    print(
        f"vigil: {records} records acknowledged in {ack_s:.2f} s = {records / ack_s:,.0f}/s, all stored after "
        f"{e2e_s:.2f} s = {records / e2e_s:,.0f}/s end to end ({shape}); direct insert {direct:,.0f}/s"
    )
    print(
        f"RESULT logs_ack={records / ack_s:,.0f} logs_end_to_end={records / e2e_s:,.0f} direct={direct:,.0f}"
        f" end_to_end/direct={records / e2e_s / direct:.2f}"
    )


if __name__ == "__main__":
    main()
