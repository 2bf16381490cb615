"""Evaluate a rule now: its one query, then the threshold comparison in Python.

ClickHouse answers one value per (leaf, group); here each group's leaf values are compared with
their thresholds and combined through ``all`` / ``any``. A group missing from a leaf's rows
does not breach that leaf (except absence, where no rows at all is the breach).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_alerting.errors import EvaluationError
from vigil_alerting.evaluate.query import EXAMPLES, MAX_GROUPS, rule_sql
from vigil_alerting.rules.model import (
    AbsenceCondition,
    Compound,
    Condition,
    DriftCondition,
    Leaf,
    Rule,
    glob_matches,
    leaves,
)
from vigil_query.drift import psi as psi_math
from vigil_query.drift import query as drift_sql
from vigil_storage.migrate import quote_identifier


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One group's answer: ``value`` is the first leaf's (what the alert shows)."""

    labels: dict[str, str]
    value: float | None
    breaching: bool
    leaf_values: tuple[float | None, ...] = ()
    example_trace_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class RuleResult:
    rule: str
    at_ns: int
    groups: list[GroupResult] = field(default_factory=list)
    threshold: str = ""
    seconds: float = 0.0

    def values(self) -> dict[tuple[str, ...], float | None]:
        """Per group (its label values in group-key order), the value: handy for comparisons."""
        return {tuple(g.labels.values()): g.value for g in self.groups}


def _breached(condition: Condition, values: dict[int, float | None], index: dict[int, int]) -> bool:
    if isinstance(condition, Compound):
        results = [_breached(c, values, index) for c in condition.conditions]
        return all(results) if condition.op == "all" else any(results)
    v = values.get(index[id(condition)])
    return v is not None and not math.isnan(v) and condition.threshold.breached(v)


def _query(
    client: Client, sql: str, params: dict[str, Any], deadline_s: float | None
) -> list[tuple[Any, ...]]:
    settings: dict[str, Any] = {}
    if deadline_s:
        # ClickHouse stops the query itself at the deadline (rather than it running on after
        # the evaluation was abandoned); the runner also checks the elapsed time.
        settings = {"max_execution_time": max(deadline_s, 0.001), "timeout_overflow_mode": "throw"}
    try:
        return list(client.query(sql, parameters=params, settings=settings).result_rows)
    except Exception as exc:  # any driver or server error is this rule's failure, not the runner's
        raise EvaluationError(f"query failed: {exc}") from exc


def evaluate_rule(
    client: Client, database: str, rule: Rule, now_ns: int | None = None, *, deadline_s: float | None = None
) -> RuleResult:
    """Every group's value and whether it breaches, for the window ending at ``now_ns``."""
    now_ns = now_ns or time.time_ns()
    started = time.perf_counter()
    first = leaves(rule.condition)[0]
    if isinstance(first, DriftCondition):
        result = _evaluate_drift(client, database, rule, first, now_ns, deadline_s)
    else:
        result = _evaluate_rows(client, database, rule, now_ns, deadline_s)
    result.threshold = first.threshold.describe()
    result.seconds = time.perf_counter() - started
    return result


def _evaluate_rows(
    client: Client, database: str, rule: Rule, now_ns: int, deadline_s: float | None
) -> RuleResult:
    sql, params = rule_sql(rule, database, now_ns)
    rows = _query(client, sql, params, deadline_s)
    all_leaves: list[Leaf] = leaves(rule.condition)
    index = {id(leaf): i for i, leaf in enumerate(all_leaves)}
    per_group: dict[tuple[str, ...], dict[int, float | None]] = {}
    examples: dict[tuple[str, ...], list[str]] = {}
    counts: dict[int, int] = {}
    for leaf, grp, value, ex in rows:
        counts[leaf] = counts.get(leaf, 0) + 1
        key = tuple(grp)
        per_group.setdefault(key, {})[leaf] = value
        seen = examples.setdefault(key, [])
        for trace_id in ex:
            if trace_id and trace_id not in seen:
                seen.append(trace_id)
    if any(n > MAX_GROUPS for n in counts.values()):
        raise EvaluationError(f"more than {MAX_GROUPS} groups; narrow the target or the group keys")
    # An absence leaf with no rows at all: the target itself sent nothing in the lookback.
    for i, leaf in enumerate(all_leaves):
        if isinstance(leaf, AbsenceCondition) and not counts.get(i):
            key = tuple(rule.target if k == rule.target_attribute else "" for k in rule.group_keys)
            per_group.setdefault(key, {})[i] = leaf.lookback_s
    result = RuleResult(rule.name, now_ns)
    for key in sorted(per_group):
        values = per_group[key]
        breaching = _breached(rule.condition, values, index)
        first = next((values[i] for i in range(len(all_leaves)) if i in values), None)
        result.groups.append(
            GroupResult(
                labels=dict(zip(rule.group_keys, key, strict=True)),
                value=first,
                breaching=breaching,
                leaf_values=tuple(values.get(i) for i in range(len(all_leaves))),
                example_trace_ids=tuple(examples.get(key, [])[:EXAMPLES]) if breaching else (),
            )
        )
    return result


def _evaluate_drift(
    client: Client, database: str, rule: Rule, c: DriftCondition, now_ns: int, deadline_s: float | None
) -> RuleResult:
    """PSI per group by GetDrift's query; groups without enough samples have no value."""
    current = drift_sql.Window(now_ns - int(c.current_s * 1e9), now_ns)
    q = drift_sql.DriftQuery(
        metric=drift_sql.METRICS[c.measure],
        group_by=rule.group_keys,
        current=current,
        baseline=drift_sql.Window(current.start_ns - int(c.baseline_s * 1e9), current.start_ns),
        bins=c.bins,
        min_samples=c.min_samples or 10 * c.bins,
    )
    sql, params = drift_sql.drift_sql(q, quote_identifier(database))
    rows = _query(client, sql, params, deadline_s)
    result = RuleResult(rule.name, now_ns)
    n = len(q.group_by)
    for row in rows:
        labels = dict(zip(q.group_by, (str(v) for v in row[:n]), strict=True))
        if (
            rule.target != "*"
            and rule.target_attribute in labels
            and not glob_matches(rule.target, labels[rule.target_attribute])
        ):
            continue
        _edges, n_base, n_cur, base_le, cur_le = row[n : n + 5]
        value = None
        if n_base >= q.min_samples and n_cur >= q.min_samples:
            base = [b - a for a, b in zip([0, *base_le], [*base_le, n_base], strict=True)]
            cur = [b - a for a, b in zip([0, *cur_le], [*cur_le, n_cur], strict=True)]
            value = psi_math.psi(base, cur)
        breaching = value is not None and c.threshold.breached(value)
        result.groups.append(GroupResult(labels, value, breaching, (value,)))
    result.groups.sort(key=lambda g: tuple(g.labels.values()))
    return result
