"""Decode: OTLP bytes (protobuf or JSON) → validated columnar span batches."""

from vigil_collector.decode.otlp_json import parse_json_traces
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import SPAN_SCHEMA, DecodedSpans, DecodeLimits, decode_spans

__all__ = [
    "SPAN_SCHEMA",
    "DecodeLimits",
    "DecodedSpans",
    "decode_spans",
    "parse_json_traces",
    "parse_proto_traces",
]
