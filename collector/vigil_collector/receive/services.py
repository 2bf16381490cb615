"""The OTLP services both receivers offer, one entry per signal: its gRPC service, its HTTP
path, and its response with partial success. Adding a signal is adding an entry here (and its
decoder and writer), not another receiver."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from vigil_collector.pipeline import LOGS, METRICS, TRACES, ExportResult, Signal


@dataclass(frozen=True)
class OtlpService:
    signal: Signal
    grpc_service: str
    http_path: str
    response_type: type[Message]
    rejected_field: str  # of the response's partial_success: rejected_spans, …

    def response(self, result: ExportResult) -> Message:
        """The Export…ServiceResponse, with partial_success when items were rejected or there
        is something to say."""
        response = self.response_type()
        if result.rejected or result.message:
            partial = response.partial_success  # type: ignore[attr-defined]
            setattr(partial, self.rejected_field, result.rejected)
            partial.error_message = result.message
        return response


SERVICES = (
    OtlpService(
        TRACES,
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "/v1/traces",
        ExportTraceServiceResponse,
        "rejected_spans",
    ),
    OtlpService(
        LOGS,
        "opentelemetry.proto.collector.logs.v1.LogsService",
        "/v1/logs",
        ExportLogsServiceResponse,
        "rejected_log_records",
    ),
    OtlpService(
        METRICS,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "/v1/metrics",
        ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
)
