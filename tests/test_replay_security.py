"""Replay with execute spends the server's provider keys on a model, max_tokens and messages
that anyone with an ingest key can write: with VIGIL_AUTH=on every replay records its
authenticated principal, only allowed models are called, calls and tokens are capped per
replay and per principal over a window counted from the stored history (so across restarts
and servers), and read-only credentials change no state (replay history, drift alerts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from clickhouse_connect.driver.client import Client
from fake_llm import FakeLLM
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from vigil import QueryClient, QueryError
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_query.analytics.prices.book import Price
from vigil_query.analytics.prices.store import set_prices
from vigil_query.errors import OverCap
from vigil_query.replay.caps import Caps, Spend, check_window
from vigil_query.replay.providers import estimated_input_tokens, request_for
from vigil_storage import apply_migrations

from support import RunningApp, credentials_changed, make_settings

SECRET = "replay-security-secret-0123456789"
MAIN = "replaysec"
SYS = f"vigil_system_{MAIN}"  # its system database (support.make_settings)
CAPS: dict[str, Any] = {
    "replay_max_calls": 1,
    "replay_max_tokens": 2000,
    "replay_max_tokens_per_call": 100,
    "replay_principal_calls": 3,
    "replay_principal_tokens": 1_000_000,
    "replay_models": [],  # the price book's models
}


def capped_app(chdb_dir: Path, fake_llm: FakeLLM, **overrides: Any) -> RunningApp:
    return RunningApp(
        make_settings(
            chdb_dir,
            database=MAIN,
            auth="on",
            auth_secret=SECRET,
            replay_openai_base_url=fake_llm.base_url + "/v1",
            replay_openai_api_key="test-key",
            replay_anthropic_base_url=fake_llm.base_url,
            replay_anthropic_api_key="test-key",
            replay_timeout_s=5.0,
            **{**CAPS, **overrides},
        )
    )


@pytest.fixture(scope="module")
def capped(chdb_dir: Path, ch: Client, fake_llm: FakeLLM) -> Iterator[RunningApp]:
    app = capped_app(chdb_dir, fake_llm)
    registry.ensure(ch, SYS)
    registry.create_project(ch, SYS, "alpha", main=MAIN, create_tables=partial(apply_migrations, ch))
    credentials_changed()
    # gpt-test is priced (so allowed), claude-test and gpt-unpriced are not.
    set_prices(ch, SYS, [Price("openai", "gpt-test", 1.0, 2.0, 1.0, 1.0)])
    credentials_changed()
    yield app
    app.stop()


def new_key(ch: Client, *scopes: str) -> tuple[registry.ApiKey, str]:
    made = registry.create_key(ch, SYS, KeyHasher(SECRET.encode()), "alpha", list(scopes), name="test")
    credentials_changed()
    return made


def llm_attributes(model: str, provider: str = "openai", text: str = "hello there") -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": 50_000,  # anyone with an ingest key writes this
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}]),
    }


def record_trace(app: RunningApp, ingest_key: str, calls: dict[str, dict[str, Any]]) -> str:
    """A trace of an agent making the given LLM calls (span name → attributes), exported by
    the stock OTLP exporter with an ingest key; returns its id once it is stored."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("vigil.tests")
    with tracer.start_as_current_span("agent") as root:
        for name, attributes in calls.items():
            with tracer.start_as_current_span(name, attributes=attributes):
                pass
    exporter = GrpcExporter(
        endpoint=app.grpc_target, insecure=True, headers={"authorization": f"Bearer {ingest_key}"}
    )
    assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
    exporter.shutdown()
    app.flush()
    return f"{root.get_span_context().trace_id:032x}"


EDIT = [{"op": "replace", "path": "/0/parts/0/content", "value": "hello again"}]


def edit(span_name: str, ops: list[dict[str, Any]] = EDIT) -> dict[str, Any]:
    return {"span_name": span_name, "patch": ops}


@pytest.fixture(scope="module")
def ingest(ch: Client, capped: RunningApp) -> str:
    return new_key(ch, "ingest")[1]


