"""The real openai and anthropic libraries, against a local fake of their APIs, traced by the
SDK into the running app and read back through the query service."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import anthropic
import openai
import pytest
from fake_llm import RESPONSE_MODEL_SUFFIX, FakeLLM
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import vigil
from vigil import QueryClient
from vigil.query.v1 import query_pb2

from support import REPO, RunningApp


@pytest.fixture
def instrumented(sdk_memory: InMemorySpanExporter) -> Iterator[None]:
    vigil.instrument_openai()
    vigil.instrument_anthropic()
    yield
    vigil.uninstrument_openai()
    vigil.uninstrument_anthropic()


def fetch_trace(app: RunningApp, trace_id: str, expected_spans: int) -> list[query_pb2.Span]:
    assert vigil.flush(30)
    app.flush()
    with QueryClient(app.query_target) as client:
        deadline = time.monotonic() + 30
        while True:  # the ack means committed; this only absorbs the exporter's own batching
            spans = [s.span for s in client.get_trace(trace_id).spans] if _exists(client, trace_id) else []
            if len(spans) >= expected_spans or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)


def _exists(client: QueryClient, trace_id: str) -> bool:
    try:
        client.get_trace(trace_id)
        return True
    except vigil.QueryError:
        return False


def current_trace_id() -> str:
    return f"{otel_trace.get_current_span().get_span_context().trace_id:032x}"


def messages(span: query_pb2.Span, key: str) -> list[dict]:
    return json.loads(span.attributes[key])


def test_agent_calls_are_traced_end_to_end(app: RunningApp, fake_llm: FakeLLM, instrumented: None) -> None:
    oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)
    claude = anthropic.Anthropic(base_url=fake_llm.base_url, api_key="test-key", max_retries=0)

    @vigil.span(name="plan")
    def plan(question: str) -> str:
        reply = oai.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "system", "content": "You plan."}, {"role": "user", "content": question}],
            temperature=0.25,
            max_tokens=64,
        )
        return reply.choices[0].message.content

    @vigil.span(name="stream-openai")
    def stream_openai(text: str) -> str:
        chunks = oai.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    @vigil.span(name="answer")
    def answer(text: str) -> str:
        reply = claude.messages.create(
            model="claude-test",
            max_tokens=128,
            system="Be brief.",
            messages=[{"role": "user", "content": text}],
        )
        return reply.content[0].text

    @vigil.span(name="stream-anthropic")
    def stream_anthropic(text: str) -> str:
        with claude.messages.create(
            model="claude-test", max_tokens=128, messages=[{"role": "user", "content": text}], stream=True
        ) as events:
            return "".join(e.delta.text for e in events if e.type == "content_block_delta")

    trace_ids: list[str] = []

    @vigil.trace(name="agent")
    def agent(question: str) -> str:
        trace_ids.append(current_trace_id())
        return stream_anthropic(answer(stream_openai(plan(question))))

    result = agent("what is two plus two")
    assert result == "echo: echo: echo: echo: what is two plus two"
    trace_id = trace_ids[0]
    spans = fetch_trace(app, trace_id, 9)
    named = {}
    for s in spans:
        named.setdefault(s.name, []).append(s)
    assert sorted(named) == [
        "agent",
        "answer",
        "chat claude-test",
        "chat gpt-test",
        "plan",
        "stream-anthropic",
        "stream-openai",
    ]
    assert len(named["chat gpt-test"]) == 2 and len(named["chat claude-test"]) == 2
    ids = {s.name: s.span_id for s in spans if not s.name.startswith("chat")}

    plan_llm, stream_llm = sorted(named["chat gpt-test"], key=lambda s: s.start_time_unix_nano)
    assert plan_llm.parent_span_id == ids["plan"] and stream_llm.parent_span_id == ids["stream-openai"]
    for s in (plan_llm, stream_llm):
        assert s.kind == "Client" and s.service_name == "vigil-sdk-tests"
        assert s.attributes["gen_ai.operation.name"] == "chat"
        assert s.attributes["gen_ai.provider.name"] == "openai"
        assert s.attributes["gen_ai.request.model"] == "gpt-test"
        assert s.attributes["gen_ai.response.model"] == "gpt-test" + RESPONSE_MODEL_SUFFIX
        assert s.attributes["gen_ai.response.finish_reasons"] == '["stop"]'
    assert plan_llm.attributes["gen_ai.usage.input_tokens"] == "7"  # "You plan." + the question
    assert plan_llm.attributes["gen_ai.usage.output_tokens"] == "6"
    assert plan_llm.attributes["gen_ai.request.temperature"] == "0.25"
    assert plan_llm.attributes["gen_ai.request.max_tokens"] == "64"
    assert messages(plan_llm, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "You plan."}]},
        {"role": "user", "parts": [{"type": "text", "content": "what is two plus two"}]},
    ]
    assert messages(plan_llm, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "echo: what is two plus two"}],
            "finish_reason": "stop",
        }
    ]
    assert stream_llm.attributes["gen_ai.request.stream"] == "true"
    assert stream_llm.attributes["gen_ai.usage.output_tokens"] == "7"
    assert (
        messages(stream_llm, "gen_ai.output.messages")[0]["parts"][0]["content"]
        == "echo: echo: what is two plus two"
    )

    answer_llm, stream_claude = sorted(named["chat claude-test"], key=lambda s: s.start_time_unix_nano)
    assert (
        answer_llm.parent_span_id == ids["answer"] and stream_claude.parent_span_id == ids["stream-anthropic"]
    )
    for s in (answer_llm, stream_claude):
        assert s.attributes["gen_ai.provider.name"] == "anthropic"
        assert s.attributes["gen_ai.response.model"] == "claude-test" + RESPONSE_MODEL_SUFFIX
        assert s.attributes["gen_ai.response.finish_reasons"] == '["end_turn"]'
    assert answer_llm.attributes["gen_ai.usage.input_tokens"] == "9"  # "Be brief." + 7 words
    assert answer_llm.attributes["gen_ai.usage.output_tokens"] == "8"
    assert messages(answer_llm, "gen_ai.system_instructions") == [{"type": "text", "content": "Be brief."}]
    assert stream_claude.attributes["gen_ai.usage.input_tokens"] == "8"
    assert stream_claude.attributes["gen_ai.usage.output_tokens"] == "9"
    assert messages(stream_claude, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": result}
    ]
    # The anthropic library's own per-request span is switched off under Vigil's: one span per call.
    assert not [s for s in spans if s.name.startswith("anthropic.")]


def test_async_clients_streams_and_errors(app: RunningApp, fake_llm: FakeLLM, instrumented: None) -> None:
    oai = openai.AsyncOpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)
    claude = anthropic.AsyncAnthropic(base_url=fake_llm.base_url, api_key="test-key", max_retries=0)
    trace_ids: list[str] = []

    @vigil.trace(name="async-agent")
    async def agent(i: int) -> str:
        trace_ids.append(current_trace_id())
        reply = await oai.chat.completions.create(
            model="gpt-async", messages=[{"role": "user", "content": f"task {i}"}]
        )
        events = await claude.messages.create(
            model="claude-async",
            max_tokens=32,
            messages=[{"role": "user", "content": reply.choices[0].message.content}],
            stream=True,
        )
        text = "".join([e.delta.text async for e in events if e.type == "content_block_delta"])
        with pytest.raises(anthropic.InternalServerError) as failure:
            await claude.messages.create(
                model="fail-500", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        assert failure.value.status_code == 500
        return text

    async def main() -> list[str]:
        return await asyncio.gather(*(agent(i) for i in range(5)))

    assert asyncio.run(main()) == [f"echo: echo: task {i}" for i in range(5)]
    assert len(trace_ids) == 5
    for trace_id in trace_ids:
        spans = fetch_trace(app, trace_id, 4)
        by_name = {s.name: s for s in spans}
        assert sorted(by_name) == ["async-agent", "chat claude-async", "chat fail-500", "chat gpt-async"]
        root = by_name["async-agent"]
        task = json.loads(root.attributes["input.value"])["i"]
        assert all(s.parent_span_id == root.span_id for s in spans if s is not root)
        assert (
            messages(by_name["chat gpt-async"], "gen_ai.input.messages")[0]["parts"][0]["content"]
            == f"task {task}"
        )
        streamed = by_name["chat claude-async"]
        assert streamed.attributes["gen_ai.usage.output_tokens"] == "4"
        failed = by_name["chat fail-500"]
        assert failed.status_code == "Error"
        assert failed.attributes["error.type"] == "anthropic.InternalServerError"


def test_content_capture_can_be_turned_off(fake_llm: FakeLLM, spans: InMemorySpanExporter) -> None:
    vigil.instrument_openai(capture_content=False)
    try:
        oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)
        oai.chat.completions.create(model="gpt-private", messages=[{"role": "user", "content": "secret"}])
    finally:
        vigil.uninstrument_openai()
    (span,) = spans.get_finished_spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 1
    assert not [k for k in span.attributes if k.endswith("messages")]


def test_a_stream_dropped_unconsumed_still_ends_its_span(
    fake_llm: FakeLLM, spans: InMemorySpanExporter
) -> None:
    vigil.instrument_openai()
    try:
        oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)
        stream = oai.chat.completions.create(
            model="gpt-drop", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        next(iter(stream))
        del stream
        gc.collect()
    finally:
        vigil.uninstrument_openai()
    (span,) = spans.get_finished_spans()
    assert span.name == "chat gpt-drop" and span.end_time is not None


def test_instrumentation_is_explicit_and_reversible(fake_llm: FakeLLM, spans: InMemorySpanExporter) -> None:
    from openai.resources.chat.completions import Completions

    original = Completions.create
    vigil.instrument_openai()
    vigil.instrument_openai()  # twice is the same as once
    assert Completions.create is not original
    vigil.uninstrument_openai()
    assert Completions.create is original
    oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)
    oai.chat.completions.create(model="gpt-plain", messages=[{"role": "user", "content": "hi"}])
    assert spans.get_finished_spans() == ()
    with pytest.raises(vigil.InstrumentationError, match="unknown integration 'cohere'"):
        vigil.instrumentation.instrument("cohere")


def test_a_script_that_exits_without_flush_loses_nothing(app: RunningApp, tmp_path) -> None:
    script = tmp_path / "short.py"
    script.write_text(
        "import vigil\n"
        "vigil.init(service_name='short-script')\n"
        "@vigil.trace\n"
        "def work(i):\n"
        "    return step(i)\n"
        "@vigil.span\n"
        "def step(i):\n"
        "    return i\n"
        "for i in range(200):\n"
        "    work(i)\n"
    )
    for protocol, endpoint in (("grpc", f"http://{app.grpc_target}"), ("http/protobuf", app.http_base)):
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_RESOURCE_ATTRIBUTES": f"run={protocol}",
        }
        subprocess.run([sys.executable, str(script)], env=env, cwd=REPO, check=True, timeout=120)
    app.flush()
    with QueryClient(app.query_target) as client:
        stored = list(client.iter_spans(service="short-script"))
    by_run: dict[str, int] = {}
    for s in stored:
        by_run[s.resource_attributes["run"]] = by_run.get(s.resource_attributes["run"], 0) + 1
    assert by_run == {"grpc": 400, "http/protobuf": 400}


def test_init_arguments_in_a_fresh_process(app: RunningApp, fake_llm: FakeLLM, tmp_path) -> None:
    """init(instrument=..., redact=..., max_value_length=...) as an application would call it."""
    script = tmp_path / "app.py"
    script.write_text(
        "import sys, openai, vigil\n"
        "def redact(value):\n"
        "    if isinstance(value, dict) and 'password' in value:\n"
        "        return {**value, 'password': '***'}\n"
        "    return value\n"
        "vigil.init(sys.argv[1], service_name='init-args', instrument=['openai'], redact=redact, max_value_length=100)\n"
        "@vigil.trace\n"
        "def login(user, password):\n"
        "    client = openai.OpenAI(base_url=sys.argv[2], api_key='k', max_retries=0)\n"
        "    client.chat.completions.create(model='gpt-init', messages=[{'role': 'user', 'content': 'x' * 500}])\n"
        "    return 'ok'\n"
        "login('ada', 'hunter2')\n"
    )
    subprocess.run(
        [sys.executable, str(script), f"http://{app.grpc_target}", fake_llm.base_url + "/v1"],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    app.flush()  # acknowledged means in the write-ahead log; stored in ClickHouse shortly after
    with QueryClient(app.query_target) as client:
        spans = {s.name: s for s in client.iter_spans(service="init-args")}
    assert set(spans) == {"login", "chat gpt-init"}
    assert json.loads(spans["login"].attributes["input.value"]) == {"user": "ada", "password": "***"}
    llm = spans["chat gpt-init"]
    assert llm.parent_span_id == spans["login"].span_id
    assert (
        len(llm.attributes["gen_ai.input.messages"]) == 101
        and llm.attributes["gen_ai.input.messages.truncated"] == "true"
    )


def test_instrumenting_a_library_that_is_not_installed_fails_clearly() -> None:
    # sys.modules[name] = None is how Python marks a module as not importable.
    code = (
        "import sys; sys.modules['anthropic'] = None\n"
        "import vigil\n"
        "try:\n"
        "    vigil.instrument_anthropic()\n"
        "except vigil.InstrumentationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "cannot instrument anthropic: the 'anthropic' package is not installed"
