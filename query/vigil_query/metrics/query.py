"""ListMetrics and QueryMetrics over the exporter's otel_metrics_* tables.

Gauges and sums are aggregated in ClickHouse, one GROUP BY per (time bucket, group). A rate
differences cumulative counters per series in ClickHouse too (a window over the series'
points in time order), counting a reset — a value that falls or a new StartTimeUnix, i.e. a
restarted process — as a counter that started again from zero. Histogram quantiles need the
bucket counts of each point: ClickHouse returns them in series order and ``histograms.py``
differences, merges and interpolates them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.errors import InvalidQuery
from vigil_query.filters import Where, bucket_step, time_range
from vigil_query.metrics.histograms import Explicit, Exponential, Range, quantile
from vigil_query.reader import Reader

T = query_pb2.MetricType
A = query_pb2.Aggregation
TABLES = {
    T.METRIC_TYPE_GAUGE: "otel_metrics_gauge",
    T.METRIC_TYPE_SUM: "otel_metrics_sum",
    T.METRIC_TYPE_HISTOGRAM: "otel_metrics_histogram",
    T.METRIC_TYPE_EXPONENTIAL_HISTOGRAM: "otel_metrics_exponential_histogram",
    T.METRIC_TYPE_SUMMARY: "otel_metrics_summary",
}
_VALUE_AGGREGATES = {
    A.AGGREGATION_AVG: "avg(Value)",
    A.AGGREGATION_MIN: "min(Value)",
    A.AGGREGATION_MAX: "max(Value)",
    A.AGGREGATION_SUM: "sum(Value)",
    A.AGGREGATION_LAST: "argMax(Value, TimeUnix)",
}
QUANTILES = {
    A.AGGREGATION_P50: 0.5,
    A.AGGREGATION_P90: 0.9,
    A.AGGREGATION_P95: 0.95,
    A.AGGREGATION_P99: 0.99,
}
_DELTA = 1  # AggregationTemporality
HOUR_NS = 3600 * 10**9
_SECOND_NS = 10**9
# A cumulative series is differenced from the point before the range: read this much earlier.
LOOKBACK_NS = 10 * 60 * 10**9
MAX_GROUP_KEYS = 10
MAX_LISTED = 10_000
# One series = one stream of points from one process (the exporter's ordering key and more).
_SERIES = "cityHash64(ServiceName, MetricName, Attributes, ResourceAttributes, ScopeName)"
_TIME_BETWEEN = (
    "TimeUnix >= fromUnixTimestamp64Nano({lo:Int64}) AND TimeUnix <= fromUnixTimestamp64Nano({hi:Int64})"
)


# --- ListMetrics -------------------------------------------------------------------------


def list_metrics(reader: Reader, request: query_pb2.ListMetricsRequest) -> query_pb2.ListMetricsResponse:
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    where = Where()
    where.add(_TIME_BETWEEN, lo=lo, hi=hi)
    if request.service_name:
        where.add("ServiceName = {service:String}", service=request.service_name)
    if request.name_prefix:
        where.add("startsWith(MetricName, {prefix:String})", prefix=request.name_prefix)
    selects = []
    for metric_type, table in TABLES.items():
        sums = metric_type == T.METRIC_TYPE_SUM
        histograms = metric_type in (T.METRIC_TYPE_HISTOGRAM, T.METRIC_TYPE_EXPONENTIAL_HISTOGRAM)
        selects.append(
            f"SELECT ServiceName AS service, MetricName AS name, toInt32({metric_type}) AS type,"
            " any(MetricUnit), any(MetricDescription),"
            " arraySort(groupUniqArrayArray(100)(CAST(mapKeys(Attributes), 'Array(String)'))),"
            f" {'max(IsMonotonic)' if sums else 'false'},"
            f" {'toInt32(any(AggregationTemporality))' if sums or histograms else 'toInt32(0)'},"
            f" count(), toUnixTimestamp64Nano(max(TimeUnix))"
            f" FROM {reader.db}.{table} WHERE {where.sql} GROUP BY ServiceName, MetricName"
        )
    rows = reader.rows(
        " UNION ALL ".join(selects) + f" ORDER BY service, name, type LIMIT {MAX_LISTED + 1}",
        where.params,
        "listing metrics",
    )
    return query_pb2.ListMetricsResponse(
        metrics=[
            query_pb2.MetricDescriptor(
                service_name=service,
                name=name,
                type=metric_type,
                unit=unit,
                description=description,
                attribute_keys=keys,
                is_monotonic=bool(monotonic),
                aggregation_temporality=temporality,
                points=points,
                last_time_unix_nano=last,
            )
            for service, name, metric_type, unit, description, keys, monotonic, temporality, points, last in rows[
                :MAX_LISTED
            ]
        ],
        truncated=len(rows) > MAX_LISTED,
    )


# --- QueryMetrics ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """A validated QueryMetrics request: what every aggregation's SQL is built from."""

    name: str
    where: Where  # without the time range
    group_sql: list[str]  # one expression per group_by key, named g0, g1, ...
    group_keys: list[str]
    lo: int
    hi: int
    step: int

    def params(self, lo: int) -> dict[str, Any]:
        return {**self.where.params, "lo": lo, "hi": self.hi, "origin": self.lo, "step": self.step}

    @property
    def bucket_sql(self) -> str:
        """Buckets start at the range's start; points before it (read for differencing) fall
        in the bucket before, which is not returned."""
        ts = "toUnixTimestamp64Nano(TimeUnix)"
        return (
            f"if({ts} >= {{origin:Int64}}, {{origin:Int64}} + intDiv({ts} - {{origin:Int64}}, {{step:Int64}})"
            " * {step:Int64}, {origin:Int64} - {step:Int64})"
        )

    @property
    def first_bucket(self) -> int:
        return self.lo

    @property
    def read_lo(self) -> int:
        """Where a cumulative series' reading starts: before the range, for its earlier point."""
        return self.first_bucket - max(self.step, LOOKBACK_NS)

    def groups(self) -> str:
        return "".join(f", {g} AS g{i}" for i, g in enumerate(self.group_sql))

    def group_names(self) -> str:
        return "".join(f", g{i}" for i in range(len(self.group_sql)))

    @property
    def grouped(self) -> str:
        """GROUP BY and ORDER BY of an aggregation: per bucket and group, a series at a time
        (the order ``_series`` reads rows in)."""
        names = self.group_names()
        return f" GROUP BY bucket{names} ORDER BY {names[2:] + ', ' if names else ''}bucket"


