"""Alert states, history and the runner on real chDB, fed by the stock OpenTelemetry SDK: the
seed policy fires for web-1 and resolves, `for`, keep_firing_for, cooldown and no-data each
move instances as documented, state survives a restart without a second firing, a failing
rule never stops the others, a bad rules file on reload keeps the old rules, the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
from alert_support import Gauges, send_spans
from clickhouse_connect.driver.client import Client

from vigil_alerting.errors import RuleFileError
from vigil_alerting.evaluate.evaluator import evaluate_rule
from vigil_alerting.rules import parse_rule
from vigil_alerting.runner import Runner, apply_result
from vigil_alerting.state.machine import AlertInstance, Observation, new_instance, step
from vigil_storage import connect

from support import RunningApp, export_otlp, make_request, wait_for

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
S = 10**9


def _states(runner: Runner, rule: str) -> dict[str, str]:
    return {i.labels.get("target", ""): i.state for i in runner.alerts(rule=rule)}


def test_the_seed_policy_fires_for_web_1_and_resolves(
    app: RunningApp, client: Client, system_db: str, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"policies": [{**SEED_POLICY, "interval": 2}]}))
    gauges = Gauges(app, "cpu_percent", {"web-1": 95.0, "web-2": 40.0, "db-1": 95.0}, every_s=0.5)
    runner = Runner(client, telemetry_database="otel", system_database=system_db, rules_file=rules_file)
    try:
        runner.open()
        wait_for(lambda: runner.status().rules == 1, 1, "the rule")
        gauges.export()
        app.flush()
        runner.start()
        started = time.monotonic()
        wait_for(lambda: _states(runner, "high-cpu-alert").get("web-1") == "firing", 10, "web-1 firing")
        # Data was there before the first evaluation: firing within 2 intervals of start.
        assert time.monotonic() - started < 2 * 2.0
        states = _states(runner, "high-cpu-alert")
        assert states == {"web-1": "firing"}  # web-2 never breached; db-1 is not web-*
        (firing,) = runner.alerts(state="firing")
        assert firing.labels == {
            "alertname": "high-cpu-alert", "service.name": "web-1", "severity": "warning", "target": "web-1"
        }  # fmt: skip
        assert (firing.value, firing.threshold) == (95.0, "above 80")
        gauges.set("web-1", 40.0)
        wait_for(lambda: _states(runner, "high-cpu-alert").get("web-1") == "resolved", 60, "web-1 resolved")

        # The state changes in memory first; its history row is written just after: poll for it.
        def transitions() -> list[tuple[str, str, str]]:
            return [
                (t.labels["target"], t.from_state, t.to_state) for t in runner.store.history("high-cpu-alert")
            ]

        wait_for(lambda: len(transitions()) >= 2, 30, "the resolved transition in the history")
        assert transitions() == [("web-1", "inactive", "firing"), ("web-1", "firing", "resolved")]
        status = runner.status()
        assert (
            status.running and status.interval_s == 30 and status.per_rule["high-cpu-alert"].interval_s == 2
        )
        assert status.evaluations >= 2 and status.failures == 0
    finally:
        runner.stop()
        gauges.close()


def _rule(**overrides: object):
    return parse_rule({**SEED_POLICY, "params": {}, **overrides})


def _run(rule_overrides: dict, observations: list[tuple[int, str]]) -> list[str]:
    """The states after each (second, observation) through the state machine."""
    rule = _rule(**rule_overrides)
    instance: AlertInstance = new_instance(rule, {"service.name": "web-1"})
    states = []
    for second, observed in observations:
        # (0 ns means "never" in an instance's times: start the clock later.)
        instance, _ = step(rule, instance, Observation(observed, 1.0), "above 80", (1000 + second) * S)  # type: ignore[arg-type]
        states.append(instance.state)
    return states


def test_for_holds_pending_until_the_condition_held_long_enough() -> None:
    assert _run({"for": 10}, [(0, "breach"), (5, "breach"), (10, "breach"), (12, "ok")]) == [
        "pending", "pending", "firing", "resolved"
    ]  # fmt: skip
    assert _run({"for": 10}, [(0, "breach"), (5, "ok"), (8, "breach"), (15, "breach")]) == [
        "pending", "inactive", "pending", "pending"  # the breach restarted at 8 s
    ]  # fmt: skip


def test_keep_firing_for_and_cooldown() -> None:
    assert _run({"keep_firing_for": 10}, [(0, "breach"), (5, "ok"), (9, "ok"), (10, "ok")]) == [
        "firing", "firing", "firing", "resolved"
    ]  # fmt: skip
    # Fired at 0 s; no second firing for this target before the 60 s cooldown ends.
    assert _run(
        {"params": {"cooldown_seconds": 60}},
        [(0, "breach"), (10, "ok"), (20, "breach"), (59, "breach"), (60, "breach")],
    ) == ["firing", "resolved", "pending", "pending", "firing"]


def test_no_data_handling() -> None:
    seq = [(0, "breach"), (10, "nodata"), (20, "ok")]
    assert _run({"no_data": "ok"}, seq) == ["firing", "resolved", "resolved"]
    assert _run({"no_data": "alerting"}, seq) == ["firing", "firing", "resolved"]
    assert _run({"no_data": "nodata"}, seq) == ["firing", "nodata", "inactive"]


def test_state_survives_a_restart_without_a_second_firing(
    app: RunningApp, client: Client, system_db: str
) -> None:
    metric = f"cpu_restart_{uuid.uuid4().hex[:8]}"
    gauges = Gauges(app, metric, {"web-restart": 99.0})
    gauges.export()
    gauges.close()
    app.flush()
    rule = _rule(
        name="restart",
        target="web-restart",
        condition={"type": "metric_exceeds", "metric": metric, "threshold": 80},
    )
    first = Runner(client, telemetry_database="otel", system_database=system_db)
    first.open()
    first.set_rules([rule])
    first.evaluate_due()
    assert _states(first, "restart") == {"web-restart": "firing"}
    # A new runner (as after a kill -9: nothing was flushed or handed over) resumes from the tables.
    second = Runner(connect(app.settings.dsn), telemetry_database="otel", system_database=system_db)
    second.open()
    second.set_rules([rule])
    assert _states(second, "restart") == {"web-restart": "firing"}
    second.evaluate_due()
    second.evaluate_due(time.time_ns() + 60 * S)
    assert _states(second, "restart") == {"web-restart": "firing"}
    assert [t.to_state for t in second.store.history("restart")] == ["firing"]


def test_a_kill_between_the_history_and_the_state_fires_once(
    app: RunningApp, client: Client, system_db: str
) -> None:
    """The process dies after the transition's INSERT and before the instance's: the next
    runner takes the state from the history instead of firing a second time."""
    metric = f"cpu_gap_{uuid.uuid4().hex[:8]}"
    gauges = Gauges(app, metric, {"web-gap": 99.0})
    gauges.export()
    gauges.close()
    app.flush()
    rule = _rule(
        name="gap", target="web-gap", condition={"type": "metric_exceeds", "metric": metric, "threshold": 80}
    )
    first = Runner(client, telemetry_database="otel", system_database=system_db)
    first.open()
    first.set_rules([rule])
    now = time.time_ns()
    result = evaluate_rule(client, "otel", rule, now, deadline_s=30)
    _, transitions = apply_result(rule, result, dict(first.instances), now)
    assert [t.to_state for t in transitions] == ["firing"]
    first.store.save([], transitions)  # the history only: killed before the instance row
    second = Runner(connect(app.settings.dsn), telemetry_database="otel", system_database=system_db)
    second.open()
    second.set_rules([rule])
    assert _states(second, "gap") == {"web-gap": "firing"}
    second.evaluate_due()
    second.evaluate_due(time.time_ns() + 60 * S)
    assert _states(second, "gap") == {"web-gap": "firing"}
    assert [t.to_state for t in second.store.history("gap")] == ["firing"]


def test_a_failing_rule_is_recorded_and_the_others_go_on(
    app: RunningApp, client: Client, system_db: str
) -> None:
    service = f"many-groups-{uuid.uuid4().hex[:8]}"
    export_otlp(app.grpc_target, make_request(1001, service).SerializeToString())
    good_traces = send_spans(app, service, [("op", 1, True, {})])
    app.flush()
    too_many = _rule(
        name="too many",
        target=service,
        group_by=["i"],
        condition={"type": "spans", "measure": "count", "threshold": 0},
    )
    good = _rule(
        name="errors",
        target=service,
        condition={"type": "spans", "measure": "count", "threshold": 0, "filter": {"status": "error"}},
    )
    runner = Runner(client, telemetry_database="otel", system_database=system_db)
    runner.open()
    runner.set_rules([too_many, good])
    runner.evaluate_due()
    status = runner.status()
    assert (
        status.per_rule["too many"].failures == 1
        and "more than 1000 groups" in status.per_rule["too many"].last_error
    )
    assert status.per_rule["errors"].failures == 0
    (alert,) = runner.alerts(state="firing")
    assert alert.rule == "errors" and alert.example_trace_ids == tuple(good_traces)
    assert runner.store.error_count("too many") == 1


def test_reload_keeps_the_old_rules_when_the_file_is_bad(
    client: Client, system_db: str, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(json.dumps([SEED_POLICY]))
    runner = Runner(client, telemetry_database="otel", system_database=system_db, rules_file=rules_file)
    runner.open()
    rules_file.write_text(json.dumps([SEED_POLICY, {**SEED_POLICY, "name": "two", "target": "web-[1"}]))
    with pytest.raises(RuleFileError, match=r"policy 'two', field target: bad glob"):
        runner.reload()
    assert list(runner.rules) == ["high-cpu-alert"]
    rules_file.write_text(json.dumps([SEED_POLICY, {**SEED_POLICY, "name": "two"}]))
    runner.reload()
    assert list(runner.rules) == ["high-cpu-alert", "two"]


def test_the_sandbox_answers_the_seed_designs_violations(client: Client, system_db: str) -> None:
    runner = Runner(client, telemetry_database="otel", system_database=system_db)
    memory = _rule(
        name="high-memory",
        severity="critical",
        description="Memory above 85%",
        target="web-server-*",
        auto_remediate=True,
        action="scale-up",
        condition={"type": "metric_exceeds", "metric": "memory_percent", "threshold": 85},
    )
    runner.set_rules([_rule(target="web-*"), memory, _rule(name="db only", target="db-*")])
    now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
    result = runner.sandbox({"cpu_percent": 95, "memory_percent": 88}, "web-server-01", now).to_dict()
    assert result == {
        "violations": [
            {"policy_name": "high-cpu-alert", "severity": "warning", "description": "Alert when CPU exceeds 80%",
             "target": "web-server-01", "timestamp": "2026-12-05T12:00:00+00:00"},
            {"policy_name": "high-memory", "severity": "critical", "description": "Memory above 85%",
             "target": "web-server-01", "timestamp": "2026-12-05T12:00:00+00:00"},
        ],
        "actions_triggered": [{"action": "scale-up", "target": "web-server-01", "status": "pending", "params": {}}],
    }  # fmt: skip
    assert runner.sandbox({"cpu_percent": 50}, "web-server-01").violations == []


def test_an_unchanged_firing_instance_is_not_saved_or_reported_again() -> None:
    """Issue 34's burst: 1,000 firing instances were saved and re-reported every evaluation.
    Only a state change, or a value, threshold or example trace a reader shows, is reported."""
    from vigil_alerting.evaluate.evaluator import GroupResult, RuleResult

    rule = _rule(name="per-user", target="*")
    users = [f"u{i:04d}" for i in range(1000)]

    def result(values: dict[str, float], traces: tuple[str, ...] = ()) -> RuleResult:
        groups = [
            GroupResult({"vigil.user": u}, v, v > 80, example_trace_ids=traces) for u, v in values.items()
        ]
        return RuleResult("per-user", 0, groups, "above 80")

    instances: dict[tuple[str, str], AlertInstance] = {}
    changed, transitions = apply_result(rule, result(dict.fromkeys(users, 95.0)), instances, 1000 * S)
    assert len(changed) == len(transitions) == 1000
    changed, transitions = apply_result(rule, result(dict.fromkeys(users, 95.0)), instances, 1030 * S)
    assert (changed, transitions) == ([], [])
    # The in-memory instance (ListAlerts) still has this evaluation's time.
    assert {i.updated_ns for i in instances.values()} == {1030 * S}
    moved = {**dict.fromkeys(users, 95.0), "u0007": 97.0}
    changed, transitions = apply_result(rule, result(moved), instances, 1060 * S)
    assert [(i.labels["vigil.user"], i.value) for i in changed] == [("u0007", 97.0)] and transitions == []
    changed, _ = apply_result(rule, result(moved, ("ab" * 16,)), instances, 1090 * S)
    assert len(changed) == 1000  # new example traces: incidents and notifications link them
    moved["u0003"] = 10.0
    changed, transitions = apply_result(rule, result(moved, ("ab" * 16,)), instances, 1120 * S)
    assert [(i.labels["vigil.user"], i.state) for i in changed] == [("u0003", "resolved")]
    assert [(t.from_state, t.to_state) for t in transitions] == [("firing", "resolved")]
    # keep_firing_for counts from the last breach: with it, each breach is saved (for a restart).
    held = _rule(name="held", target="*", keep_firing_for="5m")
    mine: dict[tuple[str, str], AlertInstance] = {}
    apply_result(held, result({"u1": 95.0}), mine, 1000 * S)
    changed, _ = apply_result(held, result({"u1": 95.0}), mine, 1030 * S)
    assert [i.last_breach_ns for i in changed] == [1030 * S]
