"""The state of one ``vigil.replay`` run, seen by the decorators through a context variable.

While a replay runs, the k-th call of a decorated function named N gets the mutated input of
the k-th span named N in the original trace (in start order), if that span was mutated; the
root span of the new trace links to the original root and carries
``vigil.replay.source_trace_id`` / ``vigil.replay.source_span_id``.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextvars import ContextVar
from typing import Any

from opentelemetry.trace import Link, Span, SpanContext, TraceFlags

SOURCE_TRACE_ID = "vigil.replay.source_trace_id"
SOURCE_SPAN_ID = "vigil.replay.source_span_id"


class ReplayScope:
    def __init__(
        self, source_trace_id: str, source_root_span_id: str, overrides: dict[tuple[str, int], dict[str, Any]]
    ) -> None:
        self.source_trace_id = source_trace_id
        self.source_root_span_id = source_root_span_id
        self.overrides = overrides
        self.applied: list[tuple[str, int]] = []
        self.new_trace_id: str | None = None
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def mutated_input(self, name: str) -> dict[str, Any] | None:
        """The mutated arguments for this call of the function named ``name``, if any."""
        with self._lock:
            occurrence = self._calls[name]
            self._calls[name] += 1
        mutated = self.overrides.get((name, occurrence))
        if mutated is not None:
            self.applied.append((name, occurrence))
        return mutated

    def source_link(self, attributes: dict[str, Any]) -> Link:
        attributes[SOURCE_TRACE_ID] = self.source_trace_id
        attributes[SOURCE_SPAN_ID] = self.source_root_span_id
        context = SpanContext(
            trace_id=int(self.source_trace_id, 16),
            span_id=int(self.source_root_span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return Link(context, {"vigil.replay.relation": "source"})

    def started_root(self, span: Span) -> None:
        if self.new_trace_id is None:
            self.new_trace_id = f"{span.get_span_context().trace_id:032x}"


replay_scope: ContextVar[ReplayScope | None] = ContextVar("vigil_replay_scope", default=None)
