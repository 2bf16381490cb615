"""Silences and the delivery log over the API (issue 34), against a real `vigil serve` fed by the
stock metrics SDK, the webhook receiver a local fake: a silence made through CreateSilence keeps
its alert from being sent while the alert still fires; the delivery log says so and, once the
silence is expired through ExpireSilence, records the delivery; bad requests are refused with
the reason; changing silences needs `write`, reading them `read`."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
import pytest
from alert_support import Gauges
from notify_fakes import FakeReceivers, wait_for

from vigil import QueryClient
from vigil.query_client import QueryError
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_storage import apply_migrations, connect

from support import REPO, RunningApp, credentials_changed, make_settings

POLICY = {
    "name": "hot-cpu-silenced",
    "description": "CPU above 80%",
    "severity": "warning",
    "target": "web-*",
    "enabled": True,
    "condition": {"type": "metric_exceeds", "metric": "", "threshold": 80},
    "interval": 1,
}
SECRET = "silences-scopes-secret-0123456789"


def _alertmanager_yml(path: Path, url: str) -> Path:
    path.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname, service]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        f"    webhook_configs: [{{url: '{url}/hook', send_resolved: true}}]\n"
    )
    return path


def _services(fake: FakeReceivers) -> list[str]:
    return [a["labels"]["service"] for r in fake.at("/hook") for a in r.json["alerts"]]


def test_a_silenced_alert_fires_but_is_not_sent_until_the_silence_is_expired(
    chdb_dir: Path, tmp_path: Path
) -> None:
    metric = f"cpu_silenced_{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{**POLICY, "condition": {**POLICY["condition"], "metric": metric}}]))
    fake = FakeReceivers()
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="silencesapi",
            rules_file=rules,
            rules_interval_s=1,
            alertmanager_config=_alertmanager_yml(tmp_path / "alertmanager.yml", fake.url),
            drift_interval_s=0,
        )
    )
    gauges = None
    try:
        with QueryClient(app.query_target) as client:
            silence = client.create_silence(['service="web-7"'], comment="deploying web-7", duration_s=3600)
            assert silence.state == "active" and list(silence.matchers) == ['service="web-7"']
            assert silence.created_by and silence.comment == "deploying web-7"
            assert 3599e9 <= silence.end_time_unix_nano - silence.start_time_unix_nano <= 3601e9
            assert [s.id for s in client.silences()] == [silence.id]

            gauges = Gauges(app, metric, {"web-7": 95.0, "web-8": 95.0}, every_s=0.5)
            # Both fire; only web-8 is sent.
            firing = wait_for(
                lambda: len(
                    alerts := [a for a in client.alerts(rule=POLICY["name"]).alerts if a.state == "firing"]
                ) == 2 and alerts,
                60, "both alerts firing",
            )  # fmt: skip
            by_service = {a.labels["service.name"]: a.fingerprint for a in firing}
            wait_for(lambda: "web-8" in _services(fake), 90, "web-8 sent")
            silenced = wait_for(
                lambda: [
                    d for d in client.deliveries(fingerprint=by_service["web-7"])
                    if d.result == f"silenced by {silence.id}"
                ],
                30, "the silence in the delivery log",
            )  # fmt: skip
            assert silenced[0].notification_id == ""
            assert "web-7" not in _services(fake)
            sent8 = wait_for(
                lambda: [d for d in client.deliveries(fingerprint=by_service["web-8"]) if d.result == "sent"],
                30, "web-8's delivery in the log",
            )  # fmt: skip
            assert sent8[0].receiver == "hook" and sent8[0].integration == "webhook"
            assert sent8[0].attempt == 1 and sent8[0].notification_id

            # Expired: web-7 goes out at the next group_interval, and the log records it.
            expired = client.expire_silence(silence.id)
            assert expired.state == "expired" and expired.end_time_unix_nano <= time.time_ns()
            assert client.silences() == []
            assert [s.id for s in client.silences(include_expired=True)] == [silence.id]
            wait_for(lambda: "web-7" in _services(fake), 90, "web-7 sent once the silence expired")
            results = wait_for(
                lambda: "sent" in (r := [d.result for d in client.deliveries(fingerprint=by_service["web-7"])])
                and r,
                30, "web-7's delivery in the log",
            )  # fmt: skip
            assert results[0] == f"silenced by {silence.id}" and "unsuppressed" in results
            by_rule = client.deliveries(rule=POLICY["name"])
            assert {fp for d in by_rule for fp in d.fingerprints} >= set(by_service.values())
            assert [d.receiver for d in client.deliveries(rule=POLICY["name"], receiver="nobody")] == []
            assert _services(fake).count("web-7") == 1 and _services(fake).count("web-8") == 1

            # Refusals, with the reason.
            refusals = [
                (lambda: client.create_silence(["service"], comment="x", duration_s=60), "bad matcher"),
                (lambda: client.create_silence([], comment="x", duration_s=60), "at least one matcher"),
                (lambda: client.create_silence(['service=~".*"'], comment="x", duration_s=60), "every alert"),
                (lambda: client.create_silence(['service="a"'], comment="", duration_s=60), "comment"),
                (lambda: client.create_silence(['service="a"'], comment="x"), "needs its end"),
                (lambda: client.expire_silence(silence.id), "already expired"),
                (lambda: client.deliveries(), "exactly one"),
                (lambda: client.deliveries(rule=POLICY["name"], limit=6000), "limit"),
            ]
            for call, reason in refusals:
                with pytest.raises(QueryError) as refused:
                    call()
                assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT, reason
                assert reason in refused.value.message, (reason, refused.value.message)
            for call in (
                lambda: client.expire_silence("nope"),
                lambda: client.deliveries(fingerprint="0" * 16),
                lambda: client.deliveries(incident_id="0" * 32),
                lambda: client.deliveries(rule="no-such-rule"),
            ):
                with pytest.raises(QueryError) as missing:
                    call()
                assert missing.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        if gauges is not None:
            gauges.close()
        app.stop()
        fake.close()


def test_changing_silences_needs_write_and_reading_them_read(chdb_dir: Path) -> None:
    app = RunningApp(make_settings(chdb_dir, database="silences_scoped", auth="on", auth_secret=SECRET))
    try:
        ch = connect(app.settings.dsn)
        system = app.settings.system_database
        registry.ensure(ch, system)
        hasher = KeyHasher(SECRET.encode())
        _, read_key = registry.create_key(ch, system, hasher, "default", ["read"], name="reader")
        _, write_key = registry.create_key(ch, system, hasher, "default", ["read", "write"], name="writer")
        credentials_changed()
        with QueryClient(app.query_target, api_key=write_key) as writer:
            made = writer.create_silence(['team="payments"'], comment="maintenance", duration_s=600)
            assert made.created_by  # the caller, not a name it chose
        with QueryClient(app.query_target, api_key=read_key) as reader:
            assert [s.id for s in reader.silences()] == [made.id]
            for act in (
                lambda: reader.create_silence(['team="payments"'], comment="x", duration_s=60),
                lambda: reader.expire_silence(made.id),
            ):
                with pytest.raises(QueryError) as refused:
                    act()
                assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
        with QueryClient(app.query_target) as anonymous:
            with pytest.raises(QueryError) as refused:
                anonymous.silences()
            assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        with QueryClient(app.query_target, api_key=write_key) as writer:
            assert writer.expire_silence(made.id).state == "expired"
    finally:
        app.stop()


UI = REPO / "ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(
    not (UI / "node_modules").is_dir() or not (UI / "dist" / "index.html").is_file(),
    reason="the UI is not built (make ui needs Node.js and npm)",
)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_silencing_from_the_incident_page_stops_the_repeats_until_expired(
    chdb_dir: Path, tmp_path: Path
) -> None:
    metric = f"cpu_page_{uuid.uuid4().hex[:8]}"
    name = "hot-cpu-paged"
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps([{**POLICY, "name": name, "condition": {**POLICY["condition"], "metric": metric}}])
    )
    fake = FakeReceivers()
    config = _alertmanager_yml(tmp_path / "alertmanager.yml", fake.url)
    config.write_text(config.read_text().replace("repeat_interval: 1h", "repeat_interval: 2s"))
    app = RunningApp(
        make_settings(
            chdb_dir, database="silencesui", rules_file=rules, rules_interval_s=1, alertmanager_config=config,
            drift_interval_s=0,
        )
    )  # fmt: skip
    gauges = Gauges(app, metric, {"web-3": 95.0}, every_s=0.5)
    shots = REPO / ".test-artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with QueryClient(app.query_target) as client:
            incident = wait_for(
                lambda: [i for i in client.incidents() if any(a.rule == name for a in i.alerts)],
                60,
                "the incident",
            )[0]
            wait_for(lambda: fake.at("/hook"), 90, "the first notification")
            browser = subprocess.Popen(
                ["node", str(UI / "tests" / "silences.mjs"), app.web_base, str(shots), incident.id, name],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI,
                env={**os.environ, "CHROMIUM": CHROMIUM},
            )  # fmt: skip
            try:
                out, err = browser.communicate(timeout=240)
            finally:
                if browser.poll() is None:
                    browser.kill()
            assert browser.returncode == 0, f"{err.strip()} (screenshots in {shots})"
            seen = json.loads(out.strip().splitlines()[-1])
            print("browser:", seen)
            made, from_alerts = sorted(
                client.silences(include_expired=True), key=lambda s: s.created_time_unix_nano
            )
            assert (
                from_alerts.state == "expired"
                and from_alerts.comment == f"Silenced from the Alerts page (rule {name})"
            )
            assert 'alertname="hot-cpu-paged"' in seen["fromAlerts"]
            # The matchers are the incident's alert's labels; the silence was expired from the page.
            assert made.state == "expired" and made.comment == f"Silenced from incident {incident.id}"
            assert 'alertname="hot-cpu-paged"' in made.matchers and 'service.name="web-3"' in made.matchers
            assert 'alertname="hot-cpu-paged"' in seen["matchers"] and "Silenced for 1 h" in seen["message"]
            assert any(f"silenced by {made.id}" in line for line in seen["silencedLog"])
            # While silenced nothing was sent; the repeats come back once it is expired.
            during = [
                r for r in fake.at("/hook")
                if made.start_time_unix_nano / 1e9 + 2 < _wall(r.at) < made.end_time_unix_nano / 1e9 - 0.5
            ]  # fmt: skip
            assert during == [], [_wall(r.at) for r in during]
            expired_at = made.end_time_unix_nano / 1e9
            wait_for(
                lambda: [r for r in fake.at("/hook") if _wall(r.at) > expired_at], 90, "a repeat after expiry"
            )
    finally:
        gauges.close()
        app.stop()
        fake.close()


def _created(client: QueryClient, policy: dict[str, object]) -> bool:
    """The rule made; False while a new project's rules are not loaded yet (it says retry)."""
    try:
        client.create_rule(policy)
    except QueryError as exc:
        if "not loaded yet" in exc.message:
            return False
        raise
    return True


