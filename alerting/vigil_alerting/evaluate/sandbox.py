"""The seed design's sandbox: which policies a sample of metric values for a target would
violate, and which actions that would trigger; nothing is queried or stored.

Only metric leaves can be judged from a sample; any other leaf (spans, logs, drift, absence)
counts as not breached, and a metric missing from the sample does not breach either. An
action is "triggered" by a violated policy that has an action and ``auto_remediate``; the
others' actions wait for a person, as in the seed design.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil_alerting.rules.model import Compound, Condition, MetricCondition, Rule, glob_matches


@dataclass(frozen=True, slots=True)
class SandboxResult:
    violations: list[dict[str, Any]]
    actions_triggered: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"violations": self.violations, "actions_triggered": self.actions_triggered}


def _violated(condition: Condition, metrics: Mapping[str, float]) -> bool:
    if isinstance(condition, Compound):
        results = [_violated(c, metrics) for c in condition.conditions]
        return all(results) if condition.op == "all" else any(results)
    if isinstance(condition, MetricCondition) and condition.metric in metrics:
        return condition.threshold.breached(float(metrics[condition.metric]))
    return False


def evaluate_sample(
    rules: Iterable[Rule], metrics: Mapping[str, float], target: str, now: dt.datetime | None = None
) -> SandboxResult:
    """``{"metrics": {...}, "target": "..."}`` → the design's violations and actions_triggered."""
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"metrics[{name!r}] must be a number, got {value!r}")
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    violations, actions = [], []
    for rule in rules:
        if (
            not rule.enabled
            or not glob_matches(rule.target, target)
            or not _violated(rule.condition, metrics)
        ):
            continue
        violations.append(
            {
                "policy_name": rule.name,
                "severity": rule.severity,
                "description": rule.description,
                "target": target,
                "timestamp": stamp,
            }
        )
        if rule.action and rule.auto_remediate:
            actions.append(
                {"action": rule.action, "target": target, "status": "pending", "params": dict(rule.params)}
            )
    return SandboxResult(violations, actions)
