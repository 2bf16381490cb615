"""Idempotent ingest: an OTLP request retried by its client (identical decompressed body, same
project) is acknowledged and stored once, also after a restart; different requests with the
same spans inside are not merged; duplicates are counted."""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from vigil_collector.dedup import RecentRequests, request_digest
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.journal import WriteAheadLog
from vigil_collector.wal.records import RecordKind

from reference_payload import kv
from support import RunningApp, ServerProcess, export_otlp, http_request, make_request, query_stopped_storage

METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def logs_request(service: str) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    scope = rl.scope_logs.add()
    for i in range(3):
        record = scope.log_records.add()
        record.time_unix_nano = time.time_ns() + i
        record.body.string_value = f"line {i}"
    return request.SerializeToString()


def metrics_request(service: str) -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "dedup_gauge"
    point = metric.gauge.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.as_double = 4.5
    return request.SerializeToString()


def export_metrics(target: str, body: bytes) -> None:
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            METRICS_EXPORT,
            request_serializer=None,
            response_deserializer=ExportMetricsServiceResponse.FromString,
        )
        call(body, timeout=30)


def post(server: ServerProcess, path: str, body: bytes, *, gzipped: bool = False) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    status, _, answer = http_request(f"{server.http_base}{path}", body, headers)
    assert status == 200, answer


def duplicates(server: ServerProcess) -> dict[str, float]:
    status, _, text = http_request(f"{server.http_base}/metrics")
    assert status == 200
    found = re.findall(
        r'^vigil_ingest_duplicate_requests_total\{signal="(\w+)"\} (\S+)$', text.decode(), re.M
    )
    return {signal: float(value) for signal, value in found}


def test_retried_requests_are_stored_once_across_a_restart(tmp_path: Path) -> None:
    traces = make_request(4, "dedup-traces").SerializeToString()
    logs = logs_request("dedup-logs")
    metrics = metrics_request("dedup-metrics")
    # Two different requests with the same span inside: not merged.
    same = make_request(1, "dedup-same")
    other = make_request(0, "dedup-same")
    other.CopyFrom(same)
    other.resource_spans[0].scope_spans[0].scope.name = "another-scope"
    data = tmp_path / "data"
    env = {"VIGIL_DRIFT_INTERVAL_S": "0", "VIGIL_INGEST_DEDUP_WINDOW_S": "600"}

    server = ServerProcess(data, **env)
    try:
        server.wait_ready()
        export_otlp(server.grpc_target, traces)  # gRPC, then its retries over gRPC and HTTP (gzip)
        export_otlp(server.grpc_target, traces)
        post(server, "/v1/traces", traces, gzipped=True)
        post(server, "/v1/logs", logs)
        post(server, "/v1/logs", logs)
        export_metrics(server.grpc_target, metrics)
        export_metrics(server.grpc_target, metrics)
        export_otlp(server.grpc_target, same.SerializeToString())
        export_otlp(server.grpc_target, other.SerializeToString())
        assert duplicates(server) == {"traces": 2.0, "logs": 1.0, "metrics": 1.0}
    finally:
        server.terminate()
        server.wait()

    again = ServerProcess(data, **env)  # the first copies arrived before the restart
    try:
        again.wait_ready()
        export_otlp(again.grpc_target, traces)
        post(again, "/v1/logs", logs, gzipped=True)
        export_metrics(again.grpc_target, metrics)
        assert duplicates(again) == {"traces": 1.0, "logs": 1.0, "metrics": 1.0}
    finally:
        again.terminate()
        again.wait()

    counts = query_stopped_storage(
        data,
        "SELECT 'traces', ServiceName, count() FROM otel.otel_traces GROUP BY ServiceName "
        "UNION ALL SELECT 'logs', ServiceName, count() FROM otel.otel_logs GROUP BY ServiceName "
        "UNION ALL SELECT 'metrics', ServiceName, count() FROM otel.otel_metrics_gauge GROUP BY ServiceName",
    )
    assert sorted(map(tuple, counts)) == [
        ("logs", "dedup-logs", 3),
        ("metrics", "dedup-metrics", 1),
        ("traces", "dedup-same", 2),
        ("traces", "dedup-traces", 4),
    ]