def test_execute_records_the_principal_and_caps_max_tokens(
    capped: RunningApp, ch: Client, ingest: str, fake_llm: FakeLLM
) -> None:
    trace = record_trace(capped, ingest, {"chat gpt-test": llm_attributes("gpt-test")})
    key, secret = new_key(ch, "read", "replay")
    asked = len(fake_llm.requests)
    with QueryClient(capped.query_target, api_key=secret) as client:
        response = client.replay(trace, [edit("chat gpt-test")], execute=True, requested_by="the-ceo")
        (call,) = response.executed
        assert call.error == "", call.error
        ((_, sent),) = fake_llm.requests[asked:]
        assert sent["model"] == "gpt-test" and sent["max_tokens"] == 100  # not the stored 50,000
        (summary,) = client.replays(source_trace_id=trace).replays
        # requested_by stays a label; the principal is the key that asked.
        assert summary.principal == key.key_id and summary.requested_by == "the-ceo"
        assert summary.provider_calls == 1 and summary.tokens == 2 + 3  # the fake counts words
        assert client.get_replay(response.replay_id).summary.principal == key.key_id

    registry.create_user(ch, SYS, "mia", hash_password("mia's password"), is_admin=False)
    credentials_changed()
    registry.grant(ch, SYS, "mia", "alpha", "member")
    credentials_changed()
    with QueryClient(capped.query_target, project="alpha") as client:
        client.login("mia", "mia's password")
        response = client.replay(trace, [edit("chat gpt-test")], execute=True, requested_by="not mia")
        assert client.get_replay(response.replay_id).summary.principal == "user:mia"


def test_per_replay_caps_refuse_before_anything_is_sent(
    capped: RunningApp, ch: Client, ingest: str, fake_llm: FakeLLM
) -> None:
    two_calls = record_trace(
        capped,
        ingest,
        {"chat a": llm_attributes("gpt-test"), "chat b": llm_attributes("gpt-test")},
    )
    _, secret = new_key(ch, "read", "replay")
    asked = len(fake_llm.requests)
    with QueryClient(capped.query_target, api_key=secret) as client:
        with pytest.raises(QueryError) as calls:
            client.replay(two_calls, [edit("chat a"), edit("chat b")], execute=True)
        assert calls.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 provider calls" in calls.value.message
        assert "VIGIL_REPLAY_MAX_CALLS (1)" in calls.value.message

        long_input = [{"op": "replace", "path": "/0/parts/0/content", "value": "word " * 2000}]
        with pytest.raises(QueryError) as tokens:
            client.replay(two_calls, [edit("chat a", long_input)], execute=True)
        assert tokens.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "VIGIL_REPLAY_MAX_TOKENS (2000)" in tokens.value.message

        # What-if replays send nothing, so no cap holds them back.
        assert client.replay(two_calls, [edit("chat a"), edit("chat b")]).changes
        assert not client.replays(source_trace_id=two_calls).replays[0].provider_calls
    assert len(fake_llm.requests) == asked


def test_only_allowed_models_are_called(
    capped: RunningApp, ch: Client, ingest: str, fake_llm: FakeLLM, chdb_dir: Path
) -> None:
    trace = record_trace(
        capped,
        ingest,
        {
            "chat claude": llm_attributes("claude-test", provider="anthropic"),
            "chat unpriced": llm_attributes("gpt-unpriced"),
        },
    )
    _, secret = new_key(ch, "read", "replay")
    asked = len(fake_llm.requests)
    with QueryClient(capped.query_target, api_key=secret) as client:
        for span in ("chat claude", "chat unpriced"):
            with pytest.raises(QueryError) as refused:
                client.replay(trace, [edit(span)], execute=True)
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert "not in the price book" in refused.value.message
            assert "VIGIL_REPLAY_MODELS" in refused.value.message
    # Listed models: those only, priced or not.
    listed = capped_app(chdb_dir, fake_llm, replay_models=["claude-test"])
    try:
        with QueryClient(listed.query_target, api_key=secret) as client:
            assert client.replay(trace, [edit("chat claude")], execute=True).executed[0].error == ""
            with pytest.raises(QueryError) as refused:
                client.replay(trace, [edit("chat unpriced")], execute=True)
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert "VIGIL_REPLAY_MODELS lists claude-test" in refused.value.message
    finally:
        listed.stop()
    assert [body["model"] for _, body in fake_llm.requests[asked:]] == ["claude-test"]


