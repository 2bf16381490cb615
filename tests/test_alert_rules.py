"""Alert policies: the seed design's format loads unchanged (JSON and YAML, list or
{"policies": [...]}), Vigil's own kinds, and files with an error refused whole, naming the
file, the policy and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil_alerting.errors import RuleFileError
from vigil_alerting.rules import glob_matches, load_file, load_text, severity_rank
from vigil_alerting.rules.model import (
    AbsenceCondition,
    Compound,
    DriftCondition,
    LogCondition,
    MetricCondition,
    SpanCondition,
    Threshold,
)

SEED_POLICY = {
    "name": "high-cpu-alert",
    "description": "Alert when CPU exceeds 80%",
    "severity": "warning",
    "target": "web-*",
    "enabled": True,
    "auto_remediate": False,
    "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80},
    "action": "restart",
    "params": {"cooldown_seconds": 300},
}

SEED_YAML = """
policies:
  - name: high-cpu-alert
    description: Alert when CPU exceeds 80%
    severity: warning
    target: web-*
    enabled: true
    auto_remediate: false
    condition: {type: metric_exceeds, metric: cpu_percent, threshold: 80}
    action: restart
    params: {cooldown_seconds: 300}
  - name: memory-or-low-disk
    severity: critical
    target: "*"
    auto_remediate: true
    condition:
      type: any
      conditions:
        - {type: metric_exceeds, metric: memory_percent, threshold: 90}
        - type: all
          conditions:
            - {type: metric_below, metric: disk_free_percent, threshold: 10}
            - {type: metric_exceeds, metric: cpu_percent, threshold: 50}
    action: drain-pod
