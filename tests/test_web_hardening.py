"""Hardening of the HTTP ports and the data directory (issue 31, items 8, 11, 12, 13):

- while auth is off, the OTLP/HTTP and web ports answer only loopback ``Host`` names (and
  VIGIL_ALLOWED_HOSTS): a DNS-rebinding page is refused with 421;
- /ready tells anyone a status and a short code, the details only a caller who could read
  the data; /metrics needs a read key with auth on;
- the web port's answers carry CSP, nosniff, Referrer-Policy (and HSTS over TLS), with the
  shared TLS context;
- files under the data directory are 0600, directories 0700; dead letters keep their
  project and their folder is bounded;
- auth on, on a network address, without TLS: one loud warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Counter
from test_batcher import KIND, RecordingWriter, make_batcher, open_log, stop
from test_tls import self_signed

from vigil_auth import registry
from vigil_auth.host_guard import HostGuard
from vigil_auth.keys import KeyHasher
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.dead_letter import DeadLetters
from vigil_collector.wal.journal import WriteAheadLog
from vigil_collector.wal.segments import segment_path
from vigil_query.api.web_server import WebServer
from vigil_server.cli import warn_about_exposure
from vigil_server.settings import VigilSettings
from vigil_storage import apply_migrations

from support import RunningApp, ServerProcess, credentials_changed, http_request, make_request, make_settings

PROTOBUF = {"Content-Type": "application/x-protobuf"}
CONNECT = "/vigil.query.v1.QueryService/GetServices"
JSON = {"Content-Type": "application/json"}


SECRET = "web-hardening-secret-0123456789abcdef"
DATABASE = "hardauth"
SYS = f"vigil_system_{DATABASE}"  # its system database (support.make_settings)


@pytest.fixture(scope="module")
def secured(chdb_dir: Path, ch: Client) -> Iterator[RunningApp]:
    """An app with auth on, and a project ``alpha`` to make keys in."""
    app = RunningApp(make_settings(chdb_dir, database=DATABASE, auth="on", auth_secret=SECRET))
    registry.ensure(ch, SYS)
    if all(p.slug != "alpha" for p in registry.list_projects(ch, SYS, main=DATABASE)):
        registry.create_project(ch, SYS, "alpha", main=DATABASE, create_tables=partial(apply_migrations, ch))
        credentials_changed()
    yield app
    app.stop()


def new_key(ch: Client, project: str, *scopes: str) -> tuple[registry.ApiKey, str]:
    made = registry.create_key(ch, SYS, KeyHasher(SECRET.encode()), project, list(scopes), name="test")
    credentials_changed()
    return made


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """A permissive umask, as on most machines, to see the modes our code sets itself."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 8: the Host check while auth is off ----------------------------------------------------


def test_host_guard_allows_loopback_names_and_listed_ones_only() -> None:
    guard = HostGuard(["vigil.internal", "*.corp.example", "Grafana.Example:3000"])
    for host in (
        "localhost", "localhost:4320", "LOCALHOST.", "ui.localhost:4320", "127.0.0.1", "127.1.2.3:4318",
        "[::1]", "[::1]:4320", "::1", "[::ffff:127.0.0.1]:80", "vigil.internal:4318", "a.corp.example",
        "grafana.example",
    ):  # fmt: skip
        assert guard.allows(host), host
    for host in (
        None, "", "attacker.example", "attacker.example:4320", "localhost.attacker.example",
        "127.0.0.1.nip.io", "10.0.0.1:4320", "[::2]:4320", "corp.example", "0.0.0.0",
    ):  # fmt: skip
        assert not guard.allows(host), host
    assert HostGuard(["*"]).allows("anything.example")
    assert "VIGIL_ALLOWED_HOSTS" in HostGuard.refusal("attacker.example")


