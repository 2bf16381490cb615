"""OTLP metrics bytes → ExportMetricsServiceRequest: protobuf, or JSON (the protobuf JSON
mapping with hex exemplar ids)."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from vigil_collector.decode.otlp_json import hex_ids, json_list, parse_otlp_json
from vigil_collector.decode.otlp_proto import parse_proto

_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")


def parse_proto_metrics(body: bytes) -> ExportMetricsServiceRequest:
    return parse_proto(body, ExportMetricsServiceRequest())


def parse_json_metrics(body: bytes) -> ExportMetricsServiceRequest:
    return parse_otlp_json(body, ExportMetricsServiceRequest(), _hex_ids)


def _hex_ids(document: dict) -> None:
    for ri, rm in enumerate(json_list(document, "resourceMetrics", "resource_metrics")):
        for si, sm in enumerate(json_list(rm, "scopeMetrics", "scope_metrics")):
            for mi, metric in enumerate(json_list(sm, "metrics")):
                for kind in _POINT_KINDS:
                    data = metric.get(kind) if isinstance(metric, dict) else None
                    for pi, point in enumerate(json_list(data, "dataPoints", "data_points")):
                        for ei, exemplar in enumerate(json_list(point, "exemplars")):
                            where = f"resourceMetrics[{ri}].scopeMetrics[{si}].metrics[{mi}].dataPoints[{pi}].exemplars[{ei}]"
                            hex_ids(exemplar, ("traceId", "spanId", "trace_id", "span_id"), where)
