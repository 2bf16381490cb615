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
import random
import time

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from load import ack_and_end_to_end, server_env, serving
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests of 512 records (default 400)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from vigil_collector.decode.limits import DecodeLimits
    from vigil_collector.decode.logs import decode_logs
    from vigil_storage import connect

    rng = random.Random(args.seed)
    base = 1_700_000_000_000_000_000
    requests = [build_logs(rng, base + i * 10_000_000_000) for i in range(args.requests)]
    bodies = [r.SerializeToString() for r in requests]
    records = len(bodies) * RECORDS_PER_REQUEST
    print(
        f"payload: {len(bodies)} requests x {RECORDS_PER_REQUEST} records, {sum(map(len, bodies)) / records:.0f} B/record"
    )

    with serving(server_env("vigil-bench-logs-")) as server:
        ack_s, e2e_s = ack_and_end_to_end(server, bodies, args.clients, args.inflight, EXPORT)
    client = connect(f"chdb://{server.work / 'clickhouse'}")
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
