"""The one Alert type every stage works on, and the Notification a receiver sends.

An Alert is an alert instance seen from the outside (Alertmanager's model): labels,
annotations, when it started and (once resolved) ended, keyed by the instance's fingerprint,
plus what Vigil knows beyond Alertmanager (the value, the threshold, example trace ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from vigil_alerting.state.machine import AlertInstance


def rfc3339(ns: int) -> str:
    if ns <= 0:
        return "0001-01-01T00:00:00Z"  # Alertmanager's zero time: "not ended"
    return (
        dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class Alert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at_ns: int = 0
    ends_at_ns: int = 0  # 0 while firing
    generator_url: str = ""
    value: float | None = None
    threshold: str = ""
    example_trace_ids: tuple[str, ...] = ()
    # Whose alert it is (the project's telemetry database; "" without projects): what a
    # silence is matched on besides the labels. Never sent: receivers' label sets stay as they are.
    project: str = ""

    @property
    def key(self) -> str:
        """What the notifier knows the alert by: its fingerprint within its project (two projects'
        alerts with the same labels are two alerts: grouped, silenced, inhibited and acknowledged
        apart). The fingerprint itself is the stored instance's, unchanged."""
        return alert_key(self.project, self.fingerprint)

    @property
    def resolved(self) -> bool:
        return self.ends_at_ns > 0

    @property
    def status(self) -> str:
        return "resolved" if self.resolved else "firing"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "labels": self.labels, "annotations": self.annotations,
            "startsAtNs": self.starts_at_ns, "endsAtNs": self.ends_at_ns, "generatorURL": self.generator_url,
            "value": self.value, "threshold": self.threshold, "exampleTraceIds": list(self.example_trace_ids),
            "project": self.project,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Alert:
        return cls(
            d["fingerprint"], dict(d["labels"]), dict(d["annotations"]), d["startsAtNs"], d["endsAtNs"],
            d["generatorURL"], d["value"], d["threshold"], tuple(d["exampleTraceIds"]),
            d.get("project", ""),  # an outbox row from before projects: ''
        )  # fmt: skip


def alert_key(project: str, fingerprint: str) -> str:
    return f"{project}/{fingerprint}" if project else fingerprint


def from_instance(
    instance: AlertInstance,
    *,
    annotations: dict[str, str] | None = None,
    external_url: str = "",
    now_ns: int = 0,
    project: str = "",
) -> Alert | None:
    """The Alert for an instance: firing, resolved, or None for states that notify nobody
    (inactive, pending, nodata)."""
    if instance.state not in ("firing", "resolved"):
        return None
    notes = dict(annotations or {})
    if instance.value is not None:
        notes.setdefault("value", f"{instance.value:g}")
    if instance.threshold:
        notes.setdefault("threshold", instance.threshold)
    ends = 0
    if instance.state == "resolved":
        ends = instance.resolved_at_ns or instance.updated_ns or now_ns
    labels = dict(instance.labels)
    if "service.name" in labels:
        # Alertmanager configurations say `service`; OpenTelemetry says `service.name`.
        labels.setdefault("service", labels["service.name"])
    return Alert(
        fingerprint=instance.fingerprint,
        labels=dict(sorted(labels.items())),
        annotations=notes,
        starts_at_ns=instance.fired_at_ns or instance.active_since_ns,
        ends_at_ns=ends,
        generator_url=f"{external_url.rstrip('/')}/alerts?rule={quote(instance.rule)}"
        if external_url
        else "",
        value=instance.value,
        threshold=instance.threshold,
        example_trace_ids=instance.example_trace_ids,
        project=project,
    )


def trace_url(external_url: str, trace_id: str) -> str:
    return f"{external_url.rstrip('/')}/traces/{trace_id}" if external_url else ""


@dataclass(frozen=True, slots=True)
class Notification:
    """One message owed to one integration of one receiver: what the outbox stores."""

    id: str  # the idempotency key: the same across retries and restarts
    created_ns: int
    receiver: str
    integration: str  # webhook, slack, telegram, pagerduty, email
    index: int  # which of the receiver's configs of that kind
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]
    external_url: str = ""
    truncated: int = 0

    @property
    def status(self) -> str:
        return "firing" if any(not a.resolved for a in self.alerts) else "resolved"

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if not a.resolved)

    @property
    def project(self) -> str:
        """Its alerts' project (a group, and an incident, is of one project)."""
        return self.alerts[0].project if self.alerts else ""

    @property
    def lane(self) -> tuple[str, str, str, int]:
        """Notifications of one lane are delivered in order (a resolve never overtakes its trigger)."""
        return (self.group_key, self.receiver, self.integration, self.index)

    @property
    def dedup_key(self) -> str:
        """PagerDuty's incident key: one per group and receiver, shared by trigger and resolve."""
        return hashlib.sha256(f"{self.receiver}\x00{self.group_key}".encode()).hexdigest()

    def common_labels(self) -> dict[str, str]:
        return _common([a.labels for a in self.alerts])

    def common_annotations(self) -> dict[str, str]:
        return _common([a.annotations for a in self.alerts])

    def to_json(self) -> dict[str, Any]:
        return {
            "groupLabels": self.group_labels, "alerts": [a.to_json() for a in self.alerts],
            "externalURL": self.external_url, "truncated": self.truncated,
        }  # fmt: skip


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    out = dict(maps[0])
    for m in maps[1:]:
        out = {k: v for k, v in out.items() if m.get(k) == v}
    return dict(sorted(out.items()))
