"""OTLP metrics bytes → ExportMetricsServiceRequest: protobuf, or JSON (the protobuf JSON
mapping with hex exemplar ids)."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from vigil_collector.decode.otlp_json import METRIC_IDS, parse_otlp_json
from vigil_collector.decode.otlp_proto import parse_proto


def parse_proto_metrics(body: bytes) -> ExportMetricsServiceRequest:
    return parse_proto(body, ExportMetricsServiceRequest())


def parse_json_metrics(body: bytes) -> ExportMetricsServiceRequest:
    return parse_otlp_json(body, ExportMetricsServiceRequest(), METRIC_IDS)
