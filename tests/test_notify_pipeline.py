"""The notification pipeline end to end on real chDB, real receivers' protocols on local fakes:
a rule firing on data from the stock SDK reaches webhook, Slack, Telegram, PagerDuty and email
exactly as configured and resolves; repeat_interval re-sends on time and not more; inhibition
and silences suppress exactly what they match; retries, refusals and Retry-After; forwarding
to an external Alertmanager; a bad reload keeps the configuration in force."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alert_support import Gauges
from clickhouse_connect.driver.client import Client
from notify_fakes import FakeReceivers, FakeSMTP, cpu_rule, firing, wait_for
from prometheus_client import CollectorRegistry

from vigil_alerting.notify import Notifier
from vigil_alerting.notify.errors import NotifyConfigError, SilenceError
from vigil_alerting.notify.outbox import Outbox
from vigil_alerting.notify.receivers.telegram import MAX_TEXT
from vigil_alerting.rules import parse_rule
from vigil_alerting.rules.model import Rule
from vigil_alerting.runner import Runner
from vigil_alerting.silence import SilenceStore
from vigil_alerting.state.machine import AlertInstance, Observation, new_instance, step
from vigil_storage import connect

from support import RunningApp

S = 10**9


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    s = FakeSMTP()
    yield s
    s.close()


def resolved(rule: Rule, inst: AlertInstance) -> AlertInstance:
    after, transition = step(rule, inst, Observation("ok", 40.0), "> 80", time.time_ns())
    assert transition is not None and after.state == "resolved"
    return after


def _notifier(client: Client, system_db: str, tmp_path: Path, config: dict[str, Any], **kw: Any) -> Notifier:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    kw.setdefault("retry_base_s", 0.05)
    n = Notifier(client, system_database=system_db, config_path=path, external_url="http://vigil.test", **kw)
    n.open()
    n.start()
    return n


def _hook(fake: FakeReceivers, path: str = "/hook", **extra: Any) -> dict[str, Any]:
    return {"url": f"{fake.url}{path}", **extra}


def test_a_rule_firing_on_sdk_data_reaches_every_receiver_and_resolves(
    app: RunningApp, client: Client, system_db: str, tmp_path: Path, fake: FakeReceivers, smtp: FakeSMTP
) -> None:
    config = {
        "global": {"smtp_smarthost": smtp.smarthost, "smtp_from": "vigil@example.com", "smtp_require_tls": False},
        "route": {
            "receiver": "team", "group_by": ["alertname", "service"],
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True},
                {"matchers": ['severity=~"critical|warning"'], "receiver": "team"},
            ],
        },
        "receivers": [
            {"name": "team",
             "webhook_configs": [_hook(fake, http_config={"authorization": {"credentials": "tok"}}, hmac_secret="k")],
             "slack_configs": [{"api_url": f"{fake.url}/slack", "channel": "#ops"}],
             "email_configs": [{"to": "ops@example.com"}]},
            {"name": "oncall",
             "pagerduty_configs": [{"routing_key": "R0UTING", "url": f"{fake.url}/v2/enqueue"}],
             "telegram_configs": [{"api_url": fake.url, "bot_token": "123:abc", "chat_id": -1001}]},
        ],
    }  # fmt: skip
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([
        {"name": "cpu-high", "severity": "critical", "target": "pay-*", "interval": 1,
         "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}}
    ]))  # fmt: skip
    gauges = Gauges(app, "cpu_percent", {"pay-1": 97.0, "pay-2": 10.0}, every_s=0.3)
    runner_client = connect(app.settings.dsn)
    runner = Runner(
        runner_client, telemetry_database="otel", system_database=system_db, rules_file=rules_file
    )
    notifier = _notifier(client, system_db, tmp_path, config)
    try:
        runner.open()
        gauges.export()
        app.flush()
        runner.start()

        def observed(expect: int, what: str) -> None:
            wait_for(
                lambda: (notifier.observe(runner.alerts()), len(fake.at("/hook")) >= expect)[1], 30, what
            )

        observed(1, "the firing webhook")
        tg = wait_for(lambda: fake.at("/bot123:abc/sendMessage"), 10, "telegram")
        pd = wait_for(lambda: fake.at("/v2/enqueue"), 10, "pagerduty")
        wait_for(lambda: fake.at("/slack") and smtp.messages, 10, "slack and email")

        hook = fake.at("/hook")[0]
        body = hook.json
        assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                             "commonLabels", "commonAnnotations", "externalURL", "alerts"}  # fmt: skip
        assert (body["version"], body["status"], body["receiver"]) == ("4", "firing", "team")
        assert body["groupLabels"] == {"alertname": "cpu-high", "service": "pay-1"}
        [alert] = body["alerts"]
        assert set(alert) == {
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        }
        assert alert["labels"]["target"] == "pay-1" and alert["annotations"]["value"] == "97"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"].endswith("Z")
        assert alert["generatorURL"] == "http://vigil.test/alerts?rule=cpu-high"
        assert hook.headers["Authorization"] == "Bearer tok"
        import hashlib
        import hmac as _hmac

        expect_sig = _hmac.new(b"k", hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["X-Vigil-Signature"] == f"sha256={expect_sig}"
        assert len(hook.headers["X-Vigil-Delivery-Id"]) == 32

        assert tg[0].json["chat_id"] == -1001 and tg[0].json["parse_mode"] == "HTML"
        assert "cpu-high" in tg[0].json["text"] and len(tg[0].json["text"]) <= MAX_TEXT
        trigger = pd[0].json
        assert (trigger["event_action"], trigger["routing_key"], trigger["payload"]["severity"]) == (
            "trigger", "R0UTING", "critical",
        )  # fmt: skip
        assert (
            trigger["payload"]["source"] == "pay-1" and trigger["payload"]["custom_details"]["value"] == 97.0
        )
        assert {"href": "http://vigil.test/alerts?rule=cpu-high", "text": "Alert cpu-high"} in trigger[
            "links"
        ]
        slack = fake.at("/slack")[0].json
        assert slack["channel"] == "#ops" and "cpu-high" in slack["text"]
        assert "97" in json.dumps(slack["blocks"]) and "http://vigil.test/alerts?rule=cpu-high" in json.dumps(
            slack
        )
        sender, rcpts, mail = smtp.messages[0]
        assert (sender, rcpts) == ("vigil@example.com", ["ops@example.com"])
        assert "cpu-high" in mail["Subject"] and mail.is_multipart()
        assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}

        gauges.set("pay-1", 20.0)
        gauges.export()
        app.flush()
        observed(2, "the resolved webhook")
        resolved_hook = fake.at("/hook")[1].json
        assert resolved_hook["status"] == "resolved" and resolved_hook["alerts"][0]["status"] == "resolved"
        assert resolved_hook["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        pd = wait_for(
            lambda: len(fake.at("/v2/enqueue")) >= 2 and fake.at("/v2/enqueue"), 10, "pagerduty resolve"
        )
        assert [r.json["event_action"] for r in pd] == ["trigger", "resolve"]
        assert pd[0].json["dedup_key"] == pd[1].json["dedup_key"]
        wait_for(lambda: len(fake.at("/bot123:abc/sendMessage")) == 2, 10, "telegram resolved")
        notifier.stop()  # delivered state written; nothing else owed
        # Exactly: one firing + one resolved where resolved is sent; Slack and email do not send resolved.
        assert (len(fake.at("/hook")), len(fake.at("/slack")), len(smtp.messages)) == (2, 1, 1)
        assert len(fake.at("/v2/enqueue")) == 2 and len(fake.at("/bot123:abc/sendMessage")) == 2
        assert {r.state for r in notifier.outbox.rows()} == {"sent"}
    finally:
        runner.stop()
        notifier.stop()
        gauges.close()
        runner_client.close()


def test_repeat_interval_resends_an_unchanged_group_every_3_s_and_not_more(
    client: Client, system_db: str, tmp_path: Path, fake: FakeReceivers
) -> None:
    rule = cpu_rule("latency-high")
    config = {
        "route": {"receiver": "r", "group_by": ["alertname", "service"], "group_wait": "200ms",
                  "group_interval": "1s", "repeat_interval": "3s"},
        "receivers": [{"name": "r", "webhook_configs": [_hook(fake)]}],
    }  # fmt: skip
    notifier = _notifier(client, system_db, tmp_path, config)
    try:
        inst = firing(rule, "checkout")
        notifier.observe([inst])
        wait_for(lambda: len(fake.at("/hook")) >= 4, 15, "four notifications")
        notifier.observe([inst])  # observed again, unchanged: no extra notification
        hooks = fake.at("/hook")[:4]
        gaps = [b.at - a.at for a, b in itertools.pairwise(hooks)]
        assert all(2.0 <= g <= 4.0 for g in gaps), gaps
        assert all(h.json["status"] == "firing" for h in hooks)
        ids = {h.headers["X-Vigil-Delivery-Id"] for h in hooks}
        assert len(ids) == 4  # each repeat is its own notification
        count = len(fake.at("/hook"))
        notifier.observe([resolved(rule, inst)])
        last = wait_for(
            lambda: [h for h in fake.at("/hook") if h.json["status"] == "resolved"], 5, "resolved"
        )
        assert len(last) == 1 and len(fake.at("/hook")) <= count + 2
    finally:
        notifier.stop()


def test_inhibition_and_a_silence_suppress_exactly_what_they_match(
    client: Client, reader: Client, system_db: str, tmp_path: Path, fake: FakeReceivers
) -> None:
    crit, warn = cpu_rule("errors-critical", "critical"), cpu_rule("errors-warning", "warning")
    config = {
        "route": {"receiver": "r", "group_by": ["alertname", "service"], "group_wait": "200ms",
                  "group_interval": "500ms", "repeat_interval": "1h"},
        "receivers": [{"name": "r", "webhook_configs": [_hook(fake)]}],
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["service"]}],
    }  # fmt: skip
    notifier = _notifier(client, system_db, tmp_path, config, silence_refresh_s=0.2)
    api = SilenceStore(reader, system_db)
    try:
        silence = api.create(
            ['service="search"'], ends_ns=time.time_ns() + 3600 * S, created_by="ann", comment="deploy"
        )
        notifier.silences_changed()
        alerts = {
            "crit-checkout": firing(crit, "checkout"),
            "warn-checkout": firing(warn, "checkout"),  # inhibited: a critical on the same service
            "warn-cart": firing(warn, "cart"),  # not inhibited: another service
            "warn-search": firing(warn, "search"),  # silenced
        }
        notifier.observe(alerts.values())

        def suppressed() -> dict[str, str]:
            return {
                e.fingerprints[0]: e.result
                for e in notifier_log(reader, system_db)
                if e.notification_id == "" and e.result != "unsuppressed"
            }

        got = wait_for(lambda: len(suppressed()) >= 2 and suppressed(), 10, "the suppressions in the log")
        wait_for(lambda: len(fake.at("/hook")) >= 2, 10, "the two notifications")
        sent = sorted(
            h.json["groupLabels"]["alertname"] + "/" + h.json["groupLabels"]["service"]
            for h in fake.at("/hook")
        )
        assert sent == ["errors-critical/checkout", "errors-warning/cart"]
        assert got[alerts["warn-checkout"].fingerprint] == "inhibited"
        assert got[alerts["warn-search"].fingerprint] == f"silenced by {silence.id}"
        # Expiring the silence lets the silenced alert through at the next group_interval.
        api.expire(silence.id)
        notifier.silences_changed()
        wait_for(
            lambda: any(h.json["groupLabels"]["service"] == "search" for h in fake.at("/hook")),
            10,
            "unsilenced",
        )
        assert len(fake.at("/hook")) == 3
    finally:
        notifier.stop()


def notifier_log(reader: Client, system_db: str) -> list[Any]:
    return Outbox(reader, system_db).delivery_log()


def _one_webhook(fake: FakeReceivers, path: str = "/hook", **route: Any) -> dict[str, Any]:
    return {
        "route": {"receiver": "r", "group_by": ["alertname", "service"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h", **route},
        "receivers": [{"name": "r", "webhook_configs": [_hook(fake, path)]}],
    }  # fmt: skip


def test_500_three_times_then_200_is_delivered_once_with_4_attempts_logged_and_400_fails_with_the_body(
    client: Client, reader: Client, system_db: str, tmp_path: Path, fake: FakeReceivers
) -> None:
    fake.scripts["/flaky"] = [(500, "busy", {})] * 3
    fake.scripts["/refuses"] = [(400, '{"error": "bad channel"}', {})]
    fake.scripts["/limited"] = [(429, "slow down", {"Retry-After": "1"})]
    config = {
        "route": {"receiver": "flaky", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h",
                  "routes": [{"matchers": ['alertname="refused"'], "receiver": "refuses"},
                             {"matchers": ['alertname="limited"'], "receiver": "limited"}]},
        "receivers": [{"name": "flaky", "webhook_configs": [_hook(fake, "/flaky")]},
                      {"name": "refuses", "webhook_configs": [_hook(fake, "/refuses")]},
                      {"name": "limited", "webhook_configs": [_hook(fake, "/limited")]}],
    }  # fmt: skip
    registry = CollectorRegistry()
    notifier = _notifier(client, system_db, tmp_path, config, registry=registry)
    try:
        notifier.observe(
            [
                firing(cpu_rule("flaky"), "a"),
                firing(cpu_rule("refused"), "a"),
                firing(cpu_rule("limited"), "a"),
            ]
        )
        outbox = Outbox(reader, system_db)

        def states() -> dict[str, str]:
            return {r.notification.receiver: r.state for r in outbox.rows()}

        wait_for(
            lambda: states() == {"flaky": "sent", "refuses": "failed", "limited": "sent"}, 15, "final states"
        )
        flaky = fake.at("/flaky")
        assert [r.json["status"] for r in flaky] == ["firing"] * 4
        assert len({r.headers["X-Vigil-Delivery-Id"] for r in flaky}) == 1  # one notification, one key
        [row] = outbox.rows("flaky")
        assert row.attempts == 4 and row.last_answer.startswith("200")
        log = outbox.delivery_log(notification_id=row.notification.id)
        assert [(e.attempt, e.result) for e in log] == [(1, "retry"), (2, "retry"), (3, "retry"), (4, "sent")]
        assert log[0].answer == "500 busy" and log[0].fingerprints == tuple(
            a.fingerprint for a in row.notification.alerts
        )
        by_alert = outbox.delivery_log(fingerprint=row.notification.alerts[0].fingerprint)
        assert [e.result for e in by_alert if e.notification_id] == ["retry", "retry", "retry", "sent"]

        assert len(fake.at("/refuses")) == 1
        [refused] = outbox.rows("refuses")
        assert refused.attempts == 1 and refused.last_answer == '400 {"error": "bad channel"}'

        limited = fake.at("/limited")
        assert len(limited) == 2 and limited[1].at - limited[0].at >= 0.95  # Retry-After: 1 honoured

        def value(name: str, **labels: str) -> float:
            return registry.get_sample_value(name, labels) or 0.0

        assert value("vigil_notifications_total", receiver="flaky", integration="webhook", result="sent") == 1
        assert (
            value("vigil_notifications_total", receiver="flaky", integration="webhook", result="retried") == 3
        )
        assert (
            value("vigil_notifications_total", receiver="refuses", integration="webhook", result="failed")
            == 1
        )
        assert (
            value("vigil_notification_delivery_seconds_count", receiver="flaky", integration="webhook") == 1
        )
        assert value("vigil_notification_outbox_backlog") == 0
    finally:
        notifier.stop()


def test_forwarding_to_an_external_alertmanager_resends_while_firing(
    client: Client, system_db: str, fake: FakeReceivers
) -> None:
    notifier = Notifier(
        client, system_database=system_db, alertmanager_url=f"{fake.url}/am", alertmanager_resend_s=1.0,
        external_url="http://vigil.test",
    )  # fmt: skip
    notifier.open()
    notifier.start()
    try:
        rule = cpu_rule("disk-full")
        inst = firing(rule, "db")
        notifier.observe([inst])
        posts = wait_for(
            lambda: len(fake.at("/am/api/v2/alerts")) >= 3 and fake.at("/am/api/v2/alerts"), 10, "resends"
        )
        first = posts[0].json
        assert [a["labels"]["alertname"] for a in first] == ["disk-full"]
        assert set(first[0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        assert first[0]["endsAt"] > first[0]["startsAt"]  # ahead of now: expires if Vigil stops sending
        gaps = [b.at - a.at for a, b in itertools.pairwise(posts[:3])]
        assert all(0.5 <= g <= 1.6 for g in gaps), gaps
        before = len(fake.at("/am/api/v2/alerts"))
        notifier.observe([resolved(rule, inst)])
        resolved_by = _now_rfc3339()
        wait_for(
            lambda: any(p.json[0]["endsAt"] <= resolved_by for p in fake.at("/am/api/v2/alerts")[before:]),
            5,
            "the resolved alert with its end time",
        )
    finally:
        notifier.stop()


def _now_rfc3339() -> str:
    from vigil_alerting.notify.alert import rfc3339

    return rfc3339(time.time_ns())


def test_a_bad_reload_keeps_the_configuration_in_force(
    client: Client, system_db: str, tmp_path: Path, fake: FakeReceivers
) -> None:
    notifier = _notifier(client, system_db, tmp_path, _one_webhook(fake, "/before"))
    try:
        path = notifier.config_path
        assert path is not None
        path.write_text("route: {receiver: nobody}\nreceivers: [{name: r, webhook_configs: [{url: x}]}]\n")
        with pytest.raises(NotifyConfigError, match=r"route\.receiver: unknown receiver 'nobody'"):
            notifier.reload()
        notifier.observe([firing(cpu_rule("one"), "a")])
        wait_for(lambda: fake.at("/before"), 10, "the old receiver")
        path.write_text(yaml.safe_dump(_one_webhook(fake, "/after")))
        notifier.reload()
        notifier.observe([firing(cpu_rule("two"), "a")])
        wait_for(lambda: fake.at("/after"), 10, "the new receiver")
        assert len(fake.at("/before")) == 1
    finally:
        notifier.stop()


def test_silences_api_create_list_expire_and_refusals(reader: Client, system_db: str) -> None:
    store = SilenceStore(reader, system_db)
    store.ensure_schema()
    now = time.time_ns()
    for matchers, reason in (
        ([], "at least one matcher"),
        (['a=~".*"'], "match every alert"),
        (['a=~"(("'], "bad matcher"),
    ):
        with pytest.raises(SilenceError, match=reason):
            store.create(matchers, ends_ns=now + S, created_by="ann", comment="x")
    with pytest.raises(SilenceError, match="end must be after the start"):
        store.create(["a=b"], starts_ns=now + 5 * S, ends_ns=now + S, created_by="ann", comment="x")
    with pytest.raises(SilenceError, match="comment"):
        store.create(["a=b"], ends_ns=now + S, created_by="ann", comment=" ")
    s = store.create(['service="checkout"', 'severity!="critical"'], ends_ns=now + 3600 * S, created_by="ann",
                     comment="deploying")  # fmt: skip
    assert s.matches({"service": "checkout", "severity": "warning"}) and not s.matches(
        {"service": "checkout", "severity": "critical"}
    )
    assert [x.id for x in store.list()] == [s.id] and [x.id for x in store.active()] == [s.id]
    expired = store.expire(s.id)
    assert expired.state(time.time_ns() + 1) == "expired" and store.active() == []
    assert [(x.id, x.created_by, x.comment) for x in store.list()] == [(s.id, "ann", "deploying")]
    assert store.list(include_expired=False) == []
    with pytest.raises(SilenceError, match="already expired"):
        store.expire(s.id)
    with pytest.raises(SilenceError, match="no silence"):
        store.expire("nope")


def test_1000_alerts_in_one_evaluation_make_1000_notifications_promptly(
    client: Client, reader: Client, system_db: str, tmp_path: Path
) -> None:
    """The benchmark's notifier half: a rule grouped by 1,000 users turning firing at once,
    group_by [alertname, vigil.user] with group_wait 0s → 1,000 notifications, to a webhook
    receiver in its own process."""
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent.parent / "bench" / "notify_sink.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{json.loads(sink.stdout.readline())['port']}"
        rule = parse_rule(
            {"name": "budget-spike", "severity": "warning", "group_by": ["vigil.user"],
             "condition": {"type": "spans", "measure": "total_tokens", "threshold": 1000}}
        )  # fmt: skip
        config = {
            "route": {"receiver": "r", "group_by": ["alertname", "vigil.user"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "r", "webhook_configs": [{"url": f"{url}/bulk"}]}],
        }  # fmt: skip
        notifier = _notifier(client, system_db, tmp_path, config)
        try:
            now = time.time_ns()
            instances = []
            for u in range(1000):
                inst = new_instance(rule, {"vigil.user": f"user-{u:04d}"})
                instances.append(step(rule, inst, Observation("breach", 5000.0), "> 1000", now)[0])

            def count() -> int:
                return int(urllib.request.urlopen(f"{url}/count", timeout=10).read())

            cpu0 = time.process_time()
            t0 = time.time()
            notifier.observe(instances)
            wait_for(lambda: count() >= 1000, 60, "1000 notifications")
            cpu = time.process_time() - cpu0
            got = json.loads(urllib.request.urlopen(f"{url}/stats", timeout=10).read())
            latencies = sorted(at - t0 for at, *_ in got)
            p50, p99 = latencies[499], latencies[989]
            print(f"1000 notifications: p50 {p50:.3f} s, p99 {p99:.3f} s, last {latencies[-1]:.3f} s, "
                  f"notifier process CPU {cpu:.2f} s")  # fmt: skip
            assert len({g["vigil.user"] for _, g, *_ in got}) == 1000 and len(got) == 1000
            # The target is p99 < 1 s (bench/notify.py measures it: 0.71 s here on a quiet
            # machine); this bound only guards against regressions on a machine shared with other
            # work, where the notifier's ~0.7 s of CPU can take several seconds of wall time.
            assert p99 < 5.0, latencies[-20:]
            wait_for(lambda: Outbox(reader, system_db).backlog() == 0, 30, "the outbox drained")
        finally:
            notifier.stop()
    finally:
        sink.kill()
        sink.wait()


def test_the_notifier_from_settings(app: RunningApp, reader: Client, system_db: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "r"},
                "receivers": [{"name": "r", "webhook_configs": [{"url": "http://127.0.0.1:9/"}]}],
            }
        )
    )
    settings = app.settings.model_copy(
        update={"alertmanager_config": path, "system_database": system_db, "notify_retry_base_s": 0.5,
                "notify_max_attempts": 3, "notify_retention_days": 7, "alertmanager_url": "http://127.0.0.1:9"}
    )  # fmt: skip
    notifier = Notifier.from_settings(reader, settings, registry=CollectorRegistry())
    notifier.open()
    assert notifier.config is not None and set(notifier.config.receivers) == {"r"}
    assert (notifier.retry_base_s, notifier.max_attempts, notifier.outbox.retention_s) == (0.5, 3, 7 * 86400)
    assert notifier.forwarder is not None and notifier.forwarder.url == "http://127.0.0.1:9/api/v2/alerts"
    ddl = reader.query(f"SHOW CREATE TABLE {system_db}.vigil_notification_outbox").result_rows[0][0]
    assert "toIntervalSecond(604800)" in ddl and "State != 'pending'" in ddl


def test_silences_are_per_project_and_a_table_from_before_projects_keeps_its_rows(
    reader: Client, system_db: str
) -> None:
    # The table as it was before silences had a project, with a silence in it.
    reader.command(f"CREATE DATABASE IF NOT EXISTS {system_db}")
    reader.command(
        f"CREATE TABLE {system_db}.vigil_silences (Id String, Matchers Array(String), StartsNs Int64,"
        " EndsNs Int64, CreatedBy String, Comment String, CreatedNs Int64, UpdatedNs Int64)"
        " ENGINE = ReplacingMergeTree(UpdatedNs) ORDER BY Id"
    )
    now = time.time_ns()
    reader.command(
        f"INSERT INTO {system_db}.vigil_silences VALUES"
        f" ('old', ['alertname=\"cpu\"'], {now}, {now + 3600 * S}, 'ann', 'before', {now}, {now})"
    )
    store = SilenceStore(reader, system_db)
    store.ensure_schema()
    store.ensure_schema()  # again: nothing to add
    (old,) = store.list()  # readable, with no project: it mutes no project's alerts
    assert (old.id, old.project, old.comment) == ("old", "", "before")
    assert not old.matches({"alertname": "cpu"}, "vigil_a")
    a = store.create(
        ['alertname="cpu"'], ends_ns=now + 3600 * S, created_by="ann", comment="a", project="vigil_a"
    )
    assert a.matches({"alertname": "cpu"}, "vigil_a") and not a.matches({"alertname": "cpu"}, "vigil_b")
    assert [s.id for s in store.list(project="vigil_a")] == [a.id] and store.list(project="vigil_b") == []
    assert {s.id for s in store.active()} == {"old", a.id}  # the notifier's: every project's
    with pytest.raises(SilenceError, match="no silence"):
        store.expire(a.id, project="vigil_b")
    assert store.expire(a.id, project="vigil_a").project == "vigil_a"
    assert store.list(project="vigil_a", include_expired=False) == []
