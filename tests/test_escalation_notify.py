"""Incidents through the notifier (issue 34), against a real `vigil serve` fed by the stock
metrics SDK, the receivers local fakes: an escalation step naming a receiver of the
alertmanager configuration is delivered through the outbox (retried after a 500, with one
delivery id, in the delivery log, the timeline saying it was queued); acknowledging the incident
stops the repeats of its alert's group (the delivery log says so) until the incident is no
longer acknowledged; resolving it sends the resolution to the receiver the step notified."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import yaml
from alert_support import Gauges
from notify_fakes import FakeReceivers, wait_for

from vigil import QueryClient
from vigil_alerting.notify.alert import Alert
from vigil_alerting.notify.config import parse_config
from vigil_alerting.notify.dispatch import Dispatcher

from support import RunningApp, make_settings

RULE = {
    "name": "hot-cpu-escalated",
    "severity": "warning",
    "target": "web-*",
    "enabled": True,
    "condition": {"type": "metric_exceeds", "metric": "", "threshold": 80},
    "interval": 1,
}
REPEAT_S = 2.0


def _wall(monotonic_s: float) -> float:
    """A fake's request time (time.monotonic()) on the wall clock the delivery log uses."""
    return time.time() - (time.monotonic() - monotonic_s)


def test_escalation_goes_through_the_outbox_and_acknowledging_stops_the_repeats(
    chdb_dir: Path, tmp_path: Path
) -> None:
    metric = f"cpu_escalated_{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{**RULE, "condition": {**RULE["condition"], "metric": metric}}]))
    fake = FakeReceivers(scripts={"/oncall": [(500, "busy", {})]})
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname, service]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        f"  repeat_interval: {REPEAT_S:g}s\n"
        "receivers:\n"
        "  - name: hook\n"
        f"    webhook_configs: [{{url: '{fake.url}/hook', send_resolved: true}}]\n"
        "  - name: oncall\n"
        f"    webhook_configs: [{{url: '{fake.url}/oncall', send_resolved: true}}]\n"
    )
    incidents = tmp_path / "incidents.yaml"
    incidents.write_text(
        "escalation:\n"
        "  - name: page-oncall\n"
        "    steps:\n"
        "      - {after: 1s, notify: oncall, raise_severity: true}\n"
    )
    app = RunningApp(
        make_settings(
            chdb_dir, database="escalatenotify", rules_file=rules, rules_interval_s=1, alertmanager_config=config,
            incidents_file=incidents, incidents_tick_s=0.25, notify_retry_base_s=0.2, drift_interval_s=0,
        )
    )  # fmt: skip
    gauges = Gauges(app, metric, {"web-5": 95.0}, every_s=0.5)
    try:
        with QueryClient(app.query_target) as client:
            incident = wait_for(
                lambda: [i for i in client.incidents() if any(a.rule == RULE["name"] for a in i.alerts)],
                60,
                "the incident",
            )[0]
            (fingerprint,) = [a.fingerprint for a in incident.alerts]

            # The step's notification: refused once with a 500, retried, then accepted.
            oncall = wait_for(lambda: len(r := fake.at("/oncall")) >= 2 and r, 60, "the escalation, retried")
            assert oncall[0].headers["X-Vigil-Delivery-Id"] == oncall[1].headers["X-Vigil-Delivery-Id"]
            payload = oncall[1].json
            assert payload["version"] == "4" and payload["receiver"] == "oncall"
            assert payload["groupKey"] == f"incident:{incident.id}" and payload["status"] == "firing"
            (alert,) = payload["alerts"]
            assert alert["labels"]["incident"] == incident.id and alert["fingerprint"] == fingerprint
            assert alert["labels"]["severity"] == "high"  # the step raised warning one level
            assert alert["annotations"]["escalation"] == "step 1"
            log = wait_for(
                lambda: (
                    [d for d in client.deliveries(incident_id=incident.id) if d.receiver == "oncall"]
                    if len([d for d in client.deliveries(incident_id=incident.id) if d.receiver == "oncall"])
                    >= 2
                    else None
                ),
                30,
                "the escalation in the delivery log",
            )
            assert [(d.attempt, d.result) for d in log[:2]] == [(1, "retry"), (2, "sent")]
            assert "500" in log[0].answer and log[0].notification_id == log[1].notification_id
            timeline = client.incident(incident.id).timeline
            notified = [e for e in timeline if e.kind == "notified" and e.receiver == "oncall"]
            assert notified and notified[0].result == f"queued for delivery: {log[0].notification_id}"

            # The route's repeats go on every REPEAT_S until the incident is acknowledged …
            wait_for(lambda: len(fake.at("/hook")) >= 2, 30, "the route's repeats")
            client.acknowledge_incident(incident.id)
            stopped = wait_for(
                lambda: [
                    d for d in client.deliveries(fingerprint=fingerprint)
                    if d.result == "acknowledged: repeats stopped"
                ],
                30,
                "the repeats stopped",
            )[0]  # fmt: skip
            quiet_from = stopped.time_unix_nano / 1e9
            # … none for well over two repeat intervals …
            wait_for(lambda: time.time() > quiet_from + 3 * REPEAT_S, 30, "time passing")
            # … and they resume once it is no longer acknowledged (resolved by hand, still firing).
            client.resolve_incident(incident.id)
            resumed = wait_for(
                lambda: [
                    d for d in client.deliveries(fingerprint=fingerprint) if d.result == "repeats resumed"
                ],
                30,
                "the repeats resumed",
            )[0]
            wait_for(
                lambda: [r for r in fake.at("/hook") if _wall(r.at) > resumed.time_unix_nano / 1e9 - 0.5],
                30,
                "a repeat after the acknowledgement ended",
            )
            quiet = [
                r for r in fake.at("/hook") if quiet_from + 0.5 < _wall(r.at) < resumed.time_unix_nano / 1e9
            ]
            assert quiet == [], [_wall(r.at) - quiet_from for r in quiet]
            # The resolution goes to the receiver the step notified, with the same group.
            done = wait_for(
                lambda: [r for r in fake.at("/oncall") if r.json["status"] == "resolved"],
                30,
                "the resolution",
            )
            assert done[0].json["groupKey"] == f"incident:{incident.id}"
    finally:
        gauges.close()
        app.stop()
        fake.close()