def test_auth_off_refuses_foreign_host_names_on_both_http_ports(app: RunningApp) -> None:
    body = make_request(2, "rebinding").SerializeToString()
    web_port = app.ports.web
    for url, data, headers in (
        (f"{app.http_base}/v1/traces", body, PROTOBUF),
        (f"{app.http_base}/metrics", None, {}),
        (f"{app.web_base}/", None, {}),
        (f"{app.web_base}/traces/abc", None, {}),
        (f"{app.web_base}{CONNECT}", b"{}", JSON),
    ):
        status, _, answer = http_request(url, data, {**headers, "Host": "attacker.example"})
        assert status == 421, (url, status, answer)
        assert b"VIGIL_ALLOWED_HOSTS" in answer and b"VIGIL_AUTH=on" in answer
        status, _, answer = http_request(url, data, {**headers, "Host": f"localhost:{web_port}"})
        assert status == 200, (url, status, answer)
    # Probes send the pod's address as Host: they are answered (in the short form).
    assert http_request(f"{app.http_base}/health", headers={"Host": "10.1.2.3:4318"})[0] == 200
    assert http_request(f"{app.http_base}/ready", headers={"Host": "10.1.2.3:4318"})[0] == 200


def test_auth_on_makes_no_host_check(secured: RunningApp, ch: Client) -> None:
    _, ingest = new_key(ch, "alpha", "ingest")
    _, read = new_key(ch, "alpha", "read")
    status, _, answer = http_request(
        f"{secured.http_base}/v1/traces",
        make_request(1, "any-name").SerializeToString(),
        {**PROTOBUF, "Host": "vigil.example.com", "Authorization": f"Bearer {ingest}"},
    )
    assert status == 200, answer
    status, _, answer = http_request(
        f"{secured.web_base}{CONNECT}",
        b"{}",
        {**JSON, "Host": "vigil.example.com", "Authorization": f"Bearer {read}"},
    )
    assert status == 200, answer


# --- 11: /ready and /metrics ----------------------------------------------------------------


def test_ready_details_go_only_to_loopback_names_while_auth_is_off(app: RunningApp) -> None:
    status, _, answer = http_request(f"{app.http_base}/ready")
    detailed = json.loads(answer)
    assert status == 200 and detailed["ready"] is True and detailed["code"] == "ok", detailed
    assert {"reason", "storage", "ingest"} <= set(detailed)
    status, _, answer = http_request(f"{app.http_base}/ready", headers={"Host": "attacker.example"})
    assert status == 200 and json.loads(answer) == {"ready": True, "status": "ready", "code": "ok"}


def test_ready_details_need_a_read_credential_with_auth_on(secured: RunningApp, ch: Client) -> None:
    _, read = new_key(ch, "alpha", "read")
    _, ingest = new_key(ch, "alpha", "ingest")
    short = {"ready": True, "status": "ready", "code": "ok"}
    for headers in ({}, {"Authorization": f"Bearer {ingest}"}, {"Authorization": "Bearer vgl_guess"}):
        status, _, answer = http_request(f"{secured.http_base}/ready", headers=headers)
        assert status == 200 and json.loads(answer) == short, (headers, answer)
    status, _, answer = http_request(
        f"{secured.http_base}/ready", headers={"Authorization": f"Bearer {read}"}
    )
    detailed = json.loads(answer)
    assert status == 200 and detailed["ingest"]["wal_max_bytes"] > 0 and detailed["storage"] == "ok"


def test_ready_says_only_a_short_code_when_storage_is_down(tmp_path: Path) -> None:
    """ClickHouse's error names the host; a caller without a read credential sees a code."""
    port = free_loopback_port()
    other = RunningApp(
        make_settings(
            tmp_path / "data",
            storage_dsn=f"http://vigil:s3cret@127.0.0.1:{port}",
            storage_connect_timeout_s=1,
            auth="on",
            auth_secret="x" * 32,
        )
    )
    try:
        status, _, answer = http_request(f"{other.http_base}/ready")
        body = json.loads(answer)
        assert status == 200 and body == {"ready": True, "status": "ready", "code": "storage_unreachable"}
    finally:
        other.stop()


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_need_a_read_key_by_default_with_auth_on(secured: RunningApp, ch: Client) -> None:
    assert VigilSettings(_env_file=None).metrics_require_key is True
    _, read = new_key(ch, "alpha", "read")
    _, ingest = new_key(ch, "alpha", "ingest")
    assert http_request(f"{secured.http_base}/metrics")[0] == 401
    assert (
        http_request(f"{secured.http_base}/metrics", headers={"Authorization": f"Bearer {ingest}"})[0] == 403
    )
    status, _, body = http_request(
        f"{secured.http_base}/metrics", headers={"Authorization": f"Bearer {read}"}
    )
    assert status == 200 and b"vigil_wal_bytes" in body


