"""One summary per trace (SearchTraces, GetSession): root service and name, start, duration,
spans, errors, tokens, LLM calls, cost and session, from the given traces' spans only."""

from __future__ import annotations

from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.analytics.cost import LLM_CALL, Costing, costing
from vigil_query.reader import Reader

# Spans of a trace may lie outside the window it was found in: look this much around it.
_AROUND = "INTERVAL 1 HOUR"


def traces_where(trace_ids: list[str], lo: int, hi: int) -> tuple[str, dict[str, Any]]:
    """The spans of these traces, found between ``lo`` and ``hi``: what trace_summaries reads."""
    where = (
        "TraceId IN {ids:Array(String)}"
        f" AND Timestamp >= fromUnixTimestamp64Nano({{lo:Int64}}) - {_AROUND}"
        f" AND Timestamp <= fromUnixTimestamp64Nano({{hi:Int64}}) + {_AROUND}"
    )
    return where, {"ids": trace_ids, "lo": lo, "hi": hi}


def trace_summaries(
    reader: Reader, trace_ids: list[str], lo: int, hi: int, prices: Costing | None = None
) -> dict[str, query_pb2.TraceSummary]:
    """``prices``: resolved already for (at least) these spans' models, else resolved here."""
    if not trace_ids:
        return {}
    where, params = traces_where(trace_ids, lo, hi)
    prices = prices or costing(reader, where, params)
    # Retried copies of a span count once.
    rows = reader.rows(
        f"""
        SELECT TraceId,
            if(countIf(ParentSpanId = '') > 0, argMinIf(ServiceName, ts, ParentSpanId = ''), argMin(ServiceName, ts)),
            if(countIf(ParentSpanId = '') > 0, argMinIf(SpanName, ts, ParentSpanId = ''), argMin(SpanName, ts)),
            min(ts),
            max(ts + Duration) - min(ts),
            count(),
            countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
            sum(input_tokens),
            sum(output_tokens),
            ifNull(sum(cost), 0),
            countIf(llm AND cost IS NULL),
            argMinIf(SessionId, ts, SessionId != ''),
            countIf(llm)
        FROM (
            SELECT TraceId, SpanId, ParentSpanId, ServiceName, SpanName, StatusCode, Duration, SessionId,
                toUnixTimestamp64Nano(Timestamp) AS ts,
                ifNull(GenAiInputTokens, 0) AS input_tokens, ifNull(GenAiOutputTokens, 0) AS output_tokens,
                {LLM_CALL} AS llm, {prices.columns}
            FROM {reader.db}.otel_traces
            WHERE {where}
            LIMIT 1 BY TraceId, SpanId
        )
        GROUP BY TraceId
        """,
        {**params, **prices.params},
        "summarising traces",
    )
    return {
        r[0]: query_pb2.TraceSummary(
            trace_id=r[0],
            root_service_name=r[1],
            root_span_name=r[2],
            start_time_unix_nano=r[3],
            duration_nano=r[4],
            span_count=r[5],
            error_count=r[6],
            input_tokens=r[7],
            output_tokens=r[8],
            cost_usd=r[9],
            unpriced_calls=r[10],
            session_id=r[11],
            llm_calls=r[12],
        )
        for r in rows
    }
