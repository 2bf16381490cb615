"""Delivery: well-formed telemetry through the stock OTLP exporters (gRPC or HTTP), malformed
payloads as raw OTLP requests, and each request's outcome as the server answered it.

The stock exporters say only SUCCESS or FAILURE; the simulator counts *why* a request failed.
It learns the answer where the exporter's transport is open to it: a ``requests.Session``
subclass (the HTTP exporters take a ``session``) and a gRPC client interceptor on the
exporter's channel. Each export runs on the sender thread that asked for it, so the last answer
is kept per thread."""

from __future__ import annotations

import enum
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

import grpc
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from vigil_simulator.plan import SimulationConfig

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"


# A worse outcome wins when an event's requests end differently.
SEVERITY = [Outcome.SUCCEEDED, Outcome.RATE_LIMITED, Outcome.TIMEOUT, Outcome.FAILED]

_answer = (
    threading.local()
)  # the last answer seen on this thread: a grpc.StatusCode, an HTTP status, or "timeout"


class _Recorder(grpc.UnaryUnaryClientInterceptor):
    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        call = continuation(details, request)
        try:
            _answer.value = call.code()
        except Exception:  # a call object without a code: leave the answer unknown
            _answer.value = None
        return call


_RECORDER = _Recorder()


def _recording(cls: type) -> type:
    """The stock gRPC exporter with an interceptor on every channel it opens (it opens a new one
    after UNAVAILABLE)."""

    class Recording(cls):  # type: ignore[misc, valid-type]
        def _initialize_channel_and_stub(self) -> None:
            super()._initialize_channel_and_stub()
            self._channel = grpc.intercept_channel(self._channel, _RECORDER)
            self._client = self._stub(self._channel)

    Recording.__name__ = f"Recording{cls.__name__}"
    return Recording


class _RecordingSession(requests.Session):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        try:
            response = super().send(request, **kwargs)
        except requests.exceptions.Timeout:
            _answer.value = "timeout"
            raise
        except requests.exceptions.RequestException:
            _answer.value = None
            raise
        _answer.value = response.status_code
        return response


def classify(answer: Any) -> Outcome:
    """A failed request's outcome from the server's last answer."""
    if answer in (grpc.StatusCode.RESOURCE_EXHAUSTED, 429):
        return Outcome.RATE_LIMITED
    if answer in (grpc.StatusCode.DEADLINE_EXCEEDED, "timeout", 408, 504):
        return Outcome.TIMEOUT
    return Outcome.FAILED


class Sender:
    """The exporters of one run, shared by the sender threads (each call is synchronous)."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._headers = headers
        timeout = config.send_timeout_s
        target = config.target
        if config.protocol == "grpc":
            url = target if "://" in target else f"http://{target}"
            parsed = urllib.parse.urlparse(url)
            self._grpc_target = parsed.netloc
            insecure = parsed.scheme != "https"
            # Only an unreachable server is worth the exporter's own retries: a refusal (rate
            # limited, invalid) is the answer the simulator counts.
            common = dict(
                endpoint=url,
                insecure=insecure,
                headers=headers,
                timeout=timeout,
                retryable_error_codes=[grpc.StatusCode.UNAVAILABLE],
            )
            self.spans = _recording(GrpcSpanExporter)(**common)
            self.logs = _recording(GrpcLogExporter)(**common)
            self.metrics = _recording(GrpcMetricExporter)(**common)
            self._channel = (
                grpc.insecure_channel(self._grpc_target)
                if insecure
                else grpc.secure_channel(self._grpc_target, grpc.ssl_channel_credentials())
            )
            self._raw = self._channel.unary_unary(
                TRACE_EXPORT,
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
        else:
            base = (target if "://" in target else f"http://{target}").rstrip("/")
            self._base = base
            self._session = _RecordingSession()
            self.spans = HttpSpanExporter(
                endpoint=f"{base}/v1/traces", headers=headers, timeout=timeout, session=self._session
            )
            self.logs = HttpLogExporter(
                endpoint=f"{base}/v1/logs", headers=headers, timeout=timeout, session=self._session
            )
            self.metrics = HttpMetricExporter(
                endpoint=f"{base}/v1/metrics", headers=headers, timeout=timeout, session=self._session
            )

    def send_spans(self, spans: Sequence[ReadableSpan]) -> Outcome:
        _answer.value = None
        ok = self.spans.export(spans) == SpanExportResult.SUCCESS
        return Outcome.SUCCEEDED if ok else classify(_answer.value)

    def send_logs(self, logs: Sequence[Any]) -> Outcome:
        if not logs:
            return Outcome.SUCCEEDED
        _answer.value = None
        result = self.logs.export(logs)
        return Outcome.SUCCEEDED if getattr(result, "name", "") == "SUCCESS" else classify(_answer.value)

    def send_metrics(self, data: MetricsData) -> Outcome:
        _answer.value = None
        ok = (
            self.metrics.export(data, timeout_millis=self.config.send_timeout_s * 1000)
            == MetricExportResult.SUCCESS
        )
        return Outcome.SUCCEEDED if ok else classify(_answer.value)

    def send_raw_spans(self, body: bytes, spans: int) -> tuple[Any, bool]:
        """A raw OTLP traces request of ``spans`` spans, bypassing the exporters: the server's
        answer (a gRPC status code, an HTTP status, "timeout" or None when unreachable) and
        whether it refused every span — by an error, or by an OTLP partial success that
        rejects them all (how a server answers a parsable request with invalid spans)."""
        if self.config.protocol == "grpc":
            try:
                response = self._raw(
                    body, timeout=self.config.send_timeout_s, metadata=tuple(self._headers.items())
                )
            except grpc.RpcError as exc:
                return exc.code(), exc.code() == grpc.StatusCode.INVALID_ARGUMENT
            return grpc.StatusCode.OK, response.partial_success.rejected_spans >= spans
        try:
            reply = self._session.post(
                f"{self._base}/v1/traces",
                data=body,
                headers={**self._headers, "Content-Type": "application/x-protobuf"},
                timeout=self.config.send_timeout_s,
            )
        except requests.exceptions.Timeout:
            return "timeout", False
        except requests.exceptions.RequestException:
            return None, False
        if reply.status_code != 200:
            return reply.status_code, reply.status_code == 400
        try:
            rejected = ExportTraceServiceResponse.FromString(reply.content).partial_success.rejected_spans
        except Exception:  # an answer that is not OTLP: it did not say it refused them
            rejected = 0
        return 200, rejected >= spans

    def shutdown(self) -> None:
        for exporter in (self.spans, self.logs, self.metrics):
            exporter.shutdown()
        if self.config.protocol == "grpc":
            self._channel.close()
        else:
            self._session.close()


def malformed_body(spans: Sequence[ReadableSpan], kind: str) -> bytes:
    """The turn's spans as an OTLP request that no conforming server may accept:
    ``truncated`` (the last byte cut, so the outer length prefix overruns), ``bad-trace-id``
    (5-byte trace ids), or ``garbage`` (a field with the invalid wire type 7)."""
    request = encode_spans(spans)
    if kind == "bad-trace-id":
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = span.trace_id[:5]
        return request.SerializeToString()
    if kind == "truncated":
        return request.SerializeToString()[:-1]
    return b"\x0f" + request.SerializeToString()


MALFORMED_KINDS = ("truncated", "bad-trace-id", "garbage")