def test_the_principal_caps_hold_across_a_restart(
    capped: RunningApp, ch: Client, ingest: str, chdb_dir: Path, fake_llm: FakeLLM
) -> None:
    trace = record_trace(capped, ingest, {"chat gpt-test": llm_attributes("gpt-test")})
    _, busy = new_key(ch, "read", "replay")
    _, other = new_key(ch, "read", "replay")
    with QueryClient(capped.query_target, api_key=busy) as client:
        for _ in range(3):
            assert client.replay(trace, [edit("chat gpt-test")], execute=True).executed[0].error == ""
        with pytest.raises(QueryError) as over:
            client.replay(trace, [edit("chat gpt-test")], execute=True)
        assert over.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        message = over.value.message
        assert "has used 3 provider calls" in message and "VIGIL_REPLAY_PRINCIPAL_CALLS (3)" in message
        assert "enough frees up at" in message
    with QueryClient(capped.query_target, api_key=other) as client:  # another principal
        assert client.replay(trace, [edit("chat gpt-test")], execute=True).executed[0].error == ""

    # A server started afresh (a restart, or a second server on the same ClickHouse) counts
    # the same history; with a token cap this replay fits alone, the other key's 5 tokens
    # spent so far count too.
    request = request_for(
        "openai",
        {"gen_ai.request.model": "gpt-test"},
        [{"role": "user", "parts": [{"type": "text", "content": "hello again"}]}],
        None,
        CAPS["replay_max_tokens_per_call"],
    )
    need = estimated_input_tokens(request) + CAPS["replay_max_tokens_per_call"]
    restarted = capped_app(chdb_dir, fake_llm, replay_principal_tokens=need + 2)
    try:
        with QueryClient(restarted.query_target, api_key=busy) as client:
            with pytest.raises(QueryError) as still:
                client.replay(trace, [edit("chat gpt-test")], execute=True)
            assert still.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "VIGIL_REPLAY_PRINCIPAL_CALLS (3)" in still.value.message
        with QueryClient(restarted.query_target, api_key=other) as client:
            with pytest.raises(QueryError) as tokens:
                client.replay(trace, [edit("chat gpt-test")], execute=True)
            assert tokens.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            message = tokens.value.message
            assert "has used 5 tokens" in message and f"needs up to {need}" in message
            assert (
                f"VIGIL_REPLAY_PRINCIPAL_TOKENS ({need + 2})" in message and "enough frees up at" in message
            )
    finally:
        restarted.stop()


def test_the_window_says_when_it_frees_up() -> None:
    """The oldest replays leave the window first: the reason names the moment enough of it
    has left for this replay to fit."""
    caps = Caps(principal_calls=100, principal_tokens=1000, window_s=3600)
    now = 1_800_000_000 * 10**9
    minute = 60 * 10**9
    history = [(now - 50 * minute, 1, 300), (now - 30 * minute, 1, 400), (now - 10 * minute, 1, 200)]
    check_window("k", history, [], Spend(1, 100), caps, now)  # 900 + 100 fits
    with pytest.raises(OverCap) as over:
        check_window("k", history, [Spend(1, 50)], Spend(1, 400), caps, now)
    # 900 + 50 running + 400 = 1350: 350 must leave; the oldest (300) is not enough, the
    # second (400 more) is, 30 minutes after it left the window's start.
    assert "VIGIL_REPLAY_PRINCIPAL_TOKENS (1000)" in over.value.reason
    assert "enough frees up at 2027-01-15T08:30:00Z (in 1800 s)" in over.value.reason
    with pytest.raises(OverCap) as alone:
        check_window("k", [], [], Spend(1, 1001), caps, now)
    assert "this replay alone needs more than the cap" in alone.value.reason


def test_read_only_credentials_change_no_state(capped: RunningApp, ch: Client, ingest: str) -> None:
    trace = record_trace(capped, ingest, {"chat gpt-test": llm_attributes("gpt-test")})
    _, read_only = new_key(ch, "read")
    _, writer = new_key(ch, "read", "write")
    with QueryClient(capped.query_target, api_key=read_only) as client:
        for execute in (False, True):  # both write the replay history
            with pytest.raises(QueryError) as replay:
                client.replay(trace, [edit("chat gpt-test")], execute=execute)
            assert replay.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert "not replay" in replay.value.message
        with pytest.raises(QueryError) as resolve:
            client.resolve_drift_alert("no-such-alert")
        assert (
            resolve.value.code == grpc.StatusCode.PERMISSION_DENIED and "not write" in resolve.value.message
        )
        client.replays()  # reading the history needs read only
    with QueryClient(capped.query_target, api_key=writer) as client:
        with pytest.raises(QueryError) as missing:  # allowed: the alert does not exist
            client.resolve_drift_alert("no-such-alert")
        assert missing.value.code == grpc.StatusCode.NOT_FOUND

    registry.create_user(ch, SYS, "vic", hash_password("vic's password"), is_admin=False)
    credentials_changed()
    registry.grant(ch, SYS, "vic", "alpha", "viewer")
    credentials_changed()
    registry.create_user(ch, SYS, "meg", hash_password("meg's password"), is_admin=False)
    credentials_changed()
    registry.grant(ch, SYS, "meg", "alpha", "member")
    credentials_changed()
    for user, code in (("vic", grpc.StatusCode.PERMISSION_DENIED), ("meg", grpc.StatusCode.NOT_FOUND)):
        with QueryClient(capped.query_target, project="alpha") as client:
            client.login(user, f"{user}'s password")
            with pytest.raises(QueryError) as answer:
                client.resolve_drift_alert("no-such-alert")
            assert answer.value.code == code, (user, answer.value.message)
    with QueryClient(capped.query_target, project="alpha") as client:
        client.login("meg", "meg's password")
        (alpha,) = [p for p in client.whoami().projects if p.slug == "alpha"]
        assert list(alpha.scopes) == ["read", "replay", "write"]
