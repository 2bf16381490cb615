"""Alerting tests' senders: telemetry through the stock OpenTelemetry SDK exporters only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from support import RunningApp


class Gauges:
    """An observable gauge per service (one MeterProvider each, as separate processes would
    have), its value settable; exported every ``every_s`` or on ``export()``."""

    def __init__(
        self,
        app: RunningApp,
        metric: str,
        values: dict[str, float],
        every_s: float = 3600.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.values = dict(values)
        self._lock = threading.Lock()
        self.providers: list[MeterProvider] = []
        for service in values:
            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=app.grpc_target, insecure=True, headers=headers),
                export_interval_millis=every_s * 1000,
            )
            provider = MeterProvider(
                metric_readers=[reader], resource=Resource.create({"service.name": service})
            )
            provider.get_meter("vigil.tests.alerts").create_observable_gauge(
                metric, [self._callback(service)], unit="%"
            )
            self.providers.append(provider)

    def _callback(self, service: str) -> Callable[[CallbackOptions], list[Observation]]:
        def observe(options: CallbackOptions) -> list[Observation]:
            with self._lock:
                return [Observation(self.values[service])]

        return observe

    def set(self, service: str, value: float) -> None:
        with self._lock:
            self.values[service] = value

    def export(self) -> None:
        for provider in self.providers:
            provider.force_flush()

    def close(self) -> None:
        for provider in self.providers:
            provider.shutdown()


def send_spans(
    app: RunningApp,
    service: str,
    spans: Iterable[tuple[str, float, bool, dict[str, str]]],
    ago_s: float = 0.0,
) -> list[str]:
    """Spans (name, duration ms, error?, attributes) ending now (or ``ago_s`` before), one trace
    each; their trace ids."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True)))
    tracer = provider.get_tracer("vigil.tests.alerts")
    trace_ids = []
    for name, ms, error, attributes in spans:
        end = time.time_ns() - int(ago_s * 1e9)
        span = tracer.start_span(name, start_time=end - int(ms * 1e6), attributes=attributes)
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=end)
        trace_ids.append(format(span.get_span_context().trace_id, "032x"))
    provider.shutdown()
    return trace_ids


def send_logs(app: RunningApp, service: str, records: Iterable[tuple[int, str]]) -> None:
    """Python log records (level, message) through the stock OTLP log exporter."""
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=app.grpc_target, insecure=True))
    )
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger(f"vigil.tests.alerts.{service}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        for level, message in records:
            logger.log(level, message)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
