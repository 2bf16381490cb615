"""Replay: what-if mutations of a trace recorded through the SDK, re-execution of its GenAI
calls against local fakes of OpenAI and Anthropic, the history, and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import grpc
import openai
import pytest
from fake_llm import RESPONSE_MODEL_SUFFIX, FakeLLM
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_query_grpcurl import grpcurl
from test_sdk_llm import fetch_trace

import vigil
from vigil import QueryClient, QueryError
from vigil.query.v1 import query_pb2

from support import RunningApp, make_settings, wait_for


@pytest.fixture(scope="module")
def agent_trace(
    app: RunningApp, fake_llm: FakeLLM, sdk_memory: InMemorySpanExporter
) -> Iterator[dict[str, str]]:
    """root → LLM call (OpenAI) → tool → LLM call (Anthropic), recorded through the SDK.
    Returns span name → span id, plus the trace id under "trace"."""
    vigil.instrument_openai()
    vigil.instrument_anthropic()
    oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="k", max_retries=0)
    claude = anthropic.Anthropic(base_url=fake_llm.base_url, api_key="k", max_retries=0)

    @vigil.span(name="lookup", kind="internal")
    def lookup(query: str) -> str:
        return f"facts about {query}"

    @vigil.span(name="secret-tool", capture_input=False)
    def secret_tool(token: str) -> str:
        return "ok"

    @vigil.trace(name="agent")
    def agent(question: str) -> str:
        ids["trace"] = f"{otel_trace.get_current_span().get_span_context().trace_id:032x}"
        plan = oai.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "system", "content": "You plan."}, {"role": "user", "content": question}],
            temperature=0.5,
        )
        facts = lookup(plan.choices[0].message.content)
        secret_tool("t0k3n")
        reply = claude.messages.create(
            model="claude-test",
            max_tokens=50,
            system="Answer.",
            messages=[{"role": "user", "content": facts}],
        )
        return reply.content[0].text

    ids: dict[str, str] = {}
    try:
        agent("what is two plus two")
    finally:
        vigil.uninstrument_openai()
        vigil.uninstrument_anthropic()
    spans = fetch_trace(app, ids["trace"], 5)
    ids.update({s.name: s.span_id for s in spans})
    yield ids


def mutation(span_name: str, ops: list[dict], target: str = "", span_id: str = "") -> query_pb2.Mutation:
    return query_pb2.Mutation(
        select=query_pb2.SpanSelector(span_name=span_name, span_id=span_id),
        target=target,
        patch=json.dumps(ops),
    )


def replay(app: RunningApp, request: query_pb2.ReplayRequest) -> query_pb2.ReplayResponse:
    with QueryClient(app.query_target) as client:
        return client._call(client._stub.Replay, request)


PROMPT_EDIT = [{"op": "replace", "path": "/1/parts/0/content", "value": "what is three plus three"}]


def test_what_if_diff_and_stale_spans(app: RunningApp, agent_trace: dict[str, str]) -> None:
    response = replay(
        app,
        query_pb2.ReplayRequest(
            trace_id=agent_trace["trace"], mutations=[mutation("chat gpt-test", PROMPT_EDIT)]
        ),
    )
    (change,) = response.changes
    assert change.span_id == agent_trace["chat gpt-test"] and change.target == "gen_ai.input.messages"
    original, mutated = json.loads(change.original_input), json.loads(change.mutated_input)
    assert original[1]["parts"][0]["content"] == "what is two plus two"
    assert mutated[1]["parts"][0]["content"] == "what is three plus three"
    assert mutated[0] == original[0]
    assert json.loads(change.diff) == PROMPT_EDIT
    stale = {s.span_name: s.relation for s in response.stale}
    assert stale == {
        "lookup": "later_sibling",
        "secret-tool": "later_sibling",
        "chat claude-test": "later_sibling",
        "agent": "ancestor",
    }
    assert all(s.mutated_span_id == change.span_id for s in response.stale)
    assert not response.new_trace_id and not response.executed


def test_long_strings_get_a_unified_diff(app: RunningApp, agent_trace: dict[str, str]) -> None:
    long_text = (
        "Step one: read the question.\nStep two: think about it carefully.\nStep three: answer briefly."
    )
    ops = [{"op": "replace", "path": "/0/parts/0/content", "value": long_text}]
    response = replay(
        app,
        query_pb2.ReplayRequest(trace_id=agent_trace["trace"], mutations=[mutation("chat gpt-test", ops)]),
    )
    (text_diff,) = response.changes[0].text_diffs
    assert text_diff.path == "/0/parts/0/content"
    assert (
        "-You plan." in text_diff.unified_diff
        and "+Step two: think about it carefully." in text_diff.unified_diff
    )


def test_execute_openai_records_a_linked_trace(app: RunningApp, agent_trace: dict[str, str]) -> None:
    request = query_pb2.ReplayRequest(
        trace_id=agent_trace["trace"],
        mutations=[mutation("chat gpt-test", PROMPT_EDIT)],
        execute=True,
        requested_by="test",
    )
    response = replay(app, request)
    (call,) = response.executed
    assert call.error == "" and call.provider == "openai" and call.model == "gpt-test"
    assert call.source_span_id == agent_trace["chat gpt-test"]
    new_output = json.loads(call.new_output)
    assert new_output[0]["parts"][0]["content"] == "echo: what is three plus three"
    assert (
        "-echo: what is two plus two" in call.output_diff
        and "+echo: what is three plus three" in call.output_diff
    )
    assert call.output_tokens_delta == 0 and call.input_tokens_delta == 0  # same word counts
    assert call.latency_ms > 0

    with QueryClient(app.query_target) as client:
        new_trace = client.get_trace(response.new_trace_id)
        by_name = {n.span.name: n.span for n in new_trace.spans}
        assert set(by_name) == {"vigil.replay", "chat gpt-test"}
        llm = by_name["chat gpt-test"]
        assert llm.service_name == "vigil-replay" and llm.parent_span_id == by_name["vigil.replay"].span_id
        assert llm.attributes["vigil.replay.source_trace_id"] == agent_trace["trace"]
        assert llm.attributes["vigil.replay.source_span_id"] == agent_trace["chat gpt-test"]
        assert [(link.trace_id, link.span_id) for link in llm.links] == [
            (agent_trace["trace"], agent_trace["chat gpt-test"])
        ]
        assert llm.attributes["gen_ai.response.model"] == "gpt-test" + RESPONSE_MODEL_SUFFIX
        assert llm.attributes["gen_ai.request.temperature"] == "0.5"
        assert (
            json.loads(llm.attributes["gen_ai.input.messages"])[1]["parts"][0]["content"]
            == "what is three plus three"
        )

        listed = client._call(
            client._stub.ListReplays, query_pb2.ListReplaysRequest(source_trace_id=agent_trace["trace"])
        )
        summary = next(r for r in listed.replays if r.replay_id == response.replay_id)
        assert summary.status == "executed" and summary.new_trace_id == response.new_trace_id
        assert summary.requested_by == "test" and json.loads(summary.mutations)[0]["patch"] == PROMPT_EDIT
        # Authentication is off: the principal says so, whatever requested_by claims.
        assert summary.principal == "auth-off"
        assert summary.provider_calls == 1 and summary.tokens == 7 + 6  # the fake counts words
        stored = client._call(
            client._stub.GetReplay, query_pb2.GetReplayRequest(replay_id=response.replay_id)
        )
        assert stored.result == response


def test_execute_anthropic_with_a_mutated_system_prompt(app: RunningApp, agent_trace: dict[str, str]) -> None:
    mutations = [
        mutation(
            "chat claude-test", [{"op": "replace", "path": "/0/parts/0/content", "value": "new facts here"}]
        ),
        mutation(
            "chat claude-test",
            [{"op": "replace", "path": "/0/content", "value": "Answer in French."}],
            target="gen_ai.system_instructions",
        ),
    ]
    response = replay(
        app, query_pb2.ReplayRequest(trace_id=agent_trace["trace"], mutations=mutations, execute=True)
    )
    assert {c.target for c in response.changes} == {"gen_ai.input.messages", "gen_ai.system_instructions"}
    (call,) = response.executed
    assert call.error == "" and call.provider == "anthropic"
    assert json.loads(call.new_output)[0]["parts"][0]["content"] == "echo: new facts here"
    assert call.input_tokens_delta == 3 - 6  # "Answer in French." + 3 words vs "Answer." + 5 words
    assert {s.span_name for s in response.stale} == {"agent"}


def test_provider_errors_and_timeouts_are_reported(
    app: RunningApp, agent_trace: dict[str, str], fake_llm: FakeLLM
) -> None:
    for model, reason in (("fail-500", "HTTP 500"), ("slow", "did not answer within 2 s")):
        request = query_pb2.ReplayRequest(
            trace_id=agent_trace["trace"],
            mutations=[mutation("chat gpt-test", PROMPT_EDIT)],
            execute=True,
        )
        original = fake_llm.force_model
        fake_llm.force_model = model
        try:
            response = replay(app, request)
        finally:
            fake_llm.force_model = original
        (call,) = response.executed
        assert reason in call.error
    with QueryClient(app.query_target) as client:
        assert client.services()  # still serving


def test_a_provider_redirect_is_not_followed(
    app: RunningApp, agent_trace: dict[str, str], fake_llm: FakeLLM
) -> None:
    """The provider's API key goes to the configured address only: a 307 elsewhere is an
    error on the call, and the redirect's target is never asked."""
    request = query_pb2.ReplayRequest(
        trace_id=agent_trace["trace"], mutations=[mutation("chat gpt-test", PROMPT_EDIT)], execute=True
    )
    original = fake_llm.force_model
    fake_llm.force_model = "redirect"
    asked = len(fake_llm.requests)
    try:
        response = replay(app, request)
    finally:
        fake_llm.force_model = original
    (call,) = response.executed
    assert "HTTP 307" in call.error and "not followed" in call.error, call.error
    assert "VIGIL_REPLAY_OPENAI_BASE_URL" in call.error
    paths = [path for path, _ in fake_llm.requests[asked:]]
    assert paths == ["/v1/chat/completions"]  # and not /redirected/v1/chat/completions


