"""Projects and API keys with VIGIL_AUTH=on: stock exporters send `authorization: Bearer vgl_…`,
each key writes to and reads from its own project only, scopes are enforced, revoked and
rotated keys stop working within seconds, and no key is stored in clear text."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import grpc
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from test_query_grpcurl import grpcurl

from vigil import QueryClient, QueryError
from vigil.admin.v1 import admin_pb2, admin_pb2_grpc
from vigil.query.v1 import query_pb2
from vigil_auth import registry
from vigil_auth.authenticator import Authenticator
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_auth.throttle import FailureThrottle
from vigil_auth.tokens import TokenSigner
from vigil_storage import StorageUnavailable, apply_migrations, connect

from support import RunningApp, http_request, make_request, make_settings, run_cli
from test_otlp_roundtrip import record_spans

SECRET = "test-auth-secret-0123456789-abcdefghij"  # ≥ 32 bytes
SESSION_SECRET = "test-session-secret-0123456789-abcdefghij"
MAIN = "authmain"
SYS = f"vigil_system_{MAIN}"  # its system database (support.make_settings)


@pytest.fixture(scope="module")
def secured(chdb_dir: Path, ch: Client) -> Iterator[RunningApp]:
    app = RunningApp(
        make_settings(
            chdb_dir,
            database=MAIN,
            auth="on",
            auth_secret=SECRET,
            session_secret=SESSION_SECRET,
            drift_interval_s=0,
        )
    )
    registry.ensure(ch, SYS)
    for slug in ("alpha", "beta"):
        registry.create_project(ch, SYS, slug, main=MAIN, create_tables=partial(apply_migrations, ch))
    _SERVING.append(app)
    yield app
    _SERVING.remove(app)
    app.stop()


# The servers of these tests: what a test writes into the registry directly reaches them with
# their refresh (2 s; an unknown key is refused, not waited for), so `known` loads it at once.
_SERVING: list[RunningApp] = []


def known() -> None:
    for app in _SERVING:
        app.run(app.app.auth.reload())


def new_key(ch: Client, project: str, *scopes: str) -> tuple[registry.ApiKey, str]:
    made = registry.create_key(ch, SYS, KeyHasher(SECRET.encode()), project, list(scopes), name="test")
    known()
    return made


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def stored_services(ch: Client, database: str) -> set[str]:
    return {r[0] for r in ch.query(f"SELECT DISTINCT ServiceName FROM {database}.otel_traces").result_rows}


def test_no_or_bad_credential_is_refused_and_nothing_stored(secured: RunningApp, ch: Client) -> None:
    body = make_request(3, "anonymous").SerializeToString()
    for headers in ({}, {"Authorization": "Bearer vgl_not-a-key"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        status, answer_headers, answer = http_request(
            f"{secured.http_base}/v1/traces", body, {"Content-Type": "application/x-protobuf", **headers}
        )
        assert status == 401 and answer_headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert b"credentials" in answer
    exporter = GrpcExporter(endpoint=secured.grpc_target, insecure=True, headers=bearer("vgl_wrong"))
    assert exporter.export(record_spans("anonymous")) == SpanExportResult.FAILURE
    exporter.shutdown()
    with grpc.insecure_channel(secured.grpc_target) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as refused:
            export(body, timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    secured.flush()
    assert "anonymous" not in stored_services(ch, MAIN) | stored_services(ch, f"{MAIN}_alpha")


def test_each_key_writes_and_reads_its_own_project(secured: RunningApp, ch: Client) -> None:
    _, alpha_ingest = new_key(ch, "alpha", "ingest")
    _, beta_ingest = new_key(ch, "beta", "ingest")
    _, alpha_read = new_key(ch, "alpha", "read", "replay")  # replay: a what-if writes history
    alpha_spans, beta_spans = record_spans("alpha-svc"), record_spans("beta-svc")
    grpc_exporter = GrpcExporter(endpoint=secured.grpc_target, insecure=True, headers=bearer(alpha_ingest))
    http_exporter = HttpExporter(endpoint=f"{secured.http_base}/v1/traces", headers=bearer(beta_ingest))
    assert grpc_exporter.export(alpha_spans) == SpanExportResult.SUCCESS
    assert http_exporter.export(beta_spans) == SpanExportResult.SUCCESS
    grpc_exporter.shutdown()
    http_exporter.shutdown()
    secured.flush()
    assert stored_services(ch, f"{MAIN}_alpha") == {"alpha-svc"}
    assert stored_services(ch, f"{MAIN}_beta") == {"beta-svc"}
    assert "alpha-svc" not in stored_services(ch, MAIN)

    alpha_trace = format(alpha_spans[0].context.trace_id, "032x")
    beta_trace = format(beta_spans[0].context.trace_id, "032x")
    with QueryClient(secured.query_target, api_key=alpha_read) as client:
        assert len(client.get_trace(alpha_trace).spans) == len(alpha_spans)
        with pytest.raises(QueryError) as hidden:
            client.get_trace(beta_trace)
        assert hidden.value.code == grpc.StatusCode.NOT_FOUND
        assert client.services() == ["alpha-svc"]
        assert not list(client.iter_spans(service="beta-svc"))
        assert {t.root_service_name for t in client.search_traces().traces} == {"alpha-svc"}
        drift = client.drift("duration", group_by=["service.name"], min_samples=1)
        assert {dict(g.group)["service.name"] for g in drift.groups} <= {"alpha-svc"}
        with pytest.raises(QueryError) as replay_b:
            client.replay(beta_trace, [{"span_name": "agent.run", "patch": []}])
        assert replay_b.value.code == grpc.StatusCode.NOT_FOUND


def test_scopes_are_enforced(secured: RunningApp, ch: Client) -> None:
    _, ingest_only = new_key(ch, "alpha", "ingest")
    _, read_only = new_key(ch, "alpha", "read")
    with QueryClient(secured.query_target, api_key=ingest_only) as client:
        with pytest.raises(QueryError) as denied:
            client.services()
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED and "not read" in denied.value.message
    with QueryClient(secured.query_target, api_key=read_only) as client:
        assert isinstance(client.services(), list)
        with pytest.raises(QueryError) as no_execute:
            client.replay("ab" * 16, [{"span_name": "x", "patch": []}], execute=True)
        assert no_execute.value.code == grpc.StatusCode.PERMISSION_DENIED
    with QueryClient(secured.query_target) as client, pytest.raises(QueryError) as missing:
        client.services()
    assert missing.value.code == grpc.StatusCode.UNAUTHENTICATED
    status, _, _ = http_request(
        f"{secured.http_base}/v1/traces",
        make_request(1, "read-key-ingest").SerializeToString(),
        {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {read_only}"},
    )
    assert status == 403
    assert http_request(f"{secured.http_base}/health")[0] == 200  # probes need no credential
    assert http_request(f"{secured.http_base}/ready")[0] == 200


def _accepted(app: RunningApp, key: str) -> int:
    body = make_request(1, "rotation").SerializeToString()
    return http_request(
        f"{app.http_base}/v1/traces",
        body,
        {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
    )[0]


def _within(seconds: float, condition: object) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def test_revoked_and_rotated_keys(secured: RunningApp, ch: Client) -> None:
    record, key = new_key(ch, "alpha", "ingest")
    assert _accepted(secured, key) == 200  # a new key works at once
    registry.revoke_key(ch, SYS, record.key_id)
    took = _within(5, lambda: _accepted(secured, key) == 401)
    print(f"revoked key refused after {took:.1f} s")

    old_record, old = new_key(ch, "alpha", "ingest")
    _, new = registry.rotate_key(ch, SYS, KeyHasher(SECRET.encode()), old_record.key_id, grace_s=3)
    known()
    assert _accepted(secured, old) == 200 and _accepted(secured, new) == 200  # both, during the grace
    _within(8, lambda: _accepted(secured, old) == 401)
    assert _accepted(secured, new) == 200


def test_no_key_in_clear_text_in_storage(secured: RunningApp, ch: Client) -> None:
    _, key = new_key(ch, "alpha", "ingest", "read")
    assert _accepted(secured, key) == 200
    secured.flush()
    databases = [MAIN, f"{MAIN}_alpha", f"{MAIN}_beta", SYS]
    tables = ch.query(
        "SELECT database, name FROM system.tables WHERE database IN {dbs:Array(String)} AND engine LIKE '%MergeTree'",
        parameters={"dbs": databases},
    ).result_rows
    assert any(name == "vigil_api_keys" for _, name in tables)
    secret_part = key[len("vgl_") + 8 :]  # what the listing prefix does not show
    for database, name in tables:
        dump = ch.raw_query(f"SELECT * FROM {database}.`{name}` FORMAT TSV").decode(errors="replace")
        assert secret_part not in dump and SECRET not in dump, f"{database}.{name} holds a secret"


def test_a_network_listener_without_an_auth_setting_refuses_to_start(tmp_path: Path) -> None:
    out = run_cli(
        "serve",
        env={
            "VIGIL_LISTEN_HOST": "0.0.0.0",
            "VIGIL_DATA_DIR": str(tmp_path / uuid.uuid4().hex),
            "PATH": "/usr/bin:/bin",
        },
        timeout=60,
    )
    assert out.returncode == 2
    assert "VIGIL_AUTH" in out.stderr and "VIGIL_LISTEN_HOST=0.0.0.0" in out.stderr


def test_a_get_trace_request_works_with_a_key(secured: RunningApp, ch: Client) -> None:
    _, key = new_key(ch, "beta", "read")
    with QueryClient(secured.query_target, api_key=key) as client:
        assert client._call(client._stub.GetServices, query_pb2.GetServicesRequest()).services == ["beta-svc"]


def test_users_log_in_and_act_in_their_projects_by_role(secured: RunningApp, ch: Client) -> None:
    """A viewer reads its project with a session from Login, cannot execute replays, cannot
    read a project it is not a member of; an expired token and a wrong password are refused."""
    registry.create_user(ch, SYS, "vera", hash_password("correct horse"), is_admin=False)
    registry.grant(ch, SYS, "vera", "beta", "viewer")
    known()
    with QueryClient(secured.query_target, project="beta") as client:
        with pytest.raises(QueryError) as wrong:
            client.login("vera", "wrong password")
        assert wrong.value.code == grpc.StatusCode.UNAUTHENTICATED
        session = client.login("vera", "correct horse")
        assert session.expires_in_s == 900 and session.refresh_token
        assert client.services() == ["beta-svc"]
        with pytest.raises(QueryError) as viewer:
            client.replay("ab" * 16, [{"span_name": "x", "patch": []}], execute=True)
        assert viewer.value.code == grpc.StatusCode.PERMISSION_DENIED
        refreshed = client._call(
            client._stub.RefreshSession, query_pb2.RefreshSessionRequest(refresh_token=session.refresh_token)
        )
        assert refreshed.access_token
    with QueryClient(secured.query_target, api_key=session.access_token, project="alpha") as client:
        with pytest.raises(QueryError) as other:
            client.services()
        assert other.value.code == grpc.StatusCode.PERMISSION_DENIED
    expired = TokenSigner(SESSION_SECRET.encode()).issue("vera", now=time.time() - 3600).access_token
    with QueryClient(secured.query_target, api_key=expired, project="beta") as client:
        with pytest.raises(QueryError) as late:
            client.services()
        assert late.value.code == grpc.StatusCode.UNAUTHENTICATED
    rows = ch.query(f"SELECT password_hash FROM {SYS}.vigil_users WHERE username = 'vera'").result_rows
    assert rows and all("correct horse" not in r[0] and r[0].startswith("$argon2id$") for r in rows)


def test_the_users_command_creates_the_first_admin(tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    created = subprocess.run(
        [sys.executable, "-m", "vigil_server.cli", "users", "create", "root", "--admin"],
        input="a long enough password\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["admin"] is True
    listed = run_cli("users", "list", env=env, timeout=120)
    assert [u["username"] for u in json.loads(listed.stdout)] == ["root"]


def test_refusals_are_counted_and_repeated_failures_slowed(secured: RunningApp, ch: Client) -> None:
    for _ in range(3):
        http_request(
            f"{secured.http_base}/v1/traces",
            b"",
            {"Content-Type": "application/x-protobuf", "Authorization": "Bearer vgl_guess"},
        )
    _, read = new_key(ch, "alpha", "read")  # /metrics needs one by default
    _, _, metrics = http_request(f"{secured.http_base}/metrics", headers={"Authorization": f"Bearer {read}"})
    counted = [line for line in metrics.decode().splitlines() if line.startswith("vigil_auth_failures_total")]
    assert any('reason="unauthenticated"' in line and float(line.split()[-1]) >= 3 for line in counted)

    throttle = FailureThrottle(free=2, step_s=0.5, max_delay_s=1.0)
    delays = []
    for _ in range(6):
        delays.append(throttle.delay_s("10.0.0.1"))
        throttle.failed("10.0.0.1")
    assert delays == [0, 0, 0, 0.5, 1.0, 1.0] and throttle.delay_s("10.0.0.2") == 0


def test_metrics_can_require_a_key(chdb_dir: Path, ch: Client, secured: RunningApp) -> None:
    del secured  # the registry it set up
    guarded = RunningApp(
        make_settings(
            chdb_dir,
            database=MAIN,
            auth="on",
            auth_secret=SECRET,
            session_secret=SESSION_SECRET,
            metrics_require_key=True,
            drift_interval_s=0,
        )
    )
    _SERVING.append(guarded)
    try:
        _, key = new_key(ch, "alpha", "read")
        assert http_request(f"{guarded.http_base}/metrics")[0] == 401
        assert (
            http_request(f"{guarded.http_base}/metrics", headers={"Authorization": f"Bearer {key}"})[0] == 200
        )
        assert http_request(f"{guarded.http_base}/health")[0] == 200
    finally:
        _SERVING.remove(guarded)
        guarded.stop()


def test_keys_list_when_they_were_last_used(secured: RunningApp, ch: Client) -> None:
    record, key = new_key(ch, "alpha", "ingest")
    assert _accepted(secured, key) == 200
    secured.run(secured.app.auth.save_usage())  # the server does this once a minute
    (listed,) = [k for k in registry.list_keys(ch, SYS) if k.key_id == record.key_id]
    assert listed.last_used_ns >= record.created_ns


def test_the_admin_api(secured: RunningApp, ch: Client) -> None:
    """The registry's operations as RPCs (listed by reflection): a server admin creates a
    project and a user; that project's admin makes and revokes keys; others are refused."""
    registry.create_user(ch, SYS, "root", hash_password("root password 1"), is_admin=True)
    known()
    with grpc.insecure_channel(secured.query_target) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)

        def call(method: str, request: object, token: str, project: str = "") -> object:
            metadata = [("authorization", f"Bearer {token}")] + (
                [("x-vigil-project", project)] if project else []
            )
            return getattr(admin, method)(request, metadata=metadata, timeout=30)

        with QueryClient(secured.query_target) as client:
            root = client.login("root", "root password 1").access_token
        made = call("CreateProject", admin_pb2.CreateProjectRequest(project="gamma", name="Gamma"), root)
        assert made.project.database == f"{MAIN}_gamma"
        # The admin service had storage make its telemetry tables (the registry only records it).
        assert ch.command(f"EXISTS TABLE {MAIN}_gamma.otel_traces") == 1
        assert "gamma" in [
            p.project for p in call("ListProjects", admin_pb2.ListProjectsRequest(), root).projects
        ]
        call("CreateUser", admin_pb2.CreateUserRequest(username="gina", password="gina password"), root)
        call("SetRole", admin_pb2.SetRoleRequest(username="gina", role="admin"), root, "gamma")
        with QueryClient(secured.query_target, project="gamma") as client:
            gina = client.login("gina", "gina password").access_token
        created = call(
            "CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["ingest"], name="pods"), gina, "gamma"
        )
        assert created.secret.startswith("vgl_") and created.key.project == "gamma"
        assert _accepted(secured, created.secret) == 200
        listed = call("ListApiKeys", admin_pb2.ListApiKeysRequest(), gina, "gamma").keys
        assert [k.key_id for k in listed] == [created.key.key_id] and not any(
            created.secret in str(k) for k in listed
        )
        call("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=created.key.key_id), gina, "gamma")
        assert _accepted(secured, created.secret) == 401  # at once on this server
        with pytest.raises(grpc.RpcError) as not_server_admin:
            call("CreateProject", admin_pb2.CreateProjectRequest(project="delta"), gina, "gamma")
        assert not_server_admin.value.code() == grpc.StatusCode.PERMISSION_DENIED
        _, ingest_key = new_key(ch, "alpha", "ingest")
        with pytest.raises(grpc.RpcError) as no_admin_scope:
            call("ListApiKeys", admin_pb2.ListApiKeysRequest(), ingest_key)
        assert no_admin_scope.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The price book, one for all projects: server admins only, prices checked.
        acme = query_pb2.ModelPrice(provider="acme", model_pattern="acme-.*", input=1.0, output=2.0)
        written = call("SetModelPrices", admin_pb2.SetModelPricesRequest(prices=[acme]), root)
        assert written.written == 1
        with QueryClient(secured.query_target) as client:
            client.login("root", "root password 1")
            (mine,) = [p for p in client.model_prices() if p.origin == "user"]
        assert (mine.model_pattern, mine.cache_read, mine.cache_creation) == ("acme-.*", 1.0, 1.0)
        bad = query_pb2.ModelPrice(model_pattern="acme-[", input=1.0, output=2.0)
        with pytest.raises(grpc.RpcError) as refused:
            call("SetModelPrices", admin_pb2.SetModelPricesRequest(prices=[bad]), root)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "is not a regular expression" in refused.value.details()
        with pytest.raises(grpc.RpcError) as not_server_admin:
            call("SetModelPrices", admin_pb2.SetModelPricesRequest(prices=[acme]), gina, "gamma")
        assert not_server_admin.value.code() == grpc.StatusCode.PERMISSION_DENIED
        call("SetModelPrices", admin_pb2.SetModelPricesRequest(replace=True), root)
        with pytest.raises(grpc.RpcError) as unconfirmed:
            call("DeleteProject", admin_pb2.DeleteProjectRequest(project="gamma"), root)
        assert unconfirmed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        call("DeleteProject", admin_pb2.DeleteProjectRequest(project="gamma", confirm=True), root)
    services = grpcurl(secured.query_target, "list").stdout.split()
    assert "vigil.admin.v1.AdminService" in services


def test_records_of_other_projects_wait_while_the_projects_cannot_be_loaded() -> None:
    """Storage down at start: the write-ahead log may hold records of any project, and until
    the projects are known their writes must be retried, not dead-lettered as deleted."""

    class StorageDown:
        def load(self) -> None:
            raise StorageUnavailable("connecting: ClickHouse unavailable")

        def record_usage(self, used: dict[str, int]) -> None:
            pass

        def start_session(self, family: str, username: str, refresh_id: str) -> None:
            raise StorageUnavailable("connecting: ClickHouse unavailable")

        def rotate_session(self, family: str, presented: str, new_id: str) -> bool:
            raise StorageUnavailable("connecting: ClickHouse unavailable")

        def end_session(self, family: str) -> None:
            raise StorageUnavailable("connecting: ClickHouse unavailable")

    async def scenario() -> None:
        auth = Authenticator(
            enabled=False,
            hasher=KeyHasher(b"s"),
            signer=TokenSigner(b"s"),
            link=StorageDown(),
            default_database="otel",
        )
        await auth.start()
        try:
            assert auth.database_of(0) == "otel"
            with pytest.raises(StorageUnavailable):
                auth.database_of(3)
        finally:
            await auth.stop()

    asyncio.run(scenario())


def test_a_project_is_registered_only_after_the_caller_made_its_tables(secured: RunningApp) -> None:
    """The registry does not know the telemetry schema: it calls the caller's ``create_tables``
    before writing the project's row, so a failure there leaves no project behind."""
    seen: list[tuple[str, list[str]]] = []

    class NoSpace(Exception):
        pass

    with connect(secured.settings.dsn) as client:

        def listed() -> list[str]:
            return [p.slug for p in registry.list_projects(client, SYS, main=MAIN)]

        def refuse(database: str) -> None:
            seen.append((database, listed()))
            raise NoSpace("disk full")

        with pytest.raises(NoSpace):
            registry.create_project(client, SYS, "epsilon", main=MAIN, create_tables=refuse)
        assert [database for database, _ in seen] == [f"{MAIN}_epsilon"] and "epsilon" not in seen[0][1]
        assert "epsilon" not in listed()

        def make(database: str) -> None:
            assert "epsilon" not in listed()  # its tables first, then its row
            apply_migrations(client, database)

        made = registry.create_project(client, SYS, "epsilon", main=MAIN, create_tables=make)
        assert made.database == f"{MAIN}_epsilon" and "epsilon" in listed()
        assert client.command(f"EXISTS TABLE {MAIN}_epsilon.otel_logs") == 1


def test_projects_created_at_once_get_distinct_numbers(secured: RunningApp) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(i: int) -> int:
        client = connect(secured.settings.dsn)
        try:
            return registry.create_project(
                client, SYS, f"burst_{i}", main=MAIN, create_tables=partial(apply_migrations, client)
            ).number
        finally:
            client.close()

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(create, range(4)))
    assert len(set(numbers)) == 4, numbers
    with connect(secured.settings.dsn) as client:
        live = {p.slug: p.number for p in registry.list_projects(client, SYS, main=MAIN)}
    assert {live[f"burst_{i}"] for i in range(4)} == set(numbers)


