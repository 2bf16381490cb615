"""OTLP/JSON bytes → ExportTraceServiceRequest.

OTLP/JSON is the protobuf JSON mapping with one exception: trace and span ids are hex, not
base64. So the ids are rewritten to base64 and protobuf's own ``json_format`` does the rest
(lowerCamelCase or original field names, enums as integers or names, 64-bit integers as
strings or numbers, unknown fields ignored as the spec requires).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vigil_collector.errors import MalformedRequest

_TOO_DEEP = "malformed OTLP JSON: values are nested too deeply"


@dataclass(frozen=True)
class HexIds:
    """Where a signal keeps its hex ids in an OTLP/JSON document: ``path`` descends lists (each
    step its lowerCamelCase and original field names; an object step, ``Member``, visits every
    name present without indexing), ``fields`` are the ids of the items reached, and ``then``
    goes on from those items to nested ones (a span's links)."""

    path: tuple[tuple[str, ...] | Member, ...]
    fields: tuple[str, ...]
    then: tuple[HexIds, ...] = ()


@dataclass(frozen=True)
class Member:
    """An object-valued step: each of ``names`` the node has (a metric's one point type)."""

    names: tuple[str, ...]


_IDS = ("traceId", "spanId", "trace_id", "span_id")
# The ids of each signal, in one table; rewrite_hex_ids walks them all the same way.
TRACE_IDS = HexIds(
    (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans",)),
    ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"),
    then=(HexIds((("links",),), _IDS),),
)
LOG_IDS = HexIds(
    (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records")), _IDS
)
METRIC_IDS = HexIds(
    (
        ("resourceMetrics", "resource_metrics"),
        ("scopeMetrics", "scope_metrics"),
        ("metrics",),
        Member(("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")),
        ("dataPoints", "data_points"),
        ("exemplars",),
    ),
    _IDS,
)


def parse_json_traces(body: bytes) -> ExportTraceServiceRequest:
    return parse_otlp_json(body, ExportTraceServiceRequest(), TRACE_IDS)


M = TypeVar("M", bound=Message)


def parse_otlp_json(body: bytes, request: M, ids: HexIds) -> M:
    """An OTLP/JSON body into ``request`` (of any signal): the document is parsed, its hex ids
    (where ``ids`` says) rewritten as base64, and the rest left to protobuf's ``json_format``."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {exc}") from exc
    except RecursionError:
        raise MalformedRequest(_TOO_DEEP) from None
    if not isinstance(document, dict):
        raise MalformedRequest("malformed OTLP JSON: the body must be a JSON object")
    rewrite_hex_ids(document, ids)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {shortened(str(exc))}") from exc
    except RecursionError:
        # protobuf's parser stops at 100 nested messages; here Python's stack does, at a
        # similar depth (a few hundred levels), so what passes is shallow enough for
        # every later walk over the values.
        raise MalformedRequest(_TOO_DEEP) from None
    return request


def shortened(reason: str, limit: int = 300) -> str:
    """json_format nests one "Failed to parse X field: " per level; the cause is at the end."""
    return reason if len(reason) <= limit else "…" + reason[-limit:]


def rewrite_hex_ids(node: Any, ids: HexIds, where: str = "", depth: int = 0) -> None:
    """Rewrite, in place, the hex ids ``ids`` locates under ``node`` (reached by the first
    ``depth`` steps of its path) as base64, protobuf's JSON mapping; ``where`` names ``node``
    in error messages."""
    if depth == len(ids.path):
        hex_ids(node, ids.fields, where)
        for nested in ids.then:
            rewrite_hex_ids(node, nested, where)
        return
    step = ids.path[depth]
    if isinstance(step, Member):
        for name in step.names:
            value = node.get(name) if isinstance(node, dict) else None
            rewrite_hex_ids(value, ids, where, depth + 1)  # not named in messages: one type per metric
        return
    for i, item in enumerate(json_list(node, *step)):
        rewrite_hex_ids(item, ids, f"{where}.{step[0]}[{i}]" if where else f"{step[0]}[{i}]", depth + 1)


def json_list(node: Any, *names: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    for name in names:
        value = node.get(name)
        if isinstance(value, list):
            return value
    return []


def hex_ids(node: Any, fields: tuple[str, ...], where: str) -> None:
    """Rewrite the hex ids in ``node``'s ``fields`` as the base64 protobuf's JSON mapping reads."""
    if not isinstance(node, dict):
        return
    for name in fields:
        value = node.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise MalformedRequest(f"malformed OTLP JSON: {where}.{name} must be a hex string")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise MalformedRequest(
                f"malformed OTLP JSON: {where}.{name} is not a hex string: {value[:64]!r}"
            ) from None
        node[name] = base64.b64encode(raw).decode("ascii")


__all__ = [
    "LOG_IDS",
    "METRIC_IDS",
    "TRACE_IDS",
    "HexIds",
    "Member",
    "hex_ids",
    "json_list",
    "parse_json_traces",
    "parse_otlp_json",
    "rewrite_hex_ids",
    "shortened",
]
