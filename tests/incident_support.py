"""Incident tests' helpers: a fake webhook receiver (a real HTTP server on loopback) and a
trace whose error log carries its trace id, sent through the stock OpenTelemetry SDK."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Status, StatusCode

from support import RunningApp


@dataclass(frozen=True)
class Hit:
    path: str
    body: dict[str, Any]
    at: float  # time.monotonic()


class FakeWebhook:
    """Records every POST (path, JSON body, when) and answers 200."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with hook._lock:
                    hook.hits.append(Hit(self.path, body, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def to(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _FixedTraceId(RandomIdGenerator):
    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id

    def generate_trace_id(self) -> int:
        return self.trace_id


def send_error_trace(app: RunningApp, service: str, span_name: str, message: str, trace_id: str = "") -> str:
    """One error span with an ERROR log written inside it (so the log carries its trace id);
    the trace id (``trace_id`` if given, so a watcher can know it in advance)."""
    resource = Resource.create({"service.name": service})
    ids = _FixedTraceId(int(trace_id, 16)) if trace_id else RandomIdGenerator()
    tracer_provider = TracerProvider(resource=resource, id_generator=ids)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=app.grpc_target, insecure=True))
    )
    logger = logging.getLogger(f"vigil.tests.incidents.{service}")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=log_provider)
    logger.addHandler(handler)
    try:
        with tracer_provider.get_tracer("vigil.tests.incidents").start_as_current_span(span_name) as span:
            logger.error(message)
            span.set_status(Status(StatusCode.ERROR, message))
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        logger.removeHandler(handler)
        log_provider.shutdown()
        tracer_provider.shutdown()
    return trace_id
