"""OTLP metrics → rows of the exporter's five ``otel_metrics_*`` tables (docs/storage.md), one
Arrow table per point type: attributes rendered AsString, int points as Float64, exemplars
with hex ids, ``Min``/``Max`` 0 when unset, temporality as its enum number.

A request's tables travel as one write-ahead log record (``pack``/``unpack``), so that the
request is acknowledged or refused as a whole. A data point is rejected (partial success)
when its times do not fit the columns or an exemplar's ids have the wrong length.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.ipc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.report import PartialSuccess
from vigil_collector.decode.spans import MapColumn, add_attributes, as_timestamps
from vigil_collector.decode.validate import LATEST_TIME_NS

_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")
TABLES = ("gauge", "sum", "histogram", "exponential_histogram", "summary")

_COMMON = [
    ("ResourceAttributes", _MAP),
    ("ResourceSchemaUrl", pa.string()),
    ("ScopeName", pa.string()),
    ("ScopeVersion", pa.string()),
    ("ScopeAttributes", _MAP),
    ("ScopeDroppedAttrCount", pa.uint32()),
    ("ScopeSchemaUrl", pa.string()),
    ("ServiceName", pa.string()),
    ("MetricName", pa.string()),
    ("MetricDescription", pa.string()),
    ("MetricUnit", pa.string()),
    ("Attributes", _MAP),
    ("StartTimeUnix", _TS),
    ("TimeUnix", _TS),
    ("Flags", pa.uint32()),
]
_EXEMPLARS = [
    ("Exemplars.FilteredAttributes", pa.list_(_MAP)),
    ("Exemplars.TimeUnix", pa.list_(_TS)),
    ("Exemplars.Value", pa.list_(pa.float64())),
    ("Exemplars.SpanId", pa.list_(pa.string())),
    ("Exemplars.TraceId", pa.list_(pa.string())),
]
_HISTOGRAM_STATS = [("Count", pa.uint64()), ("Sum", pa.float64())]
_MIN_MAX_TEMPORALITY = [("Min", pa.float64()), ("Max", pa.float64()), ("AggregationTemporality", pa.int32())]
SCHEMAS = {
    "gauge": pa.schema([*_COMMON, ("Value", pa.float64()), *_EXEMPLARS]),
    "sum": pa.schema(
        [
            *_COMMON,
            ("Value", pa.float64()),
            *_EXEMPLARS,
            ("AggregationTemporality", pa.int32()),
            ("IsMonotonic", pa.bool_()),
        ]
    ),
    "histogram": pa.schema(
        [
            *_COMMON,
            *_HISTOGRAM_STATS,
            ("BucketCounts", pa.list_(pa.uint64())),
            ("ExplicitBounds", pa.list_(pa.float64())),
            *_EXEMPLARS,
            *_MIN_MAX_TEMPORALITY,
        ]
    ),
    "exponential_histogram": pa.schema(
        [
            *_COMMON,
            *_HISTOGRAM_STATS,
            ("Scale", pa.int32()),
            ("ZeroCount", pa.uint64()),
            ("PositiveOffset", pa.int32()),
            ("PositiveBucketCounts", pa.list_(pa.uint64())),
            ("NegativeOffset", pa.int32()),
            ("NegativeBucketCounts", pa.list_(pa.uint64())),
            *_EXEMPLARS,
            *_MIN_MAX_TEMPORALITY,
        ]
    ),
    "summary": pa.schema(
        [
            *_COMMON,
            *_HISTOGRAM_STATS,
            ("ValueAtQuantiles.Quantile", pa.list_(pa.float64())),
            ("ValueAtQuantiles.Value", pa.list_(pa.float64())),
        ]
    ),
}
_MAPS = {"ResourceAttributes", "ScopeAttributes", "Attributes"}
# Columns of one value per metric (or per scope, resource), repeated on each of its points.
_SHARED = (
    "ResourceSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeDroppedAttrCount",
    "ScopeSchemaUrl",
    "ServiceName",
    "MetricName",
    "MetricDescription",
    "MetricUnit",
)


class _Lists:
    """A column of lists being built flat: values and offsets (what Arrow stores)."""

    __slots__ = ("offsets", "values")

    def __init__(self) -> None:
        self.offsets = [0]
        self.values: list = []

    def to_arrow(self, values: pa.Array) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), values)


class _Table:
    """One point type's columns being built: scalars as lists, list columns flat."""

    def __init__(self, name: str) -> None:
        self.schema = SCHEMAS[name]
        self.lists = {
            f.name: _Lists()
            for f in self.schema
            if pa.types.is_list(f.type) and not f.name.startswith("Exemplars.")
        }
        self.columns: dict[str, list] = {
            f.name: [] for f in self.schema if f.name not in _MAPS and f.name not in self.lists
        }
        self.maps = {name: MapColumn() for name in _MAPS}
        # Exemplars: one offset per point into flat per-exemplar columns.
        self.exemplars = _Lists()
        self.exemplar_attrs = MapColumn()
        self.exemplar_columns: dict[str, list] = {name: [] for name, _ in _EXEMPLARS[1:]}

    def add_exemplars(self, exemplars: Any, max_len: int) -> int:
        c = self.exemplar_columns
        truncated = 0
        for e in exemplars:
            truncated += add_attributes(self.exemplar_attrs, e.filtered_attributes, max_len)
            c["Exemplars.TimeUnix"].append(e.time_unix_nano)
            as_int = e.as_int  # 0 unless the oneof holds an int (then as_double is 0)
            c["Exemplars.Value"].append(float(as_int) if as_int else e.as_double)
            c["Exemplars.SpanId"].append(e.span_id.hex())
            c["Exemplars.TraceId"].append(e.trace_id.hex())
        self.exemplars.offsets.append(len(c["Exemplars.TimeUnix"]))
        return truncated

    def to_arrow(self) -> pa.Table | None:
        if not self.columns["TimeUnix"]:
            return None
        arrays = []
        for f in self.schema:
            if f.name in _MAPS:
                arrays.append(self.maps[f.name].to_arrow())
            elif f.name == "Exemplars.FilteredAttributes":
                arrays.append(self.exemplars.to_arrow(self.exemplar_attrs.to_arrow()))
            elif f.name.startswith("Exemplars."):
                values = self.exemplar_columns[f.name]
                flat = (
                    as_timestamps(values)
                    if f.name == "Exemplars.TimeUnix"
                    else pa.array(values, f.type.value_type)
                )
                arrays.append(self.exemplars.to_arrow(flat))
            elif f.name in self.lists:
                lists = self.lists[f.name]
                arrays.append(lists.to_arrow(pa.array(lists.values, f.type.value_type)))
            elif f.type == _TS:
                arrays.append(as_timestamps(self.columns[f.name]))
            else:
                arrays.append(pa.array(self.columns[f.name], f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)


@dataclass
class DecodedMetrics(PartialSuccess):
    items = "data points"
    tables: dict[str, pa.Table]
    accepted: int  # data points
    rejected: int
    errors: list[str] = field(default_factory=list)
    truncated_values: int = 0


def decode_metrics(request: ExportMetricsServiceRequest, limits: DecodeLimits) -> DecodedMetrics:
    max_len = limits.max_attribute_value_length
    tables = {name: _Table(name) for name in TABLES}
    errors: list[str] = []
    truncated = accepted = 0
    for ri, rm in enumerate(request.resource_metrics):
        resource = MapColumn()
        truncated += add_attributes(resource, rm.resource.attributes, max_len)
        service = resource.first("service.name")
        for si, sm in enumerate(rm.scope_metrics):
            scope = MapColumn()
            truncated += add_attributes(scope, sm.scope.attributes, max_len)
            for mi, metric in enumerate(sm.metrics):
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                table = tables[kind]
                where = f"resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}]"
                taken, cut = _points(kind, data.data_points, table, max_len, where, errors)
                truncated += cut
                accepted += taken
                c = table.columns
                for name, value in zip(
                    _SHARED,
                    (
                        rm.schema_url,
                        sm.scope.name,
                        sm.scope.version,
                        sm.scope.dropped_attributes_count,
                        sm.schema_url,
                        service,
                        metric.name,
                        metric.description,
                        metric.unit,
                    ),
                    strict=True,
                ):
                    c[name].extend([value] * taken)
                if kind in ("sum", "histogram", "exponential_histogram"):
                    c["AggregationTemporality"].extend([int(data.aggregation_temporality)] * taken)
                if kind == "sum":
                    c["IsMonotonic"].extend([bool(data.is_monotonic)] * taken)
                table.maps["ResourceAttributes"].append_map(resource, taken)
                table.maps["ScopeAttributes"].append_map(scope, taken)
    decoded = {name: t for name, t in ((n, tables[n].to_arrow()) for n in TABLES) if t is not None}
    return DecodedMetrics(decoded, accepted, len(errors), errors, truncated)


def _points(
    kind: str, points: Any, table: _Table, max_len: int, where: str, errors: list[str]
) -> tuple[int, int]:
    """Append one metric's valid points to ``table``: (points taken, values truncated)."""
    c, lists = table.columns, table.lists
    starts, times, flags = c["StartTimeUnix"].append, c["TimeUnix"].append, c["Flags"].append
    attributes = table.maps["Attributes"]
    no_exemplars = table.exemplars.offsets
    taken = truncated = 0
    for pi, point in enumerate(points):
        if (
            point.time_unix_nano > LATEST_TIME_NS
            or point.start_time_unix_nano > LATEST_TIME_NS
            or (kind != "summary" and point.exemplars)
        ) and (problem := _problem(point)):
            errors.append(f"{where}.data_points[{pi}]: {problem}")
            continue
        taken += 1
        starts(point.start_time_unix_nano)
        times(point.time_unix_nano)
        flags(point.flags)
        truncated += add_attributes(attributes, point.attributes, max_len)
        if kind in ("gauge", "sum"):
            as_int = point.as_int  # 0 unless the oneof holds an int (then as_double is 0)
            c["Value"].append(float(as_int) if as_int else point.as_double)
        else:
            c["Count"].append(point.count)
            c["Sum"].append(point.sum)
            if kind == "summary":
                quantiles = point.quantile_values
                _extend(lists["ValueAtQuantiles.Quantile"], [q.quantile for q in quantiles])
                _extend(lists["ValueAtQuantiles.Value"], [q.value for q in quantiles])
            else:
                c["Min"].append(point.min)  # 0.0 when unset, as the exporter stores it
                c["Max"].append(point.max)
                if kind == "histogram":
                    _extend(lists["BucketCounts"], point.bucket_counts)
                    _extend(lists["ExplicitBounds"], point.explicit_bounds)
                else:
                    c["Scale"].append(point.scale)
                    c["ZeroCount"].append(point.zero_count)
                    c["PositiveOffset"].append(point.positive.offset)
                    _extend(lists["PositiveBucketCounts"], point.positive.bucket_counts)
                    c["NegativeOffset"].append(point.negative.offset)
                    _extend(lists["NegativeBucketCounts"], point.negative.bucket_counts)
        if kind != "summary":
            if point.exemplars:
                truncated += table.add_exemplars(point.exemplars, max_len)
            else:
                no_exemplars.append(no_exemplars[-1])
    return taken, truncated


def _extend(lists: _Lists, values: Any) -> None:
    lists.values.extend(values)
    lists.offsets.append(len(lists.values))


def _problem(point: Any) -> str | None:
    if max(point.time_unix_nano, point.start_time_unix_nano) > LATEST_TIME_NS:
        return "time_unix_nano is after the latest time that can be stored (year 2262)"
    for e in getattr(point, "exemplars", ()):
        if len(e.trace_id) not in (0, 16) or len(e.span_id) not in (0, 8):
            return "an exemplar's trace_id must be empty or 16 bytes and its span_id empty or 8 bytes"
        if e.time_unix_nano > LATEST_TIME_NS:
            return "an exemplar's time_unix_nano is after the latest time that can be stored (year 2262)"
    return None


# --- one write-ahead log record for a request's tables ---------------------------------------
_ENTRY = struct.Struct("<BI")  # table index in TABLES, IPC stream length


def pack(tables: dict[str, pa.Table]) -> bytes:
    parts = []
    for name, table in tables.items():
        sink = pa.BufferOutputStream()
        with pyarrow.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        ipc = sink.getvalue().to_pybytes()
        parts += [_ENTRY.pack(TABLES.index(name), len(ipc)), ipc]
    return b"".join(parts)


def unpack(payload: bytes) -> Iterator[tuple[str, pa.Table]]:
    offset = 0
    while offset < len(payload):
        index, length = _ENTRY.unpack_from(payload, offset)
        offset += _ENTRY.size
        yield TABLES[index], pyarrow.ipc.open_stream(payload[offset : offset + length]).read_all()
        offset += length
