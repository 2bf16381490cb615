"""Signals for the overview, logs and metrics tests (API and browser): traces with LLM calls,
log records and metrics, sent by the stock OpenTelemetry SDK to a running app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from support import RunningApp

# (session, user, model, input tokens, output tokens, fails) of each request's one LLM call.
TURNS = (
    ("s-big", "ada", "gpt-4o", 20_000, 4_000, False),
    ("s-big", "ada", "gpt-4o", 10_000, 2_000, True),
    ("s-small", "bob", "gpt-4o-mini", 1_000, 200, False),
    ("s-small", "bob", "gpt-4o-mini", 500, 100, False),
    ("s-mid", "cy", "gpt-4o-mini", 8_000, 1_000, False),
)


@dataclass
class Sent:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    trace_ids: list[str] = field(default_factory=list)


def send_turns(app: RunningApp, service: str, operation: str = "answer") -> Sent:
    """One trace per turn: a root span (``operation``) and its LLM call."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    tracer = provider.get_tracer("explore")
    sent = Sent()
    for session, user, model, inputs, outputs, fails in TURNS:
        with tracer.start_as_current_span(
            operation, attributes={"session.id": session, "user.id": user}
        ) as root:
            with tracer.start_as_current_span(
                f"chat {model}",
                attributes={
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": inputs,
                    "gen_ai.usage.output_tokens": outputs,
                    "session.id": session,
                    "user.id": user,
                },
            ) as call:
                if fails:
                    call.set_status(Status(StatusCode.ERROR, "rate limited"))
            if fails:
                root.set_status(Status(StatusCode.ERROR, "the model failed"))
            sent.trace_ids.append(format(root.get_span_context().trace_id, "032x"))
        sent.requests += 1
        sent.errors += fails
        sent.input_tokens += inputs
        sent.output_tokens += outputs
    provider.shutdown()
    return sent


def send_warning_in_span(app: RunningApp, service: str, text: str) -> tuple[str, str]:
    """A WARN record (Python logging through the stock handler) inside a span; its trace and
    span ids."""
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    logs = log_provider(app, service)
    logger = python_logger(logs, f"vigil.tests.explore.{service}")
    with tracer_provider.get_tracer("explore").start_as_current_span("fetch-order") as span:
        logger.info("looking the order up")
        logger.warning(text, extra={"order.id": "A-1042"})
        context = span.get_span_context()
    logs.shutdown()
    tracer_provider.shutdown()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def log_provider(app: RunningApp, service: str) -> LoggerProvider:
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=app.grpc_target, insecure=True))
    )
    return provider


def python_logger(provider: LoggerProvider, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [LoggingHandler(logger_provider=provider)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def meter_provider(app: RunningApp, service: str) -> tuple[MeterProvider, PeriodicExportingMetricReader]:
    """A provider that exports when its reader's ``collect()`` is called (the test decides)."""
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=app.grpc_target, insecure=True), export_interval_millis=3_600_000
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service}))
    return provider, reader
