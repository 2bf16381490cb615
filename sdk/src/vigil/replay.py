"""``vigil.replay``: run instrumented application code again with mutated inputs, under a new
trace linked to the original, and compare the two traces span by span.

1. The query service applies the mutations (``Replay``, what-if only): it validates the
   patches and returns each mutated span's new ``input.value``.
2. ``fn`` (the ``@vigil.trace`` function that produced the original trace) is called with the
   original root's arguments. While it runs, the k-th call of a decorated function named N gets
   the mutated input of the k-th span named N in the original trace, if that one was mutated.
3. After a flush, the new trace is read back and compared with the original: per span name
   and occurrence, the output, latency and token deltas.

Mutations of LLM prompts (``gen_ai.input.messages``) are re-executed by the server instead:
``QueryClient.replay(..., execute=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.decorators import INPUT_VALUE, OUTPUT_VALUE, trace_
from vigil.provider import flush
from vigil.query.v1 import query_pb2
from vigil.query_client import QueryClient, QueryError
from vigil.replay_scope import ReplayScope, replay_scope

_OUTPUT_KEYS = (OUTPUT_VALUE, "gen_ai.output.messages")


class ReplayError(RuntimeError):
    """The replay cannot run (a mutation the SDK cannot apply, a root without captured input...)."""


@dataclass(frozen=True, slots=True)
class SpanComparison:
    name: str
    occurrence: int
    original_span_id: str | None
    new_span_id: str | None
    original_output: str | None
    new_output: str | None
    output_diff: str
    latency_delta_ms: float | None
    input_tokens_delta: int | None
    output_tokens_delta: int | None

    @property
    def output_changed(self) -> bool:
        return self.original_output != self.new_output


@dataclass(frozen=True, slots=True)
class ReplayComparison:
    source_trace_id: str
    new_trace_id: str
    replay_id: str
    result: Any
    error: BaseException | None
    mutated: list[tuple[str, int]]
    spans: list[SpanComparison] = field(default_factory=list)

    def span(self, name: str, occurrence: int = 0) -> SpanComparison:
        for s in self.spans:
            if s.name == name and s.occurrence == occurrence:
                return s
        raise KeyError(f"no span {name!r} (occurrence {occurrence}) in either trace")

    @property
    def changed(self) -> list[SpanComparison]:
        return [s for s in self.spans if s.output_changed]


def _by_occurrence(spans: Sequence[query_pb2.Span]) -> dict[tuple[str, int], query_pb2.Span]:
    seen: dict[str, int] = {}
    out = {}
    for s in sorted(spans, key=lambda s: (s.start_time_unix_nano, s.span_id)):
        k = seen.get(s.name, 0)
        seen[s.name] = k + 1
        out[(s.name, k)] = s
    return out


def _output(span: query_pb2.Span | None) -> str | None:
    if span is None:
        return None
    return next((span.attributes[k] for k in _OUTPUT_KEYS if k in span.attributes), None)


def _pretty(text: str | None) -> list[str]:
    if text is None:
        return []
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
    return text.splitlines(keepends=True)


def _tokens(span: query_pb2.Span | None, key: str) -> int | None:
    if span is None or key not in span.attributes:
        return None
    try:
        return int(float(span.attributes[key]))
    except ValueError:
        return None


def _delta(new: int | float | None, old: int | float | None) -> Any:
    return None if new is None or old is None else new - old


def compare(original: Sequence[query_pb2.Span], new: Sequence[query_pb2.Span]) -> list[SpanComparison]:
    """Pair the spans of two traces by (name, occurrence in start order) and diff them."""
    before, after = _by_occurrence(original), _by_occurrence(new)
    out = []
    for key in sorted(set(before) | set(after), key=lambda k: (min(
        m[k].start_time_unix_nano for m in (before, after) if k in m), k)):  # fmt: skip
        old, cur = before.get(key), after.get(key)
        old_out, new_out = _output(old), _output(cur)
        diff = "".join(difflib.unified_diff(_pretty(old_out), _pretty(new_out), "original", "replay"))
        out.append(
            SpanComparison(
                name=key[0],
                occurrence=key[1],
                original_span_id=old.span_id if old else None,
                new_span_id=cur.span_id if cur else None,
                original_output=old_out,
                new_output=new_out,
                output_diff=diff,
                latency_delta_ms=_delta(
                    cur.duration_nano / 1e6 if cur else None, old.duration_nano / 1e6 if old else None
                ),
                input_tokens_delta=_delta(
                    _tokens(cur, "gen_ai.usage.input_tokens"), _tokens(old, "gen_ai.usage.input_tokens")
                ),
                output_tokens_delta=_delta(
                    _tokens(cur, "gen_ai.usage.output_tokens"), _tokens(old, "gen_ai.usage.output_tokens")
                ),
            )
        )
    return out


def _overrides(
    trace: query_pb2.GetTraceResponse, what_if: query_pb2.ReplayResponse
) -> dict[tuple[str, int], dict[str, Any]]:
    position = {s.span_id: key for key, s in _by_occurrence([n.span for n in trace.spans]).items()}
    overrides = {}
    for change in what_if.changes:
        if change.error:
            raise ReplayError(change.error)
        if change.target != INPUT_VALUE:
            raise ReplayError(
                f"span {change.span_id} ({change.span_name}): the SDK re-runs code with mutated "
                f"{INPUT_VALUE}; a mutation of {change.target} is re-executed by the server "
                "(QueryClient.replay(..., execute=True))"
            )
        mutated = json.loads(change.mutated_input)
        if not isinstance(mutated, dict):
            raise ReplayError(
                f"span {change.span_id} ({change.span_name}): the mutated input is not an object of arguments"
            )
        overrides[position[change.span_id]] = mutated
    return overrides


def _read_back(client: QueryClient, trace_id: str, timeout_s: float) -> list[query_pb2.Span]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return [n.span for n in client.get_trace(trace_id).spans]
        except QueryError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass(slots=True)
class _Plan:
    """Everything known before ``fn`` runs again."""

    trace_id: str
    what_if: query_pb2.ReplayResponse
    original: list[query_pb2.Span]
    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    scope: ReplayScope


def _prepare(
    client: QueryClient,
    trace_id: str,
    mutations: Sequence[query_pb2.Mutation | Mapping[str, Any]],
    fn: Callable[..., Any],
) -> _Plan:
    what_if = client.replay(trace_id, mutations, requested_by="vigil.replay")
    original = client.get_trace(trace_id)
    roots = [n.span for n in original.spans if not n.span.parent_span_id] or [original.spans[0].span]
    root = min(roots, key=lambda s: s.start_time_unix_nano)
    try:
        arguments = json.loads(root.attributes[INPUT_VALUE])
    except (KeyError, ValueError):
        raise ReplayError(f"the root span {root.name!r} has no captured input to call {fn!r} with") from None
    if not isinstance(arguments, dict):
        raise ReplayError(f"the root span's input is not an object of arguments: {arguments!r}")
    spec = getattr(fn, "__vigil_span__", None)
    if spec is not None and spec.new_trace:
        call = fn
    else:  # not a @vigil.trace function: give the new trace a root of its own
        call = trace_(name=root.name if spec is None else "vigil.replay")(fn)
    args, kwargs = spec.arguments.unbind(arguments, ()) if spec is not None else ((), arguments)
    scope = ReplayScope(trace_id, root.span_id, _overrides(original, what_if))
    return _Plan(trace_id, what_if, [n.span for n in original.spans], call, args, kwargs, scope)


@dataclass(slots=True)
class _Outcome:
    result: Any = None
    error: BaseException | None = None


@contextlib.contextmanager
def _running(plan: _Plan) -> Iterator[_Outcome]:
    """The replay scope around ``fn``'s run; an exception ``fn`` raises is kept, not raised,
    since the comparison is still made."""
    outcome = _Outcome()
    token = replay_scope.set(plan.scope)
    try:
        yield outcome
    except Exception as exc:
        outcome.error = exc
    finally:
        replay_scope.reset(token)


def _finish(client: QueryClient, plan: _Plan, outcome: _Outcome, timeout_s: float) -> ReplayComparison:
    if plan.scope.new_trace_id is None:
        raise ReplayError("the replayed function started no trace") from outcome.error
    flush(timeout_s)
    new_spans = _read_back(client, plan.scope.new_trace_id, timeout_s)
    return ReplayComparison(
        source_trace_id=plan.trace_id,
        new_trace_id=plan.scope.new_trace_id,
        replay_id=plan.what_if.replay_id,
        result=outcome.result,
        error=outcome.error,
        mutated=list(plan.scope.applied),
        spans=compare(plan.original, new_spans),
    )


def replay(
    trace_id: str,
    mutations: Sequence[query_pb2.Mutation | Mapping[str, Any]],
    fn: Callable[..., Any],
    *,
    target: str = "localhost:4319",
    timeout_s: float = 30.0,
) -> ReplayComparison:
    """Run ``fn`` again on the stored trace's inputs with ``mutations`` applied, and compare.

    ``mutations`` are ``vigil.mutation(...)`` values (or dicts of its arguments) targeting
    ``input.value`` of decorated functions. An exception raised by ``fn`` is kept in the
    result's ``error``: the comparison is still made. Needs ``vigil.init`` (the new trace is
    sent like any other) and the query service at ``target``. For an ``async def`` function
    from inside a running event loop, use ``replay_async``.
    """
    with QueryClient(target, timeout_s=timeout_s) as client:
        plan = _prepare(client, trace_id, mutations, fn)
        with _running(plan) as outcome:
            result = plan.call(*plan.args, **plan.kwargs)
            outcome.result = asyncio.run(_awaited(result)) if inspect.isawaitable(result) else result
        return _finish(client, plan, outcome, timeout_s)


async def replay_async(
    trace_id: str,
    mutations: Sequence[query_pb2.Mutation | Mapping[str, Any]],
    fn: Callable[..., Any],
    *,
    target: str = "localhost:4319",
    timeout_s: float = 30.0,
) -> ReplayComparison:
    """``replay`` for ``async def`` functions, awaited in the caller's event loop. The query
    service calls and the flush run in a worker thread, so the loop keeps running."""
    with QueryClient(target, timeout_s=timeout_s) as client:
        plan = await asyncio.to_thread(_prepare, client, trace_id, mutations, fn)
        with _running(plan) as outcome:
            result = plan.call(*plan.args, **plan.kwargs)
            outcome.result = (await result) if inspect.isawaitable(result) else result
        return await asyncio.to_thread(_finish, client, plan, outcome, timeout_s)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
