"""OTLP metrics → rows of the exporter's five ``otel_metrics_*`` tables (REFERENCE.md §8), one
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

from vigil_collector.decode.report import partial_success_text
from vigil_collector.decode.spans import DecodeLimits, MapColumn, add_attributes, as_timestamps
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


class _Table:
    """One point type's columns being built."""

    def __init__(self, name: str) -> None:
        self.schema = SCHEMAS[name]
        self.columns: dict[str, list] = {f.name: [] for f in self.schema if f.name not in _MAPS}
        self.maps = {name: MapColumn() for name in _MAPS}
        self.exemplar_attrs: list[MapColumn] = []

    def to_arrow(self) -> pa.Table | None:
        if not self.columns["TimeUnix"]:
            return None
        arrays = []
        for f in self.schema:
            if f.name in _MAPS:
                arrays.append(self.maps[f.name].to_arrow())
            elif f.name == "Exemplars.FilteredAttributes":
                offsets, flat = [0], MapColumn()
                for one in self.exemplar_attrs:  # one MapColumn of this point's exemplars
                    flat.keys.extend(one.keys)
                    flat.values.extend(one.values)
                    base = flat.offsets[-1]
                    flat.offsets.extend(base + o for o in one.offsets[1:])
                    offsets.append(offsets[-1] + len(one.offsets) - 1)
                arrays.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat.to_arrow()))
            elif f.type == _TS:
                arrays.append(as_timestamps(self.columns[f.name]))
            elif f.name == "Exemplars.TimeUnix":
                values = self.columns[f.name]
                offsets = [0]
                for v in values:
                    offsets.append(offsets[-1] + len(v))
                flat = as_timestamps([t for v in values for t in v])
                arrays.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat))
            else:
                arrays.append(pa.array(self.columns[f.name], f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)


@dataclass
class DecodedMetrics:
    tables: dict[str, pa.Table]
    accepted: int  # data points
    rejected: int
    errors: list[str] = field(default_factory=list)
    truncated_values: int = 0

    @property
    def message(self) -> str:
        """Partial-success text: why data points were rejected, and any warnings."""
        return partial_success_text(self.errors, self.truncated_values, "data points")


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
                for pi, point in enumerate(data.data_points):
                    problem = _problem(point)
                    if problem:
                        errors.append(
                            f"resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}].data_points[{pi}]: {problem}"
                        )
                        continue
                    accepted += 1
                    c = table.columns
                    c["ResourceSchemaUrl"].append(rm.schema_url)
                    c["ScopeName"].append(sm.scope.name)
                    c["ScopeVersion"].append(sm.scope.version)
                    c["ScopeDroppedAttrCount"].append(sm.scope.dropped_attributes_count)
                    c["ScopeSchemaUrl"].append(sm.schema_url)
                    c["ServiceName"].append(service)
                    c["MetricName"].append(metric.name)
                    c["MetricDescription"].append(metric.description)
                    c["MetricUnit"].append(metric.unit)
                    c["StartTimeUnix"].append(point.start_time_unix_nano)
                    c["TimeUnix"].append(point.time_unix_nano)
                    c["Flags"].append(point.flags)
                    table.maps["ResourceAttributes"].append_map(resource)
                    table.maps["ScopeAttributes"].append_map(scope)
                    truncated += add_attributes(table.maps["Attributes"], point.attributes, max_len)
                    truncated += _point(kind, data, point, table, max_len)
    decoded = {name: t for name, t in ((n, tables[n].to_arrow()) for n in TABLES) if t is not None}
    return DecodedMetrics(decoded, accepted, len(errors), errors, truncated)


def _point(kind: str, data: Any, point: Any, table: _Table, max_len: int) -> int:
    """The point type's own columns; returns the attribute values truncated."""
    c = table.columns
    truncated = 0
    if kind in ("gauge", "sum"):
        c["Value"].append(float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double)
    else:
        c["Count"].append(point.count)
        c["Sum"].append(point.sum)
    if kind == "sum":
        c["AggregationTemporality"].append(int(data.aggregation_temporality))
        c["IsMonotonic"].append(bool(data.is_monotonic))
    elif kind == "histogram":
        c["BucketCounts"].append(list(point.bucket_counts))
        c["ExplicitBounds"].append(list(point.explicit_bounds))
    elif kind == "exponential_histogram":
        c["Scale"].append(point.scale)
        c["ZeroCount"].append(point.zero_count)
        c["PositiveOffset"].append(point.positive.offset)
        c["PositiveBucketCounts"].append(list(point.positive.bucket_counts))
        c["NegativeOffset"].append(point.negative.offset)
        c["NegativeBucketCounts"].append(list(point.negative.bucket_counts))
    elif kind == "summary":
        c["ValueAtQuantiles.Quantile"].append([q.quantile for q in point.quantile_values])
        c["ValueAtQuantiles.Value"].append([q.value for q in point.quantile_values])
    if kind in ("histogram", "exponential_histogram"):
        c["Min"].append(point.min if point.HasField("min") else 0.0)
        c["Max"].append(point.max if point.HasField("max") else 0.0)
        c["AggregationTemporality"].append(int(data.aggregation_temporality))
    if kind != "summary":
        attrs = MapColumn()
        times, values, span_ids, trace_ids = [], [], [], []
        for e in point.exemplars:
            truncated += add_attributes(attrs, e.filtered_attributes, max_len)
            times.append(e.time_unix_nano)
            values.append(float(e.as_int) if e.WhichOneof("value") == "as_int" else e.as_double)
            span_ids.append(e.span_id.hex())
            trace_ids.append(e.trace_id.hex())
        table.exemplar_attrs.append(attrs)
        c["Exemplars.TimeUnix"].append(times)
        c["Exemplars.Value"].append(values)
        c["Exemplars.SpanId"].append(span_ids)
        c["Exemplars.TraceId"].append(trace_ids)
    return truncated


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
