"""``vigil.init``: one OpenTelemetry TracerProvider with a batching OTLP exporter to Vigil.

Vigil does not run a tracing stack of its own. ``init`` configures the standard OpenTelemetry
SDK, so spans from any other OpenTelemetry instrumentation in the process go to Vigil too, and
the standard ``OTEL_*`` variables (endpoint, headers, protocol, service name, resource
attributes, batch processor limits) keep their meaning. Explicit arguments win over them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from vigil import config as _config
from vigil.config import DEFAULT_MAX_VALUE_LENGTH, CaptureConfig, Redactor
from vigil.context_attributes import ContextAttributesProcessor

logger = logging.getLogger("vigil")

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
_DEFAULT_ENDPOINTS = {GRPC: "http://localhost:4317", HTTP_PROTOBUF: "http://localhost:4318"}


@dataclass(slots=True)
class _Installed:
    provider: TracerProvider
    processor: BatchSpanProcessor


_lock = threading.Lock()
_installed: _Installed | None = None
_own_provider: TracerProvider | None = None  # the provider init() created and set globally, if any
_atexit_registered = False


def _protocol(explicit: str | None) -> str:
    chosen = (
        explicit
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or GRPC
    ).strip()
    if chosen not in _DEFAULT_ENDPOINTS:
        raise ValueError(f"unsupported OTLP protocol {chosen!r}: use {GRPC!r} or {HTTP_PROTOBUF!r}")
    return chosen


def _exporter(endpoint: str | None, headers: Mapping[str, str] | None, protocol: str) -> SpanExporter:
    env_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint is None and env_endpoint is None:
        endpoint = _DEFAULT_ENDPOINTS[protocol]
    if protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, headers=dict(headers) if headers else None)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint, headers=dict(headers) if headers else None)


def init(
    endpoint: str | None = None,
    *,
    service_name: str | None = None,
    headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    protocol: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    instrument: Iterable[str] = (),
    capture_content: bool | None = None,
    max_value_length: int = DEFAULT_MAX_VALUE_LENGTH,
    redact: Redactor | None = None,
) -> TracerProvider:
    """Send this process's spans to Vigil.

    ``endpoint`` is the collector's base address (default ``http://localhost:4317`` for gRPC,
    ``http://localhost:4318`` for ``protocol="http/protobuf"``). ``instrument`` names the
    integrations to enable (``"openai"``, ``"anthropic"``). ``capture_content=False`` stops
    recording inputs, outputs and prompt messages everywhere (default: on, unless
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false``). ``redact`` is called with
    every value before it is captured and returns what to record instead. ``api_key`` (default
    ``$VIGIL_API_KEY``) is sent as ``authorization: Bearer …``, as a server with
    VIGIL_AUTH=on requires (a key with the ``ingest`` scope).

    Calling it again while initialised changes nothing and returns the same provider.
    """
    global _installed, _atexit_registered, _own_provider
    with _lock:
        if _installed is not None:
            logger.warning("vigil.init() was already called; the new arguments are ignored")
            return _installed.provider
        capture = CaptureConfig(
            enabled=_config.capture_enabled_from_env() if capture_content is None else capture_content,
            max_value_length=max_value_length,
            redact=redact,
        )
        key = os.environ.get("VIGIL_API_KEY", "") if api_key is None else api_key
        if key:
            headers = {**(headers or {}), "authorization": f"Bearer {key}"}
        processor = BatchSpanProcessor(_exporter(endpoint, headers, _protocol(protocol)))
        provider = _sdk_provider_in_use()
        if provider is None:
            attributes = dict(resource_attributes or {})
            if service_name:
                attributes[SERVICE_NAME] = service_name
            provider = TracerProvider(resource=Resource.create(attributes))
            trace.set_tracer_provider(provider)
            _own_provider = provider
        elif provider is not _own_provider and (service_name or resource_attributes):
            logger.warning(
                "an OpenTelemetry TracerProvider was already set up; vigil.init() adds its exporter to it "
                "and keeps that provider's resource (service_name and resource_attributes are ignored)"
            )
        provider.add_span_processor(ContextAttributesProcessor())  # vigil.session / vigil.user
        provider.add_span_processor(processor)
        _config.configure(capture)
        _installed = _Installed(provider, processor)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    from vigil.instrumentation import instrument as _instrument

    for name in instrument:
        _instrument(name)
    return provider


def _sdk_provider_in_use() -> TracerProvider | None:
    current = trace.get_tracer_provider()
    return current if isinstance(current, TracerProvider) else None


def flush(timeout_s: float = 30.0) -> bool:
    """Export every finished span now; False if the exporter did not finish in time."""
    installed = _installed
    if installed is None:
        return True
    return installed.processor.force_flush(int(timeout_s * 1000))


def shutdown() -> None:
    """Flush and stop Vigil's exporter and remove every integration. Runs at exit by itself.

    ``init`` may be called again afterwards; it adds a fresh exporter to the same provider,
    since OpenTelemetry allows setting the global provider only once per process.
    """
    global _installed
    from vigil.instrumentation import uninstrument_all

    uninstrument_all()
    with _lock:
        installed, _installed = _installed, None
    if installed is not None:
        installed.processor.shutdown()