def _wall(monotonic_s: float) -> float:
    """A fake's request time (time.monotonic()) on the wall clock the silences use."""
    return time.time() - (time.monotonic() - monotonic_s)


@dataclass
class TwoProjects:
    """One server with auth on and two projects (the default one, A, and "beta", B), a key with
    read, write and ingest for each, their query clients, and the fake receiver the server's
    Alertmanager configuration sends to. ``senders`` are closed at the end."""

    app: RunningApp
    fake: FakeReceivers
    a_key: str
    b_key: str
    a: QueryClient
    b: QueryClient
    senders: list[Gauges]


@contextlib.contextmanager
def two_projects(chdb_dir: Path, tmp_path: Path, database: str) -> Iterator[TwoProjects]:
    fake = FakeReceivers()
    app = RunningApp(
        make_settings(
            chdb_dir, database=database, auth="on", auth_secret=SECRET, rules_interval_s=1, alertmanager_config=_alertmanager_yml(tmp_path / "alertmanager.yml", fake.url),
            drift_interval_s=0,
        )
    )  # fmt: skip
    senders: list[Gauges] = []
    try:
        ch = connect(app.settings.dsn)
        system = app.settings.system_database
        registry.ensure(ch, system)
        registry.create_project(
            ch, system, "beta", main=app.settings.database, create_tables=partial(apply_migrations, ch)
        )
        hasher = KeyHasher(SECRET.encode())
        scopes = ["read", "write", "ingest"]
        _, a_key = registry.create_key(ch, system, hasher, "default", scopes, name="a")
        _, b_key = registry.create_key(ch, system, hasher, "beta", scopes, name="b")
        credentials_changed()
        with (
            QueryClient(app.query_target, api_key=a_key) as a,
            QueryClient(app.query_target, api_key=b_key) as b,
        ):
            yield TwoProjects(app, fake, a_key, b_key, a, b, senders)
    finally:
        for sender in senders:
            sender.close()
        app.stop()
        fake.close()