def test_an_acknowledged_group_is_not_repeated_and_not_looked_at_in_a_busy_loop() -> None:
    config = parse_config(
        yaml.safe_load(
            "route: {receiver: r, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 4s}\n"
            "receivers: [{name: r, webhook_configs: [{url: 'http://127.0.0.1:9/x', send_resolved: true}]}]\n"
        )
    )
    acked: set[str] = set()
    d = Dispatcher(config, acknowledged=acked.__contains__)
    s = 10**9
    alert = Alert("fp1", {"alertname": "a", "service": "x"}, starts_at_ns=1)
    d.observe([alert], 0)
    sent, _ = d.flush_due(0)
    assert len(sent) == 1
    acked.add("fp1")
    sent, notes = d.flush_due(4 * s)  # the repeat is due, but the incident is acknowledged
    assert sent == [] and [n.reason for n in notes] == ["acknowledged: repeats stopped"]
    assert d.next_wake_ns() == 5 * s  # looked at again after group_interval, not at once
    assert d.flush_due(5 * s) == ([], [])
    # A new alert in the group still goes out (it is not acknowledged), with the old one; the
    # group is no longer wholly acknowledged, so its repeats resume.
    d.observe([Alert("fp2", {"alertname": "a", "service": "y"}, starts_at_ns=2)], 5 * s)
    sent, notes = d.flush_due(6 * s)
    assert [sorted(a.fingerprint for a in n.alerts) for n in sent] == [["fp1", "fp2"]]
    assert [(n.fingerprint, n.reason) for n in notes] == [("fp1", "repeats resumed")]
    sent, _ = d.flush_due(10 * s)
    assert len(sent) == 1
    # The resolution of an acknowledged alert is sent.
    acked.add("fp1")
    d.observe([Alert("fp1", {"alertname": "a", "service": "x"}, starts_at_ns=1, ends_at_ns=11 * s)], 11 * s)
    sent, _ = d.flush_due(11 * s)
    assert [[a.status for a in n.alerts] for n in sent] == [["firing", "resolved"]]
