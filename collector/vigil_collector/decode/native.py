"""Which OTLP/protobuf requests ClickHouse may decode itself ("native decode").

Flattening spans in Python costs ~15 µs a span, then ClickHouse parses the Arrow table it
was given. ClickHouse can instead read the request bytes directly (Protobuf format with
``native_schema.proto``) and flatten them in the INSERT (write/native_traces.py): the whole
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

Metrics requests (``check_native_metrics``) follow the same rules: every data point valid
(its times, its exemplars' ids and times, as ``decode/metrics.py`` checks them), nothing
unknown, nothing that might need truncating.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal, TypeVar

from google.protobuf.message import DecodeError, Message

from vigil_collector.decode.metrics import TABLES
from vigil_collector.decode.native_schema_pb2 import ExportMetricsServiceRequest, ExportTraceServiceRequest
from vigil_collector.decode.validate import LATEST_TIME_NS, span_problem

Decoder = Literal["clickhouse", "python"]  # who decoded a request's spans (a metric label)

SCHEMA_FILE = "native_schema.proto"
SCHEMA_MESSAGE = "ExportTraceServiceRequest"
METRICS_MESSAGE = "ExportMetricsServiceRequest"
# The point types a metrics record holds: bit i of its first byte is point type TABLES[i].
TYPE_BITS = {name: 1 << i for i, name in enumerate(TABLES)}


def tables_in(mask: int) -> list[str]:
    """The point types of a metrics record's mask, in TABLES order."""
    return [name for name in TABLES if mask & TYPE_BITS[name]]


_MAX_EXPANSION = 6  # stored characters per encoded byte, at most (see above)


def schema_path() -> str:
    """Absolute path of the .proto file (the embedded engine reads the format schema from it)."""
    return str(resources.files(__package__) / SCHEMA_FILE)


def schema_text() -> str:
    """The .proto text (sent inline to a ClickHouse server, which cannot read our files)."""
    return (resources.files(__package__) / SCHEMA_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class NativeCheck:
    """A body ClickHouse may decode, as a decode worker reports it: how many items it holds,
    and the bytes its WAL record starts with before the body (metrics: which point types)."""

    items: int
    header: bytes = b""


@dataclass(frozen=True)
class NativeRequest:
    """An OTLP/protobuf body whose items are all valid and that ClickHouse can decode: the
    payload of its write-ahead log record (header and body)."""

    payload: bytes
    items: int


M = TypeVar("M", bound=Message)


def _parsed_whole(body: bytes, request: M) -> M | None:
    """``body`` parsed with the native schema, if the schema knows every field of it (the
    re-encoded size is the body's: see the top of this module); None otherwise, and for a
    body that does not parse (the Python decoder reports why)."""
    try:
        request.ParseFromString(body)
    except DecodeError:
        return None
    request.DiscardUnknownFields()
    return request if request.ByteSize() == len(body) else None


def check_native(body: bytes, max_attributes: int, max_value_length: int) -> int | None:
    """The span count of ``body`` if ClickHouse may decode it, else None (decode in Python)."""
    size_limit = max_value_length // _MAX_EXPANSION
    check_sizes = len(body) > size_limit
    request = _parsed_whole(body, ExportTraceServiceRequest())
    if request is None:
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


def check_native_metrics(body: bytes, max_value_length: int) -> NativeCheck | None:
    """The data point count of ``body`` and a one-byte mask of its point types if ClickHouse
    may decode it, else None (decode in Python)."""
    size_limit = max_value_length // _MAX_EXPANSION
    check_sizes = len(body) > size_limit
    request = _parsed_whole(body, ExportMetricsServiceRequest())
    if request is None:
        return None
    points = mask = 0
    for rm in request.resource_metrics:
        if check_sizes and rm.resource.ByteSize() > size_limit:
            return None
        for sm in rm.scope_metrics:
            if check_sizes and sm.scope.ByteSize() > size_limit:
                return None
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data_points = getattr(metric, kind).data_points
                if not data_points:
                    continue
                mask |= TYPE_BITS[kind]
                points += len(data_points)
                for point in data_points:
                    if check_sizes and point.ByteSize() > size_limit:
                        return None
                    if point.time_unix_nano > LATEST_TIME_NS or point.start_time_unix_nano > LATEST_TIME_NS:
                        return None
                    if kind != "summary" and point.exemplars and not _exemplars_valid(point.exemplars):
                        return None
    return NativeCheck(points, bytes([mask]))


def _exemplars_valid(exemplars: object) -> bool:
    return all(
        len(e.trace_id) in (0, 16) and len(e.span_id) in (0, 8) and e.time_unix_nano <= LATEST_TIME_NS
        for e in exemplars  # type: ignore[attr-defined]
    )
