"""Incidents and their timelines in the system database, INSERT only.

- ``vigil_incidents``: one row per version of an incident (MergeTree; the latest ``Version`` of
  each ``Id`` is the incident now): a change is a new row, never an UPDATE, and old versions stay
  (no ReplacingMergeTree: a merge would drop them); a restart reads the latest back.
- ``vigil_incident_timeline``: one row per event, append-only (MergeTree): ``Seq`` numbers an
  incident's events from 1 without gaps, ``EventId`` is unique per row. Nothing here is ever
  updated or deleted (no ALTER, no mutation, no TTL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from vigil_alerting.incidents.model import Incident, IncidentAlert, TimelineEvent
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier
from vigil_storage.system_store import SystemStore, filters

INCIDENTS = "vigil_incidents"
TIMELINE = "vigil_incident_timeline"
_DDL = (
    """CREATE TABLE IF NOT EXISTS {db}.vigil_incidents (
    Project String,
    Id String,
    Version UInt64,
    Key String,
    Title String,
    Status LowCardinality(String),
    Severity LowCardinality(String),
    Raised UInt8,
    OpenedNs Int64,
    UpdatedNs Int64,
    AcknowledgedNs Int64,
    AcknowledgedBy String,
    ResolvedNs Int64,
    ResolvedBy String,
    Policy String,
    Step UInt32,
    Round UInt32,
    NextEscalationNs Int64,
    Notified Array(String),
    Seq UInt64,
    Alerts String
) ENGINE = MergeTree
ORDER BY (Project, Id, Version)""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_incident_timeline (
    Project String,
    IncidentId String,
    Seq UInt64,
    EventId String,
    AtNs Int64,
    Kind LowCardinality(String),
    Actor String,
    Receiver String,
    Result String,
    Rule String,
    Fingerprint String,
    Severity LowCardinality(String),
    Message String
) ENGINE = MergeTree
ORDER BY (Project, IncidentId, Seq)""",
)
_INCIDENT_COLUMNS = [
    "Project", "Id", "Version", "Key", "Title", "Status", "Severity", "Raised", "OpenedNs", "UpdatedNs",
    "AcknowledgedNs", "AcknowledgedBy", "ResolvedNs", "ResolvedBy", "Policy", "Step", "Round",
    "NextEscalationNs", "Notified", "Seq", "Alerts",
]  # fmt: skip
_EVENT_COLUMNS = [
    "IncidentId", "Seq", "EventId", "AtNs", "Kind", "Actor", "Receiver", "Result", "Rule", "Fingerprint",
    "Severity", "Message",
]  # fmt: skip


def _alerts_json(incident: Incident) -> str:
    return json.dumps(
        [
            {
                "rule": a.rule, "fingerprint": a.fingerprint, "labels": a.labels, "severity": a.severity,
                "state": a.state, "value": a.value, "threshold": a.threshold, "joined_ns": a.joined_ns,
                "resolved_ns": a.resolved_ns, "example_trace_ids": list(a.example_trace_ids),
            }
            for a in incident.alerts.values()
        ],
        separators=(",", ":"),
    )  # fmt: skip


def _incident(r: tuple) -> Incident:
    alerts = {}
    for a in json.loads(r[20] or "[]"):
        alert = IncidentAlert(**{**a, "example_trace_ids": tuple(a.get("example_trace_ids", ()))})
        alerts[alert.fingerprint] = alert
    return Incident(
        project=r[0], id=r[1], version=r[2], key=r[3], title=r[4], status=r[5], severity=r[6], raised=r[7],
        opened_ns=r[8], updated_ns=r[9], acknowledged_ns=r[10], acknowledged_by=r[11], resolved_ns=r[12],
        resolved_by=r[13], policy=r[14], step=r[15], round=r[16], next_escalation_ns=r[17],
        notified=list(r[18]), seq=r[19], alerts=alerts,
    )  # fmt: skip


class IncidentStore(SystemStore):
    """Reads and appends incidents; the caller owns ``client`` (one thread at a time)."""

    def ensure_schema(self) -> None:
        self._create("creating the incident tables", _DDL)

    def save(self, incident: Incident, events: Iterable[TimelineEvent]) -> None:
        """The events first, then the incident's new version: a crash in between leaves the
        history complete and the state one step behind (the timeline's own Seq is reloaded)."""
        self.save_many([(incident, events)])

    def save_many(self, changes: Iterable[tuple[Incident, Iterable[TimelineEvent]]]) -> None:
        """Several incidents' changes in two INSERTs (an evaluation that opens 1,000 incidents
        writes 2 parts, not 2,000), with ``save``'s order: every event, then every version."""
        rows, versions = [], []
        for i, events in changes:
            rows.extend(
                [i.project, e.incident_id, e.seq, e.event_id, e.at_ns, e.kind, e.actor, e.receiver, e.result,
                 e.rule, e.fingerprint, e.severity, e.message[:4000]]
                for e in events
            )  # fmt: skip
            versions.append(
                [i.project, i.id, i.version, i.key, i.title, i.status, i.severity, min(i.raised, 255), i.opened_ns,
                 i.updated_ns, i.acknowledged_ns, i.acknowledged_by, i.resolved_ns, i.resolved_by, i.policy, i.step,
                 i.round, i.next_escalation_ns, list(i.notified), i.seq, _alerts_json(i)]
            )  # fmt: skip
        if not versions:
            return
        self._append("writing an incident", TIMELINE, rows, ["Project", *_EVENT_COLUMNS])
        self._append("writing an incident", INCIDENTS, versions, _INCIDENT_COLUMNS)

    def _latest(self, where: str) -> str:
        """The latest version of each incident matching ``where`` (on the stored columns)."""
        return self._latest_sql(INCIDENTS, _INCIDENT_COLUMNS, where)

    def load_live(self, since_resolved_ns: int) -> list[Incident]:
        """Every project's incidents not resolved, or resolved since ``since_resolved_ns`` (they
        can still reopen), with their timeline's last Seq."""
        rows = self._rows(
            "reading incidents",
            f"SELECT * FROM ({self._latest('1')})"
            " WHERE Status != 'resolved' OR ResolvedNs >= {since:Int64}",
            parameters={"since": since_resolved_ns},
        )
        seqs = dict(
            self._rows(
                "reading incidents",
                f"SELECT IncidentId, max(Seq) FROM {self.db}.{TIMELINE} GROUP BY IncidentId",
            )
        )
        found = [_incident(r) for r in rows]
        for incident in found:
            incident.seq = max(incident.seq, int(seqs.get(incident.id, 0)))
        return found

    def list(
        self, project: str, *, status: str = "", limit: int = 100, since_ns: int = 0, until_ns: int = 0
    ) -> list[Incident]:
        clause, params = filters(
            "Project = {p:String}",
            s=("Status = {s:String}", status),
            since=("UpdatedNs >= {since:Int64}", since_ns),
            until=("OpenedNs < {until:Int64}", until_ns),
        )
        rows = self._rows(
            "reading incidents",
            f"SELECT * FROM ({self._latest('Project = {p:String}')})"
            f" WHERE {clause} ORDER BY OpenedNs DESC, Id LIMIT {{limit:UInt32}}",
            parameters={**params, "p": project, "limit": limit},
        )
        return [_incident(r) for r in rows]

    def get(self, project: str, incident_id: str) -> Incident | None:
        rows = self._rows(
            "reading an incident",
            self._latest("Project = {p:String} AND Id = {id:String}"),
            parameters={"p": project, "id": incident_id},
        )
        return _incident(rows[0]) if rows else None

    def timeline(self, project: str, incident_id: str) -> list[TimelineEvent]:
        rows = self._rows(
            "reading an incident's timeline",
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM {self.db}.{TIMELINE}"
            " WHERE Project = {p:String} AND IncidentId = {id:String} ORDER BY Seq",
            parameters={"p": project, "id": incident_id},
        )
        return [TimelineEvent(*r) for r in rows]

    def trace_logs(self, telemetry_database: str, trace_ids: list[str], limit: int = 50) -> list[tuple]:
        """The logs of the incident's example traces (time ns, trace id, severity, service, body)."""
        if not trace_ids:
            return []
        with translate_errors("reading the example traces' logs"):
            return self.client.query(
                "SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SeverityText, ServiceName, Body"
                f" FROM {quote_identifier(telemetry_database)}.otel_logs"
                " WHERE TraceId IN {ids:Array(String)} ORDER BY Timestamp LIMIT {limit:UInt32}",
                parameters={"ids": trace_ids, "limit": limit},
            ).result_rows