def _validate(request: query_pb2.QueryMetricsRequest) -> _Query:
    if not request.metric_name:
        raise InvalidQuery("metric_name is required")
    if request.aggregation == A.AGGREGATION_UNSPECIFIED:
        raise InvalidQuery(
            "aggregation is required: AVG, MIN, MAX, SUM, LAST, RATE, INCREASE (gauges and sums)"
            " or P50, P90, P95, P99, MEAN (histograms)"
        )
    lo, hi = time_range(
        request.start_time_min_unix_nano, request.start_time_max_unix_nano, default_ns=HOUR_NS
    )
    step = bucket_step(lo, hi, request.step_nano, default_buckets=60)
    if len(request.group_by) > MAX_GROUP_KEYS:
        raise InvalidQuery(f"at most {MAX_GROUP_KEYS} group_by keys, got {len(request.group_by)}")
    where = Where()
    where.add("MetricName = {name:String}", name=request.metric_name)
    if request.service_name:
        where.add("ServiceName = {service:String}", service=request.service_name)
    where.add_attributes(request.attributes, "Attributes")
    group_sql = []
    for i, key in enumerate(request.group_by):
        if not key:
            raise InvalidQuery("group_by keys must not be empty")
        where.params[f"gk{i}"] = key
        group_sql.append(
            f"if(mapContains(Attributes, {{gk{i}:String}}), Attributes[{{gk{i}:String}}],"
            f" ResourceAttributes[{{gk{i}:String}}])"
        )
    return _Query(request.metric_name, where, group_sql, list(request.group_by), lo, hi, step)


