"""``with vigil.session("id"):`` and ``with vigil.user("id"):``: attributes that every span
started inside carries — the decorators', the LLM instrumentations', and (after
``vigil.init``) any other instrumentation's — so that Vigil groups them into sessions and
users (``session.id``, ``user.id``, the names Vigil's SessionId and UserId columns read first).

They live in the OpenTelemetry context, so they follow it as spans do: into ``asyncio`` tasks
created inside, and into threads only where the context is propagated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context as context_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

SESSION_ID = "session.id"
USER_ID = "user.id"
_KEY = context_api.create_key("vigil.context_attributes")


def current(context: Context | None = None) -> Mapping[str, str]:
    value = context_api.get_value(_KEY, context)
    return value if isinstance(value, dict) else {}


def with_values(context: Context, values: Mapping[str, str]) -> Context:
    """``context`` with ``values`` added to the block's attributes."""
    return context_api.set_value(_KEY, {**current(context), **values}, context) if values else context


@contextmanager
def attributes(values: Mapping[str, str]) -> Iterator[None]:
    """Every span started inside carries ``values`` (inner blocks add to and override outer)."""
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    token = context_api.attach(context_api.set_value(_KEY, {**current(), **values}))
    try:
        yield
    finally:
        context_api.detach(token)


def session(session_id: str) -> AbstractContextManager[None]:
    """Spans started inside belong to conversation ``session_id`` (``session.id``)."""
    return attributes({SESSION_ID: session_id})


def user(user_id: str) -> AbstractContextManager[None]:
    """Spans started inside act for ``user_id`` (``user.id``)."""
    return attributes({USER_ID: user_id})


class ContextAttributesProcessor(SpanProcessor):
    """Sets the block's attributes on spans that other instrumentations start (vigil.init
    adds it to the provider); Vigil's own spans have them from the start."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        values = current(parent_context)
        if values:
            span.set_attributes(values)

    def on_end(self, span: ReadableSpan) -> None:
        pass
