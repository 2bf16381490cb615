"""Store re-executed GenAI calls as a new trace, linked to the original spans.

The new spans are built as OTLP protobuf and go through the collector's own decoder, so
they are stored exactly like ingested spans (one OTLP → row mapping in the codebase). They
are written under the service ``vigil-replay``, not the original service, so that replays
never count in the original service's drift or search results.
"""

from __future__ import annotations

import json
import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from vigil_collector.decode import DecodeLimits, decode_spans
from vigil_proto.query.v1 import query_pb2
from vigil_query.replay.providers import CallResult
from vigil_query.writer import Writer

REPLAY_SERVICE = "vigil-replay"
SOURCE_TRACE_ID = "vigil.replay.source_trace_id"
SOURCE_SPAN_ID = "vigil.replay.source_span_id"
REPLAY_ID = "vigil.replay.id"


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value={"values": [_value(v) for v in value]})
    return AnyValue(string_value=str(value))


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in values.items() if v is not None]


def _call_attributes(call: CallResult, source: query_pb2.Span, replay_id: str) -> dict[str, Any]:
    request = call.request
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.system": call.provider,
        "gen_ai.request.model": call.model,
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.top_p": request.get("top_p"),
        "gen_ai.request.max_tokens": request.get("max_tokens"),
        SOURCE_TRACE_ID: source.trace_id,
        SOURCE_SPAN_ID: source.span_id,
        REPLAY_ID: replay_id,
    }
    if call.error:
        attributes["error.type"] = "vigil.replay.ProviderError"
        return attributes
    attributes.update(
        {
            "gen_ai.response.model": call.response_model or None,
            "gen_ai.response.id": call.response_id or None,
            "gen_ai.response.finish_reasons": call.finish_reasons or None,
            "gen_ai.usage.input_tokens": call.input_tokens,
            "gen_ai.usage.output_tokens": call.output_tokens,
            "gen_ai.output.messages": json.dumps(call.output_messages, ensure_ascii=False),
        }
    )
    return attributes


def build_request(
    replay_id: str,
    source_trace_id: str,
    calls: list[tuple[query_pb2.Span, str, CallResult]],
) -> tuple[ExportTraceServiceRequest, bytes, list[bytes]]:
    """The OTLP request of the new trace: a root span, and one child per executed call.

    ``calls`` holds (original span, mutated messages JSON, result). Returns the request, the
    new trace id, and the new span ids in the order of ``calls``.
    """
    trace_id, root_id = os.urandom(16), os.urandom(8)
    start = min(c.started_ns for _, _, c in calls)
    end = max(c.ended_ns for _, _, c in calls)
    root = Span(
        trace_id=trace_id,
        span_id=root_id,
        name="vigil.replay",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=_attributes({REPLAY_ID: replay_id, SOURCE_TRACE_ID: source_trace_id}),
        links=[
            Span.Link(trace_id=bytes.fromhex(source_trace_id), span_id=bytes.fromhex(calls[0][0].span_id))
        ],
    )
    spans, ids = [root], []
    for source, mutated_messages, call in calls:
        span_id = os.urandom(8)
        ids.append(span_id)
        attributes = _call_attributes(call, source, replay_id)
        attributes["gen_ai.input.messages"] = mutated_messages
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=root_id,
                name=f"chat {call.model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=call.started_ns,
                end_time_unix_nano=max(call.ended_ns, call.started_ns),
                attributes=_attributes(attributes),
                links=[
                    Span.Link(trace_id=bytes.fromhex(source.trace_id), span_id=bytes.fromhex(source.span_id))
                ],
                status=Status(code=Status.STATUS_CODE_ERROR, message=call.error) if call.error else None,
            )
        )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_attributes({"service.name": REPLAY_SERVICE})),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="vigil.replay"), spans=spans)],
            )
        ]
    )
    return request, trace_id, ids


def store(writer: Writer, request: ExportTraceServiceRequest) -> None:
    """Write the replay trace straight into ``otel_traces``, not through the collector's
    write-ahead log: Replay answers with the new trace id only once it is stored, so the
    caller's next GetTrace finds it (read-your-writes), and a failed INSERT fails this RPC,
    where nothing was acknowledged to an exporter that could be lost."""
    decoded = decode_spans(request, DecodeLimits())
    if decoded.rejected:
        raise ValueError(f"replay spans were rejected by the decoder: {decoded.message}")
    writer.insert_arrow("otel_traces", decoded.table, "record the replay trace")
