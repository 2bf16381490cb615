"""Issue 33's acceptance, the gaps a review found, on the real Runner over real chDB: the live
runner stepped through simulated time agrees with BacktestRule at every edge (two groups,
`for`), a period over 7 days is refused; over stored data a metric that stops arriving gives
each no-data outcome, keep_firing_for holds, a cooldown holds across a Runner restart; a rule
whose query overruns its interval is stopped near it and recorded as an error while the other
rules go on. (The server side of the same issue: tests/test_rules_acceptance_server.py.)"""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from alert_support import send_spans
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from prometheus_client import CollectorRegistry

from vigil_alerting.errors import RuleError
from vigil_alerting.evaluate.backtest import backtest
from vigil_alerting.metrics import AlertingMetrics
from vigil_alerting.rules import parse_rule
from vigil_alerting.rules.model import Rule
from vigil_alerting.runner import Runner
from vigil_storage import connect

from support import RunningApp, wait_for

S = 10**9
STEP_S = 10


def send_gauge(app: RunningApp, metric: str, points: dict[str, list[tuple[int, float]]]) -> None:
    """Gauge points (time ns, value) per service at known timestamps, through the OTLP/gRPC
    metrics Export the stock exporter calls (the stock SDK stamps points with the clock)."""
    request = ms.ExportMetricsServiceRequest()
    for service, series in points.items():
        rm = request.resource_metrics.add(
            resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
        )
        gauge = rm.scope_metrics.add().metrics.add(name=metric, unit="%").gauge
        for at_ns, value in series:
            gauge.data_points.add(time_unix_nano=at_ns, as_double=value)
    with grpc.insecure_channel(app.grpc_target) as channel:
        MetricsServiceStub(channel).Export(request, timeout=60)
    app.flush()


def stored(client: Client, metric: str, n: int) -> None:
    wait_for(
        lambda: (
            client.query(
                "SELECT count() FROM otel.otel_metrics_gauge WHERE MetricName = {m:String}",
                parameters={"m": metric},
            ).result_rows[0][0]
            >= n
        ),
        60,
        f"{n} points of {metric} stored",
    )


def base_ns() -> int:
    """Two hours ago on a 10 s boundary: simulated time is wholly in the past."""
    return (time.time_ns() - 7200 * S) // (STEP_S * S) * (STEP_S * S)


def gauge_rule(metric: str, **overrides: object) -> Rule:
    return parse_rule(
        {
            "name": f"acc-{metric}",
            "severity": "warning",
            "target": "web-*",
            "window": "15s",
            "interval": f"{STEP_S}s",
            "condition": {"type": "metric_exceeds", "metric": metric, "threshold": 80},
            **overrides,
        }
    )


def stepper(client: Client, system_db: str, rule: Rule, clock: list[int]) -> Runner:
    runner = Runner(client, telemetry_database="otel", system_database=system_db, clock_ns=lambda: clock[0])
    runner.open()
    runner.set_rules([rule])
    return runner


def step_through(runner: Runner, clock: list[int], start_ns: int, end_ns: int) -> None:
    """evaluate_due at every step of simulated time in (start, end]."""
    t = start_ns + STEP_S * S
    while t <= end_ns:
        clock[0] = t
        runner.evaluate_due(t)
        t += STEP_S * S


def targets(runner: Runner, rule: str) -> dict[str, str]:
    return {i.labels.get("target", ""): i.state for i in runner.alerts(rule=rule)}


def test_the_live_runner_and_the_backtest_agree_at_every_edge(
    app: RunningApp, client: Client, system_db: str
) -> None:
    metric = f"cpu_bt_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    end = base + 600 * S
    # A point every 5 s; web-a breaches in [100 s, 250 s), web-b in [300 s, 450 s).
    highs = {"web-a": (100, 250), "web-b": (300, 450)}
    points = {
        svc: [(base + t * S, 95.0 if lo <= t < hi else 40.0) for t in range(0, 600, 5)]
        for svc, (lo, hi) in highs.items()
    }
    send_gauge(app, metric, points)
    stored(client, metric, 240)
    rule = gauge_rule(metric, **{"for": "20s"})
    clock = [base]
    runner = stepper(client, system_db, rule, clock)
    step_through(runner, clock, base, end)

    live: dict[str, dict[str, int]] = {}
    for t in runner.store.history(rule.name):
        live.setdefault(t.labels["target"], {})[t.to_state] = t.at_ns
    replay = backtest(client, "otel", rule, base, end, STEP_S, max_steps=1000)
    assert replay.evaluations == 60
    would_be = {i.labels["target"]: i for i in replay.intervals}
    assert set(live) == set(would_be) == {"web-a", "web-b"}
    for svc, (lo, hi) in highs.items():
        edges = live[svc]
        # pending at the first step that saw the breach, firing `for` (20 s) later, resolved
        # at the first step whose window's latest point is low again.
        assert edges["pending"] == base + (lo + STEP_S) * S  # the window (95 s, 110 s] first sees 95
        assert edges["firing"] - edges["pending"] == 20 * S
        for edge, replayed in (
            ("pending", would_be[svc].pending_ns),
            ("firing", would_be[svc].firing_ns),
            ("resolved", would_be[svc].resolved_ns),
        ):
            assert abs(edges[edge] - replayed) <= STEP_S * S, (svc, edge, (edges[edge] - replayed) / S)
        assert hi * S <= edges["resolved"] - base <= hi * S + STEP_S * S
        assert would_be[svc].peak_value == 95.0

    with pytest.raises(RuleError, match="at most 7 days"):
        backtest(client, "otel", rule, end - 7 * 86400 * S - 1, end, 3600, max_steps=1000)
    assert backtest(client, "otel", rule, end - 7 * 86400 * S, end, 3600, max_steps=1000).evaluations == 168