def _metric_type(reader: Reader, query: _Query, wanted: int) -> tuple[int, str, bool]:
    """The table the metric is stored in (its type), its unit, and whether it is monotonic."""
    selects = [
        f"SELECT toInt32({metric_type}) AS type, any(MetricUnit) AS unit,"
        f" {'min(IsMonotonic)' if metric_type == T.METRIC_TYPE_SUM else 'false'} AS monotonic, count() AS n"
        f" FROM {reader.db}.{table} WHERE {query.where.sql} AND {_TIME_BETWEEN}"
        for metric_type, table in TABLES.items()
        if wanted in (T.METRIC_TYPE_UNSPECIFIED, metric_type)
    ]
    rows = [
        r
        for r in reader.rows(" UNION ALL ".join(selects), query.params(query.read_lo), "finding the metric")
        if r[3]
    ]
    if not rows:
        raise InvalidQuery(f"no points of metric {query.name!r} match in the time range")
    if len(rows) > 1:
        types = ", ".join(T.Name(r[0]) for r in rows)
        raise InvalidQuery(f"metric {query.name!r} is stored with several types ({types}): set type")
    metric_type, unit, monotonic, _ = rows[0]
    return metric_type, unit, bool(monotonic)


def query_metrics(reader: Reader, request: query_pb2.QueryMetricsRequest) -> query_pb2.QueryMetricsResponse:
    query = _validate(request)
    metric_type, unit, monotonic = _metric_type(reader, query, request.type)
    aggregation = request.aggregation
    type_name = T.Name(metric_type).removeprefix("METRIC_TYPE_").lower()
    if metric_type in (T.METRIC_TYPE_GAUGE, T.METRIC_TYPE_SUM) and aggregation in _VALUE_AGGREGATES:
        rows = _values(reader, query, _VALUE_AGGREGATES[aggregation], metric_type)
    elif metric_type == T.METRIC_TYPE_SUM and aggregation in (A.AGGREGATION_RATE, A.AGGREGATION_INCREASE):
        if not monotonic:
            raise InvalidQuery(
                f"{A.Name(aggregation).removeprefix('AGGREGATION_')} needs a monotonic sum;"
                f" {query.name!r} goes up and down: use LAST or AVG"
            )
        rows = _rates(reader, query, per_second=aggregation == A.AGGREGATION_RATE)
    elif metric_type in (T.METRIC_TYPE_HISTOGRAM, T.METRIC_TYPE_EXPONENTIAL_HISTOGRAM) and (
        aggregation in QUANTILES or aggregation == A.AGGREGATION_MEAN
    ):
        rows = _quantiles(reader, query, metric_type, QUANTILES.get(aggregation))
    else:
        allowed = {
            T.METRIC_TYPE_GAUGE: "AVG, MIN, MAX, SUM, LAST",
            T.METRIC_TYPE_SUM: "AVG, MIN, MAX, SUM, LAST, RATE, INCREASE (monotonic sums)",
            T.METRIC_TYPE_HISTOGRAM: "P50, P90, P95, P99, MEAN",
            T.METRIC_TYPE_EXPONENTIAL_HISTOGRAM: "P50, P90, P95, P99, MEAN",
            T.METRIC_TYPE_SUMMARY: "none yet (read its ValueAtQuantiles with SQL)",
        }[metric_type]
        raise InvalidQuery(
            f"{A.Name(aggregation).removeprefix('AGGREGATION_')} does not apply to {query.name!r},"
            f" a {type_name}; it takes {allowed}"
        )
    series = _series(query, rows)
    truncated = bool(request.max_series) and len(series) > request.max_series
    if truncated:
        # The largest series: by the sum of their points (the area under the line).
        series = sorted(series, key=lambda s: -sum(p.value for p in s.points))[: request.max_series]
    return query_pb2.QueryMetricsResponse(
        type=metric_type, unit=unit, step_nano=query.step, series=series, truncated=truncated
    )


