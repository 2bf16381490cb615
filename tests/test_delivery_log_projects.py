"""The delivery log is per project (issue 34): two projects' alerts with identical labels (one
fingerprint) are logged apart, a notification resumed from the outbox keeps its project, and a
log made before the ``Project`` column existed gets it, its rows read as the default project's."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import yaml
from clickhouse_connect.driver.client import Client
from notify_fakes import FakeReceivers, cpu_rule, firing, wait_for

from vigil_alerting.notify import Notifier
from vigil_alerting.notify.alert import Alert, Notification
from vigil_alerting.notify.outbox import Outbox, OutboxRow
from vigil_alerting.silence import SilenceStore


def test_a_log_from_before_projects_gets_the_column_and_its_rows_read_as_the_default_projects(
    client: Client, system_db: str
) -> None:
    client.command(f"CREATE DATABASE {system_db}")
    # The table as the previous version made it: no Project column.
    client.command(
        f"""CREATE TABLE {system_db}.vigil_notification_log (
        AtNs Int64, NotificationId String, Receiver String, Integration LowCardinality(String),
        GroupKey String, Fingerprints Array(String), Attempt UInt32, Result LowCardinality(String),
        Answer String, Seconds Float64
        ) ENGINE = MergeTree ORDER BY AtNs"""
    )
    client.insert(
        f"{system_db}.vigil_notification_log",
        [[time.time_ns(), "old", "hook", "webhook", "g", ["fp1"], 1, "sent", "200", 0.01]],
        column_names=["AtNs", "NotificationId", "Receiver", "Integration", "GroupKey", "Fingerprints",
                      "Attempt", "Result", "Answer", "Seconds"],
    )  # fmt: skip
    outbox = Outbox(client, system_db)
    outbox.ensure_schema()
    outbox.ensure_schema()  # the upgrade is idempotent
    (old,) = outbox.delivery_log(fingerprints=["fp1"])
    assert (old.notification_id, old.project) == ("old", "")
    # The default project asks for its own and ''; another project for its own only.
    assert [e.notification_id for e in outbox.delivery_log(fingerprints=["fp1"], projects=["main", ""])] == [
        "old"
    ]
    assert outbox.delivery_log(fingerprints=["fp1"], projects=["main_beta"]) == []


def test_a_resumed_notification_keeps_its_project(client: Client, system_db: str) -> None:
    outbox = Outbox(client, system_db)
    outbox.ensure_schema()
    alert = Alert("fp1", {"alertname": "x"}, starts_at_ns=1, project="main_beta")
    n = Notification(uuid.uuid4().hex, time.time_ns(), "hook", "webhook", 0, "g", {}, (alert,))
    outbox.write([OutboxRow(n, "pending", 0, "", n.created_ns)])
    (row,) = outbox.pending()
    assert row.notification.project == "main_beta"
    assert row.notification.alerts[0].key == alert.key


def test_two_projects_alerts_with_identical_labels_are_logged_apart(
    client: Client, reader: Client, system_db: str, tmp_path: Path
) -> None:
    """One rule, one service in two projects → one fingerprint; the default project's alert is
    silenced. Each project's log has its own sends and suppressions only."""
    fake = FakeReceivers()
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "hook", "group_by": ["alertname", "service"], "group_wait": "0s",
                          "group_interval": "1s", "repeat_interval": "1h"},
                "receivers": [{"name": "hook", "webhook_configs": [{"url": f"{fake.url}/hook"}]}],
            }
        )
    )  # fmt: skip
    notifier = Notifier(client, system_database=system_db, config_path=path, home_project="main")
    notifier.open()
    silence = SilenceStore(reader, system_db).create(
        ['alertname="twin"'],
        ends_ns=time.time_ns() + 3600 * 10**9,
        created_by="ann",
        comment="x",
        project="main",
    )
    notifier.silences_changed()
    notifier.start()
    try:
        inst = firing(cpu_rule("twin"), "web")
        for project in ("main", "main_beta"):  # the same instance (labels, fingerprint) in both
            notifier.observe([inst], project=project)
        log = Outbox(reader, system_db)

        def of(projects: list[str]) -> list[tuple[str, str]]:
            found = log.delivery_log(fingerprint=inst.fingerprint, projects=projects)
            return [(e.result, e.project) for e in found]

        wait_for(lambda: ("sent", "main_beta") in of(["main_beta"]), 30, "B's send logged")
        wait_for(lambda: of(["main"]), 30, "A's suppression logged")
        assert of(["main"]) == [(f"silenced by {silence.id}", "main")]  # nothing of B's
        assert of(["main_beta"]) == [("sent", "main_beta")]  # nothing of A's
        assert len(fake.at("/hook")) == 1
    finally:
        notifier.stop()
        fake.close()
