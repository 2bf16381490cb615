"""What the OpenAI and Anthropic integrations share: GenAI span shape, messages, streams.

Attribute names follow the OpenTelemetry GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.*``,
``gen_ai.response.*``, ``gen_ai.usage.*``). Message content goes into
``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions`` as JSON
in the conventions' ``{"role", "parts": [...]}`` shape, through the same capture rules (switch,
size cap, redaction hook) as the decorators' ``input.value``.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from vigil import config as _config
from vigil import context_attributes
from vigil.capture import capture
from vigil.decorators import record_error

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of PROVIDER, still read by many tools
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

_tracer = trace.get_tracer("vigil.instrumentation.genai")

_SCALARS = (bool, int, float, str)


def plain(value: Any) -> Any:
    """Provider objects (pydantic models) as plain dicts and lists; plain values unchanged."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            return value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def request_parameters(kwargs: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``gen_ai.request.*`` attributes for the call arguments that were actually given.

    Anything that is not a scalar or a list of scalars (the client libraries' "not given"
    sentinels among them) is skipped.
    """
    attributes: dict[str, Any] = {}
    for argument, attribute in names.items():
        value = kwargs.get(argument)
        if isinstance(value, _SCALARS):
            attributes[attribute] = value
        elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            attributes[attribute] = list(value)
    return attributes


def server_attributes(resource: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` from the client behind an API resource object."""
    try:
        url = resource._client.base_url
        attributes: dict[str, Any] = {SERVER_ADDRESS: url.host}
        if url.port:
            attributes[SERVER_PORT] = url.port
        return attributes
    except Exception:
        return {}


def capture_content(override: bool | None) -> bool:
    cfg = _config.current()
    return cfg.enabled if override is None else (override and cfg.enabled)


def set_content(span: Span, attribute: str, value: Any) -> None:
    if not span.is_recording() or value is None:
        return
    text, truncated = capture(value, _config.current())
    span.set_attribute(attribute, text)
    if truncated:
        span.set_attribute(attribute + ".truncated", True)


def start_span(operation: str, provider: str, model: Any, attributes: Mapping[str, Any]) -> Span:
    """The inference span: ``{operation} {model}``, kind CLIENT, a child of the current span."""
    name = f"{operation} {model}" if isinstance(model, str) and model else operation
    base = {OPERATION: operation, PROVIDER: provider, SYSTEM: provider}
    if isinstance(model, str):
        base[REQUEST_MODEL] = model
    return _tracer.start_span(
        name, kind=SpanKind.CLIENT, attributes={**context_attributes.current(), **base, **attributes}
    )


def arguments_json(arguments: Any) -> Any:
    """Tool-call arguments as JSON values when they parse, as given otherwise."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def text_parts(content: Any) -> list[dict[str, Any]]:
    """A message's ``content`` (a string or a list of typed blocks) as conventions parts."""
    if content is None or content == "":  # e.g. an assistant turn that only calls tools
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in plain(content) if isinstance(content, list | tuple) else [plain(content)]:
        if isinstance(block, Mapping) and block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif isinstance(block, Mapping):
            parts.append(dict(block))
        else:
            parts.append({"type": "text", "content": str(block)})
    return parts


class StreamAccumulator(abc.ABC):
    """Collects a streamed response; provider modules implement ``add`` and ``finish``."""

    @abc.abstractmethod
    def add(self, event: Any) -> None:
        """Take in one streamed chunk or event."""

    @abc.abstractmethod
    def finish(self, span: Span, capture: bool) -> None:
        """Set the response attributes (and, with ``capture``, the output messages) on ``span``."""


class _SpanCloser:
    """Ends a streaming span exactly once: on exhaustion, error, close or context exit."""

    def __init__(self, span: Span, accumulator: StreamAccumulator, capture: bool) -> None:
        self.span = span
        self.accumulator = accumulator
        self.capture = capture
        self.done = False

    def add(self, event: Any) -> None:
        # A chunk shape we do not know must not break the user's stream.
        with contextlib.suppress(Exception):
            self.accumulator.add(event)

    def end(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            if error is not None:
                record_error(self.span, error)
            with contextlib.suppress(Exception):
                self.accumulator.finish(self.span, self.capture)
        finally:
            self.span.end()


class TracedStream:
    """Wraps a client library's sync ``Stream``; everything but iteration and closing passes through."""

    def __init__(self, stream: Any, closer: _SpanCloser) -> None:
        self._stream = stream
        self._closer = closer
        self._iterator: Iterator[Any] | None = None

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._stream)
        try:
            event = next(self._iterator)
        except StopIteration:
            self._closer.end()
            raise
        except BaseException as exc:
            self._closer.end(exc)
            raise
        self._closer.add(event)
        return event

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._closer.end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        # A stream dropped without being consumed or closed still ends its span.
        closer = self.__dict__.get("_closer")
        if closer is not None:
            with contextlib.suppress(Exception):
                closer.end()