def _series(query: _Query, rows: Sequence[Sequence[Any]]) -> list[query_pb2.MetricSeries]:
    """Rows of (bucket, value, g0, g1, ...) ordered by group then bucket → one series per group."""
    out: list[query_pb2.MetricSeries] = []
    current: tuple[Any, ...] | None = None
    for bucket, value, *group in rows:
        if bucket < query.first_bucket or value is None or math.isnan(value):
            continue
        key = tuple(group)
        if key != current:
            out.append(query_pb2.MetricSeries(group=dict(zip(query.group_keys, key, strict=True))))
            current = key
        out[-1].points.add(time_unix_nano=bucket, value=value)
    return out


def _values(reader: Reader, query: _Query, aggregate: str, metric_type: int) -> Sequence[Sequence[Any]]:
    return reader.rows(
        f"SELECT {query.bucket_sql} AS bucket, {aggregate}{query.groups()}"
        f" FROM {reader.db}.{TABLES[metric_type]} WHERE {query.where.sql} AND {_TIME_BETWEEN}"
        f"{query.grouped}",
        query.params(query.first_bucket),
        "aggregating the metric",
    )


def _rates(reader: Reader, query: _Query, per_second: bool = True) -> Sequence[Sequence[Any]]:
    # A delta point is its own increase. A cumulative one is the rise since the series' point
    # before it; after a reset, or as the first point of a series that started in the read
    # range, its whole value; as the first point of an older series, unknown (0).
    # Each series' points are gathered into one array sorted by time and differenced there:
    # a window over the series (PARTITION BY series ORDER BY TimeUnix) sorted every point of
    # the range in one stream, 2.5 s for a day of a counter in 690 series (bench/explore.py).
    increase = (
        "multiIf(p.5 = 1, p.3,"
        " i = 1, if(p.4 >= fromUnixTimestamp64Nano({lo:Int64}), p.3, 0),"
        " p.4 != q.4 OR p.3 < q.3, p.3,"
        " p.3 - q.3)"
    )
    seconds = query.step / _SECOND_NS if per_second else 1.0
    # A series' attributes are its own (they are in its hash): its groups are computed once.
    return reader.rows(
        f"SELECT bucket, sum(inc) / {seconds!r}{query.group_names()} FROM ("
        "  SELECT arrayJoin(arrayMap((p, q, i) -> (p.2, " + increase + "),"
        "   points, arrayPopBack(arrayPushFront(points, points[1])), arrayEnumerate(points))) AS point,"
        f"   point.1 AS bucket, point.2 AS inc{query.groups()} FROM ("
        "   SELECT points, attributes AS Attributes, resource AS ResourceAttributes FROM ("
        "    SELECT arraySort(groupArray((TimeUnix, " + query.bucket_sql + ", Value, StartTimeUnix,"
        "     AggregationTemporality))) AS points, any(Attributes) AS attributes, any(ResourceAttributes) AS resource"
        f"    FROM {reader.db}.otel_metrics_sum WHERE {query.where.sql} AND {_TIME_BETWEEN}"
        f"    GROUP BY {_SERIES})))"
        f"{query.grouped}",
        query.params(query.read_lo),
        "computing the metric's rate",
    )


_HISTOGRAM_COLUMNS = {
    T.METRIC_TYPE_HISTOGRAM: "ExplicitBounds, BucketCounts",
    T.METRIC_TYPE_EXPONENTIAL_HISTOGRAM: "Scale, ZeroCount, PositiveOffset, PositiveBucketCounts,"
    " NegativeOffset, NegativeBucketCounts",
}


