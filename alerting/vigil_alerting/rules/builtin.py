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
