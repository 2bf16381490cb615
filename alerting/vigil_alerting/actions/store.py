"""Actions in the system database, INSERT only: ``vigil_actions`` holds one row per version of
an action (the latest ``Version`` of each ``Id`` is the action now). A change is a new row and
old versions stay, so the table is the audit trail of every attempt and answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from vigil_storage.system_store import SystemStore, filters

ACTIONS = "vigil_actions"
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
UNFINISHED = ("pending", "running")
_DDL = """CREATE TABLE IF NOT EXISTS {db}.vigil_actions (
    Project String,
    Id String,
    Version UInt64,
    Action LowCardinality(String),
    Target String,
    Severity LowCardinality(String),
    Params String,
    Details String,
    Rule String,
    Fingerprint String,
    IncidentId String,
    RequestedBy String,
    Status LowCardinality(String),
    Attempts UInt32,
    CreatedNs Int64,
    UpdatedNs Int64,
    NextAttemptNs Int64,
    Answer String
) ENGINE = MergeTree
ORDER BY (Project, Id, Version)"""
_COLUMNS = [
    "Project", "Id", "Version", "Action", "Target", "Severity", "Params", "Details", "Rule", "Fingerprint",
    "IncidentId", "RequestedBy", "Status", "Attempts", "CreatedNs", "UpdatedNs", "NextAttemptNs", "Answer",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActionRecord:
    project: str
    id: str
    action: str
    target: str
    created_ns: int
    version: int = 1
    severity: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    details: str = ""
    # What triggered it: a rule's alert (and its incident, if any) or a person.
    rule: str = ""
    fingerprint: str = ""
    incident_id: str = ""
    requested_by: str = ""
    status: str = "pending"
    attempts: int = 0
    updated_ns: int = 0
    next_attempt_ns: int = 0
    answer: str = ""  # the remediator's last answer (status and body) or the error

    def next(self, now_ns: int, **changes: Any) -> ActionRecord:
        return replace(self, version=self.version + 1, updated_ns=now_ns, **changes)


def _record(r: tuple) -> ActionRecord:
    return ActionRecord(
        project=r[0], id=r[1], version=r[2], action=r[3], target=r[4], severity=r[5],
        params=json.loads(r[6] or "{}"), details=r[7], rule=r[8], fingerprint=r[9], incident_id=r[10],
        requested_by=r[11], status=r[12], attempts=r[13], created_ns=r[14], updated_ns=r[15],
        next_attempt_ns=r[16], answer=r[17],
    )  # fmt: skip


class ActionStore(SystemStore):
    """Reads and appends action versions; the caller owns ``client`` (one thread at a time)."""

    def ensure_schema(self) -> None:
        self._create("creating the actions table", [_DDL])

    def save(self, a: ActionRecord) -> None:
        self.save_many([a])

    def save_many(self, actions: list[ActionRecord]) -> None:
        """Versions of several actions in one INSERT: all are stored, or none (one block)."""
        rows = [
            [
                a.project, a.id, a.version, a.action, a.target, a.severity,
                json.dumps(a.params, separators=(",", ":"), sort_keys=True), a.details, a.rule, a.fingerprint,
                a.incident_id, a.requested_by, a.status, a.attempts, a.created_ns, a.updated_ns,
                a.next_attempt_ns, a.answer[:4000],
            ]
            for a in actions
        ]  # fmt: skip
        self._append("writing an action", ACTIONS, rows, _COLUMNS)

    def _latest(self, where: str) -> str:
        return self._latest_sql(ACTIONS, _COLUMNS, where)

    def unfinished(self) -> list[ActionRecord]:
        """Every project's pending and running actions (a restart resumes them)."""
        rows = self._rows(
            "reading actions",
            f"SELECT * FROM ({self._latest('1')}) WHERE Status IN ('pending', 'running') ORDER BY CreatedNs",
        )
        return [_record(r) for r in rows]

    def last_triggered(self, since_ns: int) -> dict[tuple[str, str, str], int]:
        """(project, rule, target) → when a rule last enqueued an action there (for cooldowns)."""
        rows = self._rows(
            "reading actions",
            f"SELECT Project, Rule, Target, max(CreatedNs) FROM {self.db}.{ACTIONS}"
            " WHERE Rule != '' AND CreatedNs >= {since:Int64} GROUP BY Project, Rule, Target",
            parameters={"since": since_ns},
        )
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def list(
        self, project: str, *, status: str = "", target: str = "", limit: int = 100
    ) -> list[ActionRecord]:
        clause, params = filters(s=("Status = {s:String}", status), t=("Target = {t:String}", target))
        rows = self._rows(
            "reading actions",
            f"SELECT * FROM ({self._latest('Project = {p:String}')})"
            f" WHERE {clause} ORDER BY CreatedNs DESC, Id LIMIT {{limit:UInt32}}",
            parameters={**params, "p": project, "limit": limit},
        )
        return [_record(r) for r in rows]

    def count_by_status(self, project: str) -> dict[str, int]:
        rows = self._rows(
            "reading actions",
            f"SELECT Status, count() FROM ({self._latest('Project = {p:String}')}) GROUP BY Status",
            parameters={"p": project},
        )
        return {r[0]: int(r[1]) for r in rows}

    def get(self, project: str, action_id: str) -> ActionRecord | None:
        rows = self._rows(
            "reading an action",
            self._latest("Project = {p:String} AND Id = {id:String}"),
            parameters={"p": project, "id": action_id},
        )
        return _record(rows[0]) if rows else None

    def history(self, project: str, action_id: str) -> list[ActionRecord]:
        """Every version of an action, oldest first: its audit trail."""
        rows = self._rows(
            "reading an action",
            f"SELECT {', '.join(_COLUMNS)} FROM {self.db}.{ACTIONS}"
            " WHERE Project = {p:String} AND Id = {id:String} ORDER BY Version",
            parameters={"p": project, "id": action_id},
        )
        return [_record(r) for r in rows]
