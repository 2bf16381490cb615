"""One bounded ClickHouse query per rule: one value per group and leaf.

Every leaf of a rule's condition becomes one SELECT with the same four columns
``(leaf UInt16, grp Array(String), value Nullable(Float64), examples Array(String))``, and a
rule's query is their UNION ALL, so a compound rule is still one round trip. Every SELECT
bounds its time column to the window ending at the evaluation time (``[now - window, now)``),
which the tables' partitions (by day) and primary keys prune with. User values (metric names,
filters, globs) reach ClickHouse only as bound parameters; identifiers only through
``quote_identifier``.

Drift is the exception that proves the rule: its query is GetDrift's (``vigil_query.drift.query``),
which already returns every group's histograms in one query, and PSI is computed in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil_alerting.rules.load import LOG_SEVERITIES
from vigil_alerting.rules.model import (
    AbsenceCondition,
    LogCondition,
    LogFilter,
    MetricCondition,
    Rule,
    SpanCondition,
    SpanFilter,
    glob_to_regex,
    leaves,
)
from vigil_storage.migrate import quote_identifier

MAX_GROUPS = 1000
EXAMPLES = 3
_ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
_STATUS = {
    "error": _ERROR,
    "ok": "StatusCode IN ('Ok', 'STATUS_CODE_OK')",
    "unset": "StatusCode IN ('Unset', 'STATUS_CODE_UNSET', '')",
}
_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass
class _Params:
    """Bound parameters of one query, named per leaf so leaves never collide."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, prefix: str, value: Any, type_: str) -> str:
        name = f"{prefix}_{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


@dataclass(frozen=True)
class _Signal:
    """How one table family names what rules ask about."""

    table: str
    time: str
    columns: dict[str, str]  # group/filter key -> column
    attribute_maps: tuple[str, ...]  # where any other key is looked up, in order


_SPANS = _Signal(
    "otel_traces",
    "Timestamp",
    {
        "service.name": "ServiceName",
        "span.name": "SpanName",
        "operation": "SpanName",
        "model": "GenAiModel",
        "vigil.user": "UserId",
        "status": "StatusCode",
    },
    ("SpanAttributes", "ResourceAttributes"),
)
_LOGS = _Signal(
    "otel_logs",
    "Timestamp",
    {"service.name": "ServiceName", "severity": "SeverityText"},
    ("LogAttributes", "ResourceAttributes"),
)


def _metrics_signal(metric_type: str) -> _Signal:
    return _Signal(
        f"otel_metrics_{metric_type}",
        "TimeUnix",
        {"service.name": "ServiceName"},
        ("Attributes", "ResourceAttributes"),
    )


def _key_sql(signal: _Signal, key: str, p: _Params, prefix: str) -> tuple[str, str]:
    """(value expression, presence condition or '') for a group or filter key."""
    if key in signal.columns:
        return signal.columns[key], ""
    k = p.bind(prefix, key, "String")
    first, second = signal.attribute_maps
    return (
        f"if(mapContains({first}, {k}), {first}[{k}], {second}[{k}])",
        f"(mapContains({first}, {k}) OR mapContains({second}, {k}))",
    )


def _target_sql(signal: _Signal, rule: Rule, p: _Params, prefix: str) -> list[str]:
    if rule.target == "*":
        return []
    if rule.target_attribute == "service.name":
        column = "ServiceName"
    else:
        column = f"ResourceAttributes[{p.bind(prefix, rule.target_attribute, 'String')}]"
    return [f"match({column}, {p.bind(prefix, glob_to_regex(rule.target), 'String')})"]


def _common(
    signal: _Signal, rule: Rule, start_ns: int, end_ns: int, p: _Params, prefix: str
) -> tuple[str, list[str]]:
    """The group array expression, and the WHERE terms every leaf has: time, target, keys present."""
    groups, where = (
        [],
        [
            f"{signal.time} >= fromUnixTimestamp64Nano({p.bind(prefix, start_ns, 'Int64')})",
            f"{signal.time} < fromUnixTimestamp64Nano({p.bind(prefix, end_ns, 'Int64')})",
        ],
    )
    for key in rule.group_keys:
        value, present = _key_sql(signal, key, p, prefix)
        groups.append(f"toString({value})")
        if present:
            where.append(present)
    where += _target_sql(signal, rule, p, prefix)
    return f"[{', '.join(groups)}]", where


def _attributes_sql(
    signal: _Signal, attributes: tuple[tuple[str, str], ...], p: _Params, prefix: str
) -> list[str]:
    terms = []
    for key, value in attributes:
        expr, _ = _key_sql(signal, key, p, prefix)
        terms.append(f"{expr} = {p.bind(prefix, value, 'String')}")
    return terms


