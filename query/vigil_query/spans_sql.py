"""SearchSpans and SearchTraces: filtered, newest first, paged with stable tokens."""

from __future__ import annotations

from vigil.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.filters import span_where
from vigil_query.genai_fields import INPUT_TOKENS, OUTPUT_TOKENS, first_present
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span


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
    # Spans of a matching trace may lie outside the filter's window: look an hour around it.
    sql = f"""
        SELECT TraceId,
            if(countIf(ParentSpanId = '') > 0, argMinIf(ServiceName, ts, ParentSpanId = ''), argMin(ServiceName, ts)),
            if(countIf(ParentSpanId = '') > 0, argMinIf(SpanName, ts, ParentSpanId = ''), argMin(SpanName, ts)),
            min(ts),
            max(ts + Duration) - min(ts),
            count(),
            countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
            sum(input_tokens),
            sum(output_tokens)
        FROM (
            SELECT TraceId, SpanId, ParentSpanId, ServiceName, SpanName, StatusCode, Duration,
                toUnixTimestamp64Nano(Timestamp) AS ts,
                {first_present(INPUT_TOKENS, "toInt64OrZero", "0")} AS input_tokens,
                {first_present(OUTPUT_TOKENS, "toInt64OrZero", "0")} AS output_tokens
            FROM {reader.db}.otel_traces
            WHERE TraceId IN {{ids:Array(String)}}
              AND Timestamp >= fromUnixTimestamp64Nano({{lo:Int64}}) - INTERVAL 1 HOUR
              AND Timestamp <= fromUnixTimestamp64Nano({{hi:Int64}}) + INTERVAL 1 HOUR
            LIMIT 1 BY TraceId, SpanId
        )
        GROUP BY TraceId
    """
    summaries = {
        r[0]: r
        for r in reader.rows(
            sql,
            {"ids": [r[0] for r in page[:size]], "lo": params["lo"], "hi": params["hi"]},
            "summarising traces",
        )
    }
    response = query_pb2.SearchTracesResponse(
        traces=[
            query_pb2.TraceSummary(
                trace_id=r[0],
                root_service_name=r[1],
                root_span_name=r[2],
                start_time_unix_nano=r[3],
                duration_nano=r[4],
                span_count=r[5],
                error_count=r[6],
                input_tokens=r[7],
                output_tokens=r[8],
            )
            for r in (summaries.get(trace_id) for trace_id, _ in page[:size])
            if r is not None
        ]
    )
    if len(page) > size:
        trace_id, first_ns = page[size - 1]
        response.next_page_token = page_token.encode(page_token.PageKey(first_ns, trace_id, ""), fp)
    return response
