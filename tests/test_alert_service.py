"""Alert rules wired into Vigil (issue 33), against a real app fed by the stock OpenTelemetry
SDK: the seed policy from VIGIL_RULES_FILE fires and resolves on /metrics and the API, span
and log rules made through CreateRule fire with example traces GetTrace opens, the sandbox
answers the design's shape over Connect, a bad rules file is refused on ReloadRules while
the old rules keep running, the backtest agrees with the live history, grpcurl lists the
service, a read key cannot change rules."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from alert_support import Gauges, send_logs, send_spans
from clickhouse_connect.driver.client import Client
from test_query_grpcurl import grpcurl

from vigil import QueryClient
from vigil.query_client import QueryError
from vigil_auth import registry
from vigil_auth.keys import KeyHasher

import support
from support import RunningApp, ServerProcess, credentials_changed, http_request, make_settings

INTERVAL_S = 2.0
# What a loaded machine may add between an export and the evaluator seeing it stored.
WRITE_LAG_S = 8.0
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
# The same question with `for`: pending first.
HELD_POLICY = {**SEED_POLICY, "name": "high-cpu-held", "for": "3s", "params": {}}
MAIN = "alerts_wired"


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.1)


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.json"
    path.write_text(json.dumps({"policies": [SEED_POLICY, HELD_POLICY]}))
    return path


@pytest.fixture(scope="module")
def wired(chdb_dir: Path, rules_file: Path) -> Iterator[RunningApp]:
    app = RunningApp(
        make_settings(chdb_dir, database=MAIN, rules_file=rules_file, rules_interval_s=INTERVAL_S)
    )
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(wired: RunningApp) -> Iterator[QueryClient]:
    with QueryClient(wired.query_target) as c:
        yield c


def states(client: QueryClient, rule: str) -> dict[str, str]:
    return {a.labels.get("target", ""): a.state for a in client.alerts(rule=rule, state="").alerts}


def alerts_metric(app: RunningApp) -> dict[tuple[str, str], float]:
    """vigil_alerts per (rule, state) of /metrics."""
    _, _, body = http_request(f"{app.http_base}/metrics")
    found = {}
    for m in re.finditer(r"^vigil_alerts\{([^}]*)\} (\S+)$", body.decode(), re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        found[(labels["rule"], labels["state"])] = float(m.group(2))
    return found


def test_the_seed_policy_from_the_rules_file_fires_resolves_and_backtests(
    wired: RunningApp, client: QueryClient, rules_file: Path
) -> None:
    started_ns = time.time_ns()
    gauges = Gauges(wired, "cpu_percent", {"web-1": 95.0, "web-2": 40.0, "db-1": 95.0}, every_s=0.5)
    try:
        gauges.export()
        sent = time.monotonic()
        wait_for(lambda: states(client, "high-cpu-alert").get("web-1") == "firing", 60, "web-1 firing")
        fired_after_s = time.monotonic() - sent
        print(f"seed policy: firing {fired_after_s:.2f} s after the first export (interval {INTERVAL_S} s)")
        # Within two intervals of the data being stored: the write path's flush comes on top, and
        # on a loaded CI machine it can take seconds (the figure is printed; bench/ measures it).
        assert fired_after_s <= 2 * INTERVAL_S + WRITE_LAG_S
        seen = states(client, "high-cpu-alert")
        assert "web-2" not in seen or seen["web-2"] == "inactive"
        assert "db-1" not in seen  # not matched by web-*
        assert wait_for(lambda: alerts_metric(wired).get(("high-cpu-alert", "firing")) == 1.0, 30, "metric")

        # `for`: pending first, then firing once it held 3 s.
        wait_for(lambda: states(client, "high-cpu-held").get("web-1") == "firing", 60, "held rule firing")
        # The history is read from ClickHouse, which may answer after the state does.
        wait_for(
            lambda: (
                [t.to_state for t in client.alert_history(rule="high-cpu-held")][:2] == ["pending", "firing"]
            ),
            60,
            "the held rule's history: pending, then firing",
        )

        # The status the design's runner reports.
        status = client.runner_status()
        assert status.enabled and status.running and status.rules == 2
        assert status.interval_seconds == INTERVAL_S and status.evaluations > 0

        # A bad file is refused whole with the file, the policy and the field; the old rules stay.
        good = rules_file.read_text()
        bad_policies = {
            "condition.type": {**SEED_POLICY, "condition": {"type": "metric_soars", "metric": "cpu_percent"}},
            "condition.threshold": {**SEED_POLICY, "condition": {"type": "metric_exceeds", "metric": "cpu"}},
            "target": {**SEED_POLICY, "target": "web-[1"},
        }
        for field, policy in bad_policies.items():
            rules_file.write_text(json.dumps({"policies": [HELD_POLICY, policy]}))
            with pytest.raises(QueryError) as refused:
                client.reload_rules()
            assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
            message = refused.value.message
            assert (
                str(rules_file) in message and "'high-cpu-alert'" in message and f"field {field}" in message
            )
        rules_file.write_text(good)
        before = client.runner_status().evaluations
        wait_for(lambda: client.runner_status().evaluations >= before + 2, 60, "the old rules still running")
        assert {r.name for r in client.rules()} == {"high-cpu-alert", "high-cpu-held"}
        assert client.reload_rules().rules == 2

        # File rules are read-only through the API.
        with pytest.raises(QueryError) as read_only:
            client.disable_rule("high-cpu-alert")
        assert read_only.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "rules file" in read_only.value.message

        gauges.set("web-1", 40.0)
        gauges.export()
        wait_for(lambda: states(client, "high-cpu-alert").get("web-1") == "resolved", 60, "web-1 resolved")
        assert ("high-cpu-alert", "firing") not in alerts_metric(wired)
    finally:
        gauges.close()

    # The backtest over the same period produces the live history's alert, within one
    # interval at each edge. The live runner sees a point only once it is stored, the backtest
    # at its timestamp: so the live edge may also trail by the write path's delay, never lead.
    # Both polled: the history row may be written after the state changed, and the backtest's
    # last step (a whole interval after `start`) may still fall before the 40's timestamp.
    def live_resolved() -> dict[str, int] | None:
        history = {t.to_state: t.time_unix_nano for t in client.alert_history(rule="high-cpu-alert")}
        return history if "resolved" in history else None

    live = wait_for(live_resolved, 60, "the live history's resolved row")

    def backtest_resolved() -> Any:
        replay = client.backtest_rule(name="high-cpu-alert", start=started_ns)
        return replay if len(replay.intervals) == 1 and replay.intervals[0].resolved_time_unix_nano else None

    replay = wait_for(backtest_resolved, 60, "the backtest to see web-1 resolve")
    (would_be,) = replay.intervals
    assert would_be.labels["target"] == "web-1"
    step_ns, lag_ns = INTERVAL_S * 1e9, WRITE_LAG_S * 1e9
    for edge, backtest_ns in (
        ("firing", would_be.firing_time_unix_nano),
        ("resolved", would_be.resolved_time_unix_nano),
    ):
        trail_ns = live[edge] - backtest_ns
        assert -step_ns <= trail_ns <= step_ns + lag_ns, (edge, trail_ns / 1e9)
    assert would_be.peak_value == 95.0
    # The series the editor's chart draws: each group's value at each step, and the threshold.
    assert replay.threshold == "above 80" and list(replay.threshold_values) == [80.0]
    lines = {tuple(g.labels.values()): g for g in replay.series}
    assert set(lines) == {("web-1",), ("web-2",)}  # db-1 is not web-*
    for line in lines.values():
        times = list(line.times_unix_nano)
        assert len(times) == len(line.values) > 0 and times == sorted(times)
        assert started_ns < times[0] and times[-1] <= time.time_ns()
    assert set(lines[("web-1",)].values) == {95.0, 40.0} and set(lines[("web-2",)].values) == {40.0}
    # The steps where web-1 was 95 are those the would-be alert fired in.
    high = [
        t for t, v in zip(lines[("web-1",)].times_unix_nano, lines[("web-1",)].values, strict=True) if v == 95
    ]
    assert would_be.firing_time_unix_nano in high or would_be.pending_time_unix_nano in high


def test_the_sandbox_answers_the_design_request_over_connect(wired: RunningApp) -> None:
    status, _, body = http_request(
        f"{wired.web_base}/vigil.alerting.v1.AlertingService/EvaluateRules",
        method="POST",
        body=json.dumps(
            {"metrics": {"cpu_percent": 95, "memory_percent": 88}, "target": "web-server-01"}
        ).encode(),
        headers={"content-type": "application/json"},
    )
    assert status == 200, body
    answer = json.loads(body)
    names = {v["policyName"] for v in answer["violations"]}
    assert names == {"high-cpu-alert", "high-cpu-held"}
    violation = next(v for v in answer["violations"] if v["policyName"] == "high-cpu-alert")
    assert violation["severity"] == "warning" and violation["target"] == "web-server-01"
    assert violation["description"] == "Alert when CPU exceeds 80%" and violation["timestamp"]
    assert "actionsTriggered" not in answer  # auto_remediate is false: nothing runs by itself


def test_span_and_log_rules_made_through_the_api_fire_with_example_traces(
    wired: RunningApp, client: QueryClient
) -> None:
    uid = uuid.uuid4().hex[:6]
    planner, writer = f"planner-{uid}", f"writer-{uid}"
    errors = client.create_rule(
        {
            "name": f"errors-{uid}",
            "target": f"*-{uid}",
            "group_by": ["service.name"],
            "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.05},
        }
    )
    assert errors.source == "api" and errors.interval_seconds == INTERVAL_S
    client.create_rule(
        {
            "name": f"slow-{uid}",
            "target": f"*-{uid}",
            "group_by": ["gen_ai.request.model"],
            "condition": {"type": "spans", "measure": "latency_p95", "threshold": 1000},
        }
    )
    client.create_rule(
        {
            "name": f"log-errors-{uid}",
            "target": f"*-{uid}",
            "condition": {"type": "logs", "threshold": 1, "filter": {"severity": "ERROR"}},
        }
    )
    planner_traces = send_spans(
        wired, planner, [("plan", 10, i < 3, {"gen_ai.request.model": "gpt-4o"}) for i in range(10)]
    )
    slow_traces = send_spans(
        wired,
        writer,
        [("write", 2000 if i % 2 else 20, False, {"gen_ai.request.model": "small"}) for i in range(6)],
    )
    send_logs(
        wired, writer, [(logging.ERROR, "payment failed"), (logging.ERROR, "again"), (logging.INFO, "ok")]
    )
    wired.flush()

    def firing(rule: str) -> list[Any]:
        return list(client.alerts(rule=rule, state="firing").alerts)

    (by_service,) = wait_for(lambda: firing(f"errors-{uid}"), 30, "the error-rate rule firing")
    assert by_service.labels["service.name"] == planner and by_service.value == pytest.approx(0.3)
    assert set(by_service.example_trace_ids) <= set(planner_traces[:3]) and by_service.example_trace_ids
    (by_model,) = wait_for(lambda: firing(f"slow-{uid}"), 30, "the latency rule firing")
    assert by_model.labels["gen_ai.request.model"] == "small"
    assert set(by_model.example_trace_ids) <= set(slow_traces)
    for trace_id in [*by_service.example_trace_ids, *by_model.example_trace_ids]:
        assert client.get_trace(trace_id).spans  # GetTrace opens every example
    (logs,) = wait_for(lambda: firing(f"log-errors-{uid}"), 30, "the log rule firing")
    assert logs.labels["target"] == writer and logs.value == 2.0

    # A draft rule's values now, as the sandbox's second form.
    draft = client.evaluate_rules(
        rule={
            "name": "draft",
            "target": f"*-{uid}",
            "condition": {"type": "spans", "measure": "count", "threshold": 5},
        }
    )
    assert {tuple(g.labels.values()): g.value for g in draft.groups} == {(planner,): 10.0, (writer,): 6.0}

    # Partial update, disable, export in the rules-as-code format, delete.
    assert client.update_rule(f"errors-{uid}", severity="critical").severity == "critical"
    assert client.rule(f"errors-{uid}").policy["condition"]["measure"] == "error_rate"
    assert not client.disable_rule(f"slow-{uid}").enabled
    exported = json.loads(client.export_rules())["policies"]
    mine = {p["name"]: p for p in exported if p["name"].endswith(uid)}
    assert mine[f"slow-{uid}"]["enabled"] is False and mine[f"errors-{uid}"]["severity"] == "critical"
    page = client.alerts(page_size=1)
    assert len(page.alerts) == 1 and page.next_page_token
    rest = client.alerts(page_size=1000, page_token=page.next_page_token).alerts
    assert page.alerts[0].fingerprint not in {a.fingerprint for a in rest}
    for name in (f"errors-{uid}", f"slow-{uid}", f"log-errors-{uid}"):
        client.delete_rule(name)
    with pytest.raises(QueryError) as gone:
        client.rule(f"errors-{uid}")
    assert gone.value.code == grpc.StatusCode.NOT_FOUND


def test_grpcurl_lists_the_alerting_service(wired: RunningApp) -> None:
    out = grpcurl(wired.query_target, "list", "vigil.alerting.v1.AlertingService")
    assert out.returncode == 0, out.stderr
    methods = set(out.stdout.split())
    for rpc in ("ListRules", "CreateRule", "ReloadRules", "ListAlerts", "EvaluateRules", "BacktestRule"):
        assert f"vigil.alerting.v1.AlertingService.{rpc}" in methods


SECRET = "alerting-scopes-secret-0123456789"


def test_a_read_key_cannot_create_a_rule(chdb_dir: Path, ch: Client) -> None:
    main = "alerts_scoped"
    system = f"vigil_system_{main}"
    app = RunningApp(make_settings(chdb_dir, database=main, auth="on", auth_secret=SECRET))
    try:
        registry.ensure(ch, system)
        hasher = KeyHasher(SECRET.encode())
        _, read_key = registry.create_key(ch, system, hasher, "default", ["read"], name="reader")
        _, write_key = registry.create_key(ch, system, hasher, "default", ["read", "write"], name="writer")
        credentials_changed()
        policy = {
            "name": "cpu",
            "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 1},
        }
        with QueryClient(app.query_target, api_key=read_key) as reader:
            assert reader.rules() == []
            with pytest.raises(QueryError) as refused:
                reader.create_rule(policy)
            assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
        with QueryClient(app.query_target, api_key=write_key) as writer:
            assert writer.create_rule(policy).name == "cpu"
            assert [r.name for r in writer.rules()] == ["cpu"]
    finally:
        app.stop()


def test_a_firing_alert_survives_kill_9_and_sighup_reloads_the_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps([SEED_POLICY]))
    env = {"VIGIL_RULES_FILE": str(rules), "VIGIL_RULES_INTERVAL_S": "1"}
    data = tmp_path / "data"
    server = ServerProcess(data, **env)
    server.wait_ready()
    gauges = Gauges(server, "cpu_percent", {"web-1": 95.0}, every_s=0.5)  # type: ignore[arg-type]
    try:
        with QueryClient(f"127.0.0.1:{server.query_port}") as c:
            wait_for(
                lambda: states(c, "high-cpu-alert").get("web-1") == "firing", 60, "firing before the kill"
            )
        os.kill(server.proc.pid, signal.SIGKILL)
        server.wait()
    finally:
        gauges.close()

    again = ServerProcess(data, **env)
    again.wait_ready()
    gauges = Gauges(again, "cpu_percent", {"web-1": 95.0}, every_s=0.5)  # type: ignore[arg-type]
    try:
        with QueryClient(f"127.0.0.1:{again.query_port}") as c:

            def evaluations() -> int:
                return next(r.evaluations for r in c.runner_status().per_rule if r.name == "high-cpu-alert")

            wait_for(lambda: evaluations() >= 3, 60, "evaluations after the restart")
            assert states(c, "high-cpu-alert") == {"web-1": "firing"}
            firing = [t for t in c.alert_history(rule="high-cpu-alert") if t.to_state == "firing"]
            assert len(firing) == 1

            # SIGHUP re-reads the file.
            rules.write_text(json.dumps([SEED_POLICY, {**SEED_POLICY, "name": "second"}]))
            os.kill(again.proc.pid, signal.SIGHUP)
            wait_for(
                lambda: {r.name for r in c.rules() if r.source == "file"} == {"high-cpu-alert", "second"},
                60,
                "reload",
            )
            # The built-in drift rules are there too (the server's default drift settings), read-only.
            assert {r.name for r in c.rules() if r.source == "builtin"} >= {
                "drift-duration-medium",
                "drift-duration-high",
            }
    finally:
        gauges.close()
        again.terminate()
        assert again.wait() == 0


def test_the_builtin_drift_rule_fires_on_a_shifted_group(chdb_dir: Path) -> None:
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="alerts_drift",
            drift_interval_s=1,
            drift_current_s=120,
            drift_baseline_s=600,
            drift_bins=4,
            drift_min_samples=20,
            drift_group_by=["service.name"],
        )
    )
    try:
        uid = uuid.uuid4().hex[:6]
        shifted, steady = f"drift-shifted-{uid}", f"drift-steady-{uid}"
        for service, current_ms in ((shifted, 400.0), (steady, 10.0)):
            send_spans(app, service, [("op", 10.0 + i % 10, False, {}) for i in range(40)], ago_s=300)
            send_spans(app, service, [("op", current_ms + i % 10, False, {}) for i in range(40)])
        app.flush()
        with QueryClient(app.query_target) as c:
            for severity in ("medium", "high"):
                rule = f"drift-duration-{severity}"
                (alert,) = wait_for(
                    lambda r=rule: c.alerts(rule=r, state="firing").alerts, 30, f"{rule} firing"
                )
                assert alert.labels["service.name"] == shifted and alert.severity == severity
                assert alert.value > 1
            assert steady not in {a.labels["service.name"] for a in c.alerts(state="firing").alerts}
            with pytest.raises(QueryError) as read_only:
                c.delete_rule("drift-duration-high")
            assert read_only.value.code == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        app.stop()
