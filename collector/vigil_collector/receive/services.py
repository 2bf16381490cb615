"""The OTLP services both receivers offer, one entry per signal: its gRPC service, its HTTP
path, and its response with partial success. Adding a signal is adding an entry here (and its
decoder and writer), not another receiver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from vigil_collector.pipeline import LOGS, METRICS, TRACES, ExportResult, Signal


@dataclass(frozen=True)
class OtlpService:
    signal: Signal
    grpc_service: str
    http_path: str
    response_type: type[Message]
    response: Callable[[ExportResult], Message]


def _traces(result: ExportResult) -> Message:
    response = ExportTraceServiceResponse()
    if result.rejected or result.message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=result.rejected, error_message=result.message)
        )
    return response


def _logs(result: ExportResult) -> Message:
    response = ExportLogsServiceResponse()
    if result.rejected or result.message:
        response.partial_success.CopyFrom(
            ExportLogsPartialSuccess(rejected_log_records=result.rejected, error_message=result.message)
        )
    return response


def _metrics(result: ExportResult) -> Message:
    response = ExportMetricsServiceResponse()
    if result.rejected or result.message:
        response.partial_success.CopyFrom(
            ExportMetricsPartialSuccess(rejected_data_points=result.rejected, error_message=result.message)
        )
    return response


SERVICES = (
    OtlpService(
        TRACES,
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "/v1/traces",
        ExportTraceServiceResponse,
        _traces,
    ),
    OtlpService(
        LOGS,
        "opentelemetry.proto.collector.logs.v1.LogsService",
        "/v1/logs",
        ExportLogsServiceResponse,
        _logs,
    ),
    OtlpService(
        METRICS,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "/v1/metrics",
        ExportMetricsServiceResponse,
        _metrics,
    ),
)
