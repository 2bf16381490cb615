"""SearchSessions and GetSession: spans grouped by their SessionId column (session.id,
gen_ai.conversation.id or langfuse.session.id), with tokens and cost of their LLM calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.analytics.cost import LLM_CALL, Costing, costing
from vigil_query.analytics.usage import HOUR_NS, ROLLUP_BETWEEN
from vigil_query.errors import InvalidQuery, NotFound
from vigil_query.filters import TIMESTAMP_BETWEEN, Where, time_range
from vigil_query.reader import Reader
from vigil_query.traces.summary import trace_summaries, traces_where

MAX_SESSION_TRACES = 1000
_MAX_USERS = 10
_THIRTY_DAYS_NS = 30 * 24 * 3600 * 10**9
# One SessionSummary from a session's spans (``cost`` and ``llm`` from the inner SELECT).
_SUMMARY_SQL = f"""
    SessionId,
    min(ts) AS first_ns,
    max(ts + Duration) AS last_ns,
    uniqExact(TraceId),
    count(),
    countIf(llm),
    sum(ifNull(GenAiInputTokens, 0)),
    sum(ifNull(GenAiOutputTokens, 0)),
    ifNull(sum(cost), 0),
    countIf(llm AND cost IS NULL),
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    arraySort(groupUniqArrayIf({_MAX_USERS})(UserId, UserId != '')),
    argMin(ServiceName, ts)