# --- 13: security headers, TLS, the warning -------------------------------------------------


def assert_security_headers(headers: dict[str, str], *, tls: bool) -> None:
    lower = {name.lower(): value for name, value in headers.items()}
    csp = lower["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert lower["x-content-type-options"] == "nosniff"
    assert lower["referrer-policy"] == "no-referrer"
    assert ("strict-transport-security" in lower) == tls
    if tls:
        assert lower["strict-transport-security"].startswith("max-age=")


def test_web_answers_carry_the_security_headers(app: RunningApp) -> None:
    for url, data, headers in (
        (f"{app.web_base}/", None, {}),
        (f"{app.web_base}/missing.js", None, {}),
        (f"{app.web_base}{CONNECT}", b"{}", JSON),
        (f"{app.web_base}/vigil.query.v1.QueryService/NoSuchMethod", b"{}", JSON),
    ):
        _, answer_headers, _ = http_request(url, data, headers)
        assert_security_headers(answer_headers, tls=False)


def test_built_ui_needs_nothing_the_policy_forbids() -> None:
    """No inline script or style in the built page (the policy has no 'unsafe-inline'), and
    the UI never sets a style attribute (blocked too): only the CSSOM."""
    from vigil_query.api.web_app import default_ui_dir

    index = default_ui_dir() / "index.html"
    if not index.is_file():
        pytest.skip("the UI is not built (make ui)")
    html = index.read_text()
    assert "<style" not in html and " style=" not in html
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">", 1)[0], "an inline script"
    ui_src = Path(default_ui_dir()).parent / "src"
    for path in ui_src.rglob("*.ts"):
        assert 'setAttribute("style"' not in path.read_text(), path


def test_tls_web_port_sends_hsts_and_answers_listed_names(tmp_path: Path, chdb_dir: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="hardtls",
            tls_cert_file=cert,
            tls_key_file=key,
            allowed_hosts=["vigil.internal"],
        )
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        base = f"https://127.0.0.1:{app.ports.web}"
        for host, expected in (("vigil.internal", 200), ("vigil.internal:443", 200), ("evil.example", 421)):
            request = urllib.request.Request(f"{base}/", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, context=context, timeout=30) as response:
                    status, headers = response.status, dict(response.headers)
            except urllib.error.HTTPError as err:
                status, headers = err.code, dict(err.headers)
            assert status == expected, host
            assert_security_headers(headers, tls=True)
    finally:
        app.stop()


