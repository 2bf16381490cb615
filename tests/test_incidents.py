"""Incidents (issue 34) against a real app fed by the stock OpenTelemetry SDK, escalation
receivers on a local fake webhook: an unacknowledged incident escalates on schedule and
acknowledging stops it; its alert resolving resolves it and a re-fire within the reopen
window reopens the same incident; the timeline holds every step in order and no row of it
was ever updated; three rules on one service form one incident when correlated by service,
three otherwise; the incidents API over gRPC with its scopes and errors."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from alert_support import Gauges, send_logs
from incident_support import FakeWebhook, send_error_trace

from vigil import QueryClient
from vigil.query_client import QueryError
from vigil_alerting.errors import RuleFileError
from vigil_alerting.incidents import config as incident_config
from vigil_alerting.incidents.manager import IncidentManager, WebhookSink
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.rules.load import parse_rule
from vigil_alerting.state.machine import Transition
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_storage import connect

import support
from support import REPO, RunningApp, credentials_changed, make_settings

INTERVAL = "1s"
TICK_S = 0.25
# The director's step is far after the manager's: the test acknowledges in between, which a
# loaded machine may take seconds to do.
ONCALL_AFTER_S, MANAGER_AFTER_S, DIRECTOR_AFTER_S = 1.0, 2.0, 10.0


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.05)


CPU = {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}


def policies() -> list[dict[str, Any]]:
    cpu = CPU
    return [
        {"name": "payments-cpu", "severity": "warning", "target": "payments", "interval": INTERVAL,
         "window": "30s", "condition": cpu},
        # Three signals on one service.
        {"name": "checkout-cpu", "severity": "warning", "target": "checkout", "interval": INTERVAL,
         "window": "30s", "condition": cpu},
        {"name": "checkout-errors", "severity": "high", "target": "checkout", "interval": INTERVAL,
         "window": "1m", "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.5}},
        {"name": "checkout-log-errors", "severity": "warning", "target": "checkout", "interval": INTERVAL,
         "window": "1m", "condition": {"type": "logs", "measure": "count", "filter": {"severity": "ERROR"},
                                       "threshold": 0}},
        # The browser test's.
        {"name": "search-errors", "severity": "high", "target": "search", "interval": INTERVAL,
         "window": "1m", "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.5}},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hook() -> Iterator[FakeWebhook]:
    server = FakeWebhook()
    yield server
    server.close()


def make_app(chdb_dir: Path, tmp: Path, hook: FakeWebhook, database: str, **overrides: Any) -> RunningApp:
    rules = tmp / f"{database}-rules.json"
    rules.write_text(json.dumps({"policies": policies()}))
    incidents = tmp / f"{database}-incidents.yaml"
    incidents.write_text(
        json.dumps(
            {
                "receivers": {
                    n: {"url": f"{hook.url}/{database}/{n}"} for n in ("oncall", "manager", "director")
                },
                "escalation": [
                    {
                        "name": "payments-page",
                        "match": {"service.name": "payments"},
                        "steps": [
                            {"after": ONCALL_AFTER_S, "notify": "oncall"},
                            {"after": MANAGER_AFTER_S, "notify": "manager", "raise_severity": True},
                            {"after": DIRECTOR_AFTER_S, "notify": "director", "raise_severity": True},
                        ],
                    }
                ],
            }
        )
    )
    return RunningApp(
        make_settings(
            chdb_dir, database=database, rules_file=rules, incidents_file=incidents, incidents_tick_s=TICK_S,
            **overrides,
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def correlated(
    chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory, hook: FakeWebhook
) -> Iterator[RunningApp]:
    app = make_app(
        chdb_dir,
        tmp_path_factory.mktemp("incidents"),
        hook,
        "incidents_corr",
        incidents_correlate_by=["service.name"],
    )
    yield app
    app.stop()


def incident_of(client: QueryClient, service: str) -> Any:
    found = [i for i in client.incidents(service=service)]
    return found[0] if found else None


def test_escalation_acknowledgement_reopening_and_an_append_only_timeline(
    correlated: RunningApp, hook: FakeWebhook
) -> None:
    base = "/incidents_corr"
    gauges = Gauges(correlated, "cpu_percent", {"payments": 95.0}, every_s=0.5)
    with QueryClient(correlated.query_target) as client:
        try:
            gauges.export()
            opened = wait_for(lambda: incident_of(client, "payments"), 90, "an incident for payments")
            assert opened.status == "triggered" and opened.severity == "warning"
            assert opened.escalation_policy == "payments-page"
            # Step 1 after 1 s: oncall; step 2 two seconds later: the manager, severity raised.
            oncall = wait_for(lambda: hook.to(f"{base}/oncall"), 60, "oncall notified")[0]
            manager = wait_for(lambda: hook.to(f"{base}/manager"), 60, "manager notified")[0]
            gap = manager.at - oncall.at
            print(f"escalation: oncall → manager {gap:.2f} s (step delay {MANAGER_AFTER_S} s)")
            # Not at once (the step's delay is kept), and a loaded machine's delays bounded; each
            # arrival carries its own send's jitter.
            assert MANAGER_AFTER_S - 1.0 <= gap <= MANAGER_AFTER_S + 6.0, gap
            assert oncall.body["incident"]["severity"] == "warning" and oncall.body["step"] == 0
            assert manager.body["incident"]["severity"] == "high" and manager.body["step"] == 1
            assert client.incident(opened.id).incident.severity == "high"

            # Acknowledging stops the escalation: the director (due 10 s later) never hears.
            acked = client.acknowledge_incident(opened.id)
            assert acked.status == "acknowledged" and acked.next_escalation_time_unix_nano == 0
            director_due = manager.at + DIRECTOR_AFTER_S + 2 * TICK_S + 1.0
            while time.monotonic() < director_due:
                assert not hook.to(f"{base}/director"), "escalation went on after the acknowledgement"
                time.sleep(0.1)  # the poll's pace: a page here fails at once
            # A slow machine's alert loop may not have ticked past the step yet: wait for two
            # more rounds of the rule (the loop ticks the escalations after each round's
            # evaluations), so a page owed by the step is queued; the resolution below goes out
            # through the same sender, after it, where the director is checked again.
            runner = correlated.app.alerting.runner("incidents_corr")
            rounds = runner.status().per_rule["payments-cpu"].evaluations
            wait_for(
                lambda: runner.status().per_rule["payments-cpu"].evaluations >= rounds + 2,
                90,
                "two alert rounds after the director's step was due",
            )

            # The alert resolves: the incident resolves by itself, the notified receivers hear.
            gauges.set("payments", 10.0)
            gauges.export()
            resolved = wait_for(
                lambda: (i := client.incident(opened.id).incident).status == "resolved" and i,
                90,
                "auto-resolved",
            )
            assert resolved.resolved_by == "auto"
            wait_for(lambda: len(hook.to(f"{base}/oncall")) == 2, 60, "resolution sent to oncall")
            assert hook.to(f"{base}/oncall")[1].body["incident"]["status"] == "resolved"
            assert not hook.to(f"{base}/director"), "escalation went on after the acknowledgement"
            assert wait_for(lambda: len(hook.to(f"{base}/manager")) == 2, 60, "resolution sent to manager")

            ch = connect(correlated.settings.dsn)
            sys_db = correlated.settings.system_database
            columns = "IncidentId, Seq, EventId, AtNs, Kind, Actor, Receiver, Result, Message"
            before = ch.query(
                f"SELECT {columns} FROM {sys_db}.vigil_incident_timeline WHERE IncidentId = {{id:String}} ORDER BY Seq",
                parameters={"id": opened.id},
            ).result_rows

            # A re-fire within the reopen window (1 h): the same incident, triggered again.
            gauges.set("payments", 97.0)
            gauges.export()
            wait_for(
                lambda: client.incident(opened.id).incident.status == "triggered",
                90,
                "the same incident reopened",
            )
            assert [i.id for i in client.incidents(service="payments")] == [opened.id]
            wait_for(
                lambda: len(hook.to(f"{base}/oncall")) == 3, 60, "escalation restarted after the reopening"
            )
            client.add_incident_note(opened.id, "cache node restarted")
            client.acknowledge_incident(opened.id)
            done = client.resolve_incident(opened.id)
            assert done.status == "resolved" and done.resolved_by == "local"
        finally:
            gauges.close()

        answer = client.incident(opened.id)
        kinds = [e.kind for e in answer.timeline]
        print("timeline:", " → ".join(f"{e.kind}({e.receiver or e.actor})" for e in answer.timeline))
        assert [e.seq for e in answer.timeline] == list(range(1, len(kinds) + 1))
        times = [e.time_unix_nano for e in answer.timeline]
        assert times == sorted(times)
        expected = [
            "opened", "alert_joined", "escalated", "notified", "escalated", "notified", "acknowledged",
            "alert_resolved", "resolved", "notified", "notified", "reopened", "alert_joined", "escalated",
            "notified", "note", "acknowledged", "resolved",
        ]  # fmt: skip
        assert kinds[: len(expected)] == expected or _subsequence(expected, kinds), kinds
        notified = [(e.receiver, e.result) for e in answer.timeline if e.kind == "notified"]
        assert notified[:2] == [("oncall", "ok"), ("manager", "ok")]
        assert sorted(notified[2:4]) == [("manager", "ok"), ("oncall", "ok")]  # the resolution
        assert {e.actor for e in answer.timeline if e.kind in ("acknowledged", "note")} == {"local"}
        assert any(e.kind == "escalated" and e.severity == "high" for e in answer.timeline)

        # Append-only: no mutation ever ran on the tables, every row is its own insert, and the
        # rows read before the reopening are still there unchanged, in front.
        after = ch.query(
            f"SELECT {columns} FROM {sys_db}.vigil_incident_timeline WHERE IncidentId = {{id:String}} ORDER BY Seq",
            parameters={"id": opened.id},
        ).result_rows
        assert after[: len(before)] == before and len(after) == len(kinds)
        mutations = ch.query(
            "SELECT count() FROM system.mutations WHERE database = {db:String}"
            " AND table IN ('vigil_incident_timeline', 'vigil_incidents')",
            parameters={"db": sys_db},
        ).result_rows[0][0]
        assert mutations == 0
        rows, ids, seqs = ch.query(
            f"SELECT count(), uniqExact(EventId), uniqExact(IncidentId, Seq) FROM {sys_db}.vigil_incident_timeline"
        ).result_rows[0]
        assert rows == ids == seqs
        versions = ch.query(
            f"SELECT count(), uniqExact(Version) FROM {sys_db}.vigil_incidents WHERE Id = {{id:String}}",
            parameters={"id": opened.id},
        ).result_rows[0]
        assert versions[0] == versions[1] > 1  # every change a new version, none rewritten


def _subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(k in it for k in needle)


def fire_three_checkout_rules(app: RunningApp) -> tuple[Gauges, str]:
    gauges = Gauges(app, "cpu_percent", {"checkout": 99.0}, every_s=0.5)
    gauges.export()
    trace_id = send_error_trace(app, "checkout", "charge-card", "card declined by the bank")
    send_logs(app, "checkout", [(logging.ERROR, "payment provider timed out")])
    return gauges, trace_id


def checkout_incidents(client: QueryClient) -> list[Any]:
    return [i for i in client.incidents(service="checkout") if i.status != "resolved"]


def test_three_rules_on_one_service_are_one_incident_when_correlated(correlated: RunningApp) -> None:
    gauges, trace_id = fire_three_checkout_rules(correlated)
    try:
        with QueryClient(correlated.query_target) as client:

            def all_three() -> Any:
                found = checkout_incidents(client)
                return found if found and len(found[0].alerts) == 3 else None

            found = wait_for(all_three, 90, "three alerts in the checkout incident")
            assert len(found) == 1
            incident = found[0]
            assert {a.rule for a in incident.alerts} == {
                "checkout-cpu",
                "checkout-errors",
                "checkout-log-errors",
            }
            assert incident.severity == "high"  # its highest alert's
            assert incident.key == 'by:[["service.name","checkout"]]'
            assert trace_id in incident.example_trace_ids
            detail = client.incident(incident.id)
            assert any(log.trace_id == trace_id and "declined" in log.body for log in detail.logs)
            joined = [e.rule for e in detail.timeline if e.kind == "alert_joined"]
            assert sorted(joined) == ["checkout-cpu", "checkout-errors", "checkout-log-errors"]
            cpu = next(a for a in incident.alerts if a.rule == "checkout-cpu")
            assert cpu.value == 99.0 and cpu.state == "firing"

            # The API's errors: unknown incidents, bad filters, empty notes, acting on a resolved one.
            with pytest.raises(QueryError) as missing:
                client.incident("nope")
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(QueryError) as bad:
                client.incidents(status="sleeping")
            assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(QueryError) as empty:
                client.add_incident_note(incident.id, "   ")
            assert empty.value.code == grpc.StatusCode.INVALID_ARGUMENT
            client.resolve_incident(incident.id)
            with pytest.raises(QueryError) as late:
                client.acknowledge_incident(incident.id)
            assert late.value.code == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        gauges.close()


SECRET = "incidents-scopes-secret-0123456789"
UI = REPO / "ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(
    not (UI / "node_modules").is_dir() or not (UI / "dist" / "index.html").is_file(),
    reason="the UI is not built (make ui needs Node.js and npm)",
)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_incident_page_live_timeline_trace_acknowledge_and_resolve(correlated: RunningApp) -> None:
    shots = REPO / ".test-artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    # The trace id is known before the trace is sent: the browser is told which link to expect.
    trace_id = format(random.getrandbits(128) | 1, "032x")
    browser = subprocess.Popen(
        ["node", str(UI / "tests" / "incidents.mjs"), correlated.web_base, str(shots), "search-errors", trace_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    try:
        assert browser.stdout is not None
        first = browser.stdout.readline().strip()
        assert first == "ready", (
            f"the page did not go live: {first} {browser.stderr.read() if not first else ''}"
        )
        sent = send_error_trace(
            correlated, "search", "query-index", "index shard unavailable", trace_id=trace_id
        )
        assert sent == trace_id
        out, err = browser.communicate(timeout=180)
    finally:
        if browser.poll() is None:
            browser.kill()
    assert browser.returncode == 0, f"{err.strip()} (screenshots in {shots})"
    seen = json.loads(out.strip().splitlines()[-1])
    print("browser:", seen)
    assert seen["opened"][:2] == ["opened", "alert_joined"]
    assert _subsequence(["opened", "alert_joined", "acknowledged", "note", "resolved"], seen["final"])
    assert "resolved by local" in seen["summary"] and "acknowledged by local" in seen["summary"]
    assert any("index shard unavailable" in line for line in seen["logs"])
    assert seen["url"].endswith(f"/traces/{trace_id}")


def test_three_rules_on_one_service_are_three_incidents_by_default(
    correlated: RunningApp, chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory, hook: FakeWebhook
) -> None:
    app = make_app(chdb_dir, tmp_path_factory.mktemp("incidents-apart"), hook, "incidents_apart")
    gauges, _ = fire_three_checkout_rules(app)
    try:
        with QueryClient(app.query_target) as client:
            found = wait_for(
                lambda: len(checkout_incidents(client)) == 3 and checkout_incidents(client), 40, "3"
            )
            assert sorted(a.rule for i in found for a in i.alerts) == [
                "checkout-cpu", "checkout-errors", "checkout-log-errors",
            ]  # fmt: skip
            assert all(i.key.startswith("alert:") and len(i.alerts) == 1 for i in found)
    finally:
        gauges.close()
        app.stop()


def test_reading_incidents_needs_read_and_acting_on_them_write(chdb_dir: Path) -> None:
    app = RunningApp(make_settings(chdb_dir, database="incidents_scoped", auth="on", auth_secret=SECRET))
    try:
        ch = connect(app.settings.dsn)
        system = app.settings.system_database
        registry.ensure(ch, system)
        hasher = KeyHasher(SECRET.encode())
        _, read_key = registry.create_key(ch, system, hasher, "default", ["read"], name="reader")
        _, write_key = registry.create_key(ch, system, hasher, "default", ["read", "write"], name="writer")
        credentials_changed()
        with QueryClient(app.query_target, api_key=read_key) as reader:
            assert reader.incidents() == []
            for act in (reader.acknowledge_incident, reader.resolve_incident):
                with pytest.raises(QueryError) as refused:
                    act("0" * 32)
                assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(QueryError) as refused:
                reader.add_incident_note("0" * 32, "hi")
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
        with QueryClient(app.query_target, api_key=write_key) as writer:  # allowed; no such incident
            with pytest.raises(QueryError) as missing:
                writer.acknowledge_incident("0" * 32)
            assert missing.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        app.stop()


def test_watch_incidents_streams_the_live_ones_then_each_change(correlated: RunningApp) -> None:
    with QueryClient(correlated.query_target) as client:
        if not client.incidents():  # run alone: make one
            send_error_trace(correlated, "search", "query-index", "index shard unavailable")
        target = wait_for(lambda: client.incidents(), 90, "an incident")[0]
        watch = client.watch_incidents()
        seen: list[Any] = []
        done = threading.Event()

        def read() -> None:
            for change in watch:
                seen.append(change.incident)
                if (
                    change.incident.id == target.id
                    and change.incident.updated_time_unix_nano > target.updated_time_unix_nano
                ):
                    done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_for(lambda: seen, 60, "the live incidents first")
            client.add_incident_note(target.id, "watching")
            assert done.wait(60), "the change was not streamed"
        finally:
            watch.cancel()
            reader.join(10)


def test_escalation_repeats_its_steps_and_stops_after_n_rounds(
    correlated: RunningApp, hook: FakeWebhook
) -> None:
    """The escalation schedule on a fake clock (the manager's own ``tick``), into the webhook."""
    base = "/repeat"
    config = incident_config.IncidentConfig(
        receivers={"a": f"{hook.url}{base}/a", "b": f"{hook.url}{base}/b"},
        policies=(
            incident_config.EscalationPolicy(
                "twice",
                (incident_config.Step(10, "a"), incident_config.Step(20, "b", raise_severity=True)),
                repeat=1,
            ),
        ),
    )
    now = [1_000 * 10**9]
    manager = IncidentManager(
        config, WebhookSink(config.receivers, 5), system_database="vigil_system_incidents_repeat",
        connect=lambda: connect(correlated.settings.dsn), clock_ns=lambda: now[0],
    )  # fmt: skip
    ch = connect(correlated.settings.dsn)
    manager.open(ch)
    rule = parse_rule({"name": "r", "severity": "warning", "condition": CPU})
    labels = {"alertname": "r", "severity": "warning", "service.name": "svc"}
    fire = Transition(now[0], "r", "fp1", labels, "inactive", "firing", 95.0, "above 80", "warning")
    manager.observe(ch, "p", rule, [], [fire], now[0])
    (incident,) = manager.live("p")

    def got() -> list[tuple[str, str]]:
        hits = sorted(hook.to(f"{base}/a") + hook.to(f"{base}/b"), key=lambda h: h.at)
        return [(h.path.rsplit("/", 1)[1], h.body["incident"]["severity"]) for h in hits]

    sent: list[tuple[str, str]] = []
    for at_s, expect in [(5, None), (10, ("a", "warning")), (29, None), (30, ("b", "high")), (40, ("a", "high")),
                         (60, ("b", "critical")), (70, None), (1000, None)]:  # fmt: skip
        now[0] = 1_000 * 10**9 + at_s * 10**9
        manager.tick(ch)
        if expect:
            sent.append(expect)
        wait_for(lambda: got() == sent, 60, f"the notifications due at {at_s} s: {sent}")
    assert manager.live_one("p", incident.id).next_escalation_ns == 0
    manager.close()  # the sender has delivered (and recorded) everything queued
    assert got() == sent  # nothing after the last round

    # A restart resumes the incident where it was, its timeline numbering going on.
    again = IncidentManager(
        config, WebhookSink(config.receivers, 5), system_database="vigil_system_incidents_repeat",
        connect=lambda: connect(correlated.settings.dsn),
    )  # fmt: skip
    again.open(ch)
    resumed = again.live_one("p", incident.id)
    assert resumed is not None and resumed.severity == "critical" and resumed.seq == incident.seq + 8
    again.add_note(ch, "p", incident.id, "tester", "after the restart")
    timeline = IncidentStore(ch, "vigil_system_incidents_repeat").timeline("p", incident.id)
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1)) and timeline[-1].kind == "note"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"escalation": [{"steps": [{"after": "1m", "notify": "nobody"}]}]}, "escalation[0].steps[0].notify"),
        ({"escalation": [{"steps": [{"after": "soon", "notify": "a"}]}], "receivers": {"a": {"url": "http://x"}}},
         "escalation[0].steps[0].after"),
        ({"escalation": [{"steps": [{"after": "1m"}]}]}, "escalation[0].steps[0].notify"),
        ({"receivers": {"a": {"url": "ftp://x"}}}, "receivers.a.url"),
        ({"escalations": []}, "escalations"),
        ({"escalation": [{"steps": [], "repeat": 1}]}, "escalation[0].steps"),
    ],
)  # fmt: skip
def test_a_bad_incidents_file_is_refused_with_the_field(tmp_path: Path, document: Any, field: str) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(json.dumps(document))
    with pytest.raises(RuleFileError) as refused:
        incident_config.load(path, correlate_by=(), auto_resolve=True, reopen_window_s=3600)
    assert str(path) in str(refused.value) and f"field {field}" in str(refused.value)


