"""Vigil Python SDK.

- ``vigil.init(...)`` sends this process's OpenTelemetry spans to a Vigil collector.
- ``@vigil.trace`` / ``@vigil.span`` trace functions, capturing inputs and outputs.
- ``vigil.instrument_openai()`` / ``vigil.instrument_anthropic()`` trace LLM calls with the
  OpenTelemetry GenAI semantic conventions.
- ``with vigil.session("id"):`` / ``with vigil.user("id"):`` put the spans started inside
  into a session (conversation) and under a user.
- ``vigil.QueryClient`` reads traces back from the query service.
- ``vigil.replay(trace_id, mutations, fn)`` re-runs ``fn`` with mutated inputs and compares.
"""

from vigil.context_attributes import session, user
from vigil.decorators import span
from vigil.decorators import trace_ as trace
from vigil.instrumentation import (
    InstrumentationError,
    instrument_anthropic,
    instrument_openai,
    uninstrument_anthropic,
    uninstrument_openai,
)
from vigil.provider import flush, init, shutdown
from vigil.query_client import QueryClient, QueryError, mutation, span_filter
from vigil.replay import ReplayComparison, ReplayError, SpanComparison, replay, replay_async

__version__ = "0.1.0"
__all__ = [
    "InstrumentationError",
    "QueryClient",
    "QueryError",
    "ReplayComparison",
    "ReplayError",
    "SpanComparison",
    "__version__",
    "flush",
    "init",
    "instrument_anthropic",
    "instrument_openai",
    "mutation",
    "replay",
    "replay_async",
    "session",
    "shutdown",
    "span",
    "span_filter",
    "trace",
    "uninstrument_anthropic",
    "uninstrument_openai",
    "user",
]
