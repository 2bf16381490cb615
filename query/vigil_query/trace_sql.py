"""GetTrace without a scan.

1. ``vigil_trace_index`` (ordered by TraceId) tells where the trace's spans sit in
   otel_traces' primary key: their (ServiceName, SpanName, second).
2. otel_traces is read by exactly those primary-key ranges, so only the granules holding the
   trace are touched, instead of checking the TraceId bloom filter of every granule of the
   time range (which grows with the data).
Traces with very many distinct keys fall back to time range + bloom filter.
"""

from __future__ import annotations

from vigil.query.v1 import query_pb2
from vigil_query.errors import NotFound
from vigil_query.filters import check_trace_id, time_range
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span
from vigil_query.tree import build_trace

_SECOND_NS = 10**9
_MAX_KEYS = 256


def get_trace(reader: Reader, request: query_pb2.GetTraceRequest) -> query_pb2.GetTraceResponse:
    trace_id = check_trace_id(request.trace_id)
    params: dict[str, object] = {"t": trace_id}
    hint = ""
    if request.start_time_min_unix_nano or request.start_time_max_unix_nano:
        lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
        hint = " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
        params.update(lo=lo, hi=hi)
    keys = reader.rows(
        f"SELECT DISTINCT ServiceName, SpanName, toUnixTimestamp(Timestamp) FROM {reader.db}.vigil_trace_index"
        f" WHERE TraceId = {{t:String}}{hint}",
        params,
        "looking up the trace in the trace index",
    )
    if not keys:
        raise NotFound(f"trace {trace_id} not found")
    seconds = [k[2] for k in keys]
    where = (
        "TraceId = {t:String}"
        " AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})"
    )
    params = {"t": trace_id, "lo": min(seconds) * _SECOND_NS, "hi": (max(seconds) + 1) * _SECOND_NS}
    if len(keys) <= _MAX_KEYS:
        tuples = []
        for i, (service, name, second) in enumerate(keys):
            tuples.append(f"({{s{i}:String}}, {{n{i}:String}}, toDateTime({{d{i}:UInt32}}))")
            params.update({f"s{i}": service, f"n{i}": name, f"d{i}": second})
        where += f" AND (ServiceName, SpanName, toDateTime(Timestamp)) IN ({', '.join(tuples)})"
    rows = reader.rows(
        f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces WHERE {where} ORDER BY Timestamp",
        params,
        "reading the trace's spans",
    )
    if not rows:
        raise NotFound(f"trace {trace_id} not found")
    return build_trace(trace_id, [to_span(r) for r in rows])
