"""A batch written again after a crash is checked and completed, for logs and metrics too
(spans: tests/test_native_decode.py). ClickHouse records an INSERT's deduplication token just
before it commits the part; a crash between the two leaves the token without the rows, so
the batch written again is dropped as a duplicate. Simulated here by another INSERT taking
the token first: recover() then inserts exactly the missing rows, once, identical rows
(a multiset) included."""

from __future__ import annotations

import random

from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from test_native_metrics import random_request

from vigil_collector.decode import DecodeLimits
from vigil_collector.decode.logs import decode_logs
from vigil_collector.decode.metrics import TABLES
from vigil_collector.decode.native import check_native_metrics
from vigil_collector.decode.pool import ipc_stream
from vigil_collector.wal.records import RecordKind
from vigil_collector.write import LogsWriter, MetricsWriter

from support import RunningApp, scratch_databases

TOKEN = "gen:0-9:5:0"


def _logs(service: str, n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    records = rl.scope_logs.add().log_records
    for i in range(n):
        records.add(
            time_unix_nano=1_700_000_000 * 10**9 + rng.randrange(10**9),
            severity_number=rng.choice([9, 13, 17]),
            body=AnyValue(string_value=f"line {i % 7}"),
        )
    records.append(records[0])  # an identical record, sent twice: both are stored
    return ipc_stream(decode_logs(request, DecodeLimits()).table)


def test_log_records_missing_after_a_crash_are_inserted_again(app: RunningApp, ch: Client) -> None:
    with scratch_databases(ch, "recover_logs") as (database,):
        writer = LogsWriter(app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60)
        try:
            # The decoy has the same shape (two payloads, so two blocks): ClickHouse gives the
            # blocks of an INSERT tokens of their own, by position.
            writer.write(
                RecordKind.LOGS_ARROW, [_logs("decoy", 3, 1), _logs("decoy", 3, 4)], 8, TOKEN, database
            )
            payloads = [_logs("recover-logs", 500, 2), _logs("recover-logs", 500, 3)]
            writer.write(RecordKind.LOGS_ARROW, payloads, 1002, TOKEN, database)  # dropped: a "duplicate"

            def stored() -> int:
                sql = f"SELECT count() FROM {database}.otel_logs WHERE ServiceName = 'recover-logs'"
                return ch.query(sql).result_rows[0][0]

            assert stored() == 0
            assert writer.recover(RecordKind.LOGS_ARROW, payloads, TOKEN, database) == 1002
            assert writer.recover(RecordKind.LOGS_ARROW, payloads, TOKEN, database) == 0
            assert stored() == 1002
        finally:
            writer.close()


def test_metric_points_missing_after_a_crash_are_inserted_again(app: RunningApp, ch: Client) -> None:
    rng = random.Random(8)

    clock = [0]  # distinct times: a point is its series and its times

    def payload(request_rng: random.Random) -> bytes:
        body = random_request(request_rng, 3, clock).SerializeToString()
        checked = check_native_metrics(body, DecodeLimits().max_attribute_value_length)
        assert checked is not None
        return checked.header + body

    with scratch_databases(ch, "recover_metrics") as (database,):
        writer = MetricsWriter(
            app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60, native_min_points=0
        )
        try:
            writer.write(RecordKind.METRICS_OTLP, [payload(random.Random(99))], 60, TOKEN, database)
            before = {
                t: ch.query(f"SELECT count() FROM {database}.otel_metrics_{t}").result_rows[0][0]
                for t in TABLES
            }
            payloads = [payload(rng), payload(rng)]
            writer.write(RecordKind.METRICS_OTLP, payloads, 120, TOKEN, database)  # dropped: "duplicates"
            after = {
                t: ch.query(f"SELECT count() FROM {database}.otel_metrics_{t}").result_rows[0][0]
                for t in TABLES
            }
            assert after == before
            assert writer.recover(RecordKind.METRICS_OTLP, payloads, TOKEN, database) == 120  # 2 x 60
            assert writer.recover(RecordKind.METRICS_OTLP, payloads, TOKEN, database) == 0
            final = {
                t: ch.query(f"SELECT count() FROM {database}.otel_metrics_{t}").result_rows[0][0]
                for t in TABLES
            }
            assert {t: final[t] - before[t] for t in TABLES} == dict.fromkeys(TABLES, 24)
        finally:
            writer.close()
