"""GetOverview: the UI's home page in a few aggregations over rollups.

Requests are root spans, read from ``otel_operations_minutely`` (migration 0012): a row per
minute, service and operation; split by user, from ``otel_requests_hourly`` (0012) when the
step is whole hours, else ``otel_requests_minutely`` (0011), a row per minute, service,
operation and user (with many users nearly a row per request). The LLM calls' tokens, cost,
errors and latency are GetUsage's answer for the same range, step and grouping (the hourly
rollups when the step is whole hours, else the minute LLM rollup of migration 0014; by user
over short ranges, the spans' GenAI columns). The top lists rank sessions, users and models by
cost and by errors (from the hourly rollups, sessions' from ``otel_session_usage_hourly``;
for short ranges models from the minute rollup, sessions and users from the spans), and
operations (root span names, from the operations' minute rollup) by errors.

The range is widened to whole minutes (whole hours when the step is), so the requests'
buckets and the usage's start at the same times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.analytics.cost import LLM_CALL, Costing, costing
from vigil_query.analytics.prices.book import ROLLUP_TOKENS, SPAN_TOKENS
from vigil_query.analytics.usage import (
    ERROR,
    HOUR_NS,
    MINUTE_NS,
    MINUTE_TABLE,
    ROLLUP_BETWEEN,
    get_usage,
    rollup_table,
)
from vigil_query.errors import InvalidQuery
from vigil_query.filters import TIMESTAMP_BETWEEN, Where, bucket_step, time_range
from vigil_query.reader import Reader

G = query_pb2.OverviewGroupBy
U = query_pb2.UsageGroupBy
# Above this range the default step is whole hours (the hourly LLM rollup is read).
HOURLY_ABOVE_NS = 6 * HOUR_NS
DEFAULT_BUCKETS = 60
MAX_REQUEST_GROUPS = 20
MAX_TOP = 100
TOP_LISTS = ("sessions", "users", "models")
_USAGE_GROUP = {
    G.OVERVIEW_GROUP_BY_UNSPECIFIED: U.USAGE_GROUP_BY_UNSPECIFIED,
    G.OVERVIEW_GROUP_BY_MODEL: U.USAGE_GROUP_BY_MODEL,
    G.OVERVIEW_GROUP_BY_SERVICE: U.USAGE_GROUP_BY_SERVICE,
    G.OVERVIEW_GROUP_BY_USER: U.USAGE_GROUP_BY_USER,
}
_REQUEST_KEY = {
    G.OVERVIEW_GROUP_BY_UNSPECIFIED: "''",
    G.OVERVIEW_GROUP_BY_MODEL: "''",  # a root span names no model
    G.OVERVIEW_GROUP_BY_SERVICE: "ServiceName",
    G.OVERVIEW_GROUP_BY_USER: "UserId",
}
MINUTE_BETWEEN = "Minute >= toDateTime(intDiv({lo:Int64}, 1000000000)) AND Minute <= toDateTime(intDiv({hi:Int64}, 1000000000))"
HOUR_BETWEEN = MINUTE_BETWEEN.replace("Minute", "Hour")


def overview_step(lo: int, hi: int, step_nano: int) -> int:
    """Whole minutes (the rollup's grain); by default about DEFAULT_BUCKETS of them, whole
    hours when the range is longer than HOURLY_ABOVE_NS."""
    if step_nano:
        if step_nano < 0 or step_nano % MINUTE_NS:
            raise InvalidQuery(f"step_nano must be a whole number of minutes, got {step_nano}")
        return bucket_step(lo, hi, step_nano, DEFAULT_BUCKETS)
    unit = HOUR_NS if hi - lo > HOURLY_ABOVE_NS else MINUTE_NS
    raw = -(-(hi - lo) // DEFAULT_BUCKETS)
    return max(unit, -(-raw // unit) * unit)


def request_stats(row: Sequence[Any]) -> query_pb2.RequestStats:
    requests, errors, latency = row
    return query_pb2.RequestStats(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        latency_p50_nano=int(latency[0]) if requests else 0,
        latency_p95_nano=int(latency[1]) if requests else 0,
        latency_p99_nano=int(latency[2]) if requests else 0,
    )


def overview_parts(
    request: query_pb2.GetOverviewRequest,
) -> tuple[query_pb2.GetOverviewResponse, list[Callable[[Reader], None]]]:
    """The response with its range and step, and the independent parts that fill it (requests
    and operations; the LLM usage; the top sessions, the costliest; the top users and models),
    which the service runs at once on its query threads, then the one that assembles them."""
    if request.group_by not in _USAGE_GROUP:
        raise InvalidQuery(f"unknown group_by {request.group_by}")
    top = request.top or 10
    if top > MAX_TOP:
        raise InvalidQuery(f"top must be at most {MAX_TOP}, got {top}")
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    step = overview_step(lo, hi, request.step_nano)
    grain = HOUR_NS if step % HOUR_NS == 0 else MINUTE_NS
    lo = lo // grain * grain
    response = query_pb2.GetOverviewResponse(
        step_nano=step, start_time_min_unix_nano=lo, start_time_max_unix_nano=hi
    )
    service = request.service_name
    requests = query_pb2.GetOverviewResponse()

    def count_requests(reader: Reader) -> None:
        _requests(reader, request, lo, hi, step, requests)
        requests.top.append(_operations(reader, lo, hi, service, top))

    def usage(reader: Reader) -> None:
        usage_request = query_pb2.GetUsageRequest(
            start_time_min_unix_nano=lo,
            start_time_max_unix_nano=hi,
            step_nano=step,
            group_by=_USAGE_GROUP[request.group_by],
            service_name=service,
            max_groups=MAX_REQUEST_GROUPS,
        )
        response.usage.CopyFrom(get_usage(reader, usage_request))

    ranked: dict[str, query_pb2.TopList] = {}

    def rank_sessions(reader: Reader) -> None:
        ranked.update(_tops(reader, lo, hi, service, grain == HOUR_NS, top, ("sessions",)))

    def rank_users_and_models(reader: Reader) -> None:
        ranked.update(_tops(reader, lo, hi, service, grain == HOUR_NS, top, ("users", "models")))

    def assemble(reader: Reader) -> None:
        """After the others: the pieces in the response's order."""
        response.requests.CopyFrom(requests.requests)
        response.request_groups.extend(requests.request_groups)
        response.top.extend([*(ranked[name] for name in TOP_LISTS), *requests.top])

    return response, [count_requests, usage, rank_sessions, rank_users_and_models, assemble]


def get_overview(reader: Reader, request: query_pb2.GetOverviewRequest) -> query_pb2.GetOverviewResponse:
    """GetOverview on one thread (the parts one after the other)."""
    response, parts = overview_parts(request)
    for part in parts:
        part(reader)
    return response


def _minute_where(lo: int, hi: int, service: str, hourly: bool = False) -> Where:
    where = Where()
    where.add(HOUR_BETWEEN if hourly else MINUTE_BETWEEN, lo=lo, hi=hi)
    if service:
        where.add("ServiceName = {service:String}", service=service)
    return where


def _requests(
    reader: Reader,
    request: query_pb2.GetOverviewRequest,
    lo: int,
    hi: int,
    step: int,
    response: query_pb2.GetOverviewResponse,
) -> None:
    by_user = request.group_by == G.OVERVIEW_GROUP_BY_USER
    hourly = by_user and step % HOUR_NS == 0
    where = _minute_where(lo, hi, request.service_name, hourly)
    time_ns = f"toInt64(toUnixTimestamp({'Hour' if hourly else 'Minute'})) * 1000000000"
    table = (
        "otel_requests_hourly"
        if hourly
        else "otel_requests_minutely"
        if by_user
        else "otel_operations_minutely"
    )
    bucket = f"{{origin:Int64}} + intDiv({time_ns} - {{origin:Int64}}, {{step:Int64}}) * {{step:Int64}}"
    params = {**where.params, "origin": lo, "step": step}
    levels, kept = "(key, bucket), (key), ()", ""
    if by_user:
        # Users are many (a row per request and minute with 500 users): the busiest found
        # first from the sums, only their t-digests read and merged; the overall total from
        # the operations' rollup (no user) over the same whole minutes or hours.
        leaders = reader.rows(
            f"SELECT UserId AS key, sum(Requests) AS n FROM {reader.db}.{table} WHERE {where.sql}"
            f" GROUP BY key ORDER BY n DESC, key LIMIT {MAX_REQUEST_GROUPS}",
            where.params,
            "ranking users' requests",
        )
        params["kept"] = [key for key, _ in leaders]
        levels, kept = "(key, bucket), (key)", " AND UserId IN {kept:Array(String)}"
        end = hi // HOUR_NS * HOUR_NS + HOUR_NS - 1 if hourly else hi
        everyone = _minute_where(lo, end, request.service_name)
        ((requests, errors, latency),) = reader.rows(
            "SELECT sum(Requests), sum(Errors), quantilesTDigestMerge(0.5, 0.95, 0.99)(Latency)"
            f" FROM {reader.db}.otel_operations_minutely WHERE {everyone.sql}",
            everyone.params,
            "counting requests",
        )
        response.requests.CopyFrom(request_stats((requests, errors, latency)))
    rows = reader.rows(
        "SELECT grouping(key, bucket) AS level, key, bucket, sum(part_requests), sum(part_errors),"
        " quantilesTDigestMerge(0.5, 0.95, 0.99)(part_latency) FROM ("
        " SELECT key, bucket, sum(Requests) AS part_requests, sum(Errors) AS part_errors,"
        " quantilesTDigestMergeState(0.5, 0.95, 0.99)(Latency) AS part_latency FROM ("
        f"  SELECT {_REQUEST_KEY[request.group_by]} AS key, {bucket} AS bucket, Requests, Errors, Latency"
        f"  FROM {reader.db}.{table} WHERE {where.sql}{kept})"
        " GROUP BY key, bucket)"
        f" GROUP BY GROUPING SETS ({levels})",
        params,
        "counting requests",
    )
    groups: dict[str, query_pb2.RequestGroup] = {}
    buckets: dict[str, list[tuple[int, query_pb2.RequestStats]]] = {}
    for level, key, start, *values in rows:
        if level == 3:
            response.requests.CopyFrom(request_stats(values))
        elif level == 1:
            groups[key] = query_pb2.RequestGroup(key=key, total=request_stats(values))
        else:
            buckets.setdefault(key, []).append((start, request_stats(values)))
    ranked = sorted(groups.values(), key=lambda g: (-g.total.requests, g.key))[:MAX_REQUEST_GROUPS]
    for group in ranked:
        for start, stats in sorted(buckets.get(group.key, []), key=lambda b: b[0]):
            group.buckets.add(time_unix_nano=start, stats=stats)
        response.request_groups.append(group)


def _entry(row: Sequence[Any]) -> query_pb2.TopEntry:
    key, cost, unpriced, errors, count = row
    return query_pb2.TopEntry(key=key, cost_usd=cost, unpriced_calls=unpriced, errors=errors, count=count)


def _ranked(
    reader: Reader, name: str, grouped: str, params: dict[str, Any], top: int, what: str
) -> query_pb2.TopList:
    """Both rankings of ``grouped`` (key, cost, unpriced, errors, count per key) in one pass:
    each ranking's first ``top`` kept in a sorted array as the groups stream by (numbering
    every group twice with row_number() sorted them all: 312k sessions a day in the bench)."""
    entry = "key, top_cost, top_unpriced, top_errors, top_count"
    ((by_cost, by_errors),) = reader.rows(
        f"SELECT groupArraySorted({int(top)})((-top_cost, -toInt64(top_count), {entry})),"
        f" groupArraySortedIf({int(top)})((-toInt64(top_errors), -toInt64(top_count), {entry}), top_errors > 0)"
        f" FROM ({grouped})",
        params,
        what,
    )
    listed = query_pb2.TopList(name=name)
    listed.by_cost.extend(_entry(r[2:]) for r in by_cost if r[3] > 0 or r[4] > 0)
    listed.by_errors.extend(_entry(r[2:]) for r in by_errors)
    return listed


def _tops(
    reader: Reader, lo: int, hi: int, service: str, rollup: bool, top: int, names: Sequence[str]
) -> dict[str, query_pb2.TopList]:
    """The ``names`` of sessions, users and models by cost and by errors. Over whole hours
    (``rollup``) from the hourly rollups: sessions from otel_session_model_usage_hourly, or
    otel_session_usage_hourly filtered by service (migrations 0011-0012). Over whole minutes,
    the models from the minute LLM rollup (migration 0014); the sessions and users from the
    same hourly rollups for the whole hours inside the range and from the spans for the
    partial hours at its ends (up to the end of ``hi``'s minute). The models are found and
    priced once, in the LLM rollup, for the range: each row's price is two array lookups
    (``Costing.within``)."""
    rolled = Where()
    rolled.add(ROLLUP_BETWEEN if rollup else MINUTE_BETWEEN, lo=lo, hi=hi)
    spans_hi = hi // MINUTE_NS * MINUTE_NS + MINUTE_NS - 1
    # The whole hours of a short range: [first, last).
    first, last = -(-lo // HOUR_NS) * HOUR_NS, (spans_hi + 1) // HOUR_NS * HOUR_NS
    hours, spans = Where(), Where()
    hours.add("Hour >= toDateTime(intDiv({first:Int64}, 1000000000)) AND Hour < toDateTime(intDiv({last:Int64}, 1000000000))",
              first=first, last=last)  # fmt: skip
    spans.add(TIMESTAMP_BETWEEN, lo=lo, hi=spans_hi)
    if first < last:
        spans.add(
            "(Timestamp < fromUnixTimestamp64Nano({first:Int64}) OR Timestamp >= fromUnixTimestamp64Nano({last:Int64}))",
            first=first,
            last=last,
        )
    spans.add(LLM_CALL)
    for where in (rolled, hours, spans):
        if service:
            where.add("ServiceName = {service:String}", service=service)
    time = "Hour" if rollup else "Minute"
    models_table = rollup_table(False) if rollup else MINUTE_TABLE
    prices = costing(
        reader,
        rolled.sql,
        rolled.params,
        rollup=True,
        rollup_table=models_table,
        priced=(time, ROLLUP_TOKENS),
    )
    Source = tuple[str, Where, str, str, Costing]
    from_spans: Source = ("otel_traces", spans, "toUInt64(1)", f"toUInt64({ERROR})",
                          prices.within(lo, spans_hi, "Timestamp", SPAN_TOKENS, "_spans"))  # fmt: skip
    sessions = "otel_session_usage_hourly" if service else "otel_session_model_usage_hourly"
    hourly = prices.within(first, last, "Hour", ROLLUP_TOKENS)
    lists = {}
    for name, column, table in (
        ("sessions", "SessionId", sessions),
        ("users", "UserId", rollup_table(True)),
        ("models", "GenAiModel", models_table),
    ):
        if name not in names:
            continue
        if rollup or name == "models":
            sources: list[Source] = [(table, rolled, "Calls", "Errors", prices.within(lo, hi))]
        else:
            whole = [(table, hours, "Calls", "Errors", hourly)] if first < last else []
            sources = [*whole, from_spans]
        union = " UNION ALL ".join(
            f"SELECT {column} AS key, {calls} AS c, {errors} AS e, {priced.columns}"
            f" FROM {reader.db}.{source} WHERE {where.sql} AND {column} != ''"
            for source, where, calls, errors, priced in sources
        )
        params = {}
        for _, where, _, _, priced in sources:
            params.update({**where.params, **priced.params})
        grouped = (
            "SELECT key, ifNull(sum(cost), 0) AS top_cost, sumIf(c, cost IS NULL) AS top_unpriced,"
            f" sum(e) AS top_errors, sum(c) AS top_count FROM ({union}) GROUP BY key"
        )
        lists[name] = _ranked(reader, name, grouped, params, top, f"ranking {name}")
    return lists


def _operations(reader: Reader, lo: int, hi: int, service: str, top: int) -> query_pb2.TopList:
    where = _minute_where(lo, hi, service)
    grouped = (
        "SELECT SpanName AS key, toFloat64(0) AS top_cost, toUInt64(0) AS top_unpriced,"
        f" sum(Errors) AS top_errors, sum(Requests) AS top_count FROM {reader.db}.otel_operations_minutely WHERE {where.sql} GROUP BY key"
    )
    return _ranked(reader, "operations", grouped, where.params, top, "ranking operations")