@pytest.mark.parametrize(
    ("no_data", "after"), [("nodata", "nodata"), ("ok", "resolved"), ("alerting", "firing")]
)
def test_a_metric_that_stops_arriving_gives_each_no_data_outcome(
    app: RunningApp, client: Client, system_db: str, no_data: str, after: str
) -> None:
    metric = f"cpu_nd_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    # web-a reports 95 for 60 s, then nothing.
    send_gauge(app, metric, {"web-a": [(base + t * S, 95.0) for t in range(0, 60, 5)]})
    stored(client, metric, 12)
    rule = gauge_rule(metric, no_data=no_data)
    clock = [base]
    runner = stepper(client, system_db, rule, clock)
    step_through(runner, clock, base, base + 50 * S)
    assert targets(runner, rule.name) == {"web-a": "firing"}
    # The window (15 s) after the last point (55 s) is empty from 80 s on.
    step_through(runner, clock, base + 50 * S, base + 100 * S)
    assert targets(runner, rule.name) == {"web-a": after}
    states = [t.to_state for t in runner.store.history(rule.name)]
    assert states == (["firing", after] if after != "firing" else ["firing"])


def test_keep_firing_for_over_stored_data(app: RunningApp, client: Client, system_db: str) -> None:
    metric = f"cpu_kf_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    # 95 until 60 s, then 40: with keep_firing_for 30 s it fires on through the clear steps.
    send_gauge(app, metric, {"web-a": [(base + t * S, 95.0 if t < 60 else 40.0) for t in range(0, 200, 5)]})
    stored(client, metric, 40)
    rule = gauge_rule(metric, keep_firing_for="30s")
    clock = [base]
    runner = stepper(client, system_db, rule, clock)
    step_through(runner, clock, base, base + 180 * S)
    edges = {t.to_state: (t.at_ns - base) // S for t in runner.store.history(rule.name)}
    # The last breaching step is 60 s (the window [45, 60) ends with 55 s at 95); the first clear
    # one 70 s; it resolves 30 s after the last breach, not at the first clear step.
    assert edges == {"firing": 10, "resolved": 60 + 30}


def test_a_cooldown_holds_across_a_runner_restart(app: RunningApp, client: Client, system_db: str) -> None:
    metric = f"cpu_cd_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    # Breach, clear at 30 s, breach again from 60 s on; cooldown 120 s from the first firing (10 s).
    send_gauge(
        app,
        metric,
        {"web-a": [(base + t * S, 40.0 if 30 <= t < 60 else 95.0) for t in range(0, 300, 5)]},
    )
    stored(client, metric, 60)
    rule = gauge_rule(metric, params={"cooldown_seconds": 120})
    clock = [base]
    first = stepper(client, system_db, rule, clock)
    step_through(first, clock, base, base + 50 * S)
    assert targets(first, rule.name) == {"web-a": "resolved"}
    # A new runner on the same system database (as after a restart) knows when it last fired.
    second = stepper(connect(app.settings.dsn), system_db, rule, clock)
    step_through(second, clock, base + 50 * S, base + 200 * S)
    edges = [(t.to_state, (t.at_ns - base) // S) for t in second.store.history(rule.name)]
    # Breaching again from 70 s, held pending until 130 s (10 s + 120 s), never firing before.
    assert edges == [("firing", 10), ("resolved", 40), ("pending", 70), ("firing", 130)]


SLOW_VIEW = """
CREATE VIEW {db}.otel_metrics_gauge AS
SELECT o.* FROM numbers(30000000) AS n
CROSS JOIN (SELECT * FROM otel.otel_metrics_gauge WHERE MetricName = '{metric}' LIMIT 1) AS o
"""


def test_a_rule_that_overruns_its_interval_is_stopped_and_recorded(
    app: RunningApp, client: Client, system_db: str
) -> None:
    """A telemetry database whose gauge table is a view of one stored point repeated 3 x 10^7
    times (the rule's real query reads ~0.6 M rows/s here: ~50 s unstopped, so the test fails
    in bounded time if the deadline goes; ClickHouse stops it at 1 s) and whose spans table is
    a plain view of the real one (a rule over it answers at once)."""
    uid = uuid.uuid4().hex[:8]
    metric, service, slow_db = f"cpu_slow_{uid}", f"web-slow-{uid}", f"acc_slow_{uid}"
    send_gauge(app, metric, {service: [(time.time_ns() - 2 * S, 95.0)]})
    stored(client, metric, 1)
    send_spans(app, service, [("op", 1, True, {})])
    app.flush()
    client.command(f"CREATE DATABASE {slow_db}")
    try:
        client.command(SLOW_VIEW.format(db=slow_db, metric=metric))
        client.command(f"CREATE VIEW {slow_db}.otel_traces AS SELECT * FROM otel.otel_traces")
        interval_s = 1.0
        slow = gauge_rule(metric, name="slow", target=service, interval=f"{interval_s}s", window="60s")
        # Evaluated here by hand, once: its long interval (also its deadline) lets a loaded
        # machine's span query take its time.
        good = parse_rule(
            {
                "name": "good",
                "target": service,
                "interval": "300s",
                "condition": {
                    "type": "spans",
                    "measure": "count",
                    "threshold": 0,
                    "filter": {"status": "error"},
                },
            }
        )
        # The server's own metrics class, on a registry of this test's.
        registry = CollectorRegistry()
        metrics = AlertingMetrics(registry, lambda: [])
        runner = Runner(
            client, telemetry_database=slow_db, system_database=system_db, on_evaluation=metrics.observe
        )
        runner.open()
        runner.set_rules([slow, good])
        runner.evaluate_due()
        status = runner.status().per_rule
        assert status["slow"].failures == 1 and status["good"].failures == 0, status
        error = status["slow"].last_error
        print(f"slow rule stopped after {status['slow'].last_seconds:.2f} s: {error[:160]}")
        assert "TIMEOUT_EXCEEDED" in error or "deadline exceeded" in error, error
        # Stopped at the interval (a loaded machine adds to it), not after the ~50 s of the whole query.
        assert interval_s <= status["slow"].last_seconds < interval_s + 20.0, status["slow"].last_seconds
        sample = registry.get_sample_value
        assert sample("vigil_rule_evaluations_total", {"result": "error"}) == 1
        assert sample("vigil_rule_evaluations_total", {"result": "ok"}) == 1
        assert sample("vigil_rule_evaluation_seconds_count") == 2
        assert runner.store.error_count("slow") == 1
        # The other rule went on: its alert fired in the same round.
        assert targets(runner, "good") == {service: "firing"}
    finally:
        client.command(f"DROP DATABASE IF EXISTS {slow_db}")


def test_a_restarted_runner_reports_its_resumed_firing_alerts_once(
    app: RunningApp, client: Client, system_db: str
) -> None:
    """A new Runner on the same system database (a restart, a worker handover) hands its resumed
    firing instance to its listeners (the notifier, incidents) at the rule's first evaluation,
    without a second firing transition, and not again while nothing changes."""
    metric = f"cpu_rs_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    send_gauge(app, metric, {"web-a": [(base + t * S, 95.0) for t in range(0, 200, 5)]})
    stored(client, metric, 40)
    rule = gauge_rule(metric)
    clock = [base]
    first = stepper(client, system_db, rule, clock)
    step_through(first, clock, base, base + 30 * S)
    assert targets(first, rule.name) == {"web-a": "firing"}
    reports: list[tuple[list[str], list[str]]] = []
    second = Runner(
        connect(app.settings.dsn),
        telemetry_database="otel",
        system_database=system_db,
        clock_ns=lambda: clock[0],
        on_change=lambda r, changed, transitions, now: reports.append(
            ([i.state for i in changed], [t.to_state for t in transitions])
        ),
    )
    second.open()
    second.set_rules([rule])
    step_through(second, clock, base + 30 * S, base + 60 * S)
    assert reports == [(["firing"], [])]  # once, as it is; no transition
    edges = [t.to_state for t in second.store.history(rule.name)]
    assert edges == ["firing"]


def test_a_change_whose_save_failed_is_reported_at_the_next_evaluation(
    app: RunningApp, client: Client, system_db: str
) -> None:
    """Storage refuses the save of the evaluation where an alert starts firing (its table is
    gone): the evaluation is recorded as failed, and the next one, with storage back, derives
    the firing transition again and reports it (not: nothing new, so never notified)."""
    metric = f"cpu_sf_{uuid.uuid4().hex[:8]}"
    base = base_ns()
    send_gauge(app, metric, {"web-a": [(base + t * S, 95.0) for t in range(0, 100, 5)]})
    stored(client, metric, 20)
    rule = gauge_rule(metric)
    clock = [base]
    reports: list[list[str]] = []
    runner = Runner(
        client,
        telemetry_database="otel",
        system_database=system_db,
        clock_ns=lambda: clock[0],
        on_change=lambda r, changed, transitions, now: reports.append([t.to_state for t in transitions]),
    )
    runner.open()
    runner.set_rules([rule])
    client.command(f"DROP TABLE {system_db}.vigil_alert_transitions")
    clock[0] = base + 10 * S
    runner.evaluate_due(clock[0])
    assert runner.status().failures == 1 and reports == []
    runner.store.ensure_schema()
    clock[0] = base + 20 * S
    runner.evaluate_due(clock[0])
    assert reports == [["firing"]]
    assert [t.to_state for t in runner.store.history(rule.name)] == ["firing"]
