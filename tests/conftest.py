"""Shared fixtures: a real Vigil app on loopback ports over a real embedded ClickHouse.

chDB can open one data directory per process, so the in-process app, and every client the
tests use to read back, share one directory for the whole session. Tests that need a
fresh server run ``vigil serve`` as a subprocess (see ``support.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from fake_llm import FakeLLM
from notify_fakes import FakeReceivers
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import vigil
from vigil_storage import connect

from support import RunningApp, make_settings


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vigil-data")


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    """A local stand-in for the OpenAI and Anthropic APIs (see fake_llm.py)."""
    server = FakeLLM(slow_s=3.0)
    yield server
    server.close()


@pytest.fixture(scope="session")
def app(chdb_dir: Path, fake_llm: FakeLLM) -> Iterator[RunningApp]:
    """One collector for the session: OTLP gRPC + HTTP on ephemeral loopback ports; replays
    send GenAI calls to the fake LLM server."""
    settings = make_settings(
        chdb_dir,
        max_body_bytes=8 * 1024 * 1024,
        decode_workers=1,
        replay_openai_base_url=fake_llm.base_url + "/v1",
        replay_openai_api_key="test-key",
        replay_anthropic_base_url=fake_llm.base_url,
        replay_anthropic_api_key="test-key",
        replay_timeout_s=2.0,  # the fake's `slow` model (3 s) times out; a loaded machine stays under it
        replay_models=["gpt-test", "claude-test", "gpt-ui"],  # the fake's models are in no price book
    )
    running = RunningApp(settings)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def ch(app: RunningApp) -> Client:
    """A ClickHouse client on the app's own embedded storage, for reading back."""
    return connect(app.settings.dsn)


@pytest.fixture(scope="session")
def sdk_memory(app: RunningApp) -> Iterator[InMemorySpanExporter]:
    """``vigil.init`` once for the session, exporting to the session app, plus an in-memory
    copy of every finished span so tests can inspect span structure without a round trip."""
    provider = vigil.init(endpoint=f"http://{app.grpc_target}", service_name="vigil-sdk-tests")
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    vigil.shutdown()


@pytest.fixture
def spans(sdk_memory: InMemorySpanExporter) -> InMemorySpanExporter:
    sdk_memory.clear()
    return sdk_memory


@pytest.fixture
def client(app: RunningApp) -> Iterator[Client]:
    """A ClickHouse client of the test's own on the app's storage, to give to a component (a
    runner's or a notifier's thread is the only user of the client it is given). Modules that
    talk to the query API define their own ``client`` (a ``QueryClient``)."""
    c = connect(app.settings.dsn)
    yield c
    c.close()


@pytest.fixture
def reader(app: RunningApp) -> Iterator[Client]:
    """A second client, for the test's (or an API's) reads while a component owns ``client``."""
    c = connect(app.settings.dsn)
    yield c
    c.close()


@pytest.fixture
def system_db(client: Client) -> Iterator[str]:
    """A system database of the test's own (alert, outbox and incident tables), dropped after."""
    name = f"vigil_system_test_{uuid.uuid4().hex[:8]}"
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def fake() -> Iterator[FakeReceivers]:
    """The fake receivers (webhook, Slack, Telegram, PagerDuty, Alertmanager) of one test."""
    f = FakeReceivers()
    yield f
    f.close()
