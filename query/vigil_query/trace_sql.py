"""GetTrace: find the trace's time range in the trace-id lookup table (no scan), then read
only the partitions and granules of that range."""

from __future__ import annotations

from vigil.query.v1 import query_pb2
from vigil_query.errors import NotFound
from vigil_query.filters import check_trace_id, time_range
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span
from vigil_query.tree import build_trace

_SECOND_NS = 10**9


def get_trace(reader: Reader, request: query_pb2.GetTraceRequest) -> query_pb2.GetTraceResponse:
    trace_id = check_trace_id(request.trace_id)
    if request.start_time_min_unix_nano or request.start_time_max_unix_nano:
        lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    else:
        (start_s, end_s), *_ = reader.rows(
            f"SELECT toUnixTimestamp(min(Start)), toUnixTimestamp(max(End))"
            f" FROM {reader.db}.otel_traces_trace_id_ts WHERE TraceId = {{t:String}}",
            {"t": trace_id},
            "looking up the trace's time range",
        )
        if not start_s and not end_s:
            raise NotFound(f"trace {trace_id} not found")
        # The lookup table keeps whole seconds: widen to cover the last second fully.
        lo, hi = start_s * _SECOND_NS, (end_s + 1) * _SECOND_NS
    rows = reader.rows(
        f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces"
        " WHERE TraceId = {t:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
        " ORDER BY Timestamp",
        {"t": trace_id, "lo": lo, "hi": hi},
        "reading the trace's spans",
    )
    if not rows:
        raise NotFound(f"trace {trace_id} not found")
    return build_trace(trace_id, [to_span(r) for r in rows])