class _Tls13Only:
    """A TLS configuration whose context refuses TLS 1.2: only a server that uses the
    context it is given (not one of its own from the files) refuses a TLS 1.2 client."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self.cert, self.key)
        return context


def test_web_port_uses_the_tls_context_it_is_given(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)

    async def hello(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"hi"})  # type: ignore[operator]

    async def scenario() -> tuple[str, str]:
        server = WebServer(hello)
        port = await server.start("127.0.0.1", 0, _Tls13Only(cert, key).ssl_context())
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, handshakes, port, cert)
        finally:
            await server.stop()

    tls13, tls12 = asyncio.run(scenario())
    assert tls13 == "TLSv1.3"
    assert tls12 == "refused"


def handshakes(port: int, cert: Path) -> tuple[str, str]:
    results = []
    for maximum in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        context = ssl.create_default_context(cafile=str(cert))
        context.maximum_version = maximum
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                results.append(str(tls.version()))
        except ssl.SSLError:
            results.append("refused")
    return results[0], results[1]


def test_auth_on_over_the_network_without_tls_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def warnings(**values: object) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vigil"):
            warn_about_exposure(VigilSettings(_env_file=None, data_dir=tmp_path, **values))
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    (loud,) = warnings(auth="on", listen_host="0.0.0.0")
    assert "clear text" in loud and "0.0.0.0" in loud and "VIGIL_TLS_CERT_FILE" in loud
    cert, key = self_signed(tmp_path)
    assert warnings(auth="on", listen_host="0.0.0.0", tls_cert_file=cert, tls_key_file=key) == []
    assert warnings(auth="on", listen_host="127.0.0.1") == []
    assert warnings(auth="on", listen_host="::1") == []


# --- 12: file modes and dead letters ---------------------------------------------------------


def test_the_log_makes_private_files_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "wal"

    async def scenario() -> None:
        wal = WriteAheadLog(directory, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics())
        wal.open()
        wal.start()
        try:
            await wal.append(KIND, 1, b"a record")
            wal.dead_letters.add_bytes(7, 1, 3, b"refused", "no", project=2)
        finally:
            wal.stop_accepting()
            wal.close()

    with umask(0o022):
        asyncio.run(scenario())
    assert mode(directory) == 0o700 and mode(directory / "dead-letter") == 0o700
    files = [p for p in directory.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert names >= {
        "LOCK",
        "state.json",
        "index.jsonl",
        f"{7:020d}.otlp.pb",
        segment_path(directory, 0).name,
    }
    assert {str(p.relative_to(directory)): oct(mode(p)) for p in files if mode(p) != 0o600} == {}


def test_an_older_logs_open_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    wal = WriteAheadLog(directory, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics())
    wal.open()
    wal.close()
    assert mode(directory) == 0o700


def test_a_dead_letter_keeps_its_project(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        batcher = make_batcher(wal, RecordingWriter(), max_wait_s=0.05)
        await wal.append(KIND, 4, b"gone", project=9)
        await asyncio.wait_for(batcher.flushed(), 5)
        (dead,) = wal.dead_letters.entries()
        assert dead["project"] == 9 and dead["items"] == 4, dead
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_the_dead_letter_folder_is_bounded_oldest_first(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    added = Counter("added", "", registry=registry)
    dropped = Counter("vigil_dead_letters_dropped", "", registry=registry)
    letters = DeadLetters(tmp_path / "dead-letter", added, dropped, max_bytes=2000)
    with umask(0o022):
        for seq in range(6):
            letters.add_bytes(seq, 2, 1, bytes([seq]) * 500, f"refused {seq}", project=seq % 2)
    entries = letters.entries()
    assert [e["seq"] for e in entries] == [3, 4, 5]  # the three newest fit with their index lines
    assert [e["project"] for e in entries] == [1, 0, 1]
    on_disk = sorted(p.name for p in letters.directory.iterdir())
    assert on_disk == sorted([*(str(e["file"]) for e in entries), "index.jsonl"])
    assert sum(p.stat().st_size for p in letters.directory.iterdir()) <= 2000
    assert registry.get_sample_value("vigil_dead_letters_dropped_total") == 3
    assert registry.get_sample_value("added_total") == 6
    assert {oct(mode(p)) for p in letters.directory.iterdir()} == {oct(0o600)}
    # One larger than the whole bound is not kept either, and is counted.
    letters.add_bytes(9, 2, 1, b"x" * 3000, "huge", project=1)
    assert all(e["seq"] != 9 for e in letters.entries())
    assert registry.get_sample_value("vigil_dead_letters_dropped_total") >= 4


def test_vigil_serve_keeps_everything_under_the_data_dir_private(tmp_path: Path) -> None:
    """`vigil serve` with a fresh data directory, the embedded ClickHouse's files included."""
    data = tmp_path / "data"
    with umask(0o022):  # the parent's umask, inherited by the child
        server = ServerProcess(data, VIGIL_AUTH="on", VIGIL_AUTH_SECRET="")
    try:
        server.wait_ready()
        status, _, _ = http_request(
            f"{server.http_base}/v1/traces", make_request(1, "x").SerializeToString(), PROTOBUF
        )
        assert status == 401  # a request went through; its refusal is all this test needs
    finally:
        server.terminate()
        assert server.wait() == 0, server.log()[-2000:]
    loose = {
        str(p.relative_to(data)): oct(mode(p))
        for p in [data, *data.rglob("*")]
        if not p.is_symlink() and mode(p) & 0o077
    }
    assert loose == {}, f"readable by others: {sorted(loose.items())[:20]} ({len(loose)})"
    assert (data / "auth-secret").is_file() and (data / "wal" / "state.json").is_file()
    assert (data / "clickhouse").is_dir()
