"""The INSERTs in which ClickHouse decodes OTLP/protobuf metrics requests itself, one per
point type present in the batch (``otel_metrics_gauge|sum|histogram|exponential_histogram|
summary``).

Each reads the requests with ``native_schema.proto``'s ExportMetricsServiceRequest into a
structure holding only what its table needs (the other point types are skipped while
parsing), flattens resource → scope → metric → point with ARRAY JOIN, and builds the
table's columns exactly as the Python decoder does (decode/metrics.py; attribute values as
in native_values.py): int values as Float64, exemplar ids as hex or '', an unset sum, min or
max as 0, temporality as its enum number. tests/test_native_metrics.py compares the two.
"""

from __future__ import annotations

from vigil_collector.decode.metrics import SCHEMAS
from vigil_collector.write.native_values import ATTRIBUTES, attribute_map, hex_id, nanos

# Field numbers of the value oneofs (NumberDataPoint and Exemplar): as_int.
_POINT_AS_INT, _EXEMPLAR_AS_INT = 6, 6

_EXEMPLARS = (
    f"exemplars Array(Tuple(filtered_attributes {ATTRIBUTES}, time_unix_nano UInt64, value UInt8,"
    " as_double Float64, as_int Int64, span_id String, trace_id String))"
)
_COMMON_POINT = f"attributes {ATTRIBUTES}, start_time_unix_nano UInt64, time_unix_nano UInt64, flags UInt32"
_POINTS = {
    "gauge": f"gauge Tuple(data_points Array(Tuple({_COMMON_POINT}, value UInt8, as_double Float64, as_int Int64, {_EXEMPLARS})))",
    "sum": (
        f"sum Tuple(data_points Array(Tuple({_COMMON_POINT}, value UInt8, as_double Float64, as_int Int64,"
        f" {_EXEMPLARS})), aggregation_temporality Int32, is_monotonic Bool)"
    ),
    "histogram": (
        f"histogram Tuple(data_points Array(Tuple({_COMMON_POINT}, count UInt64, sum Float64,"
        f" bucket_counts Array(UInt64), explicit_bounds Array(Float64), {_EXEMPLARS}, min Float64,"
        " max Float64)), aggregation_temporality Int32)"
    ),
    "exponential_histogram": (
        f"exponential_histogram Tuple(data_points Array(Tuple({_COMMON_POINT}, count UInt64,"
        " sum Float64, scale Int32, zero_count UInt64,"
        " positive Tuple(offset Int32, bucket_counts Array(UInt64)),"
        f" negative Tuple(offset Int32, bucket_counts Array(UInt64)), {_EXEMPLARS}, min Float64,"
        " max Float64)), aggregation_temporality Int32)"
    ),
    "summary": (
        f"summary Tuple(data_points Array(Tuple({_COMMON_POINT}, count UInt64, sum Float64,"
        " quantile_values Array(Tuple(quantile Float64, value Float64)))))"
    ),
}


def structure(table: str) -> str:
    """The columns ClickHouse fills from each request for ``table``'s INSERT."""
    return (
        f"resource_metrics Array(Tuple(resource Tuple(attributes {ATTRIBUTES}), schema_url String,"
        " scope_metrics Array(Tuple("
        f"scope Tuple(name String, version String, attributes {ATTRIBUTES}, dropped_attributes_count UInt32),"
        " schema_url String,"
        f" metrics Array(Tuple(name String, description String, unit String, {_POINTS[table]}))))))"
    )


def _value(x: str, as_int: int) -> str:
    # An int value is stored as a Float64, as the exporter does.
    return f"if({x}.value = {as_int}, toFloat64({x}.as_int), {x}.as_double)"


_EXEMPLAR_COLUMNS = {
    "Exemplars.FilteredAttributes": "arraySlice(maps, 2)",
    "Exemplars.TimeUnix": f"arrayMap(e -> {nanos('e.time_unix_nano')}, p.exemplars)",
    "Exemplars.Value": f"arrayMap(e -> {_value('e', _EXEMPLAR_AS_INT)}, p.exemplars)",
    "Exemplars.SpanId": f"arrayMap(e -> {hex_id('e.span_id')}, p.exemplars)",
    "Exemplars.TraceId": f"arrayMap(e -> {hex_id('e.trace_id')}, p.exemplars)",
}


