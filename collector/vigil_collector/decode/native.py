"""Which OTLP/protobuf requests ClickHouse may decode itself ("native decode").

Flattening spans in Python costs ~15 µs a span, then ClickHouse parses the Arrow table it
was given. ClickHouse can instead read the request bytes directly (Protobuf format with
``native_schema.proto``) and flatten them in the INSERT (write/native_insert.py): the whole
ingest then costs a fifth to a third less CPU per span (bench/ingest.py). What ClickHouse
cannot do is answer per request: say which spans were invalid and why, or tell apart data it
cannot represent. So every protobuf request is first parsed here with the same schema (upb;
3 to 4 µs a span with the checks below, no per-attribute work), and handed to ClickHouse
undecoded only when all of this holds:

- every span is valid (the same rules as the Python decoder, ``span_problem``);
- no attribute value nests deeper than the schema's two levels, and no field is unknown to
  it: checked at once by dropping unknown fields and comparing the re-encoded size with the
  body's (a canonical encoder's bytes re-encode to the same size; anything else, e.g. a
  non-canonical encoder, only costs the slower path);
- no attribute value can need truncating (the Python decoder truncates and reports it): a
  value is stored in at most 6 characters per byte of its encoding (a control character in
  a JSON string inside an array, ``\u001f``), so it is enough that the body, or else each
  span and resource, encodes in at most a sixth of the length limit.

Anything else returns None and is decoded in Python, which reports the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

from google.protobuf.message import DecodeError

from vigil_collector.decode.native_schema_pb2 import ExportTraceServiceRequest
from vigil_collector.decode.validate import span_problem

Decoder = Literal["clickhouse", "python"]  # who decoded a request's spans (a metric label)

SCHEMA_FILE = "native_schema.proto"
SCHEMA_MESSAGE = "ExportTraceServiceRequest"
_MAX_EXPANSION = 6  # stored characters per encoded byte, at most (see above)


def schema_path() -> str:
    """Absolute path of the .proto file (the embedded engine reads the format schema from it)."""
    return str(resources.files(__package__) / SCHEMA_FILE)


def schema_text() -> str:
    """The .proto text (sent inline to a ClickHouse server, which cannot read our files)."""
    return (resources.files(__package__) / SCHEMA_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class NativeSpans:
    """An OTLP/protobuf body whose spans are all valid and that ClickHouse can decode."""

    body: bytes
    spans: int


def check_native(body: bytes, max_attributes: int, max_value_length: int) -> int | None:
    """The span count of ``body`` if ClickHouse may decode it, else None (decode in Python)."""
    size_limit = max_value_length // _MAX_EXPANSION
    check_sizes = len(body) > size_limit
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError:
        return None  # the Python decoder reports it
    request.DiscardUnknownFields()
    if request.ByteSize() != len(body):
        return None
    spans = 0
    for resource_spans in request.resource_spans:
        if check_sizes and resource_spans.resource.ByteSize() > size_limit:
            return None
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if check_sizes and span.ByteSize() > size_limit:
                    return None
                events = span.events
                if span_problem(
                    span.trace_id,
                    span.span_id,
                    span.parent_span_id,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    len(span.attributes),
                    max_attributes,
                    max(e.time_unix_nano for e in events) if events else 0,
                ):
                    return None
            spans += len(scope_spans.spans)
    return spans
