"""OTLP logs from the stock Python SDK (its logging handler and its Logs API, OTLP gRPC and
HTTP exporters) through the write-ahead log into ``otel_logs``, every field read back as the
Collector's ClickHouse exporter stores it; Grafana's log queries run on the table; bad
records are reported as partial success."""

from __future__ import annotations

import json
import logging
import time

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from vigil import QueryClient, QueryError

from reference_payload import kv
from support import RunningApp, http_request

COLUMNS = (
    "Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
    "ResourceAttributes, ScopeName, ScopeVersion, LogAttributes, EventName"
)


def _provider(exporter: object, service: str) -> LoggerProvider:
    provider = LoggerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "test"})
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))  # type: ignore[arg-type]
    return provider


def rows(ch: Client, service: str) -> list[dict]:
    result = ch.query(
        f"SELECT {COLUMNS} FROM otel.otel_logs WHERE ServiceName = {{s:String}} ORDER BY Timestamp",
        parameters={"s": service},
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_stock_sdk_logs_are_stored_field_by_field(app: RunningApp, ch: Client, transport: str) -> None:
    service = f"logs-{transport}"
    exporter = (
        GrpcLogExporter(endpoint=app.grpc_target, insecure=True)
        if transport == "grpc"
        else HttpLogExporter(endpoint=f"{app.http_base}/v1/logs")
    )
    provider = _provider(exporter, service)
    handler = LoggingHandler(logger_provider=provider)
    py_logger = logging.getLogger(f"vigil.tests.{transport}")
    py_logger.addHandler(handler)
    py_logger.setLevel(logging.DEBUG)
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("with-a-log") as span:
            py_logger.warning("disk %s is %d%% full", "/data", 91, extra={"disk.path": "/data", "retries": 3})
            context = span.get_span_context()
        otel_logger = provider.get_logger("vigil.tests.api", "2.0.1")
        otel_logger.emit(
            body={"event": "checkout", "items": [1, 2], "ok": True},
            severity_number=SeverityNumber.INFO2,
            severity_text="INFO2",
            attributes={"user.id": "u-7", "ratio": 0.5},
            event_name="checkout.done",
            observed_timestamp=time.time_ns(),
        )
        provider.force_flush()
    finally:
        py_logger.removeHandler(handler)
        provider.shutdown()
    app.flush()
    got = rows(ch, service)
    assert len(got) == 2
    warning, structured = got
    assert warning["Body"] == "disk /data is 91% full"
    assert (warning["SeverityText"], warning["SeverityNumber"]) == ("WARN", 13)
    assert warning["TraceId"] == format(context.trace_id, "032x")
    assert warning["SpanId"] == format(context.span_id, "016x")
    assert warning["TraceFlags"] == int(context.trace_flags)  # sampled (and random, W3C level 2)
    assert warning["LogAttributes"]["disk.path"] == "/data" and warning["LogAttributes"]["retries"] == "3"
    assert warning["ResourceAttributes"]["deployment.environment"] == "test"
    assert warning["ScopeName"] == f"vigil.tests.{transport}"
    assert json.loads(structured["Body"]) == {"event": "checkout", "items": [1, 2], "ok": True}
    assert (structured["SeverityText"], structured["SeverityNumber"]) == ("INFO2", 10)
    assert (structured["TraceId"], structured["SpanId"], structured["TraceFlags"]) == ("", "", 0)
    assert structured["LogAttributes"] == {"user.id": "u-7", "ratio": "0.5"}
    assert (structured["ScopeName"], structured["ScopeVersion"]) == ("vigil.tests.api", "2.0.1")
    assert structured["EventName"] == "checkout.done"
    assert structured["Timestamp"].year >= 2026  # no record time: the observed time


def test_grafana_log_queries_run_on_otel_logs(app: RunningApp, ch: Client) -> None:
    """The list, volume and "View logs" for a trace SQL of Grafana's OTel mode (docs/grafana.md)."""
    trace_id = "5b8efff798038103d269b633813fc60c"
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "grafana-logs"))
    sl = rl.scope_logs.add()
    now = time.time_ns()
    for i, (text, level) in enumerate((("started", "INFO"), ("boom", "ERROR"), ("slow", "WARN"))):
        record = sl.log_records.add(time_unix_nano=now + i, severity_text=level)
        record.body.string_value = text
        if i == 1:
            record.trace_id = bytes.fromhex(trace_id)
    status, _, body = http_request(
        f"{app.http_base}/v1/logs", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200 and not ExportLogsServiceResponse.FromString(body).HasField("partial_success")
    app.flush()
    window = "( timestamp >= now() - INTERVAL 1 HOUR AND timestamp <= now() + INTERVAL 1 HOUR )"
    listed = ch.query(
        'SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level" FROM "otel"."otel_logs"'
        f" WHERE {window} AND ServiceName = 'grafana-logs' ORDER BY timestamp DESC LIMIT 1000"
    ).result_rows
    assert [(r[1], r[2]) for r in listed] == [("slow", "WARN"), ("boom", "ERROR"), ("started", "INFO")]

    def levels(*names: str) -> str:  # Grafana lists each level in lower, upper and title case
        return ",".join(f"'{v}'" for n in names for v in (n, n.upper(), n.title()))

    volume = ch.query(
        'SELECT toStartOfInterval("Timestamp", INTERVAL 1 MINUTE) as "time",'
        f' sum(multiSearchAny(toString("SeverityText"), [{levels("error", "err", "eror")}])) as error,'
        f' sum(multiSearchAny(toString("SeverityText"), [{levels("warn", "warning")}])) as warn,'
        f' sum(multiSearchAny(toString("SeverityText"), [{levels("info", "information", "informational")}])) as info'
        ' FROM "otel"."otel_logs" WHERE ( "Timestamp" >= now() - INTERVAL 1 HOUR ) AND ServiceName = \'grafana-logs\''
        " GROUP BY time ORDER BY time ASC"
    ).result_rows
    assert (
        sum(r[1] for r in volume) == 1 and sum(r[2] for r in volume) == 1 and sum(r[3] for r in volume) == 1
    )
    for_trace = ch.query(
        'SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level", TraceId as "traceID",'
        ' ResourceAttributes, ScopeAttributes, LogAttributes FROM "otel"."otel_logs"'
        f" WHERE ( traceID = '{trace_id}' ) ORDER BY timestamp ASC LIMIT 1000"
    ).result_rows
    assert [r[1] for r in for_trace] == ["boom"]


def test_bad_log_records_are_reported_as_partial_success(app: RunningApp, ch: Client) -> None:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "bad-logs"))
    sl = rl.scope_logs.add()
    sl.log_records.add(time_unix_nano=time.time_ns()).body.string_value = "fine"
    sl.log_records.add(time_unix_nano=time.time_ns(), trace_id=b"\x01" * 5)
    sl.log_records.add(time_unix_nano=2**63, span_id=b"\x02" * 8)
    status, _, body = http_request(
        f"{app.http_base}/v1/logs", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200
    partial = ExportLogsServiceResponse.FromString(body).partial_success
    assert partial.rejected_log_records == 2
    assert "log_records[1]: trace_id must be empty or 16 bytes, got 5" in partial.error_message
    assert "log_records[2]: time_unix_nano" in partial.error_message
    status, _, body = http_request(
        f"{app.http_base}/v1/logs", b"\x0a\xff", {"Content-Type": "application/x-protobuf"}
    )
    assert status == 400 and b"ExportLogsServiceRequest" in body
    doc = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "json"}, "traceId": "zz"}]}]}
        ]
    }
    status, _, body = http_request(
        f"{app.http_base}/v1/logs", json.dumps(doc).encode(), {"Content-Type": "application/json"}
    )
    assert status == 400 and b"not a hex string" in body
    app.flush()  # of all four requests, only the valid record of the first was stored
    stored = ch.query(
        f"SELECT Body FROM {app.settings.database}.otel_logs WHERE ServiceName = 'bad-logs'"
    ).result_rows
    assert [r[0] for r in stored] == ["fine"]


