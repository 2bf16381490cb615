"""@vigil.trace / @vigil.span on every kind of function, with the real OpenTelemetry SDK."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import vigil
from vigil import config

Spans = InMemorySpanExporter


def by_name(memory: Spans) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for s in memory.get_finished_spans():
        out.setdefault(s.name, []).append(s)
    return out


def one(memory: Spans, name: str) -> ReadableSpan:
    found = by_name(memory)[name]
    assert len(found) == 1, found
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


@pytest.fixture
def capture_config() -> Iterator[None]:
    saved = config.current()
    yield
    config.configure(saved)


@vigil.trace
def handle(question: str, *, depth: int = 1) -> str:
    return plan(question) + lookup(question, depth)


@vigil.span(name="plan-step", kind="client", attributes={"team": "agents"})
def plan(question: str) -> str:
    return f"plan({question})"


@vigil.span("lookup")
def lookup(question: str, depth: int) -> str:
    return f"lookup({question},{depth})"


def test_sync_nesting_names_kinds_and_captured_values(spans: Spans) -> None:
    assert handle("why?", depth=2) == "plan(why?)lookup(why?,2)"
    root, step, look = one(spans, "handle"), one(spans, "plan-step"), one(spans, "lookup")
    assert root.parent is None
    assert parent_of(step) == parent_of(look) == root.context.span_id
    assert len({s.context.trace_id for s in (root, step, look)}) == 1
    assert step.kind == SpanKind.CLIENT and root.kind == SpanKind.INTERNAL
    assert step.attributes["team"] == "agents"
    assert json.loads(root.attributes["input.value"]) == {"question": "why?", "depth": 2}
    assert json.loads(root.attributes["output.value"]) == "plan(why?)lookup(why?,2)"
    assert json.loads(look.attributes["input.value"]) == {"question": "why?", "depth": 2}
    assert handle.__name__ == "handle" and handle.__wrapped__.__name__ == "handle"


def test_trace_starts_a_new_trace_linked_to_the_current_span(spans: Spans) -> None:
    @vigil.span
    def outer() -> str:
        return handle("q")

    outer()
    parent, root = (
        one(spans, "test_trace_starts_a_new_trace_linked_to_the_current_span.<locals>.outer"),
        one(spans, "handle"),
    )
    assert root.parent is None
    assert root.context.trace_id != parent.context.trace_id
    assert [link.context.span_id for link in root.links] == [parent.context.span_id]


def test_methods_capture_arguments_without_self(spans: Spans) -> None:
    class Agent:
        def __init__(self) -> None:
            self.lock = threading.Lock()  # not serialisable, and must not be touched

        @vigil.span
        def act(self, *tools: str, **options: Any) -> dict[str, Any]:
            return {"tools": list(tools), **options}

    Agent().act("search", "calc", retries=2)
    span = one(spans, "test_methods_capture_arguments_without_self.<locals>.Agent.act")
    assert json.loads(span.attributes["input.value"]) == {"tools": ["search", "calc"], "retries": 2}


def test_exceptions_set_error_status_and_propagate_unchanged(spans: Spans) -> None:
    failure = ValueError("bad plan")

    @vigil.span
    def fails() -> None:
        raise failure

    with pytest.raises(ValueError) as caught:
        handle_failure = vigil.trace(name="root")(fails)
        handle_failure()
    assert caught.value is failure
    span = one(spans, "root")
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError: bad plan"
    assert span.attributes["error.type"] == "builtins.ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.message"] == "bad plan"
    assert "output.value" not in span.attributes


def test_generators_span_the_whole_iteration(spans: Spans) -> None:
    @vigil.span
    def produce(n: int) -> Iterator[str]:
        for i in range(n):
            yield lookup("g", i)

    @vigil.trace(name="consumer")
    def consume() -> list[str]:
        return list(produce(3))

    assert consume() == [f"lookup(g,{i})" for i in range(3)]
    gen_span = one(spans, "test_generators_span_the_whole_iteration.<locals>.produce")
    looks = by_name(spans)["lookup"]
    assert len(looks) == 3 and all(parent_of(s) == gen_span.context.span_id for s in looks)
    assert parent_of(gen_span) == one(spans, "consumer").context.span_id
    assert gen_span.end_time >= max(s.end_time for s in looks)
    assert json.loads(gen_span.attributes["output.value"]) == [f"lookup(g,{i})" for i in range(3)]


def test_generator_send_throw_close_and_errors(spans: Spans) -> None:
    @vigil.span(name="echo")
    def echo() -> Iterator[Any]:
        received = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) is None
    assert gen.send(5) == 5
    assert gen.throw(KeyError("k")) == "recovered"
    gen.close()
    span = one(spans, "echo")
    assert span.status.status_code == StatusCode.UNSET

    @vigil.span(name="breaks")
    def breaks() -> Iterator[int]:
        yield 1
        raise RuntimeError("mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        list(breaks())
    assert one(spans, "breaks").status.status_code == StatusCode.ERROR

    spans.clear()
    early = breaks()
    assert next(early) == 1
    early.close()  # the consumer stopped early: the span ends, not as an error
    assert one(spans, "breaks").status.status_code == StatusCode.UNSET


def test_async_functions_and_async_generators(spans: Spans) -> None:
    @vigil.span
    async def fetch(i: int) -> int:
        await asyncio.sleep(0)
        return i * 2

    @vigil.span(name="stream")
    async def stream(n: int) -> Any:
        for i in range(n):
            yield await fetch(i)

    @vigil.trace(name="async-root")
    async def run() -> list[int]:
        return [x async for x in stream(3)]

    assert asyncio.run(run()) == [0, 2, 4]
    root, gen_span = one(spans, "async-root"), one(spans, "stream")
    fetches = by_name(spans)["test_async_functions_and_async_generators.<locals>.fetch"]
    assert parent_of(gen_span) == root.context.span_id
    assert all(parent_of(f) == gen_span.context.span_id for f in fetches)
    assert json.loads(gen_span.attributes["output.value"]) == [0, 2, 4]


def test_many_asyncio_tasks_keep_their_own_context(spans: Spans) -> None:
    @vigil.span(name="step")
    async def step(task: int, i: int) -> int:
        await asyncio.sleep(0.001 * ((task * 7 + i) % 5))
        return task

    @vigil.trace(name="task-root")
    async def task_root(task: int) -> list[int]:
        return [await step(task, i) for i in range(4)]

    async def main() -> None:
        results = await asyncio.gather(*(task_root(t) for t in range(60)))
        assert results == [[t] * 4 for t in range(60)]

    asyncio.run(main())
    roots = {json.loads(s.attributes["input.value"])["task"]: s for s in by_name(spans)["task-root"]}
    assert len(roots) == 60 and len({r.context.trace_id for r in roots.values()}) == 60
    steps = by_name(spans)["step"]
    assert len(steps) == 240
    for s in steps:
        owner = roots[json.loads(s.attributes["input.value"])["task"]]
        assert parent_of(s) == owner.context.span_id
        assert s.context.trace_id == owner.context.trace_id


def test_threads_started_with_copy_context_inherit_the_span(spans: Spans) -> None:
    @vigil.trace(name="fan-out")
    def fan_out() -> None:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(lookup, "t", i)) for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    fan_out()
    root = one(spans, "fan-out")
    looks = by_name(spans)["lookup"]
    assert len(looks) == 4 and all(parent_of(s) == root.context.span_id for s in looks)


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class _BrokenDump:
    def model_dump(self, **_: Any) -> Any:
        raise RuntimeError("no dump")


def test_unserialisable_values_never_raise(spans: Spans) -> None:
    circular: list[Any] = []
    circular.append(circular)

    @vigil.span(name="odd")
    def odd(*values: Any) -> Any:
        return values

    values = (
        object(),
        circular,
        _BrokenRepr(),
        _BrokenDump(),
        {1, 2},
        b"\x00\x01",
        float("nan"),
        {(1, 2): "tuple key"},
    )
    assert odd(*values) == values
    span = one(spans, "odd")
    for key in ("input.value", "output.value"):
        assert isinstance(span.attributes[key], str)
    captured = json.loads(span.attributes["input.value"])
    assert isinstance(captured, str | dict)


def test_capture_opt_out_cap_and_redaction(spans: Spans, capture_config: None) -> None:
    @vigil.span(name="quiet", capture_input=False)
    def quiet(secret: str) -> str:
        return "ok"

    quiet("hunter2")
    span = one(spans, "quiet")
    assert "input.value" not in span.attributes and span.attributes["output.value"] == '"ok"'

    def redact(value: Any) -> Any:
        return (
            {k: ("***" if k == "password" else v) for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )

    config.configure(config.CaptureConfig(max_value_length=100, redact=redact))

    @vigil.span(name="login")
    def login(user: str, password: str) -> str:
        return "x" * 500

    login("ada", "hunter2")
    span = one(spans, "login")
    assert json.loads(span.attributes["input.value"]) == {"user": "ada", "password": "***"}
    assert len(span.attributes["output.value"]) == 101 and span.attributes["output.truncated"] is True

    config.configure(config.CaptureConfig(enabled=False))
    spans.clear()
    login("ada", "hunter2")
    assert "input.value" not in one(spans, "login").attributes


def test_decorator_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown span kind"):
        vigil.span(kind="sideways")
    with pytest.raises(TypeError, match="wrap functions"):
        vigil.span(name="x")(42)  # type: ignore[arg-type]


def test_init_twice_returns_the_same_provider(sdk_memory: Spans, caplog: pytest.LogCaptureFixture) -> None:
    provider = otel_trace.get_tracer_provider()
    assert vigil.init(endpoint="http://127.0.0.1:1", service_name="other") is provider
    assert "already called" in caplog.text
