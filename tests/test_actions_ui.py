"""The Actions pages in a real browser (issue 35's UI, ui/tests/actions.mjs): the list fills live
from WatchActions while a rule remediates by itself; a pending action is cancelled; an action's
audit trail; and on the incident of a rule with `auto_remediate: false`, a person's "Run" button
queues the action for that incident, which the fake remediator then receives."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from alert_support import Gauges
from test_actions import FakeRemediator
from test_ui import CHROMIUM, SHOTS, UI, needs_browser, needs_ui

from vigil.alerting.v1 import alerting_pb2 as pb
from vigil.alerting.v1 import alerting_pb2_grpc

from support import RunningApp, make_settings, wait_for

POLICIES = [
    {"name": "cpu-high", "severity": "critical", "target": "*", "interval": "1s", "window": "30s",
     "auto_remediate": True, "action": "restart", "params": {"cooldown_seconds": 3600},
     "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}},
    {"name": "mem-high", "severity": "high", "target": "*", "interval": "1s", "window": "30s",
     "auto_remediate": False, "action": "scale-up", "params": {"replicas": 2},
     "condition": {"type": "metric_exceeds", "metric": "mem_percent", "threshold": 80}},
]  # fmt: skip


@pytest.fixture
def remediators() -> Iterator[tuple[FakeRemediator, FakeRemediator]]:
    good, refusing = FakeRemediator(), FakeRemediator()
    refusing.script = [(503, "maintenance")] * 5
    yield good, refusing
    good.close()
    refusing.close()


@needs_ui
@needs_browser
def test_the_actions_pages_live_cancel_detail_and_the_incidents_run_button(
    chdb_dir: Path, tmp_path: Path, remediators: tuple[FakeRemediator, FakeRemediator]
) -> None:
    good, refusing = remediators
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"policies": POLICIES}))
    app = RunningApp(
        make_settings(
            chdb_dir, database="actions_ui", rules_file=rules, remediator_url=good.url,
            remediator_endpoints={"drain-pod": refusing.url},
            # After its first refusal the drain-pod action waits (pending) long enough to be cancelled.
            actions_retry_base_s=3600, actions_poll_s=0.2, incidents_tick_s=0.25,
        )
    )  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser = subprocess.Popen(
        ["node", str(UI / "tests" / "actions.mjs"), app.web_base, str(SHOTS), "mem-high", "scale-up"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    cpu = mem = None
    try:
        assert browser.stdout is not None
        first = browser.stdout.readline().strip()
        assert first == "ready", (
            f"the page did not go live: {first} {browser.stderr.read() if not first else ''}"
        )
        cpu = Gauges(app, "cpu_percent", {"checkout": 97.0}, every_s=0.5)
        mem = Gauges(app, "mem_percent", {"payments": 95.0}, every_s=0.5)
        with grpc.insecure_channel(app.query_target) as channel:
            stub = alerting_pb2_grpc.AlertingServiceStub(channel)
            stub.CreateAction(pb.CreateActionRequest(action="drain-pod", target="pod-9", details="by hand"))
        out, err = browser.communicate(timeout=400)
    finally:
        if browser.poll() is None:
            browser.kill()
        for gauges in (cpu, mem):
            if gauges is not None:
                gauges.close()
        app_queue = app.app.alerting.actions
        listed = app_queue.list("actions_ui") if app_queue is not None else []
        app.stop()
    assert browser.returncode == 0, f"{err.strip()} (screenshots in {SHOTS})"
    seen = json.loads(out.strip().splitlines()[-1])
    print("browser:", seen)
    assert seen["emptyBefore"] == 1  # the rows that follow arrived live
    assert any("restart" in row and "checkout" in row and "rule cpu-high" in row for row in seen["listed"])
    assert "drain-pod" in seen["cancelled"] and "pod-9" in seen["cancelled"]
    assert seen["history"] == ["pending", "running", "completed"]
    assert seen["button"] == "Run scale-up payments" and seen["autoButtons"] == 0
    assert "scale-up payments queued" in seen["message"]
    assert "completed" in seen["timeline"] and "scale-up payments" in seen["timeline"]
    assert "completed" in seen["ran"]
    # What the remediators saw: the person's action names the incident, with the rule's params.
    statuses = {(a.action, a.target): a for a in listed}
    assert statuses[("drain-pod", "pod-9")].status == "cancelled"
    scaled = statuses[("scale-up", "payments")]
    assert scaled.status == "completed" and scaled.incident_id and scaled.requested_by == "local"
    task = wait_for(
        lambda: next((t for t in good.received() if t.body["action"] == "scale-up"), None), 30, "the task"
    )
    assert task.body["params"] == {"replicas": 2}  # the rule's, as it would send them itself
    assert task.body["incident"]["id"] == scaled.incident_id
    assert [t.body["target"] for t in refusing.received()] == ["pod-9"]
