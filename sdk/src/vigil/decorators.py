"""``@vigil.trace`` and ``@vigil.span``: spans around functions, with input/output capture.

Sync and async functions, generators and async generators are supported; for the latter two
the span covers the whole iteration, and the generator's body runs inside the span's context
at every step, so spans it starts are its children even though the caller's code runs
between steps.

The hot path uses ``start_span`` plus ``context.attach`` rather than the
``start_as_current_span`` context manager: it is what keeps a decorated call within a small
factor of a hand-written OpenTelemetry block (see bench/sdk_overhead.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from vigil import config as _config
from vigil import context_attributes
from vigil.capture import capture
from vigil.replay_scope import replay_scope

INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
INPUT_TRUNCATED = "input.truncated"
OUTPUT_TRUNCATED = "output.truncated"
ERROR_TYPE = "error.type"

# Stop collecting a generator's items for output.value after this many; the span still ends
# when the iteration does.
MAX_CAPTURED_ITEMS = 1000

_tracer = trace.get_tracer("vigil")

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {kind.name.lower(): kind for kind in SpanKind}


def _span_kind(kind: SpanKind | str) -> SpanKind:
    if isinstance(kind, SpanKind):
        return kind
    try:
        return _KINDS[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown span kind {kind!r}: use one of {sorted(_KINDS)}") from None


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc`` the way OpenTelemetry instrumentations do."""
    if not span.is_recording():
        return
    span.record_exception(exc)
    span.set_attribute(ERROR_TYPE, f"{type(exc).__module__}.{type(exc).__qualname__}")
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class _ArgumentNames:
    """Maps a call's positional and keyword arguments to a dict by parameter name, cheaply."""

    __slots__ = ("drop_first", "names", "varargs")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # some builtins have no signature
            params = []
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.names = [p.name for p in params if p.kind in positional]
        self.varargs = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
        # ``self`` and ``cls`` say nothing about the call and often cannot be serialised.
        self.drop_first = bool(self.names) and self.names[0] in ("self", "cls")

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        bound = dict(zip(self.names, args, strict=False))
        if len(args) > len(self.names):
            bound[self.varargs or "args"] = list(args[len(self.names) :])
        if kwargs:
            bound.update(kwargs)
        if self.drop_first:
            bound.pop(self.names[0], None)
        return bound

    def unbind(
        self, values: Mapping[str, Any], first: tuple[Any, ...]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Call arguments from captured ones (``bind``'s inverse): positional parameters and
        ``*args`` positionally, the rest by keyword; ``first`` is the kept ``self``/``cls``."""
        remaining = dict(values)
        args = list(first)
        for name in self.names[len(first) :]:
            if name not in remaining:
                break
            args.append(remaining.pop(name))
        if self.varargs and self.varargs in remaining:
            args.extend(remaining.pop(self.varargs))
        return tuple(args), remaining


class _SpanSpec:
    """What one decorator application decided: name, kind, attributes and capture switches."""

    __slots__ = (
        "arguments",
        "attributes",
        "capture_input",
        "capture_output",
        "context_from",
        "kind",
        "name",
        "new_trace",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        kind: SpanKind | str,
        attributes: Mapping[str, Any] | None,
        capture_input: bool,
        capture_output: bool,
        new_trace: bool,
        context_from: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "function")
        self.kind = _span_kind(kind)
        self.attributes = dict(attributes or {})
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.new_trace = new_trace
        self.arguments = _ArgumentNames(fn)
        # attribute (session.id, user.id) → the parameter whose value it takes, for this span
        # and every span started inside the call
        self.context_from = dict(context_from or {})
        parameters = inspect.signature(fn).parameters
        for attribute, parameter in self.context_from.items():
            if parameter not in parameters:
                raise TypeError(
                    f"{attribute} is taken from parameter {parameter!r}, which {self.name} does not have"
                )

    def replayed(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments to call with: the given ones, or mutated ones while ``vigil.replay`` runs."""
        scope = replay_scope.get()
        if scope is None:
            return args, kwargs
        mutated = scope.mutated_input(self.name)
        if mutated is None:
            return args, kwargs
        # Captured inputs leave out self/cls: keep the instance, replace everything else.
        first = args[:1] if self.arguments.drop_first and args else ()
        return self.arguments.unbind(mutated, first)

    def start(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Span, context_api.Context]:
        """The call's span, and the context to run the call in (the span current in it)."""
        cfg = _config.current()
        ctx = context_api.get_current()
        if self.context_from:
            ctx = context_attributes.with_values(ctx, self._context_values(args, kwargs))
        attributes = {**context_attributes.current(ctx), **self.attributes}
        if self.capture_input and cfg.enabled:
            text, truncated = capture(self.arguments.bind(args, kwargs), cfg)
            attributes[INPUT_VALUE] = text
            if truncated:
                attributes[INPUT_TRUNCATED] = True
        if not self.new_trace:
            span = _tracer.start_span(self.name, kind=self.kind, attributes=attributes)
            return span, trace.set_span_in_context(span, ctx)
        # A new trace: no parent, but a link to whatever span was current so nothing is lost.
        ambient = trace.get_current_span().get_span_context()
        links = [Link(ambient)] if ambient.is_valid else []
        scope = replay_scope.get()
        if scope is not None:
            links.append(scope.source_link(attributes))
        span = _tracer.start_span(
            self.name,
            context=context_api.Context(),
            kind=self.kind,
            attributes=attributes,
            links=links or None,
        )
        if scope is not None:
            scope.started_root(span)
        return span, trace.set_span_in_context(span, ctx)

    def _context_values(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, str]:
        bound = self.arguments.bind(args, kwargs)
        values = {}
        for attribute, parameter in self.context_from.items():
            value = bound.get(parameter)
            if value is not None and str(value):
                values[attribute] = str(value)
        return values

    def finish(self, span: Span, output: Any) -> None:
        cfg = _config.current()
        if self.capture_output and cfg.enabled and span.is_recording():
            text, truncated = capture(output, cfg)
            span.set_attribute(OUTPUT_VALUE, text)
            if truncated:
                span.set_attribute(OUTPUT_TRUNCATED, True)


def _wrap_function(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = spec.replayed(args, kwargs)
        span, ctx = spec.start(args, kwargs)
        token = context_api.attach(ctx)
        try:
            result = fn(*args, **kwargs)
            spec.finish(span, result)
            return result
        except BaseException as exc:
            record_error(span, exc)
            raise
        finally:
            context_api.detach(token)
            span.end()

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = spec.replayed(args, kwargs)
        span, ctx = spec.start(args, kwargs)
        token = context_api.attach(ctx)
        try:
            result = await fn(*args, **kwargs)
            spec.finish(span, result)
            return result
        except BaseException as exc:
            record_error(span, exc)
            raise
        finally:
            context_api.detach(token)
            span.end()

    return wrapper


def _wrap_generator(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        args, kwargs = spec.replayed(args, kwargs)
        span, ctx = spec.start(args, kwargs)
        token = context_api.attach(ctx)
        try:
            gen = fn(*args, **kwargs)
        finally:
            context_api.detach(token)
        items: list[Any] = []
        # Drive the generator by hand so send() and throw() reach it like ``yield from`` would,
        # with the span's context attached only while the generator's own code runs.
        step, value = gen.send, None
        try:
            while True:
                token = context_api.attach(ctx)
                try:
                    item = step(value)
                except StopIteration as stop:
                    spec.finish(span, items)
                    return stop.value
                finally:
                    context_api.detach(token)
                if len(items) < MAX_CAPTURED_ITEMS:
                    items.append(item)
                try:
                    step, value = gen.send, (yield item)
                except GeneratorExit:
                    gen.close()
                    spec.finish(span, items)
                    raise
                except BaseException as exc:
                    step, value = gen.throw, exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            record_error(span, exc)
            raise
        finally:
            span.end()

    return wrapper


def _wrap_async_generator(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        args, kwargs = spec.replayed(args, kwargs)
        span, ctx = spec.start(args, kwargs)
        agen = fn(*args, **kwargs)
        items: list[Any] = []
        step, value = agen.asend, None
        try:
            while True:
                token = context_api.attach(ctx)
                try:
                    item = await step(value)
                except StopAsyncIteration:
                    spec.finish(span, items)
                    return
                finally:
                    context_api.detach(token)
                if len(items) < MAX_CAPTURED_ITEMS:
                    items.append(item)
                try:
                    step, value = agen.asend, (yield item)
                except GeneratorExit:
                    await agen.aclose()
                    spec.finish(span, items)
                    raise
                except BaseException as exc:
                    step, value = agen.athrow, exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            record_error(span, exc)
            raise
        finally:
            span.end()

    return wrapper


def _decorate(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, spec)
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, spec)
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, spec)
    return _wrap_function(fn, spec)


def _decorator(
    fn: Callable[..., Any] | str | None,
    name: str | None,
    kind: SpanKind | str,
    attributes: Mapping[str, Any] | None,
    capture_input: bool,
    capture_output: bool,
    new_trace: bool,
    session_arg: str | None = None,
    user_arg: str | None = None,
) -> Any:
    if isinstance(fn, str):  # @vigil.span("name")
        fn, name = None, fn
    kind = _span_kind(kind)  # a bad kind fails where the decorator is written, not at first call

    def apply(target: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(target):
            raise TypeError(f"vigil decorators wrap functions, got {type(target).__name__}")
        context_from = {
            key: parameter
            for key, parameter in (
                (context_attributes.SESSION_ID, session_arg),
                (context_attributes.USER_ID, user_arg),
            )
            if parameter
        }
        spec = _SpanSpec(
            target, name, kind, attributes, capture_input, capture_output, new_trace, context_from
        )
        wrapper = _decorate(target, spec)
        wrapper.__vigil_span__ = spec  # type: ignore[attr-defined]  # vigil.replay looks for it
        return wrapper

    return apply if fn is None else apply(fn)


@overload
def span(fn: F, /) -> F: ...
@overload
def span(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    session_arg: str | None = None,
    user_arg: str | None = None,
) -> Callable[[F], F]: ...
def span(
    fn: Callable[..., Any] | str | None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    session_arg: str | None = None,
    user_arg: str | None = None,
) -> Any:
    """A span around each call, a child of the current span.

    Use bare (``@vigil.span``) or with options (``@vigil.span(name="retrieve", kind="client")``).
    The arguments are recorded as ``input.value`` (a JSON object by parameter name, without
    ``self``/``cls``) and the return value as ``output.value``; for generators, the list of
    yielded items. Turn either off with ``capture_input=False`` / ``capture_output=False``.
    ``session_arg="conversation_id"`` / ``user_arg="user"``: the value of that parameter is the
    session (``session.id``) / user (``user.id``) of this span and every span started inside,
    as in ``with vigil.session(...)``.
    """
    return _decorator(fn, name, kind, attributes, capture_input, capture_output, False, session_arg, user_arg)


@overload
def trace_(fn: F, /) -> F: ...
@overload
def trace_(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    session_arg: str | None = None,
    user_arg: str | None = None,
) -> Callable[[F], F]: ...
def trace_(
    fn: Callable[..., Any] | str | None = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    session_arg: str | None = None,
    user_arg: str | None = None,
) -> Any:
    """Like ``span``, but each call starts a new trace: the root span of one unit of work.

    If a span is current when the function is called (say, an incoming HTTP request), the
    new root carries a span link to it, so the two traces stay connected.
    """
    return _decorator(fn, name, kind, attributes, capture_input, capture_output, True, session_arg, user_arg)
