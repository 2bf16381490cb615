"""Decode: OTLP bytes (protobuf or JSON) → validated columnar batches, the same shape for the
three signals: otlp_proto.py / otlp_json.py parse a request (JSON: one hex-id walker, told
where each signal keeps its ids), then spans.py, logs.py, metrics.py check and flatten it
within limits.py's ``DecodeLimits``."""

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.otlp_json import parse_json_traces
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import SPAN_SCHEMA, DecodedSpans, decode_spans

__all__ = [
    "SPAN_SCHEMA",
    "DecodeLimits",
    "DecodedSpans",
    "decode_spans",
    "parse_json_traces",
    "parse_proto_traces",
]