"""
_SPAN_COLUMNS = (
    "SessionId, TraceId, ServiceName, StatusCode, Duration, UserId, GenAiInputTokens, GenAiOutputTokens,"
    f" toUnixTimestamp64Nano(Timestamp) AS ts, {LLM_CALL} AS llm"
)


def _summary(row: Sequence[Any]) -> query_pb2.SessionSummary:
    session, first, last, traces, spans, calls, inputs, outputs, cost, unpriced, errors, users, service = row[
        :13
    ]
    return query_pb2.SessionSummary(
        session_id=session,
        first_time_unix_nano=first,
        last_time_unix_nano=last,
        traces=traces,
        spans=spans,
        llm_calls=calls,
        input_tokens=inputs,
        output_tokens=outputs,
        cost_usd=cost,
        unpriced_calls=unpriced,
        errors=errors,
        user_ids=users,
        service_name=service,
    )


def search_sessions(
    reader: Reader, request: query_pb2.SearchSessionsRequest
) -> query_pb2.SearchSessionsResponse:
    """Two bounded steps: the page's sessions by their last activity, from the hourly rollup
    (otel_sessions_hourly: the range, service and user applied per hour), then the summaries
    of just those, from their spans in the time the page covers."""
    size = page_token.page_size(request.page_size, default=50)
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    hours = Where()
    hours.add(ROLLUP_BETWEEN, lo=lo // HOUR_NS * HOUR_NS, hi=hi)
    if request.service_name:
        hours.add("has(Services, {service:String})", service=request.service_name)
    if request.user_id:
        hours.add("has(Users, {user:String})", user=request.user_id)
    criteria = query_pb2.SearchSessionsRequest()
    criteria.CopyFrom(request)
    criteria.ClearField("page_token")
    criteria.ClearField("page_size")
    fp = page_token.fingerprint(criteria)
    having = "last_ns >= {r_lo:Int64} AND first_ns <= {r_hi:Int64}"
    params = {**hours.params, "r_lo": lo, "r_hi": hi}
    if request.page_token:
        last_ns, session = page_token.decode_parts(request.page_token, fp, int, str)
        having += " AND (last_ns, SessionId) < ({c_ts:Int64}, {c_session:String})"
        params.update(c_ts=last_ns, c_session=session)
    # The most recent sessions are in the most recent hours: look there first, and further
    # back only when they hold too few (a session found in an hour ends after its start).
    newest = params.get("c_ts", hi) // HOUR_NS * HOUR_NS
    first_hour = lo // HOUR_NS * HOUR_NS
    for hours_back in (1, 6, 0):
        since = first_hour if not hours_back else max(first_hour, newest - (hours_back - 1) * HOUR_NS)
        page = reader.rows(
            f"SELECT SessionId, max(LastNs) AS last_ns, min(FirstNs) AS first_ns"
            f" FROM {reader.db}.otel_sessions_hourly WHERE {hours.sql} AND Hour >= toDateTime({since // 10**9})"
            f" GROUP BY SessionId HAVING {having} ORDER BY last_ns DESC, SessionId DESC LIMIT {size + 1}",
            params,
            "searching sessions",
        )
        if len(page) > size or since == first_hour:
            break
    response = query_pb2.SearchSessionsResponse()
    if not page:
        return response
    ids = [session for session, _, _ in page[:size]]
    ((earliest,),) = reader.rows(
        f"SELECT min(FirstNs) FROM {reader.db}.otel_sessions_hourly"
        f" WHERE SessionId IN {{ids:Array(String)}} AND {ROLLUP_BETWEEN}",
        {"ids": ids, "lo": first_hour, "hi": hi},
        "finding the sessions' start",
    )
    spans = Where()
    spans.add(TIMESTAMP_BETWEEN, lo=max(lo, earliest), hi=min(hi, max(last for _, last, _ in page[:size])))
    if request.service_name:
        spans.add("ServiceName = {service:String}", service=request.service_name)
    summaries = {r[0]: _summary(r) for r in _summaries(reader, spans, ids)}
    response.sessions.extend(summaries[i] for i in ids if i in summaries)
    if len(page) > size:
        session, last_ns, _ = page[size - 1]
        response.next_page_token = page_token.encode_parts([last_ns, session], fp)
    return response


def _summaries(
    reader: Reader, where: Where, session_ids: list[str], prices: Costing | None = None
) -> Sequence[Sequence[Any]]:
    if not session_ids:
        return []
    only = Where(list(where.clauses), dict(where.params))
    only.add("SessionId IN {session_ids:Array(String)}", session_ids=session_ids)
    prices = prices or costing(reader, only.sql, only.params)
    return reader.rows(
        f"SELECT {_SUMMARY_SQL} FROM (SELECT {_SPAN_COLUMNS}, {prices.columns}"
        f" FROM {reader.db}.otel_traces WHERE {only.sql}) GROUP BY SessionId",
        {**only.params, **prices.params},
        "summarising sessions",
    )


def get_session(reader: Reader, request: query_pb2.GetSessionRequest) -> query_pb2.GetSessionResponse:
    if not request.session_id:
        raise InvalidQuery("session_id is required")
    lo, hi = time_range(
        request.start_time_min_unix_nano, request.start_time_max_unix_nano, default_ns=_THIRTY_DAYS_NS
    )
    # Where the session's spans are, from the rollup: the span query reads only that time.
    ((first, last),) = reader.rows(
        f"SELECT min(FirstNs), max(LastNs) FROM {reader.db}.otel_sessions_hourly"
        f" WHERE SessionId = {{session:String}} AND {ROLLUP_BETWEEN}",
        {"session": request.session_id, "lo": lo // HOUR_NS * HOUR_NS, "hi": hi},
        "finding the session",
    )
    where = Where()
    if first and last:
        lo, hi = max(lo, first), min(hi, last)
    where.add(TIMESTAMP_BETWEEN, lo=lo, hi=hi)
    where.add("SessionId = {session:String}", session=request.session_id)
    traces = (
        reader.rows(
            f"SELECT TraceId, min(Timestamp) AS first FROM {reader.db}.otel_traces WHERE {where.sql}"
            f" GROUP BY TraceId ORDER BY first, TraceId LIMIT {MAX_SESSION_TRACES + 1}",
            where.params,
            "listing the session's traces",
        )
        if first and last
        else []
    )
    if not traces:
        raise NotFound(f"no spans of session {request.session_id!r} between {lo} and {hi} (Unix ns)")
    trace_ids = [t for t, _ in traces]  # in the order their first span started
    # The prices once, for the models of the traces' spans: a superset of the session's own
    # (every span of the session is in one of its traces) unless the traces were truncated.
    shown = trace_ids[:MAX_SESSION_TRACES]
    prices = costing(reader, *traces_where(shown, lo, hi)) if len(trace_ids) <= MAX_SESSION_TRACES else None
    rows = _summaries(reader, where, [request.session_id], prices)
    if not rows:
        raise NotFound(f"no spans of session {request.session_id!r} between {lo} and {hi} (Unix ns)")
    row = rows[0]
    summaries = trace_summaries(reader, shown, lo, hi, prices)
    return query_pb2.GetSessionResponse(
        session=_summary(row),
        traces=[summaries[t] for t in trace_ids[:MAX_SESSION_TRACES] if t in summaries],
        truncated=len(trace_ids) > MAX_SESSION_TRACES,
    )