def test_an_alert_that_stops_firing_after_a_resolution_by_hand_lets_the_reopened_incident_resolve(
    chdb_dir: Path,
) -> None:
    ch = connect(make_settings(chdb_dir).dsn)
    now = [5_000 * 10**9]
    system = "vigil_system_incidents_by_hand"
    manager = IncidentManager(
        incident_config.IncidentConfig(), WebhookSink({}, 5), system_database=system,
        connect=lambda: connect(make_settings(chdb_dir).dsn), clock_ns=lambda: now[0],
    )  # fmt: skip
    manager.open(ch)
    rule = parse_rule({"name": "r", "severity": "warning", "condition": CPU})
    labels = {"alertname": "r", "severity": "warning", "service.name": "svc"}

    def step(from_state: str, to_state: str) -> None:
        now[0] += 10**9
        t = Transition(now[0], "r", "fp", labels, from_state, to_state, 1.0, "above 80", "warning")
        manager.observe(ch, "p", rule, [], [t], now[0])

    step("inactive", "firing")
    (incident,) = manager.live("p")
    manager.resolve(ch, "p", incident.id, "tester")  # while the alert still fires
    step("firing", "resolved")
    assert manager.live_one("p", incident.id).alerts["fp"].state == "resolved"
    step("resolved", "firing")  # within the reopen window: the same incident
    assert manager.live_one("p", incident.id).status == "triggered"
    step("firing", "resolved")
    again = manager.live_one("p", incident.id)
    assert again.status == "resolved" and again.resolved_by == "auto"
    kinds = [e.kind for e in IncidentStore(ch, system).timeline("p", incident.id)]
    assert kinds == [
        "opened", "alert_joined", "resolved", "alert_resolved", "reopened", "alert_joined", "alert_resolved",
        "resolved",
    ]  # fmt: skip