def test_a_silence_mutes_its_own_projects_alerts_only(chdb_dir: Path, tmp_path: Path) -> None:
    """Two projects fire a rule of the same name; a silence made with project A's key whose
    matcher (the rule name) matches both mutes A's alert only, and B neither lists nor expires it."""
    metric = f"cpu_scoped_{uuid.uuid4().hex[:8]}"
    name = "hot-cpu-scoped"
    policy = {**POLICY, "name": name, "condition": {**POLICY["condition"], "metric": metric}}
    with two_projects(chdb_dir, tmp_path, "silences_two") as two:
        app, fake, a, b, senders = two.app, two.fake, two.a, two.b, two.senders
        a_key, b_key = two.a_key, two.b_key
        for client in (a, b):  # the same rule name in both projects
            wait_for(lambda c=client: _created(c, policy), 60, "the rule created (its runner up)")
        silence = a.create_silence([f'alertname="{name}"'], comment="A's maintenance", duration_s=3600)
        assert [s.id for s in a.silences()] == [silence.id]
        assert b.silences() == [] and b.silences(include_expired=True) == []
        with pytest.raises(QueryError) as missing:
            b.expire_silence(silence.id)
        assert missing.value.code == grpc.StatusCode.NOT_FOUND, missing.value.message
        assert [s.state for s in a.silences()] == ["active"]  # B's attempt changed nothing

        for key, service in ((a_key, "web-a"), (b_key, "web-b")):
            headers = {"authorization": f"Bearer {key}"}
            senders.append(Gauges(app, metric, {service: 95.0}, every_s=0.5, headers=headers))
        fired_a = wait_for(
            lambda: [x for x in a.alerts(rule=name).alerts if x.state == "firing"], 60, "A's alert firing"
        )
        wait_for(
            lambda: [x for x in b.alerts(rule=name).alerts if x.state == "firing"], 60, "B's alert firing"
        )
        # B's alert is delivered; A's is recorded as silenced and never sent.
        wait_for(lambda: "web-b" in _services(fake), 90, "B's alert sent")
        wait_for(
            lambda: [
                d for d in a.deliveries(fingerprint=fired_a[0].fingerprint)
                if d.result == f"silenced by {silence.id}"
            ],
            30, "A's alert silenced in the delivery log",
        )  # fmt: skip
        assert "web-a" not in _services(fake)

        # Only A can end it; then A's alert goes out.
        assert a.expire_silence(silence.id).state == "expired"
        wait_for(lambda: "web-a" in _services(fake), 90, "A's alert sent once its silence expired")
        assert _services(fake).count("web-b") == 1


