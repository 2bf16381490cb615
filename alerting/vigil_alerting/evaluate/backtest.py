"""A rule replayed over a past period: evaluated at every interval step of the period, as the
live runner would have (the same query, the same state machine, nothing stored), so a user
can see the alerts a threshold would have raised before it pages anyone.

The steps are ``start + k * interval`` (k ≥ 1) up to ``end``; the live runner's own steps fall
elsewhere within each interval, so the two agree within one interval at each edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from vigil_alerting.errors import RuleError
from vigil_alerting.evaluate.evaluator import evaluate_rule
from vigil_alerting.rules.model import Rule, leaves
from vigil_alerting.runner import apply_result
from vigil_alerting.state.machine import AlertInstance

MAX_PERIOD_S = 7 * 86400.0
MAX_SERIES = 50  # groups whose values a backtest returns (the chart's lines), first seen first


@dataclass(slots=True)
class AlertInterval:
    """One would-be alert of one instance: pending from, firing from, resolved at (0: not)."""

    fingerprint: str
    labels: dict[str, str]
    pending_ns: int = 0
    firing_ns: int = 0
    resolved_ns: int = 0
    peak_value: float | None = None


@dataclass(slots=True)
class GroupSeries:
    """One group's value at each step where it had one (what the editor's chart draws)."""

    labels: dict[str, str]
    times_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Backtest:
    intervals: list[AlertInterval]
    evaluations: int
    interval_s: float
    series: list[GroupSeries] = field(default_factory=list)
    threshold: str = ""
    threshold_values: tuple[float, ...] = ()


def backtest(
    client: Client,
    database: str,
    rule: Rule,
    start_ns: int,
    end_ns: int,
    interval_s: float,
    *,
    max_steps: int,
    deadline_s: float | None = None,
) -> Backtest:
    """The alert intervals ``rule`` would have produced in ``(start, end]``. RuleError when the
    period is empty, longer than 7 days, or needs more than ``max_steps`` evaluations."""
    if end_ns <= start_ns:
        raise RuleError("the period must end after it starts", field="end_time_unix_nano")
    if end_ns - start_ns > MAX_PERIOD_S * 1e9:
        raise RuleError("the period must be at most 7 days", field="start_time_unix_nano")
    step_ns = int(interval_s * 1e9)
    steps = (end_ns - start_ns) // step_ns
    if steps > max_steps:
        raise RuleError(
            f"{steps} evaluations at the rule's interval of {interval_s:g} s; at most {max_steps}"
            " (VIGIL_RULES_BACKTEST_MAX_STEPS): shorten the period or lengthen the interval",
            field="interval",
        )
    instances: dict[tuple[str, str], AlertInstance] = {}
    open_: dict[str, AlertInterval] = {}
    done: list[AlertInterval] = []
    series: dict[tuple[tuple[str, str], ...], GroupSeries] = {}
    t = start_ns + step_ns
    evaluations = 0
    threshold = ""
    while t <= end_ns:
        result = evaluate_rule(client, database, rule, t, deadline_s=deadline_s)
        evaluations += 1
        threshold = result.threshold
        for g in result.groups:
            if g.value is None or math.isnan(g.value):
                continue
            key = tuple(g.labels.items())
            line = series.get(key)
            if line is None and len(series) < MAX_SERIES:
                line = series[key] = GroupSeries(dict(g.labels))
            if line is not None:
                line.times_ns.append(t)
                line.values.append(g.value)
        _changed, transitions = apply_result(rule, result, instances, t)
        for tr in transitions:
            current = open_.get(tr.fingerprint)
            if tr.to_state in ("pending", "firing") and current is None:
                current = open_[tr.fingerprint] = AlertInterval(tr.fingerprint, tr.labels)
            if current is None:
                continue
            if tr.to_state == "pending" and not current.pending_ns:
                current.pending_ns = tr.at_ns
            elif tr.to_state == "firing":
                current.firing_ns = current.firing_ns or tr.at_ns
            elif tr.to_state in ("resolved", "inactive", "nodata"):
                current.resolved_ns = tr.at_ns
                done.append(open_.pop(tr.fingerprint))
        for instance in instances.values():
            current = open_.get(instance.fingerprint)
            if current is not None and instance.value is not None:
                current.peak_value = (
                    instance.value if current.peak_value is None else max(current.peak_value, instance.value)
                )
        t += step_ns
    done.extend(open_.values())
    done.sort(key=lambda i: (i.pending_ns or i.firing_ns, i.fingerprint))
    first = leaves(rule.condition)[0].threshold
    return Backtest(
        done,
        evaluations,
        interval_s,
        series=list(series.values()),
        threshold=threshold or first.describe(),
        threshold_values=(first.low, first.high) if first.operator == "outside" else (first.value,),
    )