def test_the_web_port_takes_the_same_credentials(secured: RunningApp, ch: Client) -> None:
    """Connect on the web port: the same keys, scopes and errors as gRPC on the query port."""
    url = f"{secured.web_base}/vigil.query.v1.QueryService/GetServices"

    def call(headers: dict[str, str]) -> tuple[int, dict]:
        request = urllib.request.Request(
            url, data=b"{}", headers={"Content-Type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    status, error = call({})
    assert (status, error["code"]) == (401, "unauthenticated")
    _, ingest_key = new_key(ch, "alpha", "ingest")
    status, error = call(bearer(ingest_key))
    assert (status, error["code"]) == (403, "permission_denied")
    _, read_key = new_key(ch, "alpha", "read")
    status, answer = call(bearer(read_key))
    assert (status == 200 and "services" in answer) or answer == {}


def test_whoami_lists_the_projects_a_credential_may_act_in(secured: RunningApp, ch: Client) -> None:
    """The UI's project switcher: a user's memberships with their roles; a key's own project
    (any valid key may ask, an ingest-only one too); no credential → UNAUTHENTICATED."""
    registry.create_user(ch, SYS, "wanda", hash_password("pw-wanda"), is_admin=False)
    registry.grant(ch, SYS, "wanda", "alpha", "viewer")
    registry.grant(ch, SYS, "wanda", "beta", "member")
    known()
    with QueryClient(secured.query_target, project="beta") as client:
        client.login("wanda", "pw-wanda")
        me = client.whoami()
    assert me.auth_enabled and me.username == "wanda" and me.project == "beta" and not me.server_admin
    assert [(p.slug, p.role, list(p.scopes)) for p in me.projects] == [
        ("alpha", "viewer", ["read"]),
        ("beta", "member", ["read", "replay", "write"]),
    ]
    with QueryClient(secured.query_target) as client:  # the default project: not hers
        client.login("wanda", "pw-wanda")
        me = client.whoami()
        assert me.project == "" and [p.slug for p in me.projects] == ["alpha", "beta"]
        with pytest.raises(QueryError) as outside:
            client.services()
        assert outside.value.code == grpc.StatusCode.PERMISSION_DENIED
    key, ingest_key = new_key(ch, "alpha", "ingest")
    with QueryClient(secured.query_target, api_key=ingest_key) as client:
        me = client.whoami()
    assert (me.username, me.key_id, me.project) == ("", key.key_id, "alpha")
    assert [(p.slug, list(p.scopes)) for p in me.projects] == [("alpha", ["ingest"])]
    with QueryClient(secured.query_target) as client, pytest.raises(QueryError) as anonymous:
        client.whoami()
    assert anonymous.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_a_revoked_key_ends_its_live_tail(secured: RunningApp, ch: Client) -> None:
    key, read_key = new_key(ch, "alpha", "read")
    with QueryClient(secured.query_target, api_key=read_key) as client:
        tail = iter(client.tail_spans())
        assert not next(tail).spans  # live
        registry.revoke_key(ch, SYS, key.key_id)
        started = time.monotonic()
        with pytest.raises(QueryError) as ended:
            for _ in tail:
                pass
    assert ended.value.code == grpc.StatusCode.UNAUTHENTICATED and time.monotonic() - started < 15