def test_executed_replays_are_capped_and_time_limited(
    chdb_dir: Path, app: RunningApp, agent_trace: dict[str, str], fake_llm: FakeLLM
) -> None:
    """With VIGIL_REPLAY_MAX_EXECUTING=1 a second executed replay is refused at once while the
    first runs; the first ends at VIGIL_REPLAY_TOTAL_TIMEOUT_S with DEADLINE_EXCEEDED, and a
    what-if replay (no calls sent) is not held back by the cap."""
    limited = RunningApp(
        make_settings(
            chdb_dir,
            replay_openai_base_url=fake_llm.base_url + "/v1",
            replay_openai_api_key="test-key",
            replay_timeout_s=10.0,
            # Long enough for a loaded machine to send the second replay while the first runs.
            replay_total_timeout_s=4.0,
            replay_max_executing=1,
            replay_models=["gpt-test"],
            drift_interval_s=0,
        )
    )
    request = query_pb2.ReplayRequest(
        trace_id=agent_trace["trace"], mutations=[mutation("chat gpt-test", PROMPT_EDIT)], execute=True
    )
    original, original_slow_s = fake_llm.force_model, fake_llm.slow_s
    fake_llm.force_model, fake_llm.slow_s = "slow", 10.0  # well beyond the 4 s limit
    try:
        with QueryClient(limited.query_target) as client:
            sent = len(fake_llm.requests)
            first = client._stub.Replay.future(request, timeout=30)
            # The first holds the one executing place from before its model call until its
            # total timeout: once the model has its request, a second replay must be refused.
            wait_for(lambda: len(fake_llm.requests) > sent, 60, "the first replay calling the model")
            with pytest.raises(QueryError) as busy:
                client._call(client._stub.Replay, request)
            assert busy.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "VIGIL_REPLAY_MAX_EXECUTING" in busy.value.message
            what_if = query_pb2.ReplayRequest(
                trace_id=agent_trace["trace"], mutations=[mutation("chat gpt-test", PROMPT_EDIT)]
            )
            assert client._call(client._stub.Replay, what_if).changes
            with pytest.raises(grpc.RpcError) as late:
                first.result()
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "VIGIL_REPLAY_TOTAL_TIMEOUT_S" in (late.value.details() or "")
            # The call was sent: the history counts it for the caps, with what was reserved.
            listed = client.replays(source_trace_id=agent_trace["trace"], page_size=1000).replays
            (timed_out,) = [r for r in listed if r.status == "timed_out"]
            assert timed_out.provider_calls == 1 and timed_out.tokens > 4096  # input + max_tokens
    finally:
        fake_llm.force_model, fake_llm.slow_s = original, original_slow_s
        limited.stop()


