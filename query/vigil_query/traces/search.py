"""SearchSpans and SearchTraces: filtered, newest first, paged with stable tokens."""

from __future__ import annotations

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.filters import span_where
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span
from vigil_query.traces.summary import trace_summaries


def search_spans(reader: Reader, request: query_pb2.SearchSpansRequest) -> query_pb2.SearchSpansResponse:
    size = page_token.page_size(request.page_size)
    where = span_where(request.filter)
    fp = page_token.fingerprint(request.filter)
    if request.page_token:
        key = page_token.decode(request.page_token, fp)
        where.add(
            "(Timestamp, TraceId, SpanId) < (fromUnixTimestamp64Nano({c_ts:Int64}), {c_trace:String}, {c_span:String})",
            c_ts=key.timestamp_ns,
            c_trace=key.trace_id,
            c_span=key.span_id,
        )
    # Retried copies of a span are adjacent in this order and dropped here: a LIMIT BY in SQL
    # would stop ClickHouse from reading the wide columns for the page's rows only (3x slower).
    # The extra rows leave room for such copies.
    limit = 2 * size + 1
    rows = reader.rows(
        f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces WHERE {where.sql}"
        f" ORDER BY Timestamp DESC, TraceId DESC, SpanId DESC LIMIT {limit}",
        where.params,
        "searching spans",
    )
    spans: list[query_pb2.Span] = []
    previous = None
    for row in rows:
        key = (row[7], row[0], row[1])  # start_ns, TraceId, SpanId
        if key != previous:
            if len(spans) > size:  # one beyond the page proves there is more; convert no further
                break
            spans.append(to_span(row))
            previous = key
    more = len(spans) > size or len(rows) == limit
    response = query_pb2.SearchSpansResponse(spans=spans[:size])
    if more:
        last = response.spans[-1]
        response.next_page_token = page_token.encode(
            page_token.PageKey(last.start_time_unix_nano, last.trace_id, last.span_id), fp
        )
    return response


def search_traces(reader: Reader, request: query_pb2.SearchTracesRequest) -> query_pb2.SearchTracesResponse:
    """Two bounded steps: the page's trace ids first (traces ordered by their first matching
    span, newest first — a GROUP BY within the query's memory limit, not an IN set of every
    matching trace), then the summaries of just those traces."""
    size = page_token.page_size(request.page_size)
    where = span_where(request.filter)
    fp = page_token.fingerprint(request.filter)
    having = "1"
    params = dict(where.params)
    if request.page_token:
        key = page_token.decode(request.page_token, fp)
        having = "(first_ns, TraceId) < ({c_ts:Int64}, {c_trace:String})"
        params.update(c_ts=key.timestamp_ns, c_trace=key.trace_id)
    page = reader.rows(
        f"SELECT TraceId, min(toUnixTimestamp64Nano(Timestamp)) AS first_ns FROM {reader.db}.otel_traces"
        f" WHERE {where.sql} GROUP BY TraceId HAVING {having}"
        f" ORDER BY first_ns DESC, TraceId DESC LIMIT {size + 1}",
        params,
        "searching traces",
    )
    if not page:
        return query_pb2.SearchTracesResponse()
    summaries = trace_summaries(reader, [r[0] for r in page[:size]], params["lo"], params["hi"])
    response = query_pb2.SearchTracesResponse(
        traces=[summaries[trace_id] for trace_id, _ in page[:size] if trace_id in summaries]
    )
    if len(page) > size:
        trace_id, first_ns = page[size - 1]
        response.next_page_token = page_token.encode(page_token.PageKey(first_ns, trace_id, ""), fp)
    return response
