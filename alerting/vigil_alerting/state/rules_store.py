"""Rules made through the API, in the system database: one row per version of a rule
(ReplacingMergeTree by ``UpdatedNs``, read FINAL), a deletion being a version with ``Deleted``.
The policy is kept as written (JSON), so it is exported in the rules-as-code format unchanged."""

from __future__ import annotations

import json
import time
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

TABLE = "vigil_alert_rules"
_DDL = """CREATE TABLE IF NOT EXISTS {db}.vigil_alert_rules (
    Project String,
    Name String,
    Policy String,
    Deleted UInt8,
    UpdatedNs Int64
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY (Project, Name)"""


def ensure(client: Client, system_database: str) -> None:
    db = quote_identifier(system_database)
    with translate_errors("creating the alert rules table"):
        client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        client.command(_DDL.format(db=db))


def load(client: Client, system_database: str, project: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per project (or only ``project``), the policies in force, by name."""
    where = " AND Project = {p:String}" if project is not None else ""
    sql = (
        f"SELECT Project, Policy FROM {quote_identifier(system_database)}.{TABLE} FINAL"
        f" WHERE Deleted = 0{where} ORDER BY Project, Name"
    )
    with translate_errors("reading alert rules"):
        rows = client.query(sql, parameters={"p": project or ""}).result_rows
    out: dict[str, list[dict[str, Any]]] = {}
    for p, policy in rows:
        out.setdefault(p, []).append(json.loads(policy))
    return out


def put(client: Client, system_database: str, project: str, name: str, policy: dict[str, Any] | None) -> None:
    """Write a rule's new version; ``policy`` None deletes it."""
    row = [project, name, json.dumps(policy or {}, sort_keys=True), int(policy is None), time.time_ns()]
    with translate_errors("writing an alert rule"):
        client.insert(
            TABLE,
            [row],
            column_names=["Project", "Name", "Policy", "Deleted", "UpdatedNs"],
            database=system_database,
            settings=INSERT_SETTINGS,
        )
