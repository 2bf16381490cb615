"""Alert instances and their state machine, in one place and free of I/O.

An instance is one group of one rule, keyed by the fingerprint of its labels (``alertname`` =
the rule's name, ``severity``, the group labels, and ``target`` when the rule groups by its
target attribute). Each evaluation gives every group an observation (breaching, ok, or no
data) and ``step`` moves its instance:

    inactive ──breach──▶ pending ──held for `for`──▶ firing ──ok (after keep_firing_for)──▶ resolved
        ▲        (for = 0: straight to firing)        │ ▲                                   │
        └──────────────── ok ◀── pending              │ └──────── breach ◀──────────────────┘
    any ──no data (no_data = "nodata")──▶ nodata ──data again──▶ as above

``no_data = "ok"`` treats a group without data as ok, ``"alerting"`` as breaching. A breach
within ``cooldown_s`` of the instance's last firing holds it in pending until the cooldown
ends: no second firing per target within the cooldown. Every state change is a Transition,
appended to the history; an evaluation that changes nothing produces none, which is why a
restarted runner that reloads a firing instance does not fire it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Literal

from vigil_alerting.rules.model import Rule

State = Literal["inactive", "pending", "firing", "resolved", "nodata"]
STATES: tuple[State, ...] = ("inactive", "pending", "firing", "resolved", "nodata")
Observed = Literal["breach", "ok", "nodata"]


def instance_labels(rule: Rule, group: dict[str, str]) -> dict[str, str]:
    labels = {**rule.labels, **group, "alertname": rule.name, "severity": rule.severity}
    if rule.target_attribute in group:
        labels["target"] = group[rule.target_attribute]
    return dict(sorted(labels.items()))


def fingerprint(labels: dict[str, str]) -> str:
    """Stable over label order: the same labels always key the same instance."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Observation:
    observed: Observed
    value: float | None = None
    example_trace_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertInstance:
    rule: str
    fingerprint: str
    labels: dict[str, str]
    state: State = "inactive"
    value: float | None = None
    threshold: str = ""
    active_since_ns: int = 0  # when the current breach began (pending or firing)
    last_breach_ns: int = 0
    fired_at_ns: int = 0  # the last time it entered firing (cooldown counts from here)
    resolved_at_ns: int = 0
    updated_ns: int = 0
    example_trace_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transition:
    at_ns: int
    rule: str
    fingerprint: str
    labels: dict[str, str]
    from_state: State
    to_state: State
    value: float | None
    threshold: str
    severity: str
    example_trace_ids: tuple[str, ...] = field(default=())


def step(
    rule: Rule, instance: AlertInstance, observation: Observation, threshold: str, now_ns: int
) -> tuple[AlertInstance, Transition | None]:
    """The instance after one observation, and the transition if its state changed."""
    observed = observation.observed
    if observed == "nodata" and rule.no_data != "nodata":
        observed = "breach" if rule.no_data == "alerting" else "ok"
    prev = instance.state
    updates: dict[str, object] = {"value": observation.value, "threshold": threshold, "updated_ns": now_ns}
    if observed == "nodata":
        new: State = "nodata"
    elif observed == "breach":
        updates["last_breach_ns"] = now_ns
        if observation.example_trace_ids:
            updates["example_trace_ids"] = observation.example_trace_ids
        if prev == "firing":
            new = "firing"
        else:
            since = instance.active_since_ns if prev == "pending" else now_ns
            updates["active_since_ns"] = since
            cooled = not instance.fired_at_ns or now_ns - instance.fired_at_ns >= rule.cooldown_s * 1e9
            new = "firing" if now_ns - since >= rule.for_s * 1e9 and cooled else "pending"
            if new == "firing":
                updates["fired_at_ns"] = now_ns
    elif prev == "firing":
        held = rule.keep_firing_for_s and now_ns - instance.last_breach_ns < rule.keep_firing_for_s * 1e9
        new = "firing" if held else "resolved"
        if new == "resolved":
            updates["resolved_at_ns"] = now_ns
    elif prev in ("pending", "nodata"):
        new = "inactive"
    else:
        new = prev
    after = replace(instance, state=new, **updates)  # type: ignore[arg-type]
    if new == prev:
        return after, None
    return after, Transition(
        at_ns=now_ns,
        rule=rule.name,
        fingerprint=instance.fingerprint,
        labels=instance.labels,
        from_state=prev,
        to_state=new,
        value=observation.value,
        threshold=threshold,
        severity=rule.severity,
        example_trace_ids=after.example_trace_ids if new in ("pending", "firing") else (),
    )


def new_instance(rule: Rule, group: dict[str, str]) -> AlertInstance:
    labels = instance_labels(rule, group)
    return AlertInstance(rule=rule.name, fingerprint=fingerprint(labels), labels=labels)
