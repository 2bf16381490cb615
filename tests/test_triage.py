"""Triage of high and critical incidents (issue 35) against real apps fed by the stock
OpenTelemetry SDK, the LLM provider a local fake speaking OpenAI's wire format: a critical
incident gets one analysis whose request holds its example traces' error spans and logs; a
second trigger within the interval gets none; two runners racing for one incident's lock
yield one analysis; without a provider the deterministic summary is written; AnalyzeIncident
analyses a warning incident on request, and a provider failure is recorded, not raised."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fake_llm import FakeLLM
from incident_support import send_error_trace

from vigil import QueryClient
from vigil_alerting.incidents.model import Incident
from vigil_alerting.triage.lock import Row, decide
from vigil_alerting.triage.runner import Outcome, Triage, TriageConfig
from vigil_storage import connect

import support
from support import RunningApp, make_settings

MODEL = "gpt-4o-mini"
POLL_S = 0.2
DEADLINE_S = 90.0  # generous: the CI machine is loaded


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    return support.wait_for(condition, DEADLINE_S, what, every_s=0.1)


def error_rule(name: str, service: str, severity: str) -> dict[str, Any]:
    return {
        "name": name, "severity": severity, "target": service, "interval": "1s", "window": "5m",
        "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.5},
    }  # fmt: skip


def start_app(
    chdb_dir: Path, tmp: Path, database: str, rules: list[dict[str, Any]], **overrides: Any
) -> RunningApp:
    path = tmp / f"{database}-rules.json"
    path.write_text(json.dumps({"policies": rules}))
    return RunningApp(
        make_settings(
            chdb_dir, database=database, rules_file=path, incidents_tick_s=0.25, triage_enabled=True,
            triage_poll_s=POLL_S, triage_claim_settle_s=0.3, triage_claim_ttl_s=60, triage_timeout_s=20,
            **overrides,
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def online(chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[RunningApp]:
    app = start_app(
        chdb_dir, tmp_path_factory.mktemp("triage"), "triage_online",
        [error_rule("checkout-errors", "checkout", "critical"), error_rule("search-errors", "search", "warning")],
        triage_provider="openai", triage_model=MODEL, replay_openai_base_url=llm.base_url + "/v1",
        replay_openai_api_key="sk-test-triage",
    )  # fmt: skip
    yield app
    app.stop()


@pytest.fixture(scope="module")
def offline(chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(
        chdb_dir, tmp_path_factory.mktemp("triage"), "triage_offline",
        [error_rule("payments-errors", "payments", "high")],
    )  # fmt: skip
    yield app
    app.stop()


def client_of(app: RunningApp) -> QueryClient:
    return QueryClient(app.query_target)


def incident_on(client: QueryClient, service: str) -> Any:
    found = list(client.incidents(service=service))
    return found[0] if found else None


def triage_events(client: QueryClient, incident_id: str) -> list[Any]:
    return [e for e in client.incident(incident_id).timeline if e.kind == "triage"]


def requests_about(llm: FakeLLM, needle: str) -> list[dict[str, Any]]:
    return [body for _, body in list(llm.requests) if needle in json.dumps(body)]


def prompt_document(body: dict[str, Any]) -> dict[str, Any]:
    user = next(m for m in body["messages"] if m["role"] == "user")["content"]
    return json.loads(user.split("\n", 1)[1])


def test_a_critical_incident_gets_one_analysis_with_its_error_spans_and_logs(
    online: RunningApp, llm: FakeLLM
) -> None:
    trace_id = send_error_trace(online, "checkout", "charge", "card gateway timed out after 30s")
    with client_of(online) as client:
        incident = wait_for(lambda: incident_on(client, "checkout"), "the checkout incident")
        assert incident.severity == "critical"
        events = wait_for(lambda: triage_events(client, incident.id), "the triage entry")
        assert len(events) == 1
        event = events[0]
        assert event.receiver == f"openai/{MODEL}-2026-01-01" and event.actor == "triage"
        assert event.result.startswith("ok · ") and "tokens" in event.result and "$" in event.result
        assert event.severity == "critical" and event.message.startswith("echo: Incident context")

        sent = requests_about(llm, incident.id)
        assert len(sent) == 1
        body = sent[0]
        assert body["model"] == MODEL and body["max_tokens"] == 1024
        assert body["messages"][0]["role"] == "system"
        document = prompt_document(body)
        spans = [s for s in document["error_spans"] if s["trace_id"] == trace_id]
        assert spans and spans[0]["span_id"] and spans[0]["operation"] == "charge"
        assert spans[0]["status_message"] == "card gateway timed out after 30s"
        logs = [g for g in document["logs"] if g["trace_id"] == trace_id]
        assert (
            logs and logs[0]["body"] == "card gateway timed out after 30s" and logs[0]["severity"] == "ERROR"
        )
        assert document["alerts"][0]["rule"] == "checkout-errors"
        assert document["change_vs_hour_before"]["checkout"]["errors"] >= 1

        # A second trigger within the interval: a new error trace, the app's runner looking
        # again round after round, and another runner that has never seen the incident (a
        # restarted process) asking the lock itself. None of them sends anything.
        send_error_trace(online, "checkout", "charge", "card gateway timed out again")
        online.flush()
        triage = online.app.alerting.triage
        assert triage is not None
        rounds = triage.rounds
        fresh = runner_for(online, TriageConfig(), "restarted")
        live = online.app.alerting.incidents.live_one(online.settings.database, incident.id)
        assert live is not None and live.severity == "critical"
        ch = connect(online.settings.dsn)
        try:
            assert fresh.run(ch, live, "triage").result == "recent"
        finally:
            ch.close()
        wait_for(lambda: triage.rounds >= rounds + 3, "three more rounds of the app's triage")
        assert len(requests_about(llm, incident.id)) == 1
        assert len(triage_events(client, incident.id)) == 1

    metrics = support.http_request(f"{online.http_base}/metrics")[2].decode()
    assert 'vigil_triage_analyses_total{result="analysed"} 1.0' in metrics


def runner_for(app: RunningApp, config: TriageConfig, holder: str) -> Triage:
    """Another triage runner over the app's incidents and storage (as a second process would be)."""
    manager = app.app.alerting.incidents
    assert manager is not None
    s = app.settings
    return Triage(manager, lambda: connect(s.dsn), config, system_database=s.system_database, holder=holder)


