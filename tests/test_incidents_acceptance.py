"""Incidents (issue 34) beyond test_incidents.py, on a real app fed by the stock metrics SDK:
with ``auto_resolve`` off an incident outlives its resolved alerts until resolved by hand; a
re-fire after the reopen window opens a new incident (within it, test_incidents.py shows the
reopening); ListIncidents filters by severity (at least) and by time."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from alert_support import Gauges

from vigil import QueryClient

from support import RunningApp, make_settings, wait_for

REOPEN_WINDOW_S = 3.0


def _rules(metric: str) -> list[dict[str, Any]]:
    cpu = {"type": "metric_exceeds", "metric": metric, "threshold": 80}
    return [
        {"name": "inv-a-cpu", "severity": "warning", "target": "inv-a", "interval": 1, "condition": cpu},
        {"name": "inv-b-cpu", "severity": "critical", "target": "inv-b", "interval": 1, "condition": cpu},
    ]


def test_no_auto_resolve_a_refire_after_the_reopen_window_and_list_filters(
    chdb_dir: Path, tmp_path: Path
) -> None:
    metric = f"cpu_inc_{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(_rules(metric)))
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="incidents_accept",
            rules_file=rules,
            rules_interval_s=1,
            incidents_auto_resolve=False,
            incidents_reopen_window_s=REOPEN_WINDOW_S,
            incidents_tick_s=0.25,
        )
    )
    before_ns = time.time_ns()
    gauges = Gauges(app, metric, {"inv-a": 95.0, "inv-b": 40.0}, every_s=0.5)
    try:
        with QueryClient(app.query_target) as c:

            def of(service: str, **kw: Any) -> list[Any]:
                return list(c.incidents(service=service, **kw))

            (a,) = wait_for(lambda: of("inv-a"), 60, "inv-a's incident")
            gauges.set("inv-b", 95.0)
            (b,) = wait_for(lambda: of("inv-b"), 60, "inv-b's incident")
            assert (a.severity, b.severity) == ("warning", "critical")

            # Severity: at least the one asked for. Time: open at some point in [start, end).
            assert [i.id for i in c.incidents(severity="critical")] == [b.id]
            assert {i.id for i in c.incidents(severity="warning")} == {a.id, b.id}
            assert {i.id for i in c.incidents(severity="info")} == {a.id, b.id}
            assert c.incidents(end=before_ns) == []  # none was open before the test
            assert {i.id for i in c.incidents(start=before_ns)} == {a.id, b.id}
            between = (a.opened_time_unix_nano + b.opened_time_unix_nano) // 2
            if a.opened_time_unix_nano < b.opened_time_unix_nano:  # b opened after a (by ≥ 1 evaluation)
                assert [i.id for i in c.incidents(end=between)] == [a.id]
            assert c.incidents(start=time.time_ns() + 3600 * 10**9) == []

            # auto_resolve off: the alert resolves, the incident stays open with the event recorded.
            gauges.set("inv-a", 40.0)

            def kinds(incident_id: str) -> list[str]:
                return [e.kind for e in c.incident(incident_id).timeline]

            wait_for(lambda: "alert_resolved" in kinds(a.id), 60, "inv-a's alert resolved")
            assert c.incident(a.id).incident.status == "triggered"
            # Several more evaluations and escalation ticks do not resolve it either.
            evaluations = c.runner_status().evaluations
            wait_for(
                lambda: c.runner_status().evaluations >= evaluations + 6, 60, "three more evaluation rounds"
            )
            assert c.incident(a.id).incident.status == "triggered"
            resolved = c.resolve_incident(a.id)
            assert resolved.status == "resolved" and resolved.resolved_by != "auto"

            # A re-fire after the reopen window opens a new incident; the old one stays resolved.
            window_end = resolved.resolved_time_unix_nano + int(REOPEN_WINDOW_S * 1e9)
            wait_for(lambda: time.time_ns() > window_end + 500_000_000, 30, "the reopen window to pass")
            gauges.set("inv-a", 95.0)
            both = wait_for(lambda: len(of("inv-a")) == 2 and of("inv-a"), 60, "a second inv-a incident")
            new = next(i for i in both if i.id != a.id)
            assert new.opened_time_unix_nano > window_end
            assert new.status == "triggered"
            assert c.incident(a.id).incident.status == "resolved"
            assert "reopened" not in kinds(a.id) and kinds(new.id)[0] == "opened"
    finally:
        gauges.close()
        app.stop()
