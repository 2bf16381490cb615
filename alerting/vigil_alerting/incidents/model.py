"""Incidents and their timeline events (plain data; the manager owns the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from vigil_alerting.rules.model import SEVERITY_RANK

Status = Literal["triggered", "acknowledged", "resolved"]
STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "resolved")
# What "raise the severity one level" climbs (warning and medium share a rank).
LADDER = ("info", "warning", "high", "critical")
EVENT_KINDS = (
    "opened", "reopened", "alert_joined", "alert_resolved", "notified", "escalated", "acknowledged",
    "note", "action_run", "resolved", "triage",
)  # fmt: skip


def raised(severity: str, levels: int) -> str:
    if levels <= 0:
        return severity
    return LADDER[min(SEVERITY_RANK.get(severity, 0) + levels, len(LADDER) - 1)]


@dataclass(slots=True)
class IncidentAlert:
    """One alert instance as the incident saw it (its latest value while firing)."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    severity: str
    state: str  # "firing" or "resolved"
    value: float | None
    threshold: str
    joined_ns: int
    resolved_ns: int = 0
    example_trace_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Incident:
    id: str
    project: str
    key: str
    title: str
    status: Status
    opened_ns: int
    updated_ns: int
    severity: str = "info"
    raised: int = 0  # levels escalation added on top of the highest alert's severity
    acknowledged_ns: int = 0
    acknowledged_by: str = ""
    resolved_ns: int = 0
    resolved_by: str = ""
    policy: str = ""
    step: int = 0  # the next escalation step
    round: int = 0  # how many times the steps ran through already
    next_escalation_ns: int = 0  # 0: nothing scheduled
    notified: list[str] = field(default_factory=list)  # receivers told so far (send_resolved)
    alerts: dict[str, IncidentAlert] = field(default_factory=dict)
    version: int = 0
    seq: int = 0  # the last timeline event's sequence number

    def base_severity(self) -> str:
        return max(
            (a.severity for a in self.alerts.values()), key=lambda s: SEVERITY_RANK.get(s, 0), default="info"
        )

    def refresh_severity(self) -> None:
        self.severity = raised(self.base_severity(), self.raised)

    def snapshot(self) -> Incident:
        """A copy a reader may keep: its lists, alerts and labels are its own (by hand: every
        change of every incident makes one, and deepcopy was most of 1,000 incidents' cost)."""
        alerts = {fp: replace(a, labels=dict(a.labels)) for fp, a in self.alerts.items()}
        return replace(self, notified=list(self.notified), alerts=alerts)

    def example_trace_ids(self, limit: int = 10) -> list[str]:
        seen: dict[str, None] = {}
        for alert in self.alerts.values():
            for trace_id in alert.example_trace_ids:
                seen.setdefault(trace_id, None)
        return list(seen)[:limit]


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    incident_id: str
    seq: int
    event_id: str
    at_ns: int
    kind: str
    actor: str = ""
    receiver: str = ""
    result: str = ""
    rule: str = ""
    fingerprint: str = ""
    severity: str = ""
    message: str = ""
