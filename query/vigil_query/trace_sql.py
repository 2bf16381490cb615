"""GetTrace without a scan, in one query.

The trace-id lookup table (ordered by TraceId) keeps, in Vigil's extra column SpanKeys,
where the trace's spans sit in otel_traces' primary key: their (ServiceName, SpanName,
second). ClickHouse builds that set first and
uses it for primary-key and min-max pruning, so only the few granules holding the trace are
read, instead of checking the TraceId bloom filter of every granule in the time range (which
grows with the data). On 10M reference spans: ~23 ms vs ~50 ms.
"""

from __future__ import annotations

from vigil.query.v1 import query_pb2
from vigil_query.errors import NotFound
from vigil_query.filters import TIMESTAMP_BETWEEN, check_trace_id, time_range
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span
from vigil_query.tree import build_trace


def get_trace(reader: Reader, request: query_pb2.GetTraceRequest) -> query_pb2.GetTraceResponse:
    trace_id = check_trace_id(request.trace_id)
    params: dict[str, object] = {"t": trace_id}
    hint = lookup_hint = ""
    if request.start_time_min_unix_nano or request.start_time_max_unix_nano:
        lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
        hint = f" AND {TIMESTAMP_BETWEEN}"
        lookup_hint = (
            " AND End >= toDateTime(intDiv({lo:Int64}, 1000000000))"
            " AND Start <= toDateTime(intDiv({hi:Int64}, 1000000000))"
        )
        params.update(lo=lo, hi=hi)
    rows = reader.rows(
        f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces"
        f" WHERE TraceId = {{t:String}}{hint}"
        " AND (ServiceName, SpanName, toDateTime(Timestamp)) IN ("
        "   SELECT k.1, k.2, k.3 FROM ("
        f"     SELECT arrayJoin(SpanKeys) AS k FROM {reader.db}.otel_traces_trace_id_ts"
        f"     WHERE TraceId = {{t:String}}{lookup_hint}))"
        " ORDER BY Timestamp",
        params,
        "reading the trace",
    )
    if not rows:
        raise NotFound(f"trace {trace_id} not found")
    return build_trace(trace_id, [to_span(r) for r in rows])
