"""Built-in rules every project has: drift, as the drift detector defines it (baseline 24 h
before the current hour, PSI 0.1 → medium, 0.2 → high), now flowing through the same states,
history and metrics as every rule. Two rules per measure, one per severity, because a rule has
one severity. Read-only through the API (source ``builtin``); configured by the drift settings
(``VIGIL_DRIFT_*``; ``VIGIL_DRIFT_INTERVAL_S=0`` turns them off with the detector)."""

from __future__ import annotations

from dataclasses import replace

from vigil_alerting.rules.load import parse_rule
from vigil_alerting.rules.model import Rule


def drift_rules(
    *,
    measures: tuple[str, ...],
    group_by: tuple[str, ...],
    current_s: float,
    baseline_s: float,
    bins: int,
    min_samples: int,
    medium: float,
    high: float,
    interval_s: float,
) -> list[Rule]:
    rules = []
    for measure in measures:
        for severity, threshold in (("medium", medium), ("high", high)):
            policy = {
                "name": f"drift-{measure}-{severity}",
                "description": f"PSI of {measure} per group, the last {current_s:g} s against the"
                f" {baseline_s:g} s before, above {threshold:g}",
                "severity": severity,
                "group_by": list(group_by),
                "interval": interval_s,
                "condition": {
                    "type": "drift",
                    "measure": measure,
                    "current": current_s,
                    "baseline": baseline_s,
                    "bins": bins,
                    "min_samples": min_samples,
                    "threshold": threshold,
                },
            }
            rules.append(replace(parse_rule(policy), source="builtin"))
    return rules


# Vigil's own health (server/vigil_server/self_monitor.py writes the figures as metrics of
# service ``vigil`` in the default project): one rule per runbook in docs/runbooks/, named
# after it. (name, runbook, severity, condition)
_SELF_RULES: tuple[tuple[str, str, str, dict], ...] = (
    (
        "vigil-clickhouse-unreachable",
        "clickhouse-unreachable",
        "high",
        {
            "type": "metric",
            "metric": "vigil_writer_failed_inserts_total",
            "metric_type": "sum",
            "aggregation": "increase",
            "threshold": 0,
        },
    ),
    (
        "vigil-wal-backlog-stale",
        "clickhouse-unreachable",
        "high",
        {"type": "metric", "metric": "vigil_wal_oldest_unwritten_age_seconds", "threshold": 300},
    ),
    (
        "vigil-wal-filling",
        "wal-filling",
        "high",
        {"type": "metric", "metric": "vigil_wal_fill_ratio", "threshold": 0.5},
    ),
    (
        "vigil-dead-letters",
        "dead-letters",
        "high",
        {
            "type": "metric",
            "metric": "vigil_wal_dead_letter_records_total",
            "metric_type": "sum",
            "aggregation": "increase",
            "threshold": 0,
        },
    ),
    (
        "vigil-notifications-failing",
        "notifications-failing",
        "high",
        {
            "type": "metric",
            "metric": "vigil_notifications_total",
            "metric_type": "sum",
            "aggregation": "increase",
            "attributes": {"result": "failed"},
            "threshold": 0,
        },
    ),
    (
        "vigil-actions-failing",
        "actions-failing",
        "high",
        {
            "type": "metric",
            "metric": "vigil_actions_total",
            "metric_type": "sum",
            "aggregation": "increase",
            "attributes": {"status": "failed"},
            "threshold": 0,
        },
    ),
    (
        "vigil-auth-failures-spike",
        "auth-failures",
        "medium",
        {
            "type": "metric",
            "metric": "vigil_auth_failures_total",
            "metric_type": "sum",
            "aggregation": "increase",
        },  # threshold: a setting
    ),
    (
        "vigil-slow-queries",
        "slow-queries",
        "medium",
        {
            "type": "metric",
            "metric": "vigil_query_seconds",
            "metric_type": "histogram",
            "aggregation": "p99",
        },  # threshold: a setting
    ),
    (
        "vigil-rule-evaluations-failing",
        "rule-evaluations-failing",
        "medium",
        {
            "type": "metric",
            "metric": "vigil_rule_evaluations_total",
            "metric_type": "sum",
            "aggregation": "increase",
            "attributes": {"result": "error"},
            "threshold": 0,
        },
    ),
)
SELF_RULE_NAMES = tuple(name for name, *_ in _SELF_RULES)


def self_monitoring_rules(
    *,
    disabled: frozenset[str] = frozenset(),
    auth_failures: float = 100,
    slow_query_s: float = 5.0,
    window_s: float = 300,
    project: str = "default",
) -> list[Rule]:
    """The rules on Vigil's own metrics (service ``vigil`` of ``project``), but ``disabled``
    (names, checked by the settings, or ``*`` for all of them). A breach over ``window_s``: any
    increase of a failure counter; more than ``auth_failures`` refused credentials; a p99 query
    time over ``slow_query_s``; the log half full; its oldest unwritten record older than 5
    minutes."""
    if "*" in disabled:
        return []
    thresholds = {"vigil-auth-failures-spike": auth_failures, "vigil-slow-queries": slow_query_s}
    rules = []
    for name, runbook, severity, condition in _SELF_RULES:
        if name in disabled:
            continue
        policy = {
            "name": name,
            "description": f"Vigil's own health; what to do: docs/runbooks/{runbook}.md",
            "severity": severity,
            "target": "vigil",
            "window": window_s,
            "project": project,
            "labels": {"runbook": f"docs/runbooks/{runbook}.md"},
            "condition": {**condition, "threshold": thresholds.get(name, condition.get("threshold", 0))},
        }
        rules.append(replace(parse_rule(policy), source="builtin"))
    return rules
