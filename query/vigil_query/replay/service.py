"""The Replay RPC: mutate a stored trace's inputs, list what goes stale, optionally send the
mutated GenAI calls again and record them as a new linked trace, and keep the history."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from vigil_proto.query.v1 import query_pb2
from vigil_query.analytics.prices.store import list_prices
from vigil_query.errors import Busy, TimedOut
from vigil_query.filters import check_trace_id
from vigil_query.reader import Reader
from vigil_query.replay import caps, history, record
from vigil_query.replay.caps import Caps, Spend
from vigil_query.replay.mutations import (
    INPUT_MESSAGES,
    MutationResult,
    SpanPatch,
    apply_mutations,
    unified_diff,
)
from vigil_query.replay.providers import (
    CallResult,
    NotReplayable,
    ProviderConfig,
    estimated_input_tokens,
    provider_of,
    request_for,
    send,
)
from vigil_query.replay.stale import stale_spans
from vigil_query.traces.trace import whole_trace

log = logging.getLogger(__name__)

SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OUTPUT_MESSAGES = "gen_ai.output.messages"
COMPUTED, EXECUTED, PARTIALLY_FAILED, FAILED = "computed", "executed", "partially_failed", "failed"
TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class ReplayLimits:
    """What one server lets replays take (from VigilSettings): executed replays spend the
    server's provider API keys and hold connections for as long as the providers take."""

    max_executing: int = 4  # Replay(execute) calls running at once; beyond it RESOURCE_EXHAUSTED
    calls_in_flight: int = 8  # provider calls one replay has open at once
    timeout_s: float = 300.0  # the whole RPC: reading, mutating, every call, recording
    max_spans: int = 20_000  # larger traces are refused (the whole trace is held to mutate it)
    caps: Caps = field(default_factory=Caps)  # what executed replays may spend


# Admits a replay's spend (or raises OverCap) before any call is sent: fn(need).
Admit = Callable[[Spend], Awaitable[None]]


@dataclass
class _Run:
    """One Replay RPC as it goes: what to write to the history if it ends before its end."""

    principal: str
    summary: query_pb2.ReplaySummary | None = None
    response: query_pb2.ReplayResponse | None = None
    admitted: Spend | None = None  # the spend reserved for it (calls sent, tokens at most)
    sent: bool = False
    saved: bool = False


class Replays:
    """Runs Replay RPCs within ReplayLimits."""

    def __init__(self, providers: ProviderConfig, limits: ReplayLimits) -> None:
        self._providers = providers
        self.limits = limits
        self._executing = 0
        self._running = caps.Running()
        # Admission (read the window, check, reserve) one replay at a time in this process, so
        # that two replays of one principal cannot both pass on the same count.
        self._admitting = asyncio.Lock()

    async def run(
        self,
        reader: Reader,
        request: query_pb2.ReplayRequest,
        principal: str,
        databases: Sequence[str],
    ) -> query_pb2.ReplayResponse:
        """``principal``: who asks (recorded, and what the per-principal caps count);
        ``databases``: the project databases whose history counts for it."""
        if request.execute and self._executing >= self.limits.max_executing:
            raise Busy(
                f"{self._executing} executed replays are running, the limit of VIGIL_REPLAY_MAX_EXECUTING;"
                " retry when one has finished"
            )
        self._executing += request.execute
        run = _Run(principal)

        async def admit(need: Spend) -> None:
            limits = self.limits.caps
            caps.check_replay(need, limits)
            async with self._admitting:
                now = time.time_ns()
                since = now - int(limits.window_s * 1e9)
                history = await reader.run(lambda r: caps.window_rows(r, principal, databases, since))
                running = self._running.by_principal.get(principal, [])
                caps.check_window(principal, history, list(running), need, limits, now)
                self._running.add(principal, need)
                run.admitted = need

        try:
            return await asyncio.wait_for(
                replay(reader, self._providers, request, self.limits, run, admit), self.limits.timeout_s
            )
        except TimeoutError:
            await self._save_unfinished(reader, run, TIMED_OUT)
            raise TimedOut(
                f"the replay did not finish within {self.limits.timeout_s:g} s (VIGIL_REPLAY_TOTAL_TIMEOUT_S);"
                " calls already sent may have been recorded, see ListReplays"
            ) from None
        except Exception:
            await self._save_unfinished(reader, run, FAILED)
            raise
        finally:
            self._executing -= request.execute
            if run.admitted is not None:
                self._running.remove(principal, run.admitted)

    async def _save_unfinished(self, reader: Reader, run: _Run, status: str) -> None:
        """A replay that sent calls and ended before writing its history (its time limit, a
        failed INSERT) is written with what was reserved for it, so that the caps count it."""
        if not run.sent or run.saved or run.summary is None or run.admitted is None:
            return
        summary, response = run.summary, run.response or query_pb2.ReplayResponse()
        summary.status = status
        if not summary.provider_calls:  # the calls had not all come back
            summary.provider_calls, summary.tokens = run.admitted.calls, run.admitted.tokens
        try:
            await reader.writer.run(lambda w: history.save(w, summary, response))
        except Exception as exc:
            log.error(
                "replay %s of %s sent provider calls but could not be written to the history: %s",
                summary.replay_id,
                run.principal,
                exc,
            )


