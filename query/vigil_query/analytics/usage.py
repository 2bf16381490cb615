"""GetUsage: LLM calls, tokens, cost, errors and latency per group and time bucket, in one
ClickHouse query (GROUPING SETS give the buckets, each group's total and the overall total
at once).

Buckets of whole hours read an hourly rollup, with the range widened to whole hours:
``otel_genai_model_usage_hourly`` (migration 0012), a row per hour, service, provider and
model, unless grouped or filtered by user: then ``otel_genai_usage_hourly`` (migration 0008),
a row per hour, service, provider, model and user. Buckets of whole minutes, neither grouped
nor filtered by user, read ``otel_genai_model_usage_minutely`` (migration 0014), with the range
widened to whole minutes. Anything else, and grouping or filtering by session, reads the
spans' GenAI columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.analytics.cost import LLM_CALL, costing
from vigil_query.analytics.prices.book import ROLLUP_TOKENS
from vigil_query.errors import InvalidQuery
from vigil_query.filters import TIMESTAMP_BETWEEN, Where, bucket_step, time_range
from vigil_query.reader import Reader
from vigil_storage.migrate import quote_identifier

G = query_pb2.UsageGroupBy
GROUP_COLUMNS = {
    G.USAGE_GROUP_BY_UNSPECIFIED: "''",
    G.USAGE_GROUP_BY_MODEL: "GenAiModel",
    G.USAGE_GROUP_BY_PROVIDER: "GenAiProvider",
    G.USAGE_GROUP_BY_SERVICE: "ServiceName",
    G.USAGE_GROUP_BY_USER: "UserId",
    G.USAGE_GROUP_BY_SESSION: "SessionId",
}
HOUR_NS = 3600 * 10**9
MINUTE_NS = 60 * 10**9
# LLM calls per minute, service, provider and model (migration 0014).
MINUTE_TABLE = "otel_genai_model_usage_minutely"
ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
# UsageStats in two steps: per (group, bucket) from spans or rollup rows (latency as a
# quantiles state), then GROUPING SETS over those few rows for the groups' and the overall
# totals, merging the states (merging t-digests is the costly part: done once per level).
SPAN_PARTIALS = (
    "count() AS part_calls, sum(ifNull(GenAiInputTokens, 0)) AS part_input, sum(ifNull(GenAiOutputTokens, 0)) AS part_output,"
    " sum(GenAiCacheReadTokens) AS part_cache_read, sum(GenAiCacheCreationTokens) AS part_cache_creation,"
    f" sum(cost) AS part_cost, countIf(cost IS NULL) AS part_unpriced, countIf({ERROR}) AS part_errors,"
    " quantilesState(0.5, 0.95, 0.99)(Duration) AS part_latency"
)
ROLLUP_PARTIALS = (
    "sum(Calls) AS part_calls, sum(InputTokens) AS part_input, sum(OutputTokens) AS part_output,"
    " sum(CacheReadTokens) AS part_cache_read, sum(CacheCreationTokens) AS part_cache_creation, sum(cost) AS part_cost,"
    " sumIf(Calls, cost IS NULL) AS part_unpriced, sum(Errors) AS part_errors,"
    " quantilesTDigestMergeState(0.5, 0.95, 0.99)(Latency) AS part_latency"
)
# The nine values of UsageStats, in its field order (latency: p50, p95, p99).
TOTALS = (
    "sum(part_calls), sum(part_input), sum(part_output), sum(part_cache_read), sum(part_cache_creation),"
    " ifNull(sum(part_cost), 0), sum(part_unpriced), sum(part_errors), {merge}(0.5, 0.95, 0.99)(part_latency)"
)
_SPAN_INPUTS = "GenAiInputTokens, GenAiOutputTokens, GenAiCacheReadTokens, GenAiCacheCreationTokens, StatusCode, Duration"
_ROLLUP_INPUTS = "Calls, Errors, InputTokens, UncachedInputTokens, OutputTokens, CacheReadTokens, CacheCreationTokens, Latency"
ROLLUP_BETWEEN = "Hour >= toDateTime(intDiv({lo:Int64}, 1000000000)) AND Hour <= toDateTime(intDiv({hi:Int64}, 1000000000))"


def stats(row: Sequence[Any]) -> query_pb2.UsageStats:
    """UsageStats from the nine values of ``TOTALS``."""
    calls, inputs, outputs, cache_read, cache_creation, cost, unpriced, errors, latency = row
    return query_pb2.UsageStats(
        calls=calls,
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        cost_usd=cost,
        unpriced_calls=unpriced,
        errors=errors,
        error_rate=errors / calls if calls else 0.0,
        latency_p50_nano=int(latency[0]) if calls else 0,
        latency_p95_nano=int(latency[1]) if calls else 0,
        latency_p99_nano=int(latency[2]) if calls else 0,
    )


def rollup_table(by_user: bool) -> str:
    """The hourly LLM rollup to read: the one with the user only when the user matters."""
    return "otel_genai_usage_hourly" if by_user else "otel_genai_model_usage_hourly"


def _exact(where: Where, filters: dict[str, str]) -> None:
    for i, (column, value) in enumerate(sorted(filters.items())):
        if value:
            where.add(f"{column} = {{f{i}:String}}", **{f"f{i}": value})


def get_usage(
    reader: Reader, request: query_pb2.GetUsageRequest, projects: Sequence[tuple[str, str]] = ()
) -> query_pb2.GetUsageResponse:
    """``projects`` — (project id, database) pairs — are read when grouping by project (the
    service passes those the caller may read); otherwise reader's database alone."""
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    step = bucket_step(lo, hi, request.step_nano, default_buckets=24)
    by_project = request.group_by == G.USAGE_GROUP_BY_PROJECT
    if request.group_by not in GROUP_COLUMNS and not by_project:
        raise InvalidQuery(f"unknown group_by {request.group_by}")
    max_groups = request.max_groups or 100
    if max_groups > 1000:
        raise InvalidQuery(f"max_groups must be at most 1000, got {max_groups}")
    filters = {
        "ServiceName": request.service_name,
        "GenAiModel": request.model,
        "GenAiProvider": request.provider,
        "UserId": request.user_id,
    }
    by_session = request.group_by == G.USAGE_GROUP_BY_SESSION or bool(request.session_id)
    by_user = request.group_by == G.USAGE_GROUP_BY_USER or bool(request.user_id)
    rollup = step % HOUR_NS == 0 and not by_session
    minutely = not rollup and step % MINUTE_NS == 0 and not by_session and not by_user
    where = Where()
    if rollup or minutely:
        grain, time = (HOUR_NS, "Hour") if rollup else (MINUTE_NS, "Minute")
        lo = lo // grain * grain
        where.add(ROLLUP_BETWEEN.replace("Hour", time), lo=lo, hi=hi)
        time_ns = f"toInt64(toUnixTimestamp({time})) * 1000000000"
        inputs, partials, merge, table = (
            _ROLLUP_INPUTS,
            ROLLUP_PARTIALS,
            "quantilesTDigestMerge",
            rollup_table(by_user) if rollup else MINUTE_TABLE,
        )
    else:
        where.add(TIMESTAMP_BETWEEN, lo=lo, hi=hi)
        where.add(LLM_CALL)
        filters["SessionId"] = request.session_id
        time_ns = "toUnixTimestamp64Nano(Timestamp)"
        inputs, partials, merge, table = _SPAN_INPUTS, SPAN_PARTIALS, "quantilesMerge", "otel_traces"
    _exact(where, filters)
    if by_project and not projects:
        return query_pb2.GetUsageResponse(step_nano=step, currency="USD")
    # One source per database read: a project's id is its group's key.
    sources = (
        [(f"{{project{i}:String}}", quote_identifier(db)) for i, (_, db) in enumerate(projects)]
        if by_project
        else [(GROUP_COLUMNS[request.group_by], reader.db)]
    )
    prices = costing(
        reader,
        where.sql,
        where.params,
        rollup=rollup or minutely,
        databases=[db for _, db in sources],
        rollup_table=table,
        priced=("Minute", ROLLUP_TOKENS) if minutely else None,
    )
    params = {**where.params, **prices.params, "step": step, "origin": lo}
    params.update({f"project{i}": slug for i, (slug, _) in enumerate(projects)} if by_project else {})
    bucket = f"{{origin:Int64}} + intDiv({time_ns} - {{origin:Int64}}, {{step:Int64}}) * {{step:Int64}}"

    def rows_of(table: str, key_sql: str, also: str = "") -> str:
        return " UNION ALL ".join(
            f"SELECT {key_sql or key} AS key, {bucket} AS bucket, {inputs}, {prices.columns}"
            f" FROM {db}.{table} WHERE {where.sql}{also}"
            for key, db in sources
        )

    spans = rows_of(table, "")
    levels, total, truncated = "(key, bucket), (key), ()", None, False
    if rollup and request.group_by == G.USAGE_GROUP_BY_USER and not request.user_id:
        # Users are many (500 in the bench: 226k user-hour t-digests a day, seconds to merge,
        # for the 20 shown): the costliest are found first from the sums alone, only theirs
        # read and merged, and the overall total comes from the rollup without the user (the
        # same calls, tokens and cost; its latency quantiles may differ in the last digits).
        leaders = reader.rows(
            f"SELECT key, ifNull(sum(cost), 0) AS c, sum(Calls) AS n FROM ({spans})"
            f" GROUP BY key ORDER BY c DESC, n DESC, key LIMIT {max_groups + 1}",
            params,
            "ranking users",
        )
        truncated = len(leaders) > max_groups
        params["kept"] = [key for key, _, _ in leaders[:max_groups]]
        everyone = rows_of(rollup_table(False), "''")
        (total,) = reader.rows(
            f"SELECT {TOTALS.format(merge=merge)} FROM (SELECT {partials} FROM ({everyone}))",
            params,
            "measuring usage",
        )
        levels = "(key, bucket), (key)"
        spans = rows_of(table, "", " AND UserId IN {kept:Array(String)}")
    rows = reader.rows(
        f"SELECT grouping(key, bucket) AS level, key, bucket, {TOTALS.format(merge=merge)} FROM ("
        f" SELECT key, bucket, {partials} FROM ({spans})"
        " GROUP BY key, bucket)"
        f" GROUP BY GROUPING SETS ({levels})",
        params,
        "measuring usage",
    )
    response = query_pb2.GetUsageResponse(step_nano=step, currency="USD")
    if total is not None:
        response.total.CopyFrom(stats(total))
    groups: dict[str, query_pb2.UsageGroup] = {}
    buckets: dict[str, list[tuple[int, query_pb2.UsageStats]]] = {}
    for level, group_key, start, *values in rows:
        if level == 3:
            response.total.CopyFrom(stats(values))
        elif level == 1:
            groups[group_key] = query_pb2.UsageGroup(key=group_key, total=stats(values))
        else:
            buckets.setdefault(group_key, []).append((start, stats(values)))
    ranked = sorted(groups.values(), key=lambda g: (-g.total.cost_usd, -g.total.calls, g.key))
    response.truncated = truncated or len(ranked) > max_groups
    for group in ranked[:max_groups]:
        for start, bucket_stats in sorted(buckets.get(group.key, []), key=lambda b: b[0]):
            group.buckets.add(time_unix_nano=start, stats=bucket_stats)
        response.groups.append(group)
    if response.total.unpriced_calls:
        response.unpriced_models.extend(prices.unpriced_models)
    return response
