"""The Replay RPC: mutate a stored trace's inputs, list what goes stale, optionally send the
mutated GenAI calls again and record them as a new linked trace, and keep the history."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from vigil.query.v1 import query_pb2
from vigil_query.errors import Busy, TimedOut
from vigil_query.filters import check_trace_id
from vigil_query.reader import Reader
from vigil_query.replay import history_sql, record
from vigil_query.replay.mutations import (
    INPUT_MESSAGES,
    MutationResult,
    SpanPatch,
    apply_mutations,
    unified_diff,
)
from vigil_query.replay.providers import CallResult, NotReplayable, ProviderConfig, provider_of, send
from vigil_query.replay.stale import stale_spans
from vigil_query.trace_sql import whole_trace

SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OUTPUT_MESSAGES = "gen_ai.output.messages"
COMPUTED, EXECUTED, PARTIALLY_FAILED, FAILED = "computed", "executed", "partially_failed", "failed"


@dataclass(frozen=True, slots=True)
class ReplayLimits:
    """What one server lets replays take (from VigilSettings): executed replays spend the
    server's provider API keys and hold connections for as long as the providers take."""

    max_executing: int = 4  # Replay(execute) calls running at once; beyond it RESOURCE_EXHAUSTED
    calls_in_flight: int = 8  # provider calls one replay has open at once
    timeout_s: float = 300.0  # the whole RPC: reading, mutating, every call, recording
    max_spans: int = 20_000  # larger traces are refused (the whole trace is held to mutate it)


class Replays:
    """Runs Replay RPCs within ReplayLimits."""

    def __init__(self, providers: ProviderConfig, limits: ReplayLimits) -> None:
        self._providers = providers
        self.limits = limits
        self._executing = 0

    async def run(self, reader: Reader, request: query_pb2.ReplayRequest) -> query_pb2.ReplayResponse:
        if request.execute and self._executing >= self.limits.max_executing:
            raise Busy(
                f"{self._executing} executed replays are running, the limit of VIGIL_REPLAY_MAX_EXECUTING;"
                " retry when one has finished"
            )
        self._executing += request.execute
        try:
            return await asyncio.wait_for(
                replay(reader, self._providers, request, self.limits), self.limits.timeout_s
            )
        except TimeoutError:
            raise TimedOut(
                f"the replay did not finish within {self.limits.timeout_s:g} s (VIGIL_REPLAY_TOTAL_TIMEOUT_S);"
                " calls already sent may have been recorded, see ListReplays"
            ) from None
        finally:
            self._executing -= request.execute


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


async def _execute(
    reader: Reader,
    providers: ProviderConfig,
    replay_id: str,
    trace_id: str,
    result: MutationResult,
    response: query_pb2.ReplayResponse,
    calls_in_flight: int,
) -> str:
    by_span: dict[str, list[SpanPatch]] = {}
    for patch in result.patches:
        if not patch.error:
            by_span.setdefault(patch.span.span_id, []).append(patch)
    planned: list[tuple[query_pb2.Span, str, dict[str, str], list[Any], Any]] = []
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
        planned.append((span, provider, dict(span.attributes), messages, system))
    if not planned:
        return FAILED
    in_flight = asyncio.Semaphore(calls_in_flight)

    async def call(session: aiohttp.ClientSession, plan: tuple[Any, ...]) -> CallResult:
        _, provider, attrs, messages, system = plan
        async with in_flight:
            return await send(session, providers, provider, attrs, messages, system)

    async with aiohttp.ClientSession() as session:
        calls = await asyncio.gather(*(call(session, plan) for plan in planned))
    stored = [
        (span, json.dumps(messages, ensure_ascii=False), call)
        for (span, _, _, messages, _), call in zip(planned, calls, strict=True)
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
    reader: Reader, providers: ProviderConfig, request: query_pb2.ReplayRequest, limits: ReplayLimits
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
    status = COMPUTED
    if request.execute:
        status = await _execute(
            reader, providers, replay_id, trace_id, result, response, limits.calls_in_flight
        )
    summary = query_pb2.ReplaySummary(
        replay_id=replay_id,
        source_trace_id=trace_id,
        new_trace_id=response.new_trace_id,
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
        created_time_unix_nano=time.time_ns(),
        status=status,
    )
    await reader.writer.run(lambda w: history_sql.save(w, summary, response))
    return response
