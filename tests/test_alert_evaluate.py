"""Rule evaluation on real chDB, over telemetry sent by the stock OpenTelemetry SDK: one query
per rule, one value per group, the threshold compared in Python; values checked against
hand-written SQL of the same question."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from alert_support import Gauges, send_logs, send_spans
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from vigil_alerting.evaluate.evaluator import evaluate_rule
from vigil_alerting.evaluate.query import rule_sql
from vigil_alerting.rules import parse_rule

from support import RunningApp


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def test_gauge_latest_value_per_target(app: RunningApp, ch: Client) -> None:
    metric = f"cpu_percent_{_uid()}"
    gauges = Gauges(app, metric, {"web-1": 10.0, "web-2": 40.0, "db-1": 95.0})
    gauges.export()
    gauges.set("web-1", 95.0)  # the latest value is the one that counts
    gauges.export()
    gauges.close()
    app.flush()
    rule = parse_rule(
        {
            "name": "high-cpu-alert",
            "severity": "warning",
            "target": "web-*",
            "condition": {"type": "metric_exceeds", "metric": metric, "threshold": 80},
        }
    )
    result = evaluate_rule(ch, "otel", rule)
    assert result.values() == {("web-1",): 95.0, ("web-2",): 40.0}  # db-1 is not web-*
    assert {g.labels["service.name"]: g.breaching for g in result.groups} == {"web-1": True, "web-2": False}
    assert result.threshold == "above 80"
    # The same question, asked by hand.
    hand = ch.query(
        "SELECT ServiceName, argMax(Value, TimeUnix) FROM otel.otel_metrics_gauge WHERE MetricName = {m:String}"
        " AND ServiceName LIKE 'web-%' AND TimeUnix >= now64(9) - INTERVAL 5 MINUTE GROUP BY ServiceName",
        parameters={"m": metric},
    ).result_rows
    assert {(s,): v for s, v in hand} == result.values()
    # Compounds and metric_below over the same stored values.
    below = parse_rule(
        {
            "name": "below",
            "target": "*",
            "condition": {
                "type": "all",
                "conditions": [
                    {"type": "metric_below", "metric": metric, "threshold": 50},
                    {"type": "metric", "metric": metric, "operator": "outside", "band": [0, 30]},
                ],
            },
        }
    )
    assert {g.labels["service.name"]: g.breaching for g in evaluate_rule(ch, "otel", below).groups} == {
        "db-1": False,
        "web-1": False,
        "web-2": True,
    }
    either = parse_rule(
        {
            "name": "either",
            "condition": {
                "type": "any",
                "conditions": [
                    {"type": "metric_below", "metric": metric, "threshold": 50},
                    {"type": "metric_exceeds", "metric": metric, "threshold": 90},
                ],
            },
        }
    )
    assert {g.labels["service.name"]: g.breaching for g in evaluate_rule(ch, "otel", either).groups} == {
        "db-1": True,
        "web-1": True,
        "web-2": True,
    }


def test_sum_rate_and_histogram_quantile_and_mean(app: RunningApp, ch: Client) -> None:
    service, uid = f"alert-metrics-{_uid()}", _uid()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=app.grpc_target,
            insecure=True,
            preferred_temporality={
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
            },
        ),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service}))
    meter = provider.get_meter("vigil.tests.alerts")
    requests = meter.create_counter(f"requests_{uid}")
    latency = meter.create_histogram(f"latency_{uid}", unit="ms")
    requests.add(120, {"route": "/a"})
    requests.add(30, {"route": "/b"})
    for value in (3, 6, 8, 40, 45, 70, 90, 200, 300, 900):
        latency.record(value, {"route": "/a"})
    provider.shutdown()
    app.flush()

    def value(condition: dict, **rule: object) -> float | None:
        result = evaluate_rule(
            ch, "otel", parse_rule({"name": "m", "target": service, "condition": condition, **rule})
        )
        (group,) = result.groups
        return group.value

    counter = {"type": "metric", "metric": f"requests_{uid}", "metric_type": "sum", "threshold": 0}
    assert value(counter) == pytest.approx(150 / 300)  # per second over the 5-minute window
    assert value({**counter, "aggregation": "increase"}) == 150
    assert value({**counter, "attributes": {"route": "/b"}}) == pytest.approx(30 / 300)
    by_route = evaluate_rule(
        ch, "otel", parse_rule({"name": "m", "target": service, "group_by": ["route"], "condition": counter})
    )
    assert by_route.values() == {("/a",): pytest.approx(120 / 300), ("/b",): pytest.approx(30 / 300)}
    histogram = {"type": "metric", "metric": f"latency_{uid}", "metric_type": "histogram", "threshold": 0}
    assert value({**histogram, "aggregation": "mean"}) == pytest.approx(1662 / 10)
    # Default buckets ...25, 50, 75, 100, 250, 500, 750, 1000: the median (rank 5) is the 5th
    # of 10 values, in (25, 50] which holds 2 (rank 4..5): 25 + 25 * (5 - 3) / 2 = 50.
    assert value({**histogram, "aggregation": "p50"}) == pytest.approx(50.0)
    # p90: rank 9 falls in (250, 500] holding one value (rank 9): its upper bound.
    assert value({**histogram, "aggregation": "p90"}) == pytest.approx(500.0)


def test_span_error_rate_by_service_and_latency_by_model_with_example_traces(
    app: RunningApp, ch: Client
) -> None:
    uid = _uid()
    planner, writer = f"planner-{uid}", f"writer-{uid}"
    planner_traces = send_spans(
        app, planner, [("plan", 10, i < 3, {"gen_ai.request.model": "gpt-4o"}) for i in range(10)]
    )
    send_spans(
        app,
        writer,
        [("write", 2000 if i % 2 else 20, False, {"gen_ai.request.model": "small"}) for i in range(4)],
    )
    app.flush()
    rule = parse_rule(
        {
            "name": "error rate",
            "target": f"*-{uid}",
            "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.05},
        }
    )
    result = evaluate_rule(ch, "otel", rule)
    assert result.values() == {(planner,): pytest.approx(0.3), (writer,): 0.0}
    (breaching,) = [g for g in result.groups if g.breaching]
    assert (
        set(breaching.example_trace_ids) <= set(planner_traces[:3]) and len(breaching.example_trace_ids) == 3
    )
    # A draft rule's values are those of the same question in hand-written SQL.
    hand = ch.query(
        "SELECT ServiceName, countIf(StatusCode = 'Error') / count() FROM otel.otel_traces"
        " WHERE ServiceName IN ({p:String}, {w:String}) AND Timestamp >= now64(9) - INTERVAL 5 MINUTE"
        " GROUP BY ServiceName",
        parameters={"p": planner, "w": writer},
    ).result_rows
    assert {(s,): pytest.approx(v) for s, v in hand} == result.values()

    latency = parse_rule(
        {
            "name": "slow models",
            "target": f"*-{uid}",
            "group_by": ["gen_ai.request.model"],
            "condition": {"type": "spans", "measure": "latency_p95", "threshold": 1000},
        }
    )
    result = evaluate_rule(ch, "otel", latency)
    values = result.values()
    assert values[("gpt-4o",)] == pytest.approx(10.0, rel=0.01) and values[("small",)] > 1000
    slow = next(g for g in result.groups if g.breaching)
    assert slow.labels == {"gen_ai.request.model": "small"} and len(slow.example_trace_ids) == 3
    trace_rows = ch.query(
        "SELECT DISTINCT TraceId FROM otel.otel_traces WHERE TraceId IN {ids:Array(String)} AND Duration > 1e9",
        parameters={"ids": list(slow.example_trace_ids)},
    ).result_rows
    # The examples are the slowest spans' traces, slowest first.
    assert {r[0] for r in trace_rows} == set(slow.example_trace_ids[:2])
    counted = parse_rule(
        {
            "name": "model filter",
            "target": f"*-{uid}",
            "condition": {"type": "spans", "measure": "count", "threshold": 5, "filter": {"status": "error"}},
        }
    )
    assert evaluate_rule(ch, "otel", counted).values() == {(planner,): 3.0}


def test_log_count_by_severity_and_body(app: RunningApp, ch: Client) -> None:
    service = f"alert-logs-{_uid()}"
    send_logs(
        app,
        service,
        [
            (logging.ERROR, "payment failed"),
            (logging.ERROR, "payment failed again"),
            (logging.CRITICAL, "down"),
        ]
        + [(logging.INFO, "payment ok")] * 4,
    )
    app.flush()

    def count(filter_: dict) -> dict:
        rule = parse_rule(
            {
                "name": "logs",
                "target": service,
                "condition": {"type": "logs", "threshold": 2, "filter": filter_},
            }
        )
        return {
            tuple(g.labels.values()): (g.value, g.breaching) for g in evaluate_rule(ch, "otel", rule).groups
        }

    assert count({"severity": "error"}) == {(service,): (3.0, True)}
    assert count({"severity": "error", "body_contains": "PAYMENT"}) == {(service,): (2.0, False)}
    assert count({}) == {(service,): (7.0, True)}


def test_absence_of_a_service_that_stopped_sending(app: RunningApp, ch: Client) -> None:
    uid = _uid()
    send_spans(app, f"stopped-{uid}", [("op", 1, False, {})])
    app.flush()
    rule = parse_rule(
        {
            "name": "absent",
            "target": f"stopped-{uid}",
            "window": "1m",
            "condition": {"type": "absence", "signal": "spans"},
        }
    )
    now = time.time_ns()
    (fresh,) = evaluate_rule(ch, "otel", rule, now).groups
    assert not fresh.breaching and fresh.value is not None and fresh.value < 60
    (later,) = evaluate_rule(ch, "otel", rule, now + 120 * 10**9).groups  # two minutes on
    assert later.breaching and later.value == pytest.approx(120, abs=5)
    # A target that never sent anything in the lookback is absent too.
    never = parse_rule(
        {"name": "never", "target": f"never-{uid}", "condition": {"type": "absence", "signal": "logs"}}
    )
    (missing,) = evaluate_rule(ch, "otel", never).groups
    assert missing.breaching and missing.labels == {"service.name": f"never-{uid}"}


def test_drift_psi_per_group(app: RunningApp, ch: Client) -> None:
    uid = _uid()
    shifted, steady = f"drift-shifted-{uid}", f"drift-steady-{uid}"
    for service, current_ms in ((shifted, 400.0), (steady, 10.0)):
        send_spans(app, service, [("op", 10.0 + i % 10, False, {}) for i in range(40)], ago_s=300)
        send_spans(app, service, [("op", current_ms + i % 10, False, {}) for i in range(40)])
    app.flush()
    rule = parse_rule(
        {
            "name": "drift",
            "severity": "medium",
            "target": f"drift-*-{uid}",
            "condition": {"type": "drift", "current": "2m", "baseline": "10m", "bins": 4, "min_samples": 20},
        }
    )
    result = evaluate_rule(ch, "otel", rule)
    by_service = {g.labels["service.name"]: g for g in result.groups}
    assert set(by_service) == {shifted, steady}
    assert by_service[shifted].breaching and by_service[shifted].value > 1
    assert not by_service[steady].breaching and by_service[steady].value < 0.1
    assert result.threshold == "above 0.1"


def test_every_query_bounds_its_time_column() -> None:
    rule = parse_rule(
        {
            "name": "all kinds",
            "condition": {
                "type": "any",
                "conditions": [
                    {"type": "metric_exceeds", "metric": "m", "threshold": 1},
                    {"type": "metric", "metric": "m", "metric_type": "sum", "threshold": 1},
                    {"type": "metric", "metric": "m", "metric_type": "histogram", "threshold": 1},
                    {"type": "spans", "measure": "count", "threshold": 1},
                    {"type": "logs", "threshold": 1},
                    {"type": "absence", "signal": "metric", "metric": "m"},
                ],
            },
        }
    )
    sql, _ = rule_sql(rule, "otel", 10**18)
    selects = sql.split(" UNION ALL ")
    assert len(selects) == 6
    for select in selects:
        assert ("Timestamp >= fromUnixTimestamp64Nano(" in select) != (
            "TimeUnix >= fromUnixTimestamp64Nano(" in select
        )
        assert "< fromUnixTimestamp64Nano(" in select
