"""Alert state and history in the system database (control plane, not telemetry).

- ``vigil_alert_instances``: the current state of every instance, one row per version
  (ReplacingMergeTree by ``UpdatedNs``, read FINAL): a restart reads it back and resumes.
- ``vigil_alert_transitions``: every state change, append-only (value, threshold, time,
  example trace ids).
- ``vigil_rule_evaluation_errors``: every failed evaluation, append-only.

Every row carries its ``Project`` (the project's telemetry database): one store per project
reads and writes only its own rows.

The tables are created here (``ensure_schema``), idempotently, because the system database's
migrations are not in storage/ yet; they move there when it has them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from clickhouse_connect.driver.client import Client

from vigil_alerting.state.machine import AlertInstance, State, Transition
from vigil_storage.system_store import SystemStore, filters

_DDL = (
    """CREATE TABLE IF NOT EXISTS {db}.vigil_alert_instances (
    Project String,
    Rule String,
    Fingerprint String,
    Labels Map(String, String),
    State LowCardinality(String),
    Value Nullable(Float64),
    Threshold String,
    ActiveSinceNs Int64,
    LastBreachNs Int64,
    FiredAtNs Int64,
    ResolvedAtNs Int64,
    UpdatedNs Int64,
    ExampleTraceIds Array(String)
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY (Project, Rule, Fingerprint)""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_alert_transitions (
    Project String,
    AtNs Int64,
    Rule String,
    Fingerprint String,
    Labels Map(String, String),
    FromState LowCardinality(String),
    ToState LowCardinality(String),
    Value Nullable(Float64),
    Threshold String,
    Severity LowCardinality(String),
    ExampleTraceIds Array(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY (Project, Rule, AtNs)""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_rule_evaluation_errors (
    Project String,
    AtNs Int64,
    Rule String,
    Error String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY (Project, Rule, AtNs)""",
)
_INSTANCE_COLUMNS = [
    "Rule", "Fingerprint", "Labels", "State", "Value", "Threshold", "ActiveSinceNs", "LastBreachNs",
    "FiredAtNs", "ResolvedAtNs", "UpdatedNs", "ExampleTraceIds",
]  # fmt: skip
_TRANSITION_COLUMNS = [
    "AtNs", "Rule", "Fingerprint", "Labels", "FromState", "ToState", "Value", "Threshold", "Severity",
    "ExampleTraceIds",
]  # fmt: skip


def _float(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v


class AlertStore(SystemStore):
    """Reads and appends alert state; the caller owns ``client`` (one thread at a time)."""

    def __init__(self, client: Client, system_database: str, project: str = "") -> None:
        super().__init__(client, system_database)
        self.project = project

    def ensure_schema(self) -> None:
        self._create("creating the alert tables", _DDL)

    def load_instances(self) -> dict[tuple[str, str], AlertInstance]:
        """Every instance's latest version, keyed by (rule, fingerprint)."""
        rows = self._rows(
            "reading alert instances",
            f"SELECT {', '.join(_INSTANCE_COLUMNS)} FROM {self.db}.vigil_alert_instances FINAL"
            " WHERE Project = {p:String}",
            parameters={"p": self.project},
        )
        out = {}
        for r in rows:
            instance = AlertInstance(
                rule=r[0],
                fingerprint=r[1],
                labels=dict(r[2]),
                state=r[3],
                value=r[4],
                threshold=r[5],
                active_since_ns=r[6],
                last_breach_ns=r[7],
                fired_at_ns=r[8],
                resolved_at_ns=r[9],
                updated_ns=r[10],
                example_trace_ids=tuple(r[11]),
            )
            out[(instance.rule, instance.fingerprint)] = instance
        self._repair(out)
        return out

    def _repair(self, instances: dict[tuple[str, str], AlertInstance]) -> None:
        """A process killed between ``save``'s two INSERTs left a transition whose instance row
        still shows the state before it: the history is the truth, so the instance takes the
        transition's state (and is not sent through it a second time by the next evaluation)."""
        rows = self._rows(
            "reading alert transitions",
            "SELECT Rule, Fingerprint, argMax((AtNs, Labels, ToState, Value, Threshold, ExampleTraceIds), AtNs)"
            f" FROM {self.db}.vigil_alert_transitions WHERE Project = {{p:String}} GROUP BY Rule, Fingerprint",
            parameters={"p": self.project},
        )
        for rule, fingerprint, (at_ns, labels, to_state, value, threshold, examples) in rows:
            known = instances.get((rule, fingerprint))
            if known is not None and known.updated_ns >= at_ns:
                continue
            base = known or AlertInstance(rule=rule, fingerprint=fingerprint, labels=dict(labels))
            firing = to_state == "firing"
            instances[(rule, fingerprint)] = dataclasses.replace(
                base,
                state=to_state,
                value=value,
                threshold=threshold,
                active_since_ns=base.active_since_ns or at_ns if to_state in ("pending", "firing") else 0,
                last_breach_ns=at_ns if to_state in ("pending", "firing") else base.last_breach_ns,
                fired_at_ns=at_ns if firing else base.fired_at_ns,
                resolved_at_ns=at_ns if to_state == "resolved" else base.resolved_at_ns,
                updated_ns=at_ns,
                example_trace_ids=tuple(examples) or base.example_trace_ids,
            )

    def save(self, instances: Iterable[AlertInstance], transitions: Iterable[Transition]) -> None:
        """Transitions first: if the process dies between the two INSERTs, the history has the
        change, and ``load_instances`` brings the instance up to it (so it is not recorded twice)."""
        t_rows = [
            [self.project, t.at_ns, t.rule, t.fingerprint, t.labels, t.from_state, t.to_state, _float(t.value), t.threshold,
             t.severity, list(t.example_trace_ids)]
            for t in transitions
        ]  # fmt: skip
        i_rows = [
            [self.project, i.rule, i.fingerprint, i.labels, i.state, _float(i.value), i.threshold, i.active_since_ns,
             i.last_breach_ns, i.fired_at_ns, i.resolved_at_ns, i.updated_ns, list(i.example_trace_ids)]
            for i in instances
        ]  # fmt: skip
        self._append(
            "writing alert state", "vigil_alert_transitions", t_rows, ["Project", *_TRANSITION_COLUMNS]
        )
        self._append("writing alert state", "vigil_alert_instances", i_rows, ["Project", *_INSTANCE_COLUMNS])

    def record_error(self, rule: str, at_ns: int, error: str) -> None:
        self._append(
            "recording an evaluation error", "vigil_rule_evaluation_errors",
            [[self.project, at_ns, rule, error[:2000]]], ["Project", "AtNs", "Rule", "Error"],
        )  # fmt: skip

    def history(
        self, rule: str = "", to_state: State | None = None, limit: int = 1000, fingerprint: str = ""
    ) -> list[Transition]:
        """Transitions, oldest first, of one rule (or all), optionally into one state."""
        clause, params = filters(
            "Project = {p:String}",
            fp=("Fingerprint = {fp:String}", fingerprint),
            rule=("Rule = {rule:String}", rule),
            to=("ToState = {to:String}", to_state),
        )
        sql = (
            f"SELECT {', '.join(_TRANSITION_COLUMNS)} FROM {self.db}.vigil_alert_transitions"
            f" WHERE {clause} ORDER BY AtNs, Fingerprint LIMIT {{limit:UInt32}}"
        )
        rows = self._rows(
            "reading alert history", sql, parameters={**params, "limit": limit, "p": self.project}
        )
        return [
            Transition(r[0], r[1], r[2], dict(r[3]), r[4], r[5], r[6], r[7], r[8], tuple(r[9])) for r in rows
        ]

    def error_count(self, rule: str) -> int:
        return int(
            self._rows(
                "reading evaluation errors",
                f"SELECT count() FROM {self.db}.vigil_rule_evaluation_errors"
                " WHERE Project = {p:String} AND Rule = {r:String}",
                parameters={"r": rule, "p": self.project},
            )[0][0]
        )