def test_without_a_provider_the_deterministic_summary_is_written(offline: RunningApp) -> None:
    trace_id = send_error_trace(offline, "payments", "refund", "ledger locked by another writer")
    with client_of(offline) as client:
        incident = wait_for(lambda: incident_on(client, "payments"), "the payments incident")
        assert incident.severity == "high"
        event = wait_for(lambda: triage_events(client, incident.id), "the summary")[0]
        assert (event.receiver, event.result, event.actor) == ("summary", "summary", "triage")
        text = event.message
        assert text.startswith("Summary (no model): incident 'payments-errors: service.name=payments'")
        assert "Top error messages: ledger locked by another writer (1)." in text
        assert "Failing operations: payments/refund (1)." in text
        assert "payments: 1/1 errors this hour, 0/0 the hour before." in text
        assert f"Example traces: {trace_id}." in text


def test_two_runners_racing_for_one_incident_yield_one_analysis(offline: RunningApp) -> None:
    """Two runners (each with its own client and holder, sharing nothing but storage) start
    together on one incident, three times over: each time exactly one of them analyses."""
    with client_of(offline) as client:
        incident = wait_for(lambda: incident_on(client, "payments"), "the payments incident")
        wait_for(lambda: triage_events(client, incident.id), "the app's own summary")
    live = offline.app.alerting.incidents.live_one(offline.settings.database, incident.id)
    assert live is not None
    config = TriageConfig(claim_settle_s=0.3, claim_ttl_s=60)
    runners = [runner_for(offline, config, f"racer-{n}") for n in range(2)]
    for round_ in range(3):
        with client_of(offline) as client:
            before = len(client.incident(incident.id).timeline)
        outcomes: list[Outcome] = []
        start = threading.Barrier(len(runners))
        threads = [threading.Thread(target=_race, args=(offline, r, live, start, outcomes)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE_S)
        results = sorted(o.result for o in outcomes)
        print("race round", round_, results)
        assert len(results) == 2 and results.count("summary") == 1, (round_, results)
        assert results[0] in ("busy", "lost", "recent") or results[1] in ("busy", "lost", "recent")
        with client_of(offline) as client:
            timeline = client.incident(incident.id).timeline
        assert len(timeline) == before + 1 and timeline[-1].kind == "triage" and timeline[-1].actor == "racer"


def _race(
    app: RunningApp, runner: Triage, live: Incident, start: threading.Barrier, out: list[Outcome]
) -> None:
    ch = connect(app.settings.dsn)
    try:
        start.wait(30)
        # force: as AnalyzeIncident, past the interval; the lock still admits one at a time
        out.append(runner.run(ch, live, "racer", force=True))
    finally:
        ch.close()


def test_analyze_incident_on_a_warning_incident_and_a_provider_failure(
    online: RunningApp, llm: FakeLLM
) -> None:
    send_error_trace(online, "search", "lookup", "index shard unavailable")
    with client_of(online) as client:
        incident = wait_for(lambda: incident_on(client, "search"), "the search incident")
        assert incident.severity == "warning"
        triage = online.app.alerting.triage
        assert triage is not None
        rounds = triage.rounds
        wait_for(lambda: triage.rounds >= rounds + 3, "three rounds of triage after the incident opened")
        assert triage_events(client, incident.id) == []  # a warning incident is not analysed by itself

        answer = client.analyze_incident(incident.id)
        assert answer.result == "analysed" and answer.model == f"openai/{MODEL}-2026-01-01"
        assert answer.tokens > 0 and answer.cost_usd > 0 and answer.text.startswith("echo: ")
        assert len(requests_about(llm, incident.id)) == 1
        events = triage_events(client, incident.id)
        assert [(e.actor, e.result) for e in events] == [("local", answer.detail)]

        llm.force_model = "fail-500"
        try:
            failed = client.analyze_incident(incident.id)
        finally:
            llm.force_model = ""
        assert failed.result == "failed" and "HTTP 500" in failed.detail
        assert "Top error messages: index shard unavailable" in failed.text  # the summary instead
        events = triage_events(client, incident.id)
        assert len(events) == 2 and events[-1].result.startswith("failed: openai answered HTTP 500")


UI = support.REPO / "ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(
    not (UI / "node_modules").is_dir() or not (UI / "dist" / "index.html").is_file(),
    reason="the UI is not built (make ui needs Node.js and npm)",
)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_incident_page_shows_the_analysis_and_analyses_again_on_request(online: RunningApp) -> None:
    send_error_trace(online, "checkout", "charge", "card gateway timed out after 30s")
    with client_of(online) as client:
        incident = wait_for(lambda: incident_on(client, "checkout"), "the checkout incident")
    shots = support.REPO / ".test-artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["node", str(UI / "tests" / "triage.mjs"), online.web_base, str(shots), incident.id],
        capture_output=True, text=True, timeout=300, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    assert out.returncode == 0, f"{out.stderr.strip()} (screenshots in {shots})"
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    print("browser:", seen)
    assert f"model openai/{MODEL}-2026-01-01" in seen["first"] and "echo: Incident context" in seen["first"]
    assert seen["analyses"] >= 2 and seen["message"] == ""
    assert any("by local" in entry for entry in seen["all"])