"""


def test_the_seed_policy_loads_unchanged_from_json_and_yaml(tmp_path: Path) -> None:
    for name, text in (
        ("list.json", json.dumps([SEED_POLICY])),
        ("object.json", json.dumps({"policies": [SEED_POLICY]})),
        ("seed.yaml", SEED_YAML),
    ):
        path = tmp_path / name
        path.write_text(text)
        rule = load_file(path)[0]
        assert rule.name == "high-cpu-alert" and rule.description == "Alert when CPU exceeds 80%"
        assert (rule.severity, rule.target, rule.enabled, rule.auto_remediate) == (
            "warning",
            "web-*",
            True,
            False,
        )
        assert rule.condition == MetricCondition("cpu_percent", Threshold("above", 80.0), "gauge", "latest")
        assert (rule.action, rule.cooldown_s, rule.params) == ("restart", 300.0, {"cooldown_seconds": 300})
        # Vigil's defaults where the seed format says nothing.
        assert (rule.window_s, rule.interval_s, rule.for_s, rule.no_data) == (300.0, None, 0.0, "ok")
        assert rule.source == "file" and rule.group_keys == ("service.name",)
    rules = load_text(SEED_YAML)
    compound = rules[1].condition
    assert isinstance(compound, Compound) and compound.op == "any"
    inner = compound.conditions[1]
    assert isinstance(inner, Compound) and inner.op == "all"
    assert inner.conditions[0] == MetricCondition("disk_free_percent", Threshold("below", 10.0))


def test_vigil_kinds_and_rule_options() -> None:
    rules = load_text(
        json.dumps(
            [
                {
                    "name": "planner errors",
                    "severity": "high",
                    "group_by": ["service.name", "span.name"],
                    "window": "10m",
                    "interval": "15s",
                    "for": "1m",
                    "keep_firing_for": 30,
                    "no_data": "nodata",
                    "condition": {
                        "type": "spans",
                        "measure": "error_rate",
                        "threshold": 0.05,
                        "filter": {"service": "planner", "status": "error", "attributes": {"tier": 1}},
                    },
                },
                {
                    "name": "gpt latency",
                    "group_by": ["gen_ai.request.model"],
                    "condition": {
                        "type": "spans",
                        "measure": "latency_p95",
                        "operator": "outside",
                        "band": [0, 2000],
                    },
                },
                {
                    "name": "errors in logs",
                    "severity": "medium",
                    "condition": {
                        "type": "logs",
                        "threshold": 10,
                        "filter": {"severity": "error", "body_contains": "boom"},
                    },
                },
                {
                    "name": "p99 of latency histogram",
                    "target": "api-[0-9]",
                    "target_attribute": "host.name",
                    "condition": {
                        "type": "metric",
                        "metric": "http.duration",
                        "metric_type": "histogram",
                        "aggregation": "p99",
                        "operator": "below",
                        "threshold": 5,
                        "attributes": {"route": "/a"},
                    },
                },
                {
                    "name": "drift",
                    "severity": "medium",
                    "condition": {"type": "drift", "current": "1h", "baseline": "24h"},
                },
                {"name": "stopped", "window": "2m", "condition": {"type": "absence", "signal": "spans"}},
            ]
        )
    )
    errors, latency, logs, histogram, drift, absent = rules
    assert errors.group_keys == ("service.name", "span.name")
    assert (errors.window_s, errors.interval_s, errors.for_s, errors.keep_firing_for_s) == (600, 15, 60, 30)
    assert isinstance(errors.condition, SpanCondition) and errors.condition.filter.attributes == (
        ("tier", "1"),
    )
    assert latency.condition == SpanCondition("latency_p95", Threshold("outside", low=0, high=2000))
    assert isinstance(logs.condition, LogCondition) and logs.condition.filter.severity == "ERROR"
    assert isinstance(histogram.condition, MetricCondition) and histogram.condition.aggregation == "p99"
    assert histogram.target_attribute == "host.name" and histogram.group_keys == ("host.name",)
    assert drift.condition == DriftCondition(Threshold("above", 0.1))
    assert isinstance(absent.condition, AbsenceCondition) and absent.condition.threshold == Threshold(
        "above", 120
    )


def test_one_ordered_severity_scale() -> None:
    assert severity_rank("info") < severity_rank("warning") == severity_rank("medium")
    assert severity_rank("medium") < severity_rank("high") < severity_rank("critical")


def test_globs() -> None:
    assert glob_matches("web-*", "web-1") and not glob_matches("web-*", "db-1")
    assert glob_matches("*", "") and glob_matches("api-?", "api-7") and not glob_matches("api-?", "api-77")
    assert glob_matches("api-[0-9]", "api-3") and not glob_matches("api-[!0-9]", "api-3")
    assert glob_matches("a.b+c", "a.b+c") and not glob_matches("a.b", "axb")


@pytest.mark.parametrize(
    ("change", "policy", "field", "reason"),
    [
        (
            {"condition": {"type": "metric_bogus", "metric": "m", "threshold": 1}},
            "bad",
            "condition.type",
            "unknown condition type",
        ),
        (
            {"condition": {"type": "metric_exceeds", "metric": "cpu"}},
            "bad",
            "condition.threshold",
            "is required",
        ),
        ({"target": "web-[1"}, "bad", "target", "bad glob: unclosed '['"),
        ({"severity": "urgent"}, "bad", "severity", "must be one of"),
        (
            {
                "condition": {
                    "type": "all",
                    "conditions": [{"type": "metric_below", "metric": "m", "threshold": "x"}],
                }
            },
            "bad",
            "condition.conditions[0].threshold",
            "must be a finite number",
        ),
        ({"window": "5 minutes"}, "bad", "window", "duration"),
        ({"treshold": 3}, "bad", "treshold", "unknown field"),
        ({"params": {"cooldown_seconds": -1}}, "bad", "params.cooldown_seconds", "must not be negative"),
    ],
)
def test_a_file_with_an_error_is_refused_naming_file_policy_and_field(
    tmp_path: Path, change: dict, policy: str, field: str, reason: str
) -> None:
    good = dict(SEED_POLICY)
    bad = {**SEED_POLICY, "name": "bad", **change}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([good, bad]))
    with pytest.raises(RuleFileError) as caught:
        load_file(path)
    error = caught.value
    assert (error.path, error.policy, error.field) == (str(path), policy, field)
    assert str(error).startswith(f"{path}: policy {policy!r}, field {field}: ") and reason in str(error)


def test_duplicate_names_and_bad_documents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="policy 'high-cpu-alert', field name: a second policy"):
        load_text(json.dumps([SEED_POLICY, SEED_POLICY]))
    with pytest.raises(RuleFileError, match="expected a list of policies"):
        load_text("just a string")
    with pytest.raises(RuleFileError, match="policy '#0', field name: is required"):
        load_text(json.dumps([{"condition": SEED_POLICY["condition"]}]))
    with pytest.raises(RuleFileError, match="cannot be read"):
        load_file(tmp_path / "missing.yaml")