@dataclass
class _Bucket:
    """What one (time bucket, group) recorded: counts per bounds (explicit) or one merged
    exponential histogram, and the min and max seen."""

    explicit: dict[tuple[float, ...], Explicit]
    exponential: Exponential | None = None
    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0  # the recorded values' sum and count (for the mean)
    count: int = 0

    def add(self, counts: Explicit | Exponential, low: float, high: float) -> None:
        if isinstance(counts, Explicit):
            mine = self.explicit.get(counts.bounds)
            if mine is None:
                self.explicit[counts.bounds] = Explicit(counts.bounds, list(counts.counts))
            else:
                mine.counts = [a + b for a, b in zip(mine.counts, counts.counts, strict=True)]
        else:
            self.exponential = counts if self.exponential is None else self.exponential.add(counts)
        self.low, self.high = min(self.low, low), max(self.high, high)

    def ranges(self) -> list[Range]:
        out = [r for counts in self.explicit.values() for r in counts.ranges()]
        if self.exponential is not None:
            out += self.exponential.ranges()
        return sorted(out, key=lambda r: (r[1], r[0]))


def _quantiles(reader: Reader, query: _Query, metric_type: int, q: float | None) -> list[tuple[Any, ...]]:
    """Quantile ``q`` per (time bucket, group); the mean when ``q`` is None."""
    rows = reader.rows(
        f"SELECT {_SERIES} AS series, {query.bucket_sql} AS bucket, toUnixTimestamp64Nano(StartTimeUnix), AggregationTemporality,"
        f" Min, Max, Sum, Count, {_HISTOGRAM_COLUMNS[metric_type]}{query.groups()}"
        f" FROM {reader.db}.{TABLES[metric_type]} WHERE {query.where.sql} AND {_TIME_BETWEEN}"
        " ORDER BY series, TimeUnix",
        query.params(query.read_lo),
        "reading the histogram's points",
    )
    explicit = metric_type == T.METRIC_TYPE_HISTOGRAM
    n_groups = len(query.group_sql)
    buckets: dict[tuple[Any, ...], _Bucket] = {}
    previous: tuple[int, Any, Explicit | Exponential, float, int] | None = (
        None  # series, start, counts, sum, count
    )
    read_lo = query.read_lo
    for row in rows:
        series, bucket, start, temporality, low, high, total, count = row[:8]
        fields = row[8 : len(row) - n_groups]
        group = tuple(row[len(row) - n_groups :])
        counts: Explicit | Exponential = (
            Explicit(tuple(fields[0]), list(fields[1])) if explicit else Exponential.of_point(*fields)
        )
        recorded: Explicit | Exponential | None
        added = (total, count)
        if temporality == _DELTA:
            recorded = counts
        elif previous is None or previous[0] != series:
            recorded = counts if start >= read_lo else None  # an older series: from its next point
        elif previous[1] != start:
            recorded = counts  # a restart
        else:
            since = counts.minus(previous[2])  # type: ignore[arg-type]
            recorded = counts if since is None else since  # None: a count fell, a restart
            if since is not None:
                added = (total - previous[3], count - previous[4])
        previous = (series, start, counts, total, count)
        if recorded is None or bucket < query.first_bucket:
            continue
        known = not (low == 0 and high == 0)
        into = buckets.setdefault((*group, bucket), _Bucket({}))
        into.add(recorded, low if known else math.inf, high if known else -math.inf)
        into.total += added[0]
        into.count += added[1]
    out = []
    for key in sorted(buckets):
        b = buckets[key]
        if q is None:
            out.append((key[-1], b.total / b.count if b.count else math.nan, *key[:-1]))
            continue
        value = quantile(
            q, b.ranges(), b.low if math.isfinite(b.low) else None, b.high if math.isfinite(b.high) else None
        )
        out.append((key[-1], value, *key[:-1]))
    return out