def test_dedup_off_stores_every_copy(tmp_path: Path) -> None:
    traces = make_request(2, "dedup-off").SerializeToString()
    server = ServerProcess(tmp_path / "data", VIGIL_DRIFT_INTERVAL_S="0", VIGIL_INGEST_DEDUP_WINDOW_S="0")
    try:
        server.wait_ready()
        export_otlp(server.grpc_target, traces)
        export_otlp(server.grpc_target, traces)
        assert duplicates(server) == {}
    finally:
        server.terminate()
        server.wait()
    rows = query_stopped_storage(server.data_dir, "SELECT count() FROM otel.otel_traces")
    assert rows == [[4]]


def test_digests_of_deleted_segments_survive_a_restart(tmp_path: Path) -> None:
    """The log deletes segments once ClickHouse has their records: their digests go to the
    recent-request index first, so a retry after a restart is still recognised."""
    digests = [request_digest("traces", 0, False, bytes([i]) * 2000) for i in range(40)]

    async def write() -> None:
        wal = WriteAheadLog(
            tmp_path, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics(), dedup_window_s=600
        )
        wal._segment_bytes = 8 * 1024  # several segments
        wal.open()
        wal.start()
        for digest in digests:
            await wal.append(RecordKind.TRACES_OTLP, 1, b"x" * 2000, 0, digest)
        segments = len(list(tmp_path.glob("*.wal")))
        wal.release(wal.durable_seq)  # all "committed": every segment but the last goes
        assert len(list(tmp_path.glob("*.wal"))) == 1 < segments
        await asyncio.to_thread(wal.close)

    asyncio.run(write())
    reopened = WriteAheadLog(
        tmp_path, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics(), dedup_window_s=600
    )
    reopened.open()
    reopened.close()
    assert sorted(d for _, d in reopened.recent) == sorted(digests)
    # Past the window they are forgotten.
    short = WriteAheadLog(
        tmp_path, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics(), dedup_window_s=1e-9
    )
    short.open()
    short.close()
    assert short.recent == []


def test_concurrent_copies_wait_for_the_first_to_be_durable(tmp_path: Path) -> None:
    """Of copies arriving together, one appends; the others are answered only once its record
    is fsynced, and if its append is refused, a waiting copy appends instead."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        recent = RecentRequests(600)
        digest = b"d" * 16
        assert await recent.claim(digest) is False  # the first copy holds the claim
        second = asyncio.ensure_future(recent.claim(digest))
        await asyncio.sleep(0)
        appended: asyncio.Future[int] = loop.create_future()
        recent.follow(digest, appended)
        assert not second.done()  # not before the first copy's record is durable
        appended.set_exception(OSError("disk full"))
        assert await second is False  # refused: the second copy appends itself
        third = asyncio.ensure_future(recent.claim(digest))
        await asyncio.sleep(0)
        retried: asyncio.Future[int] = loop.create_future()
        recent.follow(digest, retried)
        retried.set_result(7)
        assert await third is True
        assert await recent.claim(digest) is True

    asyncio.run(run())


def test_concurrent_identical_requests_to_a_server_are_stored_once(app: RunningApp, ch: Client) -> None:
    """Eight copies at once over both transports: all answered OK, the spans stored once."""
    body = make_request(5, "dedup-concurrent").SerializeToString()

    def send(i: int) -> None:
        if i % 2:
            export_otlp(app.grpc_target, body)
        else:
            status, _, answer = http_request(
                f"{app.http_base}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
            )
            assert status == 200, answer

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(8)))
    app.flush()
    rows = ch.query("SELECT count() FROM otel.otel_traces WHERE ServiceName = 'dedup-concurrent'").result_rows
    assert rows == [(5,)]