def _json_attribute(span: query_pb2.Span, key: str) -> Any:
    raw = span.attributes.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _output_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    texts = []
    for message in messages:
        for part in (message or {}).get("parts") or []:
            if part.get("type") == "text":
                texts.append(str(part.get("content", "")))
    return "\n".join(texts)


def _delta(new: int | None, old: str | None) -> int:
    if new is None or old is None:
        return 0
    try:
        return new - int(float(old))
    except ValueError:
        return 0


def _executed(span: query_pb2.Span, call: CallResult, new_span_id: bytes | None) -> query_pb2.ExecutedCall:
    original_output = span.attributes.get(OUTPUT_MESSAGES, "")
    out = query_pb2.ExecutedCall(
        source_span_id=span.span_id,
        provider=call.provider,
        model=call.model,
        original_output=original_output,
        latency_ms=call.latency_ms,
        error=call.error,
    )
    if new_span_id is not None:
        out.new_span_id = new_span_id.hex()
    if call.error:
        return out
    out.new_output = json.dumps(call.output_messages, ensure_ascii=False)
    out.output_diff = unified_diff(
        _output_text(_json_attribute(span, OUTPUT_MESSAGES)), _output_text(call.output_messages), ""
    )
    out.input_tokens_delta = _delta(call.input_tokens, span.attributes.get("gen_ai.usage.input_tokens"))
    out.output_tokens_delta = _delta(call.output_tokens, span.attributes.get("gen_ai.usage.output_tokens"))
    out.latency_delta_ms = call.latency_ms - span.duration_nano / 1e6
    return out


@dataclass(slots=True)
class _Planned:
    span: query_pb2.Span
    provider: str
    messages: list[Any]
    request: dict[str, Any]  # the provider's request body
    reserved_tokens: int  # estimated input + max_tokens sent

    def counted_tokens(self, call: CallResult) -> int:
        """What the call counts for against the caps: the provider's reported usage, else
        what was reserved (a call that timed out may still have been billed)."""
        if call.input_tokens is not None and call.output_tokens is not None:
            return call.input_tokens + call.output_tokens
        return self.reserved_tokens