def _span_filter_sql(f: SpanFilter, p: _Params, prefix: str) -> list[str]:
    terms = []
    if f.service:
        terms.append(f"ServiceName = {p.bind(prefix, f.service, 'String')}")
    if f.operation:
        terms.append(f"SpanName = {p.bind(prefix, f.operation, 'String')}")
    if f.status:
        terms.append(_STATUS[f.status])
    if f.model:
        terms.append(f"GenAiModel = {p.bind(prefix, f.model, 'String')}")
    return terms + _attributes_sql(_SPANS, f.attributes, p, prefix)


def _log_filter_sql(f: LogFilter, p: _Params, prefix: str) -> list[str]:
    terms = []
    if f.severity:
        minimum = LOG_SEVERITIES[f.severity]
        names = [name for name, n in LOG_SEVERITIES.items() if n >= minimum]
        # Records without a SeverityNumber still count by their text.
        terms.append(
            f"(SeverityNumber >= {minimum} OR (SeverityNumber = 0 AND upperUTF8(SeverityText) IN "
            f"{p.bind(prefix, names, 'Array(String)')}))"
        )
    if f.body_contains:
        terms.append(f"positionCaseInsensitiveUTF8(Body, {p.bind(prefix, f.body_contains, 'String')}) > 0")
    return terms + _attributes_sql(_LOGS, f.attributes, p, prefix)


def _select(i: int, grp: str, value: str, examples: str, table: str, where: list[str]) -> str:
    return (
        f"SELECT toUInt16({i}) AS leaf, {grp} AS grp, toNullable(toFloat64({value})) AS value, "
        f"{examples} AS examples FROM {table} WHERE {' AND '.join(where)} GROUP BY grp"
    )


def _span_leaf(i: int, c: SpanCondition, rule: Rule, db: str, start: int, end: int, p: _Params) -> str:
    prefix = f"l{i}"
    grp, where = _common(_SPANS, rule, start, end, p, prefix)
    where += _span_filter_sql(c.filter, p, prefix)
    by = "groupUniqArray(" + str(EXAMPLES) + ")(TraceId)"
    m = c.measure
    if m == "count":
        value = "count()"
    elif m == "error_rate":
        value, by = f"countIf({_ERROR}) / count()", f"groupUniqArrayIf({EXAMPLES})(TraceId, {_ERROR})"
    elif m.startswith("latency_"):
        # milliseconds; the slowest spans are the examples
        value = f"quantile({_QUANTILES[m.removeprefix('latency_')]})(Duration) / 1e6"
        by = f"arrayMap(x -> x.2, groupArraySorted({EXAMPLES})((-toInt64(Duration), TraceId)))"
    else:
        tokens = {
            "input_tokens": "ifNull(GenAiInputTokens, 0)",
            "output_tokens": "ifNull(GenAiOutputTokens, 0)",
            "total_tokens": "ifNull(GenAiInputTokens, 0) + ifNull(GenAiOutputTokens, 0)",
        }[m]
        value = f"sum({tokens})"
        by = f"arrayMap(x -> x.2, groupArraySorted({EXAMPLES})((-toInt64({tokens}), TraceId)))"
    return _select(i, grp, value, by, f"{db}.otel_traces", where)


def _log_leaf(i: int, c: LogCondition, rule: Rule, db: str, start: int, end: int, p: _Params) -> str:
    prefix = f"l{i}"
    grp, where = _common(_LOGS, rule, start, end, p, prefix)
    where += _log_filter_sql(c.filter, p, prefix)
    return _select(
        i, grp, "count()", f"groupUniqArrayIf({EXAMPLES})(TraceId, TraceId != '')", f"{db}.otel_logs", where
    )


def _bucket_quantile(q: float, buckets: str, bounds: str) -> str:
    """SQL: the q-quantile of an explicit-bounds histogram, interpolated linearly inside its
    bucket as Prometheus' histogram_quantile does (the +Inf bucket answers its lower bound)."""
    rank = f"{q} * arraySum({buckets})"
    below = f"if(qi = 1, 0, {bounds}[qi - 1])"
    return (
        f"if(arraySum({buckets}) = 0, NULL, "
        f"if((arrayFirstIndex(c -> c >= {rank}, arrayCumSum({buckets})) AS qi) > length({bounds}), "
        f"{bounds}[length({bounds})], "
        f"{below} + ({bounds}[qi] - {below}) "
        f"* ({rank} - if(qi = 1, 0, arrayCumSum({buckets})[qi - 1])) / {buckets}[qi]))"
    )


