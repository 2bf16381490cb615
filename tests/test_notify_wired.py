"""The notifier in `vigil serve`: a rule firing on data from the stock metrics SDK reaches an
Alertmanager-webhook receiver (a local fake) once, and its resolution too; a bad
alertmanager.yml stops the start with the file and the key."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from alert_support import Gauges
from notify_fakes import FakeReceivers, wait_for

from vigil_alerting.notify.errors import NotifyConfigError

from support import RunningApp, make_settings

POLICY = {
    "name": "hot-cpu",
    "description": "CPU above 80%",
    "severity": "critical",
    "target": "web-*",
    "enabled": True,
    "condition": {"type": "metric_exceeds", "metric": "", "threshold": 80},
    "interval": 1,
}


def test_a_firing_rule_is_sent_to_the_webhook_once_then_resolved(chdb_dir: Path, tmp_path: Path) -> None:
    metric = f"cpu_wired_{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{**POLICY, "condition": {**POLICY["condition"], "metric": metric}}]))
    fake = FakeReceivers()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname, service]\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        f"    webhook_configs: [{{url: '{fake.url}/hook', send_resolved: true}}]\n"
    )
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="notifywired",
            rules_file=rules,
            rules_interval_s=1,
            alertmanager_config=config,
            drift_interval_s=0,
        )
    )
    gauges = Gauges(app, metric, {"web-7": 95.0}, every_s=0.5)
    try:
        firing = wait_for(lambda: [r for r in fake.at("/hook") if r.json["status"] == "firing"], 30, "firing")
        payload = firing[0].json
        assert payload["version"] == "4" and payload["receiver"] == "hook"
        (alert,) = payload["alerts"]
        assert alert["labels"]["alertname"] == "hot-cpu" and alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["description"] == "CPU above 80%"
        gauges.set("web-7", 40.0)
        wait_for(lambda: [r for r in fake.at("/hook") if r.json["status"] == "resolved"], 30, "resolved")
        statuses = [r.json["status"] for r in fake.at("/hook")]
        assert statuses == ["firing", "resolved"], statuses  # once each: no repeat within the hour
    finally:
        gauges.close()
        app.stop()
        fake.close()


def test_a_bad_alertmanager_file_stops_the_start(chdb_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    with pytest.raises(NotifyConfigError, match="nowhere"):
        RunningApp(make_settings(chdb_dir, database="notifybad", alertmanager_config=config))