class AsyncTracedStream:
    """The ``AsyncStream`` counterpart of ``TracedStream``."""

    def __init__(self, stream: Any, closer: _SpanCloser) -> None:
        self._stream = stream
        self._closer = closer
        self._iterator: Any = None

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._stream.__aiter__()
        try:
            event = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._closer.end()
            raise
        except BaseException as exc:
            self._closer.end(exc)
            raise
        self._closer.add(event)
        return event

    async def __aenter__(self) -> AsyncTracedStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._closer.end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        closer = self.__dict__.get("_closer")
        if closer is not None:
            with contextlib.suppress(Exception):
                closer.end()


class ChatIntegration(abc.ABC):
    """One provider's ``create`` call traced as a GenAI inference span.

    Subclasses say how the provider's request and response map onto the conventions; this
    class owns the span's life: current while the request is sent (so HTTP-level
    instrumentation nests under it), ended on the response, on an error, or, with
    ``stream=True``, once the caller has consumed or closed the stream.
    """

    provider: str = ""
    operation: str = "chat"

    def __init__(self, capture_content: bool | None = None) -> None:
        self.capture_override = capture_content

    @abc.abstractmethod
    def request_attributes(self, resource: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Span attributes from the call's arguments (request parameters, server address)."""

    @abc.abstractmethod
    def record_request_content(self, span: Span, kwargs: Mapping[str, Any]) -> None:
        """Record the prompt (input messages, system instructions) on ``span``."""

    @abc.abstractmethod
    def record_response(self, span: Span, response: Any, capture: bool) -> None:
        """Set the response attributes (and, with ``capture``, the output messages) on ``span``."""

    @abc.abstractmethod
    def new_accumulator(self) -> StreamAccumulator:
        """A fresh accumulator for one streamed response."""

    def target(self, resource: Any) -> Any:
        """The API resource to send the call through (the one given, unless a subclass knows better)."""
        return resource

    def _begin(self, resource: Any, kwargs: Mapping[str, Any]) -> tuple[Span, bool]:
        capture = capture_content(self.capture_override)
        attributes = self.request_attributes(resource, kwargs)
        span = start_span(self.operation, self.provider, kwargs.get("model"), attributes)
        if capture:
            # Unexpected message shapes lose the content, never the call.
            with contextlib.suppress(Exception):
                self.record_request_content(span, kwargs)
        return span, capture

    def _done(self, span: Span, response: Any, capture: bool) -> Any:
        try:
            self.record_response(span, response, capture)
        except Exception:
            pass
        finally:
            span.end()
        return response

    def wrap_sync(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def create(resource: Any, *args: Any, **kwargs: Any) -> Any:
            span, capture = self._begin(resource, kwargs)
            token = context_api.attach(trace.set_span_in_context(span))
            try:
                response = method(self.target(resource), *args, **kwargs)
            except BaseException as exc:
                record_error(span, exc)
                span.end()
                raise
            finally:
                context_api.detach(token)
            if kwargs.get("stream") is True:
                return TracedStream(response, _SpanCloser(span, self.new_accumulator(), capture))
            return self._done(span, response, capture)

        return create

    def wrap_async(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def create(resource: Any, *args: Any, **kwargs: Any) -> Any:
            span, capture = self._begin(resource, kwargs)
            token = context_api.attach(trace.set_span_in_context(span))
            try:
                response = await method(self.target(resource), *args, **kwargs)
            except BaseException as exc:
                record_error(span, exc)
                span.end()
                raise
            finally:
                context_api.detach(token)
            if kwargs.get("stream") is True:
                return AsyncTracedStream(response, _SpanCloser(span, self.new_accumulator(), capture))
            return self._done(span, response, capture)

        return create


def finish_reasons(reasons: Sequence[Any]) -> list[str]:
    return [str(r) for r in reasons if r]