def _column(table: str, name: str) -> str:
    """The expression of one column of ``table``: over point ``p`` and what the levels above
    carry down (see insert_select)."""
    carried = {
        "ResourceAttributes": "resource_attributes",
        "ResourceSchemaUrl": "resource_schema_url",
        "ScopeName": "scope_name",
        "ScopeVersion": "scope_version",
        "ScopeAttributes": "scope_attributes",
        "ScopeDroppedAttrCount": "scope_dropped",
        "ScopeSchemaUrl": "scope_schema_url",
        "ServiceName": "service",
        "MetricName": "metric_name",
        "MetricDescription": "metric_description",
        "MetricUnit": "metric_unit",
        "AggregationTemporality": "temporality",
        "IsMonotonic": "monotonic",
    }
    point = {
        "Attributes": "maps[1]",
        "StartTimeUnix": nanos("p.start_time_unix_nano"),
        "TimeUnix": nanos("p.time_unix_nano"),
        "Flags": "p.flags",
        "Value": _value("p", _POINT_AS_INT),
        "Count": "p.count",
        "Sum": "p.sum",
        "Min": "p.min",
        "Max": "p.max",
        "BucketCounts": "p.bucket_counts",
        "ExplicitBounds": "p.explicit_bounds",
        "Scale": "p.scale",
        "ZeroCount": "p.zero_count",
        "PositiveOffset": "p.positive.offset",
        "PositiveBucketCounts": "p.positive.bucket_counts",
        "NegativeOffset": "p.negative.offset",
        "NegativeBucketCounts": "p.negative.bucket_counts",
        "ValueAtQuantiles.Quantile": "arrayMap(q -> q.quantile, p.quantile_values)",
        "ValueAtQuantiles.Value": "arrayMap(q -> q.value, p.quantile_values)",
        **_EXEMPLAR_COLUMNS,
    }
    return carried.get(name) or point[name]


def insert_select(table: str, target: str, source: str) -> str:
    """``INSERT INTO target … SELECT … FROM source`` for point type ``table`` (a name of
    TABLES), where ``source`` yields ``structure(table)`` rows."""
    names = SCHEMAS[table].names
    columns = ", ".join(f"`{n}`" for n in names)
    select = ",\n    ".join(f"{_column(table, n)} AS `{n}`" for n in names)
    # Each level takes the few scalars it needs out of its element and hands the next level
    # only the array below it: every access to a field of a large nested tuple costs the
    # analysis milliseconds (the type is long), and the analysis is most of a small INSERT.
    # The point's attributes and its exemplars' go through one map expression (a list of
    # lists, sliced apart after).
    exemplar_attributes = "arrayMap(e -> e.filtered_attributes, p.exemplars)" if table != "summary" else "[]"
    temporality = (
        f"m.{table}.aggregation_temporality"
        if table in ("sum", "histogram", "exponential_histogram")
        else "0"
    )
    monotonic = "m.sum.is_monotonic" if table == "sum" else "false"
    resource = "resource_attributes, resource_schema_url, service"
    scope = f"{resource}, scope_name, scope_version, scope_attributes, scope_dropped, scope_schema_url"
    metric = f"{scope}, metric_name, metric_description, metric_unit, temporality, monotonic"
    return f"""INSERT INTO {target} ({columns})
SELECT
    {select}
FROM (
    SELECT {metric}, p,
        arrayMap(attributes -> {attribute_map("attributes")},
            arrayConcat([p.attributes], {exemplar_attributes})) AS maps
    FROM (
        SELECT {scope}, m.name AS metric_name, m.description AS metric_description,
            m.unit AS metric_unit, {temporality} AS temporality, {monotonic} AS monotonic,
            m.{table}.data_points AS points
        FROM (
            SELECT {resource}, sm.scope.name AS scope_name, sm.scope.version AS scope_version,
                {attribute_map("sm.scope.attributes")} AS scope_attributes,
                sm.scope.dropped_attributes_count AS scope_dropped, sm.schema_url AS scope_schema_url,
                sm.metrics AS metrics
            FROM (
                SELECT {attribute_map("rm.resource.attributes")} AS resource_attributes,
                    rm.schema_url AS resource_schema_url,
                    resource_attributes['service.name'] AS service, rm.scope_metrics AS scopes
                FROM {source}
                ARRAY JOIN resource_metrics AS rm
            )
            ARRAY JOIN scopes AS sm
        )
        ARRAY JOIN metrics AS m
    )
    ARRAY JOIN points AS p
)"""
