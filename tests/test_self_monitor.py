"""Self-monitoring: Vigil's own metrics are stored as metrics of service ``vigil`` in the
default project, and its built-in rules on them fire."""

from __future__ import annotations

import time
from pathlib import Path

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vigil import QueryClient, QueryError
from vigil_alerting.rules.builtin import SELF_RULE_NAMES, self_monitoring_rules
from vigil_server.self_monitor import SelfMonitor

from support import RunningApp, http_request, make_request, make_settings, wait_for

SECRET = "self-monitor-test-secret-" + "x" * 24


def test_own_metrics_are_queryable_as_service_vigil(chdb_dir: Path) -> None:
    app = RunningApp(make_settings(chdb_dir, database="selfmon", self_monitor_interval_s=1))
    try:
        status, _, _ = http_request(
            f"{app.http_base}/v1/traces",
            make_request(3, "some-app").SerializeToString(),
            {"Content-Type": "application/x-protobuf"},
        )
        assert status == 200
        with QueryClient(app.query_target) as client:

            def accepted() -> float:
                try:
                    response = client.query_metrics(
                        "vigil_receiver_accepted_spans_total",
                        "sum",
                        service="vigil",
                        attributes={"transport": "http"},
                        start=time.time_ns() - 300 * 10**9,
                        end=time.time_ns() + 60 * 10**9,
                        step_s=60,
                    )
                except QueryError:  # no snapshot stored yet
                    return 0
                return sum(p.value for s in response.series for p in s.points)

            assert (
                wait_for(accepted, 60, "vigil_receiver_accepted_spans_total of service vigil", every_s=0.2)
                == 3
            )
            backlog = client.query_metrics(
                "vigil_wal_backlog_bytes",
                "last",
                service="vigil",
                start=time.time_ns() - 300 * 10**9,
                step_s=60,
            )
            assert backlog.series and backlog.series[0].points
    finally:
        app.stop()


def test_auth_failures_spike_fires_the_builtin_rule(chdb_dir: Path) -> None:
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="selfauth",
            auth="on",
            auth_secret=SECRET,
            auth_throttle_max_delay_s=0,
            self_monitor_interval_s=1,
            self_monitor_auth_failures=3,
            rules_interval_s=1,
        )
    )
    try:
        rules = {name for _, _, severities in app.app.alerting.snapshot() for name in severities}
        assert set(SELF_RULE_NAMES) <= rules
        for _ in range(5):
            status, _, _ = http_request(
                f"{app.http_base}/v1/traces",
                make_request(1, "intruder").SerializeToString(),
                {"Content-Type": "application/x-protobuf", "Authorization": "Bearer vk_not-a-key"},
            )
            assert status == 401

        def firing() -> list[str]:
            return [
                i.rule
                for _, instances, _ in app.app.alerting.snapshot()
                for i in instances
                if i.rule == "vigil-auth-failures-spike" and i.state == "firing"
            ]

        wait_for(firing, 90, "vigil-auth-failures-spike firing", every_s=0.2)
    finally:
        app.stop()


def test_snapshot_sends_changes_of_counters_and_histograms() -> None:
    """Counters and histograms go as deltas since the last stored snapshot (a refused one is
    carried on); gauges as they are; only ``vigil_*`` families."""
    registry = CollectorRegistry()
    failures = Counter("vigil_things_failed", "failed things", ["reason"], registry=registry)
    depth = Gauge("vigil_depth", "depth", registry=registry)
    seconds = Histogram("vigil_op_seconds", "op", buckets=(0.1, 1), registry=registry)
    Counter("other_total_things", "not ours", registry=registry).inc()
    monitor = SelfMonitor(registry, lambda body: None, 1)  # type: ignore[arg-type,return-value]

    def points(request: ExportMetricsServiceRequest) -> dict[str, object]:
        out: dict[str, object] = {}
        for m in request.resource_metrics[0].scope_metrics[0].metrics:
            if m.HasField("sum"):
                out[m.name] = {p.attributes[0].value.string_value: p.as_double for p in m.sum.data_points}
            elif m.HasField("gauge"):
                out[m.name] = [p.as_double for p in m.gauge.data_points]
            else:
                out[m.name] = [(list(p.bucket_counts), p.count) for p in m.histogram.data_points]
        return out

    failures.labels("bad").inc(5)
    depth.set(7)
    seconds.observe(0.05)
    seconds.observe(0.5)
    first = points(monitor.snapshot())
    assert first == {
        "vigil_things_failed_total": {"bad": 5.0},
        "vigil_depth": [7.0],
        "vigil_op_seconds": [([1, 1, 0], 2)],
    }
    failures.labels("bad").inc(2)
    assert points(monitor.snapshot())["vigil_things_failed_total"] == {"bad": 7.0}  # not committed
    monitor.commit()
    failures.labels("bad").inc(1)
    seconds.observe(5)
    later = points(monitor.snapshot())
    assert later["vigil_things_failed_total"] == {"bad": 1.0}
    assert later["vigil_op_seconds"] == [([0, 0, 1], 1)]


def test_self_rules_can_be_switched_off() -> None:
    assert [r.name for r in self_monitoring_rules()] == list(SELF_RULE_NAMES)
    assert all(r.project == "default" and r.source == "builtin" for r in self_monitoring_rules())
    kept = self_monitoring_rules(disabled=frozenset({"vigil-dead-letters"}))
    assert "vigil-dead-letters" not in {r.name for r in kept} and len(kept) == len(SELF_RULE_NAMES) - 1
    assert self_monitoring_rules(disabled=frozenset({"*"})) == []
