"""Issue 34's benchmark path: an evaluation's alert changes reach the notifier before incident
bookkeeping, and the incidents one evaluation changes are written together (one version per
incident, two INSERTs), so a burst of new alerts does not wait for thousands of writes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from alert_support import Gauges
from notify_fakes import FakeReceivers, wait_for

from vigil_alerting.incidents import config as incident_config
from vigil_alerting.incidents.manager import IncidentManager, WebhookSink
from vigil_alerting.incidents.model import Incident
from vigil_alerting.rules.load import parse_rule
from vigil_alerting.state.machine import Transition
from vigil_storage import connect

from support import RunningApp, make_settings


def test_the_first_delivery_does_not_wait_for_the_incidents(chdb_dir: Path, tmp_path: Path) -> None:
    """Incident bookkeeping held up (a listener that blocks): the webhook still gets the alert."""
    metric = f"cpu_first_{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [{"name": "hot", "severity": "critical", "target": "web-*", "interval": 1,
              "condition": {"type": "metric_exceeds", "metric": metric, "threshold": 80}}]
        )
    )  # fmt: skip
    fake = FakeReceivers()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route: {receiver: hook, group_by: [alertname, service], group_wait: 0s, group_interval: 1s,"
        " repeat_interval: 1h}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{fake.url}/hook'}}]}}]\n"
    )
    app = RunningApp(
        make_settings(
            chdb_dir, database="notifyfirst", rules_file=rules, rules_interval_s=1,
            alertmanager_config=config, drift_interval_s=0,
        )
    )  # fmt: skip
    incidents = app.app.alerting.incidents
    assert incidents is not None
    release, held = threading.Event(), threading.Event()

    def slow_bookkeeping(incident: Incident) -> None:
        held.set()
        release.wait(300)  # never forever: a failing run must still stop

    incidents.subscribe(slow_bookkeeping)
    gauges = Gauges(app, metric, {"web-7": 95.0}, every_s=0.5)
    try:
        wait_for(lambda: fake.at("/hook"), 60, "the notification while incidents are held up")
        release.set()
        opened = wait_for(
            lambda: [i for i in incidents.live_all() if i.status == "triggered"], 60, "incident"
        )
        assert [a.rule for a in opened[0].alerts.values()] == ["hot"]
    finally:
        release.set()
        gauges.close()
        app.stop()
        fake.close()


def _firing(fingerprint: str, service: str, at_ns: int) -> Transition:
    labels = {"alertname": "budget", "service.name": service, "vigil.user": fingerprint}
    return Transition(at_ns, "budget", fingerprint, labels, "pending", "firing", 2.0, "> 1", "warning")


def test_one_evaluation_writes_each_incident_once(chdb_dir: Path) -> None:
    """300 alerts firing in one evaluation: correlated into one incident, that incident gets one
    new version (not 300) and every event in order; uncorrelated, 300 incidents of one version."""
    dsn = make_settings(chdb_dir).dsn
    rule = parse_rule(
        {
            "name": "budget",
            "target": "*",
            "condition": {"type": "metric_exceeds", "metric": "m", "threshold": 1},
        },
        source="api",
    )
    for correlate_by, expected in ((("service.name",), 1), ((), 300)):
        database = f"vigil_incidents_batch_{uuid.uuid4().hex[:8]}"
        client = connect(dsn)
        manager = IncidentManager(
            incident_config.load(None, correlate_by=correlate_by, auto_resolve=True, reopen_window_s=3600),
            WebhookSink({}, 5.0),
            system_database=database,
            connect=lambda: connect(dsn),
        )
        try:
            manager.open(client)
            seen: list[Incident] = []
            manager.subscribe(seen.append)
            now = time.time_ns()
            fired = [_firing(f"u{u:04d}", "checkout", now) for u in range(300)]
            manager.observe(client, "p", rule, [], fired, now)
            live = manager.live("p")
            assert len(live) == expected and len(seen) == expected  # listeners: once per incident
            versions = client.query(
                f"SELECT Id, count(), max(Version) FROM {database}.vigil_incidents GROUP BY Id"
            ).result_rows
            assert len(versions) == expected and all(n == 1 for _, n, _ in versions), versions[:3]
            events = client.query(
                f"SELECT IncidentId, groupArray(Kind), groupArray(Seq) FROM (SELECT * FROM"
                f" {database}.vigil_incident_timeline ORDER BY Seq) GROUP BY IncidentId"
            ).result_rows
            for _, kinds, seqs in events:
                assert kinds[0] == "opened" and set(kinds[1:]) == {"alert_joined"}
                assert list(seqs) == list(range(1, len(seqs) + 1))
            assert sum(len(k) for _, k, _ in events) == expected + 300
            # And the state read back after a restart is the one in memory.
            again = IncidentManager(
                manager.config, WebhookSink({}, 5.0), system_database=database, connect=lambda: connect(dsn)
            )
            again.open(client)
            assert sorted((i.id, len(i.alerts), i.seq) for i in again.live("p")) == sorted(
                (i.id, len(i.alerts), i.seq) for i in live
            )
        finally:
            manager.close()
            client.close()
