"""OTLP metrics bytes → ExportMetricsServiceRequest: protobuf, or JSON (the protobuf JSON
mapping with hex exemplar ids)."""

from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from vigil_collector.decode.otlp_json import shortened
from vigil_collector.errors import MalformedRequest

_TOO_DEEP = "malformed OTLP JSON: values are nested too deeply"
_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")


def parse_proto_metrics(body: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # DecodeError, or a message nested past the parser's limit
        raise MalformedRequest(f"malformed OTLP protobuf ExportMetricsServiceRequest: {exc}") from exc
    return request


def parse_json_metrics(body: bytes) -> ExportMetricsServiceRequest:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {exc}") from exc
    except RecursionError:
        raise MalformedRequest(_TOO_DEEP) from None
    if not isinstance(document, dict):
        raise MalformedRequest("malformed OTLP JSON: the body must be a JSON object")
    for exemplar in _exemplars(document):
        for key in ("traceId", "spanId", "trace_id", "span_id"):
            value = exemplar.get(key)
            if isinstance(value, str) and value:
                try:
                    exemplar[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise MalformedRequest(
                        f"malformed OTLP JSON: exemplar {key} must be hex, got {value[:40]!r}"
                    ) from None
    request = ExportMetricsServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {shortened(str(exc))}") from exc
    except RecursionError:
        raise MalformedRequest(_TOO_DEEP) from None
    return request


def _exemplars(document: dict) -> list[dict]:
    found = []
    for rm in _list(document, "resourceMetrics", "resource_metrics"):
        for sm in _list(rm, "scopeMetrics", "scope_metrics"):
            for metric in _list(sm, "metrics"):
                for kind in _POINT_KINDS:
                    data = metric.get(kind) if isinstance(metric, dict) else None
                    for point in _list(data, "dataPoints", "data_points"):
                        found += [e for e in _list(point, "exemplars") if isinstance(e, dict)]
    return found


def _list(node: object, *names: str) -> list:
    if isinstance(node, dict):
        for name in names:
            value = node.get(name)
            if isinstance(value, list):
                return value
    return []