def test_two_projects_firing_identical_labels_are_notified_and_silenced_apart(
    chdb_dir: Path, tmp_path: Path
) -> None:
    """The same rule on the same service in two projects: identical labels, so one instance
    fingerprint. Each project's alert is its own notification (its own group key), a
    silence in the default project holds back its alert only, and each project's delivery
    log shows its own sends and suppressions only."""
    metric = f"cpu_twin_{uuid.uuid4().hex[:8]}"
    name = "hot-cpu-twin"
    policy = {**POLICY, "name": name, "condition": {**POLICY["condition"], "metric": metric}}
    with two_projects(chdb_dir, tmp_path, "silences_twin") as two:
        app, fake, a, b, senders = two.app, two.fake, two.a, two.b, two.senders
        a_key, b_key = two.a_key, two.b_key
        for client in (a, b):
            wait_for(lambda c=client: _created(c, policy), 90, "the rule created (its runner up)")
        silence = a.create_silence([f'alertname="{name}"'], comment="A's maintenance", duration_s=3600)
        for key in (a_key, b_key):
            headers = {"authorization": f"Bearer {key}"}
            senders.append(Gauges(app, metric, {"web-twin": 95.0}, every_s=0.5, headers=headers))
        fired = {
            "a": wait_for(lambda: [x for x in a.alerts(rule=name).alerts if x.state == "firing"], 90, "A firing"),
            "b": wait_for(lambda: [x for x in b.alerts(rule=name).alerts if x.state == "firing"], 90, "B firing"),
        }  # fmt: skip
        assert fired["a"][0].fingerprint == fired["b"][0].fingerprint  # the same labels

        def group_keys() -> list[str]:
            return [r.json["groupKey"] for r in fake.at("/hook") if r.json["status"] == "firing"]

        wait_for(lambda: group_keys(), 90, "B's alert sent")
        wait_for(
            lambda: [
                d for d in a.deliveries(fingerprint=fired["a"][0].fingerprint)
                if d.result == f"silenced by {silence.id}"
            ],
            90, "A's alert silenced in the delivery log",
        )  # fmt: skip
        (b_group,) = group_keys()  # A's is held back by its silence
        assert b_group.endswith(f"@{app.settings.database}_beta"), b_group
        assert a.expire_silence(silence.id).state == "expired"
        wait_for(lambda: len(group_keys()) == 2, 90, "A's alert sent once its silence expired")
        a_group = group_keys()[1]
        assert a_group != b_group and "@" not in a_group  # the default project's key is Alertmanager's
        assert [len(r.json["alerts"]) for r in fake.at("/hook")] == [1, 1]

        # Each project's delivery log has its own sends and suppressions only (one fingerprint).
        fp = fired["a"][0].fingerprint

        def sent(client: QueryClient) -> set[str]:
            return {d.group_key for d in client.deliveries(fingerprint=fp) if d.result == "sent"}

        wait_for(lambda: sent(a) == {a_group}, 90, "A's send in A's delivery log")
        wait_for(lambda: sent(b) == {b_group}, 90, "B's send in B's delivery log")
        suppressions = {
            who: [d.result for d in client.deliveries(fingerprint=fp) if not d.notification_id]
            for who, client in (("a", a), ("b", b))
        }
        assert suppressions == {"a": [f"silenced by {silence.id}", "unsuppressed"], "b": []}
        assert {d.group_key for d in b.deliveries(fingerprint=fp)} == {b_group}