async def _execute(
    reader: Reader,
    providers: ProviderConfig,
    limits: ReplayLimits,
    run: _Run,
    admit: Admit,
    trace_id: str,
    result: MutationResult,
) -> str:
    assert run.summary is not None and run.response is not None
    replay_id, response = run.summary.replay_id, run.response
    by_span: dict[str, list[SpanPatch]] = {}
    for patch in result.patches:
        if not patch.error:
            by_span.setdefault(patch.span.span_id, []).append(patch)
    planned: list[_Planned] = []
    for patches in by_span.values():
        span = patches[0].span
        try:
            provider = provider_of(dict(span.attributes))
        except NotReplayable as exc:
            response.executed.append(query_pb2.ExecutedCall(source_span_id=span.span_id, error=str(exc)))
            continue
        mutated = {p.target: p.mutated for p in patches}
        messages = mutated.get(INPUT_MESSAGES, _json_attribute(span, INPUT_MESSAGES))
        if not isinstance(messages, list):
            response.executed.append(
                query_pb2.ExecutedCall(
                    source_span_id=span.span_id,
                    provider=provider,
                    error="the span has no gen_ai.input.messages to send",
                )
            )
            continue
        system = mutated.get(SYSTEM_INSTRUCTIONS, _json_attribute(span, SYSTEM_INSTRUCTIONS))
        request = request_for(
            provider, dict(span.attributes), messages, system, limits.caps.max_tokens_per_call
        )
        reserved = estimated_input_tokens(request) + request["max_tokens"]
        planned.append(_Planned(span, provider, messages, request, reserved))
    if not planned:
        return FAILED
    # Nothing is sent unless every call may be: models first, then the caps.
    prices = (
        [] if limits.caps.models else await reader.run(lambda r: list_prices(r.client(), r.system_database))
    )
    caps.check_models([(p.provider, p.request["model"]) for p in planned], limits.caps, prices)
    await admit(Spend(len(planned), sum(p.reserved_tokens for p in planned)))
    in_flight = asyncio.Semaphore(limits.calls_in_flight)

    async def call(session: aiohttp.ClientSession, plan: _Planned) -> CallResult:
        async with in_flight:
            return await send(session, providers, plan.provider, plan.request)

    run.sent = True
    async with aiohttp.ClientSession() as session:
        calls = await asyncio.gather(*(call(session, plan) for plan in planned))
    run.summary.provider_calls = sum(1 for c in calls if c.sent)
    run.summary.tokens = sum(p.counted_tokens(c) for p, c in zip(planned, calls, strict=True) if c.sent)
    stored = [
        (plan.span, json.dumps(plan.messages, ensure_ascii=False), call)
        for plan, call in zip(planned, calls, strict=True)
    ]
    otlp, new_trace_id, new_ids = record.build_request(replay_id, trace_id, stored)
    await reader.writer.run(lambda w: record.store(w, otlp))
    response.new_trace_id = new_trace_id.hex()
    for (span, _, call), new_id in zip(stored, new_ids, strict=True):
        response.executed.append(_executed(span, call, new_id))
    failures = sum(1 for e in response.executed if e.error)
    if failures == 0:
        return EXECUTED
    return FAILED if failures == len(response.executed) else PARTIALLY_FAILED


async def replay(
    reader: Reader,
    providers: ProviderConfig,
    request: query_pb2.ReplayRequest,
    limits: ReplayLimits,
    run: _Run,
    admit: Admit,
) -> query_pb2.ReplayResponse:
    trace_id = check_trace_id(request.trace_id)
    trace = await reader.run(lambda r: whole_trace(r, trace_id, limits.max_spans))
    # Work in proportion to the trace's size runs off the event loop, which serves every RPC.
    result = await asyncio.to_thread(apply_mutations, trace, list(request.mutations))
    stale = await asyncio.to_thread(stale_spans, trace, result.mutated_span_ids)
    replay_id = uuid.uuid4().hex
    response = query_pb2.ReplayResponse(
        replay_id=replay_id,
        source_trace_id=trace_id,
        changes=[p.to_proto() for p in result.patches],
        stale=stale,
    )
    summary = query_pb2.ReplaySummary(
        replay_id=replay_id,
        source_trace_id=trace_id,
        mutations=json.dumps(
            [
                {
                    "select": {
                        "span_id": m.select.span_id,
                        "span_name": m.select.span_name,
                        "attributes": dict(m.select.attributes),
                    },
                    "target": m.target,
                    "patch": json.loads(m.patch),
                }
                for m in request.mutations
            ]
        ),
        execute=request.execute,
        requested_by=request.requested_by or "anonymous",
        principal=run.principal,
        # When the spend starts: the caps' window counts it from here.
        created_time_unix_nano=time.time_ns(),
        status=COMPUTED,
    )
    run.summary, run.response = summary, response
    if request.execute:
        summary.status = await _execute(reader, providers, limits, run, admit, trace_id, result)
        summary.new_trace_id = response.new_trace_id
    await reader.writer.run(lambda w: history.save(w, summary, response))
    run.saved = True
    return response