@pytest.mark.parametrize(
    ("caps", "reason"),
    [
        ({"max_cost_usd": 1e-9}, "summary: it could cost $"),
        ({"max_tokens": 1100}, "summary: the context needs "),
        ({"hourly_tokens": 1100}, "summary: triage used "),
        ({"hourly_cost_usd": 1e-9}, "summary: triage spent $"),
        (
            {"model": "unpriced-model-x"},
            "summary: model 'unpriced-model-x' (openai) is not in the price book",
        ),
    ],
)
def test_over_a_cap_the_summary_is_written_with_the_reason_and_nothing_is_sent(
    online: RunningApp, llm: FakeLLM, caps: dict[str, Any], reason: str
) -> None:
    send_error_trace(online, "search", "lookup", "index shard unavailable")
    with client_of(online) as client:
        incident = wait_for(lambda: incident_on(client, "search"), "the search incident")
    live = online.app.alerting.incidents.live_one(online.settings.database, incident.id)
    assert live is not None
    config = replace(online.settings.triage_config(), **caps)
    sent = len(llm.requests)
    ch = connect(online.settings.dsn)
    try:
        outcome = runner_for(online, config, "capped").run(ch, live, "capped", force=True)
    finally:
        ch.close()
    assert outcome.result == "summary" and outcome.detail.startswith(reason), outcome.detail
    assert (
        outcome.text.startswith("Not analysed by ")
        and "Top error messages: index shard unavailable" in outcome.text
    )
    assert len(llm.requests) == sent
    with client_of(online) as client:
        assert triage_events(client, incident.id)[-1].result == outcome.detail


def _row(
    token: int, claim: str, kind: str, severity: str, *, expires: int = 0, written: int = 0, at: int = 0
) -> Row:
    return Row(token, claim, "h", kind, severity, expires, "", written, at)


def test_the_lock_decision() -> None:
    hour = 3600.0
    now = 10**18
    assert decide([], "high", now, hour).may_claim
    running = [_row(1, "a", "claim", "high", expires=now + 1, at=1)]
    assert decide(running, "critical", now, hour).reason == "busy"
    assert decide(running, "critical", now, hour, force=True).reason == "busy"
    lapsed = [_row(1, "a", "claim", "high", expires=now - 1, at=1)]
    assert decide(lapsed, "high", now, hour).token == 2
    done = [*running, _row(1, "a", "done", "high", written=now - 10**9)]
    assert decide(done, "high", now, hour).reason == "recent"
    assert decide(done, "critical", now, hour).may_claim  # the severity rose
    assert decide(done, "high", now + int(hour * 1e9), hour).may_claim  # the interval passed
    assert decide(done, "high", now, hour, force=True).token == 2
    # Two claims of one generation: the earlier INSERT wins, whatever its id; the other is busy-waiting
    # on nothing: its own done row never comes, the winner's does.
    race = [
        _row(1, "z", "claim", "high", expires=now + 1, at=5),
        _row(1, "b", "claim", "high", expires=now + 1, at=7),
    ]
    assert decide([*race, _row(1, "z", "done", "high", written=now)], "high", now, hour).reason == "recent"
    assert decide([*race, _row(1, "b", "done", "high", written=now)], "high", now, hour).reason == "busy"