def _metric_leaf(i: int, c: MetricCondition, rule: Rule, db: str, start: int, end: int, p: _Params) -> str:
    prefix = f"l{i}"
    signal = _metrics_signal(c.metric_type)
    grp, where = _common(signal, rule, start, end, p, prefix)
    where.append(f"MetricName = {p.bind(prefix, c.metric, 'String')}")
    where += _attributes_sql(signal, c.attributes, p, prefix)
    table = f"{db}.{signal.table}"
    if c.metric_type == "gauge":
        value = {
            "latest": "argMax(Value, TimeUnix)",
            "avg": "avg(Value)",
            "min": "min(Value)",
            "max": "max(Value)",
        }
        return _select(i, grp, value[c.aggregation], "emptyArrayString()", table, where)
    series = "cityHash64(Attributes, ResourceAttributes)"
    window_s = (end - start) / 1e9
    if c.metric_type == "sum":
        # Per series: a delta series' points add up; a cumulative one's increase is its last
        # value less its first in the window (a reset in between counts as no increase).
        inner = (
            f"SELECT {grp} AS grp, if(any(AggregationTemporality) = 1, sum(Value), "
            f"greatest(argMax(Value, TimeUnix) - argMin(Value, TimeUnix), 0)) AS increase "
            f"FROM {table} WHERE {' AND '.join(where)} GROUP BY grp, {series}"
        )
        total = "sum(increase)" if c.aggregation == "increase" else f"sum(increase) / {window_s!r}"
        return (
            f"SELECT toUInt16({i}) AS leaf, grp, toNullable(toFloat64({total})) AS value, "
            f"emptyArrayString() AS examples FROM ({inner}) GROUP BY grp"
        )
    # Histogram: per series the window's buckets (delta: summed; cumulative: last less first,
    # or the last alone when the window holds one point), then summed per group.
    inner = (
        f"SELECT {grp} AS grp, any(ExplicitBounds) AS bounds, "
        f"if(any(AggregationTemporality) = 1 OR count() = 1, "
        f"if(any(AggregationTemporality) = 1, sumForEach(BucketCounts), argMax(BucketCounts, TimeUnix)), "
        f"arrayMap((a, b) -> toUInt64(greatest(toInt64(a) - toInt64(b), 0)), "
        f"argMax(BucketCounts, TimeUnix), argMin(BucketCounts, TimeUnix))) AS buckets, "
        f"if(any(AggregationTemporality) = 1 OR count() = 1, "
        f"if(any(AggregationTemporality) = 1, sum(Sum), argMax(Sum, TimeUnix)), "
        f"argMax(Sum, TimeUnix) - argMin(Sum, TimeUnix)) AS total "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY grp, {series}"
    )
    if c.aggregation == "mean":
        value = "if(arraySum(b) = 0, NULL, sum(total) / arraySum(b))"
    else:
        value = _bucket_quantile(_QUANTILES[c.aggregation], "b", "any(bounds)")
    return (
        f"SELECT leaf, grp, value, examples FROM (SELECT toUInt16({i}) AS leaf, grp, sumForEach(buckets) AS b, "
        f"toNullable(toFloat64({value})) AS value, emptyArrayString() AS examples FROM ({inner}) GROUP BY grp)"
    )


def _absence_leaf(i: int, c: AbsenceCondition, rule: Rule, db: str, end: int, p: _Params) -> str:
    """Per group seen within the lookback: seconds since its last data."""
    prefix = f"l{i}"
    start = end - int(c.lookback_s * 1e9)
    if c.signal == "spans":
        signal, extra = _SPANS, _span_filter_sql(c.span_filter, p, prefix)
    elif c.signal == "logs":
        signal, extra = _LOGS, _log_filter_sql(c.log_filter, p, prefix)
    else:
        signal = _metrics_signal(c.metric_type)
        extra = [f"MetricName = {p.bind(prefix, c.metric, 'String')}"]
        extra += _attributes_sql(signal, c.attributes, p, prefix)
    grp, where = _common(signal, rule, start, end, p, prefix)
    now = p.bind(prefix, end, "Int64")
    value = f"({now} - toUnixTimestamp64Nano(max({signal.time}))) / 1e9"
    return _select(i, grp, value, "emptyArrayString()", f"{db}.{signal.table}", where + extra)


def rule_sql(rule: Rule, database: str, now_ns: int) -> tuple[str, dict[str, Any]]:
    """The rule's one query (not drift: see ``drift.py``) for the window ending at ``now_ns``."""
    db = quote_identifier(database)
    start = now_ns - int(rule.window_s * 1e9)
    p = _Params()
    selects = []
    for i, leaf in enumerate(leaves(rule.condition)):
        if isinstance(leaf, SpanCondition):
            selects.append(_span_leaf(i, leaf, rule, db, start, now_ns, p))
        elif isinstance(leaf, LogCondition):
            selects.append(_log_leaf(i, leaf, rule, db, start, now_ns, p))
        elif isinstance(leaf, MetricCondition):
            selects.append(_metric_leaf(i, leaf, rule, db, start, now_ns, p))
        elif isinstance(leaf, AbsenceCondition):
            selects.append(_absence_leaf(i, leaf, rule, db, now_ns, p))
        else:
            raise TypeError(f"rule {rule.name!r}: {type(leaf).__name__} has no row query")
    sql = " UNION ALL ".join(f"({s} LIMIT {MAX_GROUPS + 1})" for s in selects)
    return sql, p.values
