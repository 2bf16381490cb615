"""LLM analytics: cost from the price book against a hand computation (per token type, cached
input included), unpriced models, re-pricing history, sessions under each attribute
convention, and vigil.session / vigil.user reaching the instrumented LLM spans."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from clickhouse_connect.driver.client import Client
from fake_llm import FakeLLM
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

import vigil
from vigil import QueryClient
from vigil.query.v1 import query_pb2
from vigil_query.analytics.prices import store as price_book
from vigil_query.analytics.prices.book import Price, default_prices, resolve

from reference_payload import kv
from support import RunningApp, export_otlp, run_cli

U = query_pb2.UsageGroupBy


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Iterator[QueryClient]:
    with QueryClient(app.query_target) as c:
        yield c


def _send(app: RunningApp, service: str, spans: list[tuple[str, dict]], start_ns: int) -> None:
    """One trace per (trace key) of LLM spans with the given attributes."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    rng = random.Random(service)
    traces: dict[str, bytes] = {}
    for i, (trace_key, attributes) in enumerate(spans):
        trace_id = traces.setdefault(trace_key, rng.randbytes(16))
        span = Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            name="chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start_ns + i * 1_000_000,
            end_time_unix_nano=start_ns + i * 1_000_000 + (i + 1) * 100_000_000,
        )
        for key, value in attributes.items():
            span.attributes.append(kv(key, value))
        ss.spans.append(span)
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()


OPENAI_CALL = {
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 400,
    "gen_ai.usage.output_tokens": 200,
}
ANTHROPIC_CALL = {
    "gen_ai.system": "anthropic",  # the older name
    "gen_ai.request.model": "claude-sonnet-4-20250514",
    "gen_ai.usage.prompt_tokens": 2000,  # the older name, cache counted inside
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.cache_creation.input_tokens": 500,
    "gen_ai.usage.completion_tokens": 300,
}
LOCAL_CALL = {
    "llm.model_name": "my-local-llama",
    "llm.token_count.prompt": 50,
    "llm.token_count.completion": 5,
}
# By hand, USD per million tokens from default_model_prices.json:
OPENAI_COST = (600 * 2.5 + 400 * 1.25 + 200 * 10.0) / 1e6  # 0.004
ANTHROPIC_COST = (500 * 3.0 + 1000 * 0.3 + 500 * 3.75 + 300 * 15.0) / 1e6  # 0.008175


