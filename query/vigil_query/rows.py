"""ClickHouse rows of otel_traces → query API messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.filters import LEGACY_KIND, LEGACY_STATUS

# Select list shared by every RPC that returns whole spans; to_span reads it by position.
SPAN_COLUMNS = """
    TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    toUnixTimestamp64Nano(Timestamp) AS start_ns, Duration, StatusCode, StatusMessage,
    SpanAttributes, ResourceAttributes, ScopeName, ScopeVersion,
    arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS event_ns, Events.Name, Events.Attributes,
    Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes
"""

_KIND_NAMES = {legacy: name for name, legacy in LEGACY_KIND.items()}
_STATUS_NAMES = {legacy: name for name, legacy in LEGACY_STATUS.items()}


def to_span(row: Sequence[Any]) -> query_pb2.Span:
    (
        trace_id, span_id, parent_id, trace_state, name, kind, service, start_ns, duration, status,
        status_message, attributes, resource, scope_name, scope_version,
        event_ns, event_names, event_attrs, link_traces, link_spans, link_states, link_attrs,
    ) = row  # fmt: skip
    return query_pb2.Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        trace_state=trace_state,
        name=name,
        kind=_KIND_NAMES.get(kind, kind),
        service_name=service,
        start_time_unix_nano=start_ns,
        duration_nano=duration,
        status_code=_STATUS_NAMES.get(status, status),
        status_message=status_message,
        attributes=attributes,
        resource_attributes=resource,
        scope_name=scope_name,
        scope_version=scope_version,
        events=[
            query_pb2.Event(time_unix_nano=t, name=n, attributes=a)
            for t, n, a in zip(event_ns, event_names, event_attrs, strict=True)
        ],
        links=[
            query_pb2.Link(trace_id=t, span_id=s, trace_state=st, attributes=a)
            for t, s, st, a in zip(link_traces, link_spans, link_states, link_attrs, strict=True)
        ],
    )
