"""OTLP/protobuf bytes → ExportTraceServiceRequest (upb parser)."""

from __future__ import annotations

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vigil_collector.errors import MalformedRequest


def parse_proto_traces(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedRequest(f"malformed OTLP protobuf ExportTraceServiceRequest: {exc}") from exc
    return request
