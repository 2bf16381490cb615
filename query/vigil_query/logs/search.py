"""SearchLogs, and the log records of a trace for GetTrace: rows of otel_logs → LogRecord."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.errors import InvalidQuery
from vigil_query.filters import TIMESTAMP_BETWEEN, Where, bucket_step, check_trace_id, time_range
from vigil_query.reader import Reader

# Log records of one trace that GetTrace returns at most (a log line per LLM call is usual;
# a trace that logs more is better read page by page with SearchLogs).
MAX_TRACE_LOGS = 10_000
LOG_COLUMNS = (
    "toUnixTimestamp64Nano(Timestamp) AS ts, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber,"
    " ServiceName, Body, LogAttributes, ResourceAttributes, ScopeName, ScopeVersion, EventName"
)
# A record has no id: pages are cut by (time, a hash of the record), newest first.
ROW_HASH = "cityHash64(Body, TraceId, SpanId, ServiceName, SeverityNumber, LogAttributes)"


def to_log(row: Sequence[Any]) -> query_pb2.LogRecord:
    ts, trace_id, span_id, flags, text, number, service, body, attrs, resource, scope, version, event = row[
        :13
    ]
    return query_pb2.LogRecord(
        time_unix_nano=ts,
        trace_id=trace_id,
        span_id=span_id,
        trace_flags=flags,
        severity_text=text,
        severity_number=number,
        service_name=service,
        body=body,
        attributes=attrs,
        resource_attributes=resource,
        scope_name=scope,
        scope_version=version,
        event_name=event,
    )


def log_where(f: query_pb2.LogFilter) -> Where:
    where = Where()
    lo, hi = time_range(f.start_time_min_unix_nano, f.start_time_max_unix_nano)
    where.add(TIMESTAMP_BETWEEN, lo=lo, hi=hi)
    if f.service_name:
        where.add("ServiceName = {service:String}", service=f.service_name)
    if f.min_severity_number:
        if f.min_severity_number > 24:
            raise InvalidQuery(f"min_severity_number must be 1-24, got {f.min_severity_number}")
        where.add("SeverityNumber >= {severity:UInt8}", severity=f.min_severity_number)
    if f.trace_id:
        where.add("TraceId = {trace_id:String}", trace_id=check_trace_id(f.trace_id))
    if f.span_id:
        span_id = f.span_id.strip().lower()
        if len(span_id) != 16 or any(c not in "0123456789abcdef" for c in span_id):
            raise InvalidQuery(f"span_id must be 16 hex characters, got {f.span_id!r}")
        where.add("SpanId = {span_id:String}", span_id=span_id)
    if f.body_contains:
        # LIKE on lower(Body) lets the token bloom filter index skip granules.
        needle = f.body_contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.add("lower(Body) LIKE {body_like:String}", body_like=f"%{needle}%")
    where.add_attributes(f.attributes, "LogAttributes")
    return where


def search_logs(reader: Reader, request: query_pb2.SearchLogsRequest) -> query_pb2.SearchLogsResponse:
    """Newest first, in two reads: the (size+1)-th newest matching record's time from the
    filter's columns and Timestamp only, then the page's whole records from that time on.
    Ordering every match by (time, row hash) in one read would hash the body and attributes of
    every record in the range (a day of them: 0.6 s at 1M records), for the 101 it returns."""
    size = page_token.page_size(request.page_size, default=100)
    where = log_where(request.filter)
    fp = page_token.fingerprint(request.filter)
    if request.page_token:
        ts, row_hash = page_token.decode_parts(request.page_token, fp, int, int)
        where.add("(ts, h) < ({c_ts:Int64}, {c_h:UInt64})", c_ts=ts, c_h=row_hash)
    # The cursor's time alone (ts <= c_ts) in the first read: the hash is not read there.
    light = where.sql.replace("(ts, h) < ({c_ts:Int64}, {c_h:UInt64})", "ts <= {c_ts:Int64}")
    newest = reader.rows(
        f"SELECT toUnixTimestamp64Nano(Timestamp) AS ts FROM {reader.db}.otel_logs WHERE {light}"
        f" ORDER BY Timestamp DESC LIMIT 1 OFFSET {size}",
        where.params,
        "searching logs",
    )
    rows = _log_page(reader, where, size, newest[0][0] if newest else None)
    if newest and len(rows) <= size:
        # Records at the cursor's own time already returned filled the first read's count:
        # fewer than a page from that time on, so read on without the bound.
        rows = _log_page(reader, where, size, None)
    response = query_pb2.SearchLogsResponse(logs=[to_log(r) for r in rows[:size]])
    if len(rows) > size:
        last = rows[size - 1]
        response.next_page_token = page_token.encode_parts([last[0], last[13]], fp)
    return response


def _log_page(reader: Reader, where: Where, size: int, since_ns: int | None) -> Sequence[Sequence[Any]]:
    bound = "" if since_ns is None else " AND Timestamp >= fromUnixTimestamp64Nano({since:Int64})"
    return reader.rows(
        f"SELECT {LOG_COLUMNS}, {ROW_HASH} AS h FROM {reader.db}.otel_logs WHERE {where.sql}{bound}"
        f" ORDER BY ts DESC, h DESC LIMIT {size + 1}",
        {**where.params, "since": since_ns},
        "searching logs",
    )


def logs_of_trace(reader: Reader, trace_id: str, start_ns: int, end_ns: int) -> list[query_pb2.LogRecord]:
    """The trace's log records, oldest first, from an hour around its spans' time (records
    are written by the same processes as the spans, with their clocks)."""
    hour = 3600 * 10**9
    rows = reader.rows(
        f"SELECT {LOG_COLUMNS} FROM {reader.db}.otel_logs WHERE TraceId = {{t:String}}"
        f" AND {TIMESTAMP_BETWEEN}"
        f" ORDER BY ts LIMIT {MAX_TRACE_LOGS}",
        {"t": trace_id, "lo": start_ns - hour, "hi": end_ns + hour},
        "reading the trace's logs",
    )
    return [to_log(r) for r in rows]


# Severity numbers 1-24 in six ranges of four (the OTLP log data model); 0 is unset.
SEVERITIES = ("UNSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def log_volume(reader: Reader, request: query_pb2.GetLogVolumeRequest) -> query_pb2.GetLogVolumeResponse:
    """Records per time bucket and severity range, for the same filter as SearchLogs."""
    where = log_where(request.filter)
    lo, hi = where.params["lo"], where.params["hi"]
    step = bucket_step(lo, hi, request.step_nano, default_buckets=60)
    rows = reader.rows(
        "SELECT if(SeverityNumber = 0, 0, intDiv(SeverityNumber - 1, 4) + 1) AS severity,"
        " {lo:Int64} + intDiv(toUnixTimestamp64Nano(Timestamp) - {lo:Int64}, {step:Int64}) * {step:Int64} AS bucket,"
        f" count() FROM {reader.db}.otel_logs WHERE {where.sql}"
        " GROUP BY severity, bucket ORDER BY severity, bucket",
        {**where.params, "step": step},
        "counting logs",
    )
    response = query_pb2.GetLogVolumeResponse(step_nano=step)
    series: dict[int, query_pb2.LogVolumeSeries] = {}
    for severity, bucket, n in rows:
        if severity not in series:
            series[severity] = response.series.add(severity=SEVERITIES[min(severity, 6)])
        series[severity].points.add(time_unix_nano=bucket, count=n)
        response.total += n
    return response
