"""ExportTraceServiceRequest → one Arrow table in the ``otel_traces`` insert layout.

This loop is the ingest's hot path: the Python work per span decides the ingest rate
(docs/benchmarks.md). It therefore appends to flat per-column lists (map columns as offsets + keys +
values) and hands them to Arrow in one call per column, instead of building a dict per
attribute map or a row object per span. ClickHouse parses the Arrow table natively.

Invalid spans are dropped and reported (OTLP partial success); valid ones are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from vigil_collector.decode.anyvalue import format_double, to_str
from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.report import PartialSuccess
from vigil_collector.decode.validate import span_problem

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

_ATTR_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")

# Column order of the exporter's insert statement (docs/storage.md).
SPAN_SCHEMA = pa.schema(
    [
        ("Timestamp", _TS),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()),
        ("TraceState", pa.string()),
        ("SpanName", pa.string()),
        ("SpanKind", pa.string()),
        ("ServiceName", pa.string()),
        ("ResourceAttributes", _ATTR_MAP),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("SpanAttributes", _ATTR_MAP),
        ("Duration", pa.uint64()),
        ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()),
        ("Events.Timestamp", pa.list_(_TS)),
        ("Events.Name", pa.list_(pa.string())),
        ("Events.Attributes", pa.list_(_ATTR_MAP)),
        ("Links.TraceId", pa.list_(pa.string())),
        ("Links.SpanId", pa.list_(pa.string())),
        ("Links.TraceState", pa.list_(pa.string())),
        ("Links.Attributes", pa.list_(_ATTR_MAP)),
    ]
)


@dataclass
class DecodedSpans(PartialSuccess):
    """The valid spans of one request, ready to insert, and what was dropped."""

    items = "spans"
    table: pa.Table
    accepted: int
    rejected: int
    errors: list[str] = field(default_factory=list)
    truncated_values: int = 0


class MapColumn:
    """A Map(String, String) column being built: offsets, keys and values as flat lists."""

    __slots__ = ("keys", "offsets", "values")

    def __init__(self) -> None:
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str] = []

    def first(self, key: str) -> str:
        """The value of ``key`` in the first map, '' without one: the first match, as a map
        lookup in ClickHouse (native decode) finds it (a resource's service.name)."""
        for k, value in zip(self.keys, self.values, strict=True):
            if k == key:
                return value
        return ""

    def append_map(self, one: MapColumn, times: int = 1) -> None:
        """Append the single map ``one`` holds ``times`` times (a resource's or scope's
        attributes, repeated on each of its rows)."""
        size = len(one.keys)
        self.keys.extend(one.keys * times)
        self.values.extend(one.values * times)
        end = self.offsets[-1]
        self.offsets.extend(range(end + size, end + size * times + 1, size) if size else [end] * times)

    def to_arrow(self) -> pa.Array:
        return pa.MapArray.from_arrays(
            pa.array(self.offsets, pa.int32()),
            pa.array(self.keys, pa.string()),
            pa.array(self.values, pa.string()),
        )


def as_timestamps(nanos: list[int]) -> pa.Array:
    # Straight to timestamp[ns] from Python ints is ~300x slower than int64 + a zero-copy view.
    return pa.array(nanos, pa.int64()).view(_TS)


def _list_of(offsets: list[int], values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def add_attributes(column: MapColumn, attributes: Iterable[KeyValue], max_len: int) -> int:
    """Append one map of ``attributes`` (values as the exporter renders them, truncated to
    ``max_len`` characters) to ``column``; returns how many values were truncated."""
    truncated = 0
    keys_append = column.keys.append
    values_append = column.values.append
    for kv in attributes:
        value = kv.value
        # Most values are non-empty strings: a set string_value means the oneof holds a
        # string, so the WhichOneof call (a third of the per-attribute cost) is skipped.
        text = value.string_value
        if text or (which := value.WhichOneof("value")) == "string_value":
            pass
        elif which == "int_value":
            text = str(value.int_value)
        elif which == "double_value":
            text = format_double(value.double_value)
        elif which == "bool_value":
            text = "true" if value.bool_value else "false"
        else:
            text = to_str(value, which)
        if len(text) > max_len:
            text = text[:max_len]
            truncated += 1
        keys_append(kv.key)
        values_append(text)
    column.offsets.append(len(column.keys))
    return truncated


def decode_spans(request: ExportTraceServiceRequest, limits: DecodeLimits) -> DecodedSpans:
    """Validate and flatten every span of ``request`` into the insert layout."""
    max_attrs = limits.max_attributes_per_span
    max_len = limits.max_attribute_value_length
    kinds = SPAN_KINDS
    statuses = STATUS_CODES

    timestamps: list[int] = []
    trace_ids: list[str] = []
    span_ids: list[str] = []
    parent_ids: list[str] = []
    trace_states: list[str] = []
    names: list[str] = []
    span_kinds: list[str] = []
    services: list[str] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    durations: list[int] = []
    status_codes: list[str] = []
    status_messages: list[str] = []
    resource_attrs = MapColumn()
    span_attrs = MapColumn()
    event_offsets = [0]
    event_ts: list[int] = []
    event_names: list[str] = []
    event_attrs = MapColumn()
    link_offsets = [0]
    link_trace_ids: list[str] = []
    link_span_ids: list[str] = []
    link_states: list[str] = []
    link_attrs = MapColumn()

    errors: list[str] = []
    truncated = 0

    for ri, resource_spans in enumerate(request.resource_spans):
        # Resource attributes repeat on every span of the resource: convert them once.
        resource_column = MapColumn()
        truncated += add_attributes(resource_column, resource_spans.resource.attributes, max_len)
        service = resource_column.first("service.name")
        for si, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_name, scope_version = scope.name, scope.version
            for pi, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id
                span_id = span.span_id
                parent_id = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                attributes = span.attributes
                events = span.events
                latest_event = max(e.time_unix_nano for e in events) if events else 0
                problem = span_problem(
                    trace_id, span_id, parent_id, start, end, len(attributes), max_attrs, latest_event
                )
                if problem is not None:
                    errors.append(f"resource_spans[{ri}].scope_spans[{si}].spans[{pi}]: {problem}")
                    continue

                timestamps.append(start)
                trace_ids.append(trace_id.hex())
                span_ids.append(span_id.hex())
                parent_ids.append(parent_id.hex())
                trace_states.append(span.trace_state)
                names.append(span.name)
                kind = span.kind
                span_kinds.append(kinds[kind] if 0 <= kind < 6 else "Unspecified")
                services.append(service)
                resource_attrs.append_map(resource_column)
                scope_names.append(scope_name)
                scope_versions.append(scope_version)
                truncated += add_attributes(span_attrs, attributes, max_len)
                durations.append(end - start)
                status = span.status
                code = status.code
                status_codes.append(statuses[code] if 0 <= code < 3 else "Unset")
                status_messages.append(status.message)

                if events:
                    for event in events:
                        event_ts.append(event.time_unix_nano)
                        event_names.append(event.name)
                        truncated += add_attributes(event_attrs, event.attributes, max_len)
                event_offsets.append(len(event_ts))
                links = span.links
                if links:
                    for link in links:
                        link_trace_ids.append(link.trace_id.hex())
                        link_span_ids.append(link.span_id.hex())
                        link_states.append(link.trace_state)
                        truncated += add_attributes(link_attrs, link.attributes, max_len)
                link_offsets.append(len(link_trace_ids))

    arrays = [
        as_timestamps(timestamps),
        pa.array(trace_ids, pa.string()),
        pa.array(span_ids, pa.string()),
        pa.array(parent_ids, pa.string()),
        pa.array(trace_states, pa.string()),
        pa.array(names, pa.string()),
        pa.array(span_kinds, pa.string()),
        pa.array(services, pa.string()),
        resource_attrs.to_arrow(),
        pa.array(scope_names, pa.string()),
        pa.array(scope_versions, pa.string()),
        span_attrs.to_arrow(),
        pa.array(durations, pa.uint64()),
        pa.array(status_codes, pa.string()),
        pa.array(status_messages, pa.string()),
        _list_of(event_offsets, as_timestamps(event_ts)),
        _list_of(event_offsets, pa.array(event_names, pa.string())),
        _list_of(event_offsets, event_attrs.to_arrow()),
        _list_of(link_offsets, pa.array(link_trace_ids, pa.string())),
        _list_of(link_offsets, pa.array(link_span_ids, pa.string())),
        _list_of(link_offsets, pa.array(link_states, pa.string())),
        _list_of(link_offsets, link_attrs.to_arrow()),
    ]
    table = pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)
    return DecodedSpans(
        table=table,
        accepted=len(timestamps),
        rejected=len(errors),
        errors=errors,
        truncated_values=truncated,
    )