def test_cost_by_model_equals_a_hand_computation_and_follows_price_changes(
    app: RunningApp, ch: Client, client: QueryClient
) -> None:
    start = time.time_ns() - 3600 * 10**9
    _send(
        app,
        "llm-cost",
        [("t1", OPENAI_CALL), ("t1", ANTHROPIC_CALL), ("t2", LOCAL_CALL), ("t2", {"plain": "span"})],
        start,
    )

    def usage() -> query_pb2.GetUsageResponse:
        return client.usage(group_by="model", service="llm-cost", start=start - 10**9)

    response = usage()
    by_model = {g.key: g.total for g in response.groups}
    assert set(by_model) == {"gpt-4o-2024-08-06", "claude-sonnet-4-20250514", "my-local-llama"}
    assert by_model["gpt-4o-2024-08-06"].cost_usd == pytest.approx(OPENAI_COST)
    assert by_model["claude-sonnet-4-20250514"].cost_usd == pytest.approx(ANTHROPIC_COST)
    local = by_model["my-local-llama"]
    assert (local.cost_usd, local.unpriced_calls, local.input_tokens, local.output_tokens) == (0, 1, 50, 5)
    total = response.total
    assert (total.calls, total.unpriced_calls) == (3, 1)  # the plain span is no LLM call
    assert total.cost_usd == pytest.approx(OPENAI_COST + ANTHROPIC_COST)
    assert (total.input_tokens, total.cache_read_tokens, total.cache_creation_tokens) == (3050, 1400, 500)
    assert list(response.unpriced_models) == ["my-local-llama"]
    assert [g.key for g in response.groups][:2] == ["claude-sonnet-4-20250514", "gpt-4o-2024-08-06"]
    # Hourly buckets read the rollup kept by a materialized view: the same numbers.
    hourly = client.usage(group_by="model", service="llm-cost", start=start - 10**9, step_s=3600)
    for rolled, spanned in zip(hourly.groups, response.groups, strict=True):
        fields = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "unpriced_calls", "errors")
        assert rolled.key == spanned.key
        assert [getattr(rolled.total, f) for f in fields] == [getattr(spanned.total, f) for f in fields]
        assert rolled.total.cost_usd == pytest.approx(spanned.total.cost_usd)
        assert rolled.buckets[0].time_unix_nano % (3600 * 10**9) == 0
    by_project = {
        g.key: g.total
        for g in client.usage(group_by="project", service="llm-cost", start=start - 10**9).groups
    }
    assert (by_project["default"].calls, by_project["default"].unpriced_calls) == (3, 1)
    assert by_project["default"].cost_usd == pytest.approx(OPENAI_COST + ANTHROPIC_COST)

    traces = client._call(
        client._stub.SearchTraces,
        query_pb2.SearchTracesRequest(
            filter=query_pb2.SpanFilter(service_name="llm-cost", start_time_min_unix_nano=start - 10**9),
            page_size=10,
        ),
    ).traces
    costs = sorted((t.llm_calls, round(t.cost_usd, 9), t.unpriced_calls) for t in traces)
    assert costs == [(1, 0.0, 1), (2, round(OPENAI_COST + ANTHROPIC_COST, 9), 0)]

    # A user's price beats the default and re-prices the spans already stored.
    try:
        price_book.set_prices(
            ch,
            "vigil_system",
            [
                Price("openai", r"gpt-4o(-\d{4}-\d{2}-\d{2})?", 5.0, 20.0, 2.5, 5.0),
                Price("", "my-local-.*", 1.0, 1.0, 1.0, 1.0),
            ],
        )
        by_model = {g.key: g.total for g in usage().groups}
        assert by_model["gpt-4o-2024-08-06"].cost_usd == pytest.approx(2 * OPENAI_COST)
        assert by_model["my-local-llama"].cost_usd == pytest.approx(55 / 1e6)
        assert by_model["my-local-llama"].unpriced_calls == 0
        listed = client.model_prices()
        assert [p.origin for p in listed].count("user") == 2
    finally:
        price_book.set_prices(ch, "vigil_system", [], replace=True)
    assert {g.key: g.total for g in usage().groups}["gpt-4o-2024-08-06"].cost_usd == pytest.approx(
        OPENAI_COST
    )


def test_a_price_holds_from_its_effective_date() -> None:
    day = 24 * 3600 * 10**9
    old = Price("openai", "gpt-x", 1.0, 2.0, 1.0, 1.0, origin="default")
    new = Price("openai", "gpt-x", 3.0, 4.0, 3.0, 3.0, effective_from_ns=10 * day)
    periods = resolve([old, new, *default_prices()], [("openai", "gpt-x"), ("openai", "unknown-model")])
    assert [(p.start_ns, p.price.input) for p in periods] == [(0, 1.0), (10 * day, 3.0)]


