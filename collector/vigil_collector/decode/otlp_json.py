"""OTLP/JSON bytes → ExportTraceServiceRequest.

OTLP/JSON is the protobuf JSON mapping with one exception: trace and span ids are hex, not
base64. So the ids are rewritten to base64 and protobuf's own ``json_format`` does the rest
(lowerCamelCase or original field names, enums as integers or names, 64-bit integers as
strings or numbers, unknown fields ignored as the spec requires).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vigil_collector.errors import MalformedRequest

_SPAN_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_LINK_ID_FIELDS = ("traceId", "spanId", "trace_id", "span_id")
_TOO_DEEP = "malformed OTLP JSON: values are nested too deeply"


def parse_json_traces(body: bytes) -> ExportTraceServiceRequest:
    return parse_otlp_json(body, ExportTraceServiceRequest(), _hex_ids_to_base64)


M = TypeVar("M", bound=Message)


def parse_otlp_json(body: bytes, request: M, hex_ids_to_base64: Callable[[dict[str, Any]], None]) -> M:
    """An OTLP/JSON body into ``request`` (of any signal): the document is parsed, its hex ids
    rewritten by ``hex_ids_to_base64``, and the rest left to protobuf's ``json_format``."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {exc}") from exc
    except RecursionError:
        raise MalformedRequest(_TOO_DEEP) from None
    if not isinstance(document, dict):
        raise MalformedRequest("malformed OTLP JSON: the body must be a JSON object")
    hex_ids_to_base64(document)
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


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for ri, resource_spans in enumerate(json_list(document, "resourceSpans", "resource_spans")):
        for si, scope_spans in enumerate(json_list(resource_spans, "scopeSpans", "scope_spans")):
            for pi, span in enumerate(json_list(scope_spans, "spans")):
                where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                hex_ids(span, _SPAN_ID_FIELDS, where)
                for li, link in enumerate(json_list(span, "links")):
                    hex_ids(link, _LINK_ID_FIELDS, f"{where}.links[{li}]")


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


__all__ = ["hex_ids", "json_list", "parse_json_traces", "parse_otlp_json", "shortened"]