def test_search_logs_and_logs_in_get_trace(app: RunningApp) -> None:
    """Logs emitted inside spans come back under their span in GetTrace; SearchLogs filters
    by service, severity, trace, body text and attributes, newest first, with pages."""
    exporter = GrpcLogExporter(endpoint=app.grpc_target, insecure=True)
    provider = _provider(exporter, "search-logs")
    handler = LoggingHandler(logger_provider=provider)
    py_logger = logging.getLogger("vigil.tests.search")
    py_logger.addHandler(handler)
    py_logger.setLevel(logging.DEBUG)
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "search-logs"}))
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    tracer = tracer_provider.get_tracer("t")
    try:
        with tracer.start_as_current_span("agent") as root:
            py_logger.info("planning step %d", 1)
            with tracer.start_as_current_span("tool") as tool:
                py_logger.error("tool failed: %s", "timeout", extra={"tool.name": "search"})
        for i in range(5):
            py_logger.debug("noise %d", i)
        provider.force_flush()
        tracer_provider.force_flush()
    finally:
        py_logger.removeHandler(handler)
        provider.shutdown()
    app.flush()
    trace_id = format(root.get_span_context().trace_id, "032x")
    with QueryClient(app.query_target) as client:
        trace = client.get_trace(trace_id)
        logs_by_span = {n.span.name: [r.body for r in n.logs] for n in trace.spans}
        assert logs_by_span == {"agent": ["planning step 1"], "tool": ["tool failed: timeout"]}
        (error,) = client.search_logs(service="search-logs", min_severity=17).logs
        assert (
            error.span_id == format(tool.get_span_context().span_id, "016x")
            and error.severity_text == "ERROR"
        )
        assert [r.body for r in client.search_logs(trace_id=trace_id).logs] == [
            "tool failed: timeout",
            "planning step 1",
        ]
        assert [
            r.body for r in client.search_logs(service="search-logs", body_contains="TOOL FAIL").logs
        ] == ["tool failed: timeout"]
        assert len(client.search_logs(service="search-logs", attributes={"tool.name": "search"}).logs) == 1
        first = client.search_logs(service="search-logs", page_size=3)
        assert len(first.logs) == 3 and first.next_page_token
        everything = [r.body for r in client.iter_logs(service="search-logs", page_size=3)]
        assert len(everything) == 7 == len(set(everything))
        assert everything[0] == "noise 4"  # newest first
        with pytest.raises(QueryError) as bad:
            client.search_logs(min_severity=30)
        assert bad.value.code.name == "INVALID_ARGUMENT"
