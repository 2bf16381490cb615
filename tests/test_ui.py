"""The web UI (ui/), served by the app on its web port, in a real Chromium driven by
playwright-core (ui/tests/e2e.mjs): trace search → a trace → the LLM span's conversation;
deep links; the TypeScript stubs generated from proto/ are current. Screenshots land in
.test-artifacts/ui/."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

import grpc
import openai
import pytest
from fake_llm import FakeLLM
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_drift import send_durations

import vigil
from vigil import QueryClient, QueryError
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_query.api.web_app import web_app
from vigil_query.drift.detector import DetectorConfig, evaluate_once
from vigil_storage import apply_migrations, connect

from support import REPO, RunningApp, ServerProcess, free_port, make_settings

UI = REPO / "ui"
SHOTS = REPO / ".test-artifacts" / "ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_ui = pytest.mark.skipif(
    not (UI / "node_modules").is_dir() or not (UI / "dist" / "index.html").is_file(),
    reason="the UI is not built (make ui needs Node.js and npm)",
)
needs_browser = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def browser(scenario: str, web_base: str, *args: str) -> dict:
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["node", str(UI / "tests" / "e2e.mjs"), scenario, web_base, str(SHOTS), *args],
        capture_output=True, text=True, timeout=180, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    assert out.returncode == 0, f"{scenario}: {out.stderr.strip()} (screenshots in {SHOTS})"
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_ui
def test_generated_typescript_is_current() -> None:
    with tempfile.TemporaryDirectory() as out:
        template = Path(out) / "buf.gen.yaml"
        template.write_text((UI / "buf.gen.yaml").read_text().replace("out: src/gen", f"out: {out}/gen"))
        subprocess.run(
            ["npx", "--no-install", "buf", "generate", "--template", str(template), "../proto"],
            cwd=UI, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        committed, fresh = UI / "src" / "gen", Path(out) / "gen"
        files = {f.relative_to(committed) for f in committed.rglob("*.ts")}
        files |= {f.relative_to(fresh) for f in fresh.rglob("*.ts")}
        changed = sorted(
            str(f)
            for f in files
            if not (committed / f).is_file()
            or not (fresh / f).is_file()
            or (committed / f).read_bytes() != (fresh / f).read_bytes()
        )
        assert not changed, f"ui/src/gen is stale ({changed}): run `npm run generate` in ui/"


@needs_ui
def test_the_app_serves_the_ui_and_its_deep_links(app: RunningApp) -> None:
    with urllib.request.urlopen(f"{app.web_base}/traces/{'ab' * 16}", timeout=30) as page:
        assert page.status == 200 and b'<div id="app">' in page.read()
    with urllib.request.urlopen(f"{app.web_base}/", timeout=30) as page:
        html = page.read().decode()
    asset = html.split('src="', 1)[1].split('"', 1)[0]
    with urllib.request.urlopen(f"{app.web_base}{asset}", timeout=30) as script:
        assert script.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
        assert "immutable" in script.headers["Cache-Control"]


@needs_ui
@needs_browser
def test_search_open_a_trace_and_read_the_conversation(
    app: RunningApp, fake_llm: FakeLLM, sdk_memory: InMemorySpanExporter
) -> None:
    vigil.instrument_openai()
    try:
        oai = openai.OpenAI(base_url=fake_llm.base_url + "/v1", api_key="test-key", max_retries=0)

        @vigil.trace(name="ui-agent-turn")
        def turn(question: str) -> str:
            reply = oai.chat.completions.create(
                model="gpt-ui",
                messages=[
                    {"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": question},
                ],
            )
            return reply.choices[0].message.content

        turn("which order is late?")
    finally:
        vigil.uninstrument_openai()
    assert vigil.flush(30)
    app.flush()
    seen = browser(
        "search-open-trace", app.web_base, "vigil-sdk-tests", "ui-agent-turn", "which order is late?"
    )
    assert "/traces/" in seen["url"]
    assert [r.split(" ")[0].lower() for r in seen["roles"]][:3] == ["system", "user", "assistant"]
    # Replay from the span panel: the prompt edited, "What if" shows the diff.
    trace_id = seen["url"].rsplit("/", 1)[1]
    replayed = browser(
        "replay-what-if", app.web_base, trace_id, "which order is late?", "which parcel is late?"
    )
    assert replayed["changed"] == 1
    assert "-" in replayed["diff"] and "parcel" in replayed["diff"] and "order" in replayed["diff"]
    # Execute: the LLM call sent again, the new trace linked and opened.
    assert replayed["executed"] and replayed["executed"][0].startswith("gpt-ui")
    assert replayed["newTraceUrl"].rsplit("/", 1)[1] != trace_id and replayed["newTraceRows"]


@needs_ui
@needs_browser
def test_a_session_page_shows_its_traces_on_a_timeline(
    app: RunningApp, sdk_memory: InMemorySpanExporter
) -> None:
    @vigil.trace(name="ui-session-turn", session_arg="conversation")
    def turn(conversation: str, n: int) -> int:
        return n

    for n in range(3):
        turn("ui-session-1", n)
    assert vigil.flush(30)
    app.flush()
    seen = browser("session-timeline", app.web_base, "ui-session-1", "3")
    assert seen["rows"] == 3 and seen["url"].endswith("/sessions/ui-session-1")


@needs_ui
@needs_browser
def test_the_drift_page_draws_both_windows_of_a_shifted_group(app: RunningApp) -> None:
    rng = random.Random(17)
    now = time.time_ns()
    hour = 3600 * 10**9
    send_durations(app.grpc_target, "ui-drift", "answer", [rng.randrange(80, 120) * 10**6 for _ in range(400)],
                   now - 20 * hour, now - 2 * hour, rng)  # fmt: skip
    send_durations(app.grpc_target, "ui-drift", "answer", [rng.randrange(280, 320) * 10**6 for _ in range(200)],
                   now - hour // 2, now - 60 * 10**9, rng)  # fmt: skip
    app.flush()
    seen = browser("drift-histograms", app.web_base, "ui-drift · answer")
    assert seen["bars"]["baseline"] >= 2 and seen["bars"]["current"] == seen["bars"]["baseline"]
    assert seen["severity"] == "high"
    assert "p50" in seen["captions"][0] and "p95" in seen["captions"][1]


@needs_ui
@needs_browser
def test_an_alert_is_resolved_from_the_alerts_page(app: RunningApp) -> None:
    rng = random.Random(23)
    now = time.time_ns()
    hour = 3600 * 10**9
    send_durations(app.grpc_target, "ui-alerts", "plan", [rng.randrange(40, 60) * 10**6 for _ in range(400)],
                   now - 20 * hour, now - 2 * hour, rng)  # fmt: skip
    send_durations(app.grpc_target, "ui-alerts", "plan", [rng.randrange(400, 500) * 10**6 for _ in range(200)],
                   now - hour // 2, now - 60 * 10**9, rng)  # fmt: skip
    app.flush()
    reader = app.app.query.reader  # the detector's pass, as `vigil drift-detect` runs it
    app.run(reader.run(lambda r: evaluate_once(r, DetectorConfig(metrics=("duration",)))))
    seen = browser("resolve-alert", app.web_base, "service.name=ui-alerts, span.name=plan")
    assert seen["severity"] == "high" and "resolved by user" in seen["resolvedText"]


@needs_ui
@needs_browser
def test_the_live_tail_shows_a_span_sent_after_the_page_opened(
    app: RunningApp, sdk_memory: InMemorySpanExporter
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    watcher = subprocess.Popen(
        ["node", str(UI / "tests" / "e2e.mjs"), "live-tail", app.web_base, str(SHOTS), "vigil-sdk-tests", "ui-tail-span"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "live", watcher.stderr.read() if watcher.stderr else ""

        @vigil.trace(name="ui-tail-span")
        def work() -> int:
            return 1

        work()
        assert vigil.flush(30)
        out, err = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, f"live-tail: {err.strip()} (screenshots in {SHOTS})"
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["rows"] >= 1 and seen["state"].startswith("Live") and seen["href"].startswith("/traces/")


@needs_ui
@needs_browser
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_readme_quick_start(tmp_path: Path) -> None:
    """`make run`, the README's example script (as written; only the endpoint moved to this
    server's port by the standard OTEL variable), its trace in the browser."""
    readme = (REPO / "README.md").read_text()
    script = readme.split("<!-- quickstart:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "quickstart.py").write_text(script)
    server = ServerProcess(
        tmp_path / "data", command=["make", "--no-print-directory", "-C", str(REPO), "run"], VIGIL_WEB_PORT=str(free_port())
    )  # fmt: skip
    try:
        server.wait_ready()
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{server.grpc_target}"}
        ran = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert ran.returncode == 0 and "Order A-1042 is delayed." in ran.stdout, ran.stderr
        seen = _wait_for_trace(server, "quickstart")
    finally:
        server.terminate(whole_group=True)
        server.wait()
    assert seen["rows"][:2] == ["answer", "look_up"]
    assert "delayed" in seen["panel"]


def _wait_for_trace(server: ServerProcess, service: str) -> dict:
    # Acknowledged means in the write-ahead log; the trace is in ClickHouse a moment later.
    deadline = time.monotonic() + 30
    while True:
        with QueryClient(f"127.0.0.1:{server.query_port}") as client:
            if client.search_traces(service=service).traces or time.monotonic() > deadline:
                break
        time.sleep(0.3)
    web_base = f"http://127.0.0.1:{server.env['VIGIL_WEB_PORT']}"
    return browser("quick-start", web_base, service, "answer", "look_up")


AUTH_DB = "uiauth"
AUTH_SYS = f"vigil_system_{AUTH_DB}"  # its system database (support.make_settings)
AUTH_SECRET = "ui-test-secret-0123456789abcdef-0123"  # ≥ 32 bytes


@needs_ui
@needs_browser
def test_sign_in_and_switch_projects(chdb_dir: Path) -> None:
    """VIGIL_AUTH=on: the login page, a wrong password refused, then the project switcher
    shows each project's own traces; a reload keeps the session; sign out."""
    secured = RunningApp(make_settings(chdb_dir, database=AUTH_DB, auth="on", auth_secret=AUTH_SECRET))
    try:
        with connect(secured.settings.dsn) as ch:
            registry.ensure(ch, AUTH_SYS)
            hasher = KeyHasher(AUTH_SECRET.encode())
            for slug in ("red", "blue"):
                registry.create_project(
                    ch, AUTH_SYS, slug, main=AUTH_DB, create_tables=partial(apply_migrations, ch)
                )
                _, key = registry.create_key(ch, AUTH_SYS, hasher, slug, ["ingest"], name="ui")
                secured.run(secured.app.auth.reload())  # made directly: known now, not at the refresh
                provider = TracerProvider(resource=Resource.create({"service.name": f"{slug}-svc"}))
                exporter = OTLPSpanExporter(
                    endpoint=f"http://{secured.grpc_target}",
                    insecure=True,
                    headers={"authorization": f"Bearer {key}"},
                )
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                with provider.get_tracer("ui").start_as_current_span(f"{slug}-root"):
                    pass
                provider.shutdown()
            registry.create_user(ch, AUTH_SYS, "uma", hash_password("uma-password"), is_admin=False)
            registry.grant(ch, AUTH_SYS, "uma", "red", "viewer")
            registry.grant(ch, AUTH_SYS, "uma", "blue", "member")
        secured.run(secured.app.auth.reload())  # written directly: load it now, not at the 2 s refresh
        secured.flush()
        seen = browser(
            "login-switch-project",
            secured.web_base,
            "uma",
            "uma-password",
            "red",
            "red-root",
            "blue",
            "blue-root",
        )
        refused_after_sign_out = _token_refused(secured, seen["signedOutToken"])
    finally:
        secured.stop()
    assert "invalid user name or password" in seen["refused"]
    assert seen["projects"] == ["blue", "red"]
    assert seen["seenA"] == ["red-root"] and seen["seenB"] == ["blue-root"]
    assert seen["afterReload"] == "blue"
    # Signing out ended the session on the server: its token is refused (checked while the
    # server still ran, below).
    assert refused_after_sign_out


def _token_refused(app: RunningApp, token: str) -> bool:
    with QueryClient(app.query_target, api_key=token, project="blue") as client:
        try:
            client.services()
        except QueryError as exc:
            return exc.code == grpc.StatusCode.UNAUTHENTICATED
    return False


def test_without_a_built_ui_the_port_says_how_to_get_it(tmp_path: Path) -> None:

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def api(scope: dict, receive: object, send: object) -> None:
        raise AssertionError("a GET of a page is not an API call")

    asyncio.run(
        web_app(api, tmp_path / "missing")({"type": "http", "method": "GET", "path": "/"}, None, send)
    )
    assert sent[0]["status"] == 200 and b"make ui" in sent[1]["body"]