def test_bad_input(app: RunningApp, agent_trace: dict[str, str]) -> None:
    trace_id = agent_trace["trace"]
    cases = [
        (
            query_pb2.ReplayRequest(
                trace_id="0123456789abcdef0123456789abcdef", mutations=[mutation("x", PROMPT_EDIT)]
            ),
            grpc.StatusCode.NOT_FOUND,
            "not found",
        ),
        (
            query_pb2.ReplayRequest(trace_id="nope", mutations=[mutation("x", PROMPT_EDIT)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "32 hex",
        ),
        (
            query_pb2.ReplayRequest(trace_id=trace_id),
            grpc.StatusCode.INVALID_ARGUMENT,
            "at least one mutation",
        ),
        (
            query_pb2.ReplayRequest(
                trace_id=trace_id,
                mutations=[
                    query_pb2.Mutation(select=query_pb2.SpanSelector(span_name="lookup"), patch="{not json")
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "mutation 0: patch is not JSON",
        ),
        (
            query_pb2.ReplayRequest(
                trace_id=trace_id,
                mutations=[
                    mutation(
                        "chat gpt-test",
                        [
                            {"op": "replace", "path": "/1/parts/0/content", "value": "a"},
                            {"op": "remove", "path": "/7"},
                        ],
                    )
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "mutation 0, operation 1 (remove /7)",
        ),
        (
            query_pb2.ReplayRequest(
                trace_id=trace_id,
                mutations=[mutation("lookup", [{"op": "test", "path": "/query", "value": "wrong"}])],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "mutation 0, operation 0 (test /query)",
        ),
        (
            query_pb2.ReplayRequest(trace_id=trace_id, mutations=[mutation("no-such-span", PROMPT_EDIT)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "no span of trace",
        ),
    ]
    with QueryClient(app.query_target) as client:
        for request, code, text in cases:
            with pytest.raises(QueryError) as err:
                client._call(client._stub.Replay, request)
            assert err.value.code == code and text in err.value.message, err.value.message

    # A span without captured input is a per-span reason, not a failure of the whole replay.
    response = replay(
        app,
        query_pb2.ReplayRequest(
            trace_id=trace_id,
            mutations=[
                mutation("secret-tool", [{"op": "add", "path": "/token", "value": "x"}]),
                mutation("lookup", [{"op": "replace", "path": "/query", "value": "other"}]),
            ],
            execute=True,
        ),
    )
    errors = {c.span_name: c.error for c in response.changes}
    assert "no captured input" in errors["secret-tool"] and errors["lookup"] == ""
    (call,) = response.executed
    assert call.source_span_id == agent_trace["lookup"] and "only GenAI chat calls" in call.error


def test_replay_via_grpcurl(app: RunningApp, agent_trace: dict[str, str]) -> None:
    data = {
        "trace_id": agent_trace["trace"],
        "mutations": [
            {
                "select": {"span_name": "lookup"},
                "patch": json.dumps([{"op": "replace", "path": "/query", "value": "grpcurl"}]),
            }
        ],
    }
    out = grpcurl(app.query_target, "vigil.query.v1.QueryService/Replay", data=data)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert json.loads(body["changes"][0]["mutated_input"]) == {"query": "grpcurl"}
    assert {s["span_name"] for s in body["stale"]} == {"secret-tool", "chat claude-test", "agent"}


@vigil.span(name="classify")
def classify(text: str) -> str:
    return "question" if text.endswith("?") else "statement"


@vigil.span(name="respond")
def respond(
    kind: str, text: str, /, *extra: str
) -> str:  # positional-only and *args: replay passes them back
    return f"{kind}: {text.upper()}" + "".join(extra)


@vigil.trace(name="pipeline")
def pipeline(text: str, loud: bool = False) -> str:
    return respond(classify(text), text) + ("!" if loud else "")


def test_sdk_replay_reruns_a_decorated_function(app: RunningApp, sdk_memory: InMemorySpanExporter) -> None:
    sdk_memory.clear()
    pipeline("is it raining?")
    original = next(s for s in sdk_memory.get_finished_spans() if s.name == "pipeline")
    trace_id = f"{original.context.trace_id:032x}"
    fetch_trace(app, trace_id, 3)

    comparison = vigil.replay(
        trace_id,
        [
            vigil.mutation(
                span_name="classify", patch=[{"op": "replace", "path": "/text", "value": "it is raining"}]
            )
        ],
        pipeline,
        target=app.query_target,
    )
    assert comparison.error is None and comparison.result == "statement: IS IT RAINING?"
    assert comparison.mutated == [("classify", 0)]
    assert comparison.new_trace_id != trace_id
    assert {s.name for s in comparison.changed} == {"classify", "respond", "pipeline"}
    classified = comparison.span("classify")
    assert (
        json.loads(classified.original_output) == "question"
        and json.loads(classified.new_output) == "statement"
    )
    assert '-"question"' in classified.output_diff and '+"statement"' in classified.output_diff
    assert classified.latency_delta_ms is not None and classified.input_tokens_delta is None

    with QueryClient(app.query_target) as client:
        new_trace = client.get_trace(comparison.new_trace_id)
    root = next(n.span for n in new_trace.spans if n.span.name == "pipeline")
    assert root.attributes["vigil.replay.source_trace_id"] == trace_id
    assert root.attributes["vigil.replay.source_span_id"] == f"{original.context.span_id:016x}"
    assert [(link.trace_id, link.span_id) for link in root.links] == [
        (trace_id, f"{original.context.span_id:016x}")
    ]

    # The root's own arguments can be mutated too; unknown paths are refused by the server.
    extra = vigil.replay(
        trace_id,
        [{"span_name": "respond", "patch": [{"op": "add", "path": "/extra", "value": [" (edited)"]}]}],
        pipeline,
        target=app.query_target,
    )
    assert extra.result == "question: IS IT RAINING? (edited)"
    assert {s.name for s in extra.changed} == {"respond", "pipeline"}
    loud = vigil.replay(
        trace_id,
        [{"span_name": "pipeline", "patch": [{"op": "add", "path": "/loud", "value": True}]}],
        pipeline,
        target=app.query_target,
    )
    assert loud.result == "question: IS IT RAINING?!" and [s.name for s in loud.changed] == ["pipeline"]
    with pytest.raises(QueryError, match="operation 0"):
        vigil.replay(
            trace_id,
            [{"span_name": "respond", "patch": [{"op": "remove", "path": "/nope"}]}],
            pipeline,
            target=app.query_target,
        )
    with pytest.raises(vigil.ReplayError, match="re-executed by the server"):
        vigil.replay(
            trace_id,
            [
                {
                    "span_name": "classify",
                    "target": "output.value",
                    "patch": [{"op": "replace", "path": "", "value": "x"}],
                }
            ],
            pipeline,
            target=app.query_target,
        )


@vigil.span(name="shout")
async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


@vigil.trace(name="async-pipeline")
async def async_pipeline(text: str) -> str:
    return await shout(text) + "!"


def test_replay_async_inside_a_running_loop(app: RunningApp, sdk_memory: InMemorySpanExporter) -> None:
    async def main() -> tuple[str, vigil.ReplayComparison]:
        await async_pipeline("hello")
        original = next(s for s in sdk_memory.get_finished_spans() if s.name == "async-pipeline")
        trace_id = f"{original.context.trace_id:032x}"
        await asyncio.to_thread(fetch_trace, app, trace_id, 2)
        mutations = [{"span_name": "shout", "patch": [{"op": "replace", "path": "/text", "value": "bye"}]}]
        return trace_id, await vigil.replay_async(
            trace_id, mutations, async_pipeline, target=app.query_target
        )

    sdk_memory.clear()
    trace_id, comparison = asyncio.run(main())
    assert comparison.error is None and comparison.result == "BYE!"
    assert comparison.source_trace_id == trace_id and comparison.mutated == [("shout", 0)]
    assert {s.name for s in comparison.changed} == {"shout", "async-pipeline"}


def test_a_truncated_input_is_reported_on_the_span(app: RunningApp, sdk_memory: InMemorySpanExporter) -> None:
    from vigil import config

    saved = config.current()
    config.configure(config.CaptureConfig(max_value_length=64))
    try:
        sdk_memory.clear()
        pipeline("x" * 200)
    finally:
        config.configure(saved)
    root = next(s for s in sdk_memory.get_finished_spans() if s.name == "pipeline")
    trace_id = f"{root.context.trace_id:032x}"
    fetch_trace(app, trace_id, 3)
    response = replay(
        app,
        query_pb2.ReplayRequest(
            trace_id=trace_id,
            mutations=[mutation("pipeline", [{"op": "add", "path": "/loud", "value": True}])],
        ),
    )
    (change,) = response.changes
    assert "is not JSON (it was truncated when captured)" in change.error
