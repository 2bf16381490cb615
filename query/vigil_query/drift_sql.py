"""GetDrift: PSI of a metric per group, with every group's bins computed in one ClickHouse query.

The query reads the two windows once for counting and the baseline once more for the bin
edges (``quantilesDeterministic`` at i/bins, so the same data gives the same edges; rounded
to 1e-6, so that interpolation noise cannot split one tied value into two edges; then
sorted and deduplicated), joins
each span to its group's edges, and counts spans per bin and window with ``countIf``; only
the per-group vectors (edges, counts, p50/p95) come back. PSI itself is a few floating-point
operations per group (``psi.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vigil.query.v1 import query_pb2
from vigil_query import psi as psi_math
from vigil_query.errors import InvalidQuery
from vigil_query.genai_fields import INPUT_TOKENS, OUTPUT_TOKENS, first_present
from vigil_query.reader import Reader

HOUR_NS = 3600 * 10**9
DEFAULT_CURRENT_NS = HOUR_NS
DEFAULT_BASELINE_NS = 24 * HOUR_NS
DEFAULT_BINS = 10
MAX_BINS = 100
MAX_GROUP_KEYS = 4
DEFAULT_GROUP_BY = ("service.name", "span.name")
_COLUMN_KEYS = {"service.name": "ServiceName", "span.name": "SpanName"}


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    value_sql: str  # Float64 or NULL where the span does not carry the metric


METRICS = {
    m.name: m
    for m in (
        Metric("duration", "ms", "Duration / 1e6"),
        Metric("input_tokens", "tokens", first_present(INPUT_TOKENS, "toFloat64OrNull", "NULL")),
        Metric("output_tokens", "tokens", first_present(OUTPUT_TOKENS, "toFloat64OrNull", "NULL")),
    )
}


@dataclass(frozen=True, slots=True)
class Window:
    start_ns: int
    end_ns: int

    def to_proto(self) -> query_pb2.TimeWindow:
        return query_pb2.TimeWindow(start_time_unix_nano=self.start_ns, end_time_unix_nano=self.end_ns)


@dataclass(frozen=True, slots=True)
class DriftQuery:
    """A validated GetDrift request."""

    metric: Metric
    group_by: tuple[str, ...]
    current: Window
    baseline: Window
    bins: int
    min_samples: int
    service_name: str = ""
    span_name: str = ""


@dataclass(slots=True)
class DriftResult:
    group: dict[str, str]
    psi: float
    severity: str
    baseline_count: int
    current_count: int
    bin_edges: list[float]
    baseline_proportions: list[float]
    current_proportions: list[float]
    baseline_p50: float = 0.0
    baseline_p95: float = 0.0
    current_p50: float = 0.0
    current_p95: float = 0.0
    baseline_counts: list[int] = field(default_factory=list)
    current_counts: list[int] = field(default_factory=list)

    def to_proto(self) -> query_pb2.DriftGroup:
        return query_pb2.DriftGroup(
            group=self.group,
            psi=self.psi,
            severity=self.severity,
            baseline_count=self.baseline_count,
            current_count=self.current_count,
            bin_edges=self.bin_edges,
            baseline_proportions=self.baseline_proportions,
            current_proportions=self.current_proportions,
            baseline_p50=self.baseline_p50,
            baseline_p95=self.baseline_p95,
            current_p50=self.current_p50,
            current_p95=self.current_p95,
        )


def _window(given: query_pb2.TimeWindow, default_end: int, default_length: int, what: str) -> Window:
    start, end = given.start_time_unix_nano, given.end_time_unix_nano
    if start < 0 or end < 0:
        raise InvalidQuery(f"{what} window bounds must not be negative")
    end = end or default_end
    start = start or end - default_length
    if start >= end:
        raise InvalidQuery(f"{what} window is inverted or empty: start {start} is not before end {end}")
    return Window(start, end)


def drift_query(request: query_pb2.GetDriftRequest, now_ns: int | None = None) -> DriftQuery:
    metric_name = request.metric.strip().lower() or "duration"
    metric = METRICS.get(metric_name)
    if metric is None:
        raise InvalidQuery(f"unknown metric {request.metric!r}: use one of {', '.join(METRICS)}")
    group_by = tuple(k.strip() for k in request.group_by) or DEFAULT_GROUP_BY
    if len(group_by) > MAX_GROUP_KEYS:
        raise InvalidQuery(f"group_by takes at most {MAX_GROUP_KEYS} keys, got {len(group_by)}")
    if any(not k for k in group_by) or len(set(group_by)) != len(group_by):
        raise InvalidQuery(f"group_by keys must be non-empty and distinct, got {list(request.group_by)}")
    bins = request.bins or DEFAULT_BINS
    if not 2 <= bins <= MAX_BINS:
        raise InvalidQuery(f"bins must be between 2 and {MAX_BINS}, got {bins}")
    current = _window(request.current, now_ns or time.time_ns(), DEFAULT_CURRENT_NS, "current")
    baseline = _window(request.baseline, current.start_ns, DEFAULT_BASELINE_NS, "baseline")
    if baseline.end_ns > current.start_ns:
        raise InvalidQuery(
            f"the baseline window must end before the current window starts "
            f"(baseline end {baseline.end_ns} > current start {current.start_ns})"
        )
    return DriftQuery(
        metric=metric,
        group_by=group_by,
        current=current,
        baseline=baseline,
        bins=bins,
        min_samples=request.min_samples or 10 * bins,
        service_name=request.service_name,
        span_name=request.span_name,
    )


def drift_sql(q: DriftQuery, db: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "bs": q.baseline.start_ns,
        "be": q.baseline.end_ns,
        "cs": q.current.start_ns,
        "ce": q.current.end_ns,
    }
    groups = []
    for i, key in enumerate(q.group_by):
        if key in _COLUMN_KEYS:
            groups.append(f"{_COLUMN_KEYS[key]} AS g{i}")
        else:
            params[f"gk{i}"] = key
            groups.append(
                f"if(mapContains(SpanAttributes, {{gk{i}:String}}), SpanAttributes[{{gk{i}:String}}], "
                f"ResourceAttributes[{{gk{i}:String}}]) AS g{i}"
            )
    names = ", ".join(f"g{i}" for i in range(len(q.group_by)))
    filters = ""
    if q.service_name:
        filters += " AND ServiceName = {service:String}"
        params["service"] = q.service_name
    if q.span_name:
        filters += " AND SpanName = {span_name:String}"
        params["span_name"] = q.span_name
    levels = ", ".join(repr(i / q.bins) for i in range(1, q.bins))
    ts = "fromUnixTimestamp64Nano({%s:Int64})"
    in_baseline = f"Timestamp >= {ts % 'bs'} AND Timestamp < {ts % 'be'}"
    in_current = f"Timestamp >= {ts % 'cs'} AND Timestamp < {ts % 'ce'}"
    select_groups = ", ".join(groups)
    counts = ", ".join(f"countIf(NOT cur AND bin = {b})" for b in range(q.bins))
    current_counts = ", ".join(f"countIf(cur AND bin = {b})" for b in range(q.bins))
    sql = f"""
        SELECT {names}, any(edges), countIf(NOT cur), countIf(cur), [{counts}], [{current_counts}],
               quantilesIf(0.5, 0.95)(v, NOT cur), quantilesIf(0.5, 0.95)(v, cur)
        FROM (
            SELECT {", ".join(f"s.g{i} AS g{i}" for i in range(len(q.group_by)))}, s.v AS v, s.cur AS cur,
                   e.edges AS edges, arrayCount(x -> x < s.v, e.edges) AS bin
            FROM (
                SELECT {select_groups}, {q.metric.value_sql} AS v, Timestamp >= {ts % "cs"} AS cur
                FROM {db}.otel_traces
                WHERE (({in_baseline}) OR ({in_current})){filters} AND v IS NOT NULL
            ) AS s
            LEFT JOIN (
                SELECT {names}, arrayDistinct(arraySort(arrayMap(x -> round(x, 6), quantilesDeterministic({levels})(v, det)))) AS edges
                FROM (
                    SELECT {select_groups}, {q.metric.value_sql} AS v,
                           toUInt64(toUnixTimestamp64Nano(Timestamp)) AS det
                    FROM {db}.otel_traces
                    WHERE {in_baseline}{filters} AND v IS NOT NULL
                )
                GROUP BY {names}
            ) AS e USING ({names})
        )
        GROUP BY {names}
    """
    return sql, params


def _result(q: DriftQuery, row: tuple[Any, ...], thresholds: psi_math.Thresholds) -> DriftResult:
    n = len(q.group_by)
    group = dict(zip(q.group_by, (str(v) for v in row[:n]), strict=True))
    edges, n_base, n_cur, base_counts, cur_counts, p_base, p_cur = row[n:]
    # Edges were deduplicated, so the last bins can never be reached: keep one bin per gap.
    bins = len(edges) + 1
    base_counts, cur_counts = list(base_counts[:bins]), list(cur_counts[:bins])
    result = DriftResult(
        group=group,
        psi=0.0,
        severity=psi_math.INSUFFICIENT_DATA,
        baseline_count=n_base,
        current_count=n_cur,
        bin_edges=[float(e) for e in edges],
        baseline_proportions=psi_math.proportions(base_counts),
        current_proportions=psi_math.proportions(cur_counts),
        baseline_p50=_finite(p_base[0]) if n_base else 0.0,
        baseline_p95=_finite(p_base[1]) if n_base else 0.0,
        current_p50=_finite(p_cur[0]) if n_cur else 0.0,
        current_p95=_finite(p_cur[1]) if n_cur else 0.0,
        baseline_counts=base_counts,
        current_counts=cur_counts,
    )
    if n_base >= q.min_samples and n_cur >= q.min_samples:
        result.psi = psi_math.psi(base_counts, cur_counts)
        result.severity = thresholds.severity(result.psi)
    return result


def _finite(value: float) -> float:
    return value if value == value else 0.0  # NaN (no values) → 0


def evaluate(reader: Reader, q: DriftQuery, thresholds: psi_math.Thresholds) -> list[DriftResult]:
    """Every group's drift, highest PSI first, groups without enough data last."""
    sql, params = drift_sql(q, reader.db)
    results = [_result(q, row, thresholds) for row in reader.rows(sql, params, "drift")]
    results.sort(key=lambda r: (r.severity == psi_math.INSUFFICIENT_DATA, -r.psi, sorted(r.group.items())))
    return results


def get_drift(
    reader: Reader, request: query_pb2.GetDriftRequest, thresholds: psi_math.Thresholds
) -> query_pb2.GetDriftResponse:
    q = drift_query(request)
    return query_pb2.GetDriftResponse(
        metric=q.metric.name,
        unit=q.metric.unit,
        current=q.current.to_proto(),
        baseline=q.baseline.to_proto(),
        group_by=list(q.group_by),
        groups=[r.to_proto() for r in evaluate(reader, q, thresholds)],
    )
