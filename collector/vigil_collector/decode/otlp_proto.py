"""OTLP/protobuf bytes → the Export…ServiceRequest of a signal (upb parser)."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vigil_collector.errors import MalformedRequest


def parse_proto_traces(body: bytes) -> ExportTraceServiceRequest:
    return parse_proto(body, ExportTraceServiceRequest())


M = TypeVar("M", bound=Message)


def parse_proto(body: bytes, request: M) -> M:
    """OTLP protobuf bytes into ``request`` (of any signal); MalformedRequest with the
    parser's reason."""
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedRequest(f"malformed OTLP protobuf {type(request).__name__}: {exc}") from exc
    return request