def test_sessions_group_under_each_attribute_convention(app: RunningApp, client: QueryClient) -> None:
    start = time.time_ns() - 1800 * 10**9
    spans = []
    for key, session in (
        ("session.id", "conv-a"),
        ("gen_ai.conversation.id", "conv-b"),
        ("langfuse.session.id", "conv-c"),
    ):
        for turn in range(2):
            for _ in range(2):
                spans.append(
                    (f"{session}-{turn}", {key: session, "user.id": f"user-{session}", **OPENAI_CALL})
                )
    _send(app, "llm-sessions", spans, start)
    found = client._call(
        client._stub.SearchSessions,
        query_pb2.SearchSessionsRequest(service_name="llm-sessions", start_time_min_unix_nano=start - 10**9),
    ).sessions
    assert sorted((s.session_id, s.traces, s.spans, s.llm_calls, tuple(s.user_ids)) for s in found) == [
        ("conv-a", 2, 4, 4, ("user-conv-a",)),
        ("conv-b", 2, 4, 4, ("user-conv-b",)),
        ("conv-c", 2, 4, 4, ("user-conv-c",)),
    ]
    assert all(s.cost_usd == pytest.approx(4 * OPENAI_COST) for s in found)
    assert [s.session_id for s in found] == ["conv-c", "conv-b", "conv-a"]  # latest activity first
    first = client._call(
        client._stub.SearchSessions,
        query_pb2.SearchSessionsRequest(
            service_name="llm-sessions", start_time_min_unix_nano=start - 10**9, page_size=2
        ),
    )
    rest = client._call(
        client._stub.SearchSessions,
        query_pb2.SearchSessionsRequest(
            service_name="llm-sessions",
            start_time_min_unix_nano=start - 10**9,
            page_size=2,
            page_token=first.next_page_token,
        ),
    )
    assert [s.session_id for s in (*first.sessions, *rest.sessions)] == ["conv-c", "conv-b", "conv-a"]
    assert not rest.next_page_token

    session = client._call(client._stub.GetSession, query_pb2.GetSessionRequest(session_id="conv-b"))
    assert session.session.traces == 2 and len(session.traces) == 2
    assert session.traces[0].start_time_unix_nano < session.traces[1].start_time_unix_nano
    assert {t.session_id for t in session.traces} == {"conv-b"}
    by_user = client._call(
        client._stub.GetUsage,
        query_pb2.GetUsageRequest(
            service_name="llm-sessions",
            start_time_min_unix_nano=start - 10**9,
            group_by=U.USAGE_GROUP_BY_USER,
        ),
    )
    assert sorted((g.key, g.total.calls) for g in by_user.groups) == [
        ("user-conv-a", 4),
        ("user-conv-b", 4),
        ("user-conv-c", 4),
    ]


def test_vigil_session_and_user_reach_instrumented_llm_spans(
    app: RunningApp, fake_llm: FakeLLM, sdk_memory: object, client: QueryClient
) -> None:
    vigil.instrument_openai()
    try:
        oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)

        @vigil.trace(name="turn")
        def turn(text: str) -> str:
            reply = oai.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": text}]
            )
            return reply.choices[0].message.content

        @vigil.trace(name="chat-turn", session_arg="conversation", user_arg="who")
        def chat_turn(conversation: str, who: str, text: str) -> str:
            return turn(text)

        with vigil.session("sdk-session-1"), vigil.user("alice"):
            turn("hello")
            turn("again")
        chat_turn("sdk-session-2", who="bob", text="hi")
        with pytest.raises(TypeError, match="parameter 'conversation'"):
            vigil.span(session_arg="conversation")(lambda text: text)
    finally:
        vigil.uninstrument_openai()
    assert vigil.flush(30)
    app.flush()
    session = client.session("sdk-session-1")
    assert session.session.traces == 2 and session.session.llm_calls == 2
    assert list(session.session.user_ids) == ["alice"]
    from_arguments = client.session("sdk-session-2").session
    assert (from_arguments.spans, from_arguments.llm_calls, list(from_arguments.user_ids)) == (3, 1, ["bob"])


def test_prices_import_and_list_commands(tmp_path: Path) -> None:
    price_file = tmp_path / "prices.json"
    price_file.write_text(
        json.dumps({"prices": [{"provider": "acme", "model": "acme-1", "input": 1, "output": 2}]})
    )
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps({"prices": [{"model": "acme-[", "input": 1, "output": 2}]}))
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    imported = run_cli("prices", "import", str(price_file), env=env, timeout=120)
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(run_cli("prices", "list", env=env, timeout=120).stdout)
    assert {"origin": "user", "provider": "acme", "model": "acme-1", "cache_read": 1.0}.items() <= listed[
        0
    ].items()
    assert len(listed) == 1 + len(default_prices())
    refused = run_cli("prices", "import", str(bad_file), env=env, timeout=120)
    assert (
        refused.returncode == 2 and "prices[0]: model 'acme-[' is not a regular expression" in refused.stderr
    )
