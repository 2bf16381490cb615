"""Issue 33's acceptance on a real server with VIGIL_AUTH=on, the gaps a review found:
/metrics counts evaluations by result and times them, and labels vigil_alerts with project
and severity; GetRunnerStatus reports the last evaluation and a failing rule's failures;
ListAlerts filters by severity; a log rule's alert carries the trace id of the ERROR record's
span and GetTrace opens it; a read key is refused every changing alerting RPC and allowed the
reading ones; the built-in drift rules have the detector's defaults; grpcurl lists every rule
and alert RPC; a bad rules file on SIGHUP leaves the old rules in force."""

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
from alert_support import Gauges
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from test_query_grpcurl import grpcurl

from vigil import QueryClient
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_proto.alerting.v1 import alerting_pb2 as pb
from vigil_proto.alerting.v1 import alerting_pb2_grpc
from vigil_server.settings import VigilSettings

import support
from support import RunningApp, ServerProcess, credentials_changed, http_request, make_request, make_settings

INTERVAL_S = 1.0
SECRET = "rules-acceptance-secret-0123456789"
MAIN = "rules_acceptance"


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.1)


class Keys:
    def __init__(self, read: str, write: str) -> None:
        self.read, self.write = read, write


@pytest.fixture(scope="module")
def server(chdb_dir: Path, ch: Client) -> Iterator[tuple[RunningApp, Keys]]:
    app = RunningApp(
        make_settings(
            chdb_dir,
            database=MAIN,
            auth="on",
            auth_secret=SECRET,
            rules_interval_s=INTERVAL_S,
            # The tests' settings turn the drift detector off; here it is on, at its defaults.
            drift_interval_s=VigilSettings.model_fields["drift_interval_s"].default,
        )
    )
    try:
        system = app.settings.system_database
        registry.ensure(ch, system)
        hasher = KeyHasher(SECRET.encode())
        _, read_key = registry.create_key(ch, system, hasher, "default", ["read"], name="acc-reader")
        _, write_key = registry.create_key(
            ch, system, hasher, "default", ["ingest", "read", "write"], name="acc-writer"
        )
        credentials_changed()
        yield app, Keys(read_key, write_key)
    finally:
        app.stop()


@pytest.fixture(scope="module")
def writer(server: tuple[RunningApp, Keys]) -> Iterator[QueryClient]:
    app, keys = server
    with QueryClient(app.query_target, api_key=keys.write) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def scrape(app: RunningApp, key: str) -> str:
    status, _, body = http_request(f"{app.http_base}/metrics", headers=bearer(key))
    assert status == 200, body
    return body.decode()


def samples(body: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for m in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", body, re.M):
        found.append((dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or "")), float(m.group(2))))
    return found


def one(body: str, name: str, **labels: str) -> float:
    return sum(v for ls, v in samples(body, name) if all(ls.get(k) == x for k, x in labels.items()))


def test_metrics_status_and_severity_filter_on_a_server(
    server: tuple[RunningApp, Keys], writer: QueryClient
) -> None:
    app, keys = server
    uid = uuid.uuid4().hex[:6]
    metric, service = f"cpu_acc_{uid}", f"web-acc-{uid}"
    # A failing rule: more groups than a rule may have (1001 spans, one per value of `i`).
    with grpc.insecure_channel(app.grpc_target) as channel:
        TraceServiceStub(channel).Export(
            make_request(1001, service), metadata=list(bearer(keys.write).items()), timeout=60
        )
    before = scrape(app, keys.read)
    gauges = Gauges(app, metric, {service: 95.0}, headers=bearer(keys.write))
    try:
        gauges.export()
        condition = {"type": "metric_exceeds", "metric": metric, "threshold": 80}
        # A 5 s interval, which is also each evaluation's deadline: a loaded machine's slow query
        # is no failure (crit's count must stay 0, broken's error must stay its own).
        writer.create_rule(
            {"name": f"crit-{uid}", "severity": "critical", "target": service, "interval": 5,
             "condition": condition}
        )  # fmt: skip
        writer.create_rule(
            {"name": f"info-{uid}", "severity": "info", "target": service, "interval": 5,
             "condition": condition}
        )  # fmt: skip
        writer.create_rule(
            {
                "name": f"broken-{uid}",
                "target": service,
                "interval": 5,
                "group_by": ["i"],
                "condition": {"type": "spans", "measure": "count", "threshold": 0},
            }
        )

        def firing() -> set[str]:
            return {a.rule for a in writer.alerts(state="firing").alerts if a.rule.endswith(uid)}

        wait_for(lambda: firing() == {f"crit-{uid}", f"info-{uid}"}, 90, "both rules firing")
        # ListAlerts by severity: at least the severity asked for.
        assert {a.rule for a in writer.alerts(severity="critical").alerts if a.rule.endswith(uid)} == {
            f"crit-{uid}"
        }
        assert {a.rule for a in writer.alerts(severity="warning").alerts if a.rule.endswith(uid)} == {
            f"crit-{uid}"
        }
        assert {a.rule for a in writer.alerts(severity="info").alerts if a.rule.endswith(uid)} == {
            f"crit-{uid}",
            f"info-{uid}",
        }

        def broken() -> Any:
            return next((r for r in writer.runner_status().per_rule if r.name == f"broken-{uid}"), None)

        status = wait_for(lambda: (b := broken()) is not None and b.failures >= 2 and b, 90, "two failures")
        assert "more than 1000 groups" in status.last_error
        assert status.last_evaluation_time_unix_nano > time.time_ns() - 120 * 10**9
        overall = writer.runner_status()
        assert overall.failures >= status.failures
        assert time.time_ns() - 60 * 10**9 < overall.last_evaluation_time_unix_nano <= time.time_ns()
        crit = next(r for r in overall.per_rule if r.name == f"crit-{uid}")
        assert crit.failures == 0 and crit.evaluations >= 1 and crit.last_error == ""

        after = wait_for(
            lambda: (
                (b := scrape(app, keys.read))
                and one(b, "vigil_rule_evaluations_total", result="error")
                >= one(before, "vigil_rule_evaluations_total", result="error") + 2
                and b
            ),
            90,
            "errors counted",
        )
        assert one(after, "vigil_rule_evaluations_total", result="ok") > one(
            before, "vigil_rule_evaluations_total", result="ok"
        )
        assert one(after, "vigil_rule_evaluation_seconds_count") > one(
            before, "vigil_rule_evaluation_seconds_count"
        )
        assert one(after, "vigil_rule_evaluation_seconds_sum") > 0
        alerts = {
            (ls["rule"], ls["state"]): (ls["project"], ls["severity"], v)
            for ls, v in samples(after, "vigil_alerts")
            if ls["rule"].endswith(uid)
        }
        assert alerts == {
            (f"crit-{uid}", "firing"): ("default", "critical", 1.0),
            (f"info-{uid}", "firing"): ("default", "info", 1.0),
        }
    finally:
        gauges.close()
        for name in (f"crit-{uid}", f"info-{uid}", f"broken-{uid}"):
            writer.delete_rule(name)


def send_error_in_a_span(app: RunningApp, key: str, service: str) -> str:
    """One span with an ERROR log record written inside it (the stock trace and log exporters
    in one context, as an instrumented app has them); the span's trace id."""
    resource = Resource.create({"service.name": service})
    traces = TracerProvider(resource=resource)
    traces.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True, headers=bearer(key)))
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=app.grpc_target, insecure=True, headers=bearer(key))
        )
    )
    logger = logging.getLogger(f"vigil.tests.acceptance.{service}")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=logs)
    logger.addHandler(handler)
    try:
        with traces.get_tracer("vigil.tests.acceptance").start_as_current_span("checkout") as span:
            logger.error("payment failed")
            trace_id = format(span.get_span_context().trace_id, "032x")
        logger.info("outside any span")
    finally:
        logger.removeHandler(handler)
        logs.shutdown()
        traces.shutdown()
    return trace_id


def test_a_log_rule_carries_the_error_records_trace(
    server: tuple[RunningApp, Keys], writer: QueryClient
) -> None:
    app, keys = server
    uid = uuid.uuid4().hex[:6]
    service = f"shop-{uid}"
    writer.create_rule(
        {
            "name": f"log-{uid}",
            "target": service,
            "condition": {"type": "logs", "threshold": 0, "filter": {"severity": "ERROR"}},
        }
    )
    try:
        trace_id = send_error_in_a_span(app, keys.write, service)
        app.flush()
        (alert,) = wait_for(
            lambda: writer.alerts(rule=f"log-{uid}", state="firing").alerts, 60, "the log rule firing"
        )
        assert alert.value == 1.0 and list(alert.example_trace_ids) == [trace_id]
        (span,) = writer.get_trace(trace_id).spans
        assert span.span.name == "checkout"
    finally:
        writer.delete_rule(f"log-{uid}")


# Every changing alerting RPC, with an empty request: the scope is checked before the request.
CHANGING = [
    "CreateRule", "UpdateRule", "DeleteRule", "EnableRule", "DisableRule", "ReloadRules",
    "CreateSilence", "ExpireSilence", "AcknowledgeIncident", "ResolveIncident", "AddIncidentNote",
    "AnalyzeIncident", "CreateAction", "CancelAction",
]  # fmt: skip
READING = [
    "ListRules", "ExportRules", "ListAlerts", "GetAlertHistory", "GetRunnerStatus", "ListIncidents",
    "ListSilences", "ListDeliveries",
]  # (ListActions and GetQueueStats answer FAILED_PRECONDITION on a server without actions)  # fmt: skip


def _call(app: RunningApp, key: str, rpc: str) -> grpc.StatusCode:
    request = getattr(pb, f"{rpc}Request")()
    with grpc.insecure_channel(app.query_target) as channel:
        method = getattr(alerting_pb2_grpc.AlertingServiceStub(channel), rpc)
        try:
            method(request, metadata=list(bearer(key).items()), timeout=60)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("rpc", CHANGING)
def test_a_read_key_is_refused_every_changing_rpc(server: tuple[RunningApp, Keys], rpc: str) -> None:
    app, keys = server
    assert _call(app, keys.read, rpc) == grpc.StatusCode.PERMISSION_DENIED
    # A write key gets past the scope check (and then fails on the empty request, or succeeds).
    assert _call(app, keys.write, rpc) != grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("rpc", READING)
def test_a_read_key_may_read(server: tuple[RunningApp, Keys], rpc: str) -> None:
    app, keys = server
    # ListDeliveries needs an incident or an alert: the empty request is refused past the scope.
    expected = grpc.StatusCode.INVALID_ARGUMENT if rpc == "ListDeliveries" else grpc.StatusCode.OK
    assert _call(app, keys.read, rpc) == expected


def test_the_builtin_drift_rules_have_the_detectors_defaults(
    server: tuple[RunningApp, Keys], writer: QueryClient
) -> None:
    builtin = {r.name: r for r in writer.rules() if r.name.startswith("drift-duration-")}
    assert set(builtin) == {"drift-duration-medium", "drift-duration-high"}
    for severity, threshold in (("medium", 0.1), ("high", 0.2)):
        rule = builtin[f"drift-duration-{severity}"]
        assert rule.source == "builtin" and rule.severity == severity
        condition = writer.rule(rule.name).policy["condition"]
        assert condition["type"] == "drift" and condition["measure"] == "duration"
        assert (condition["current"], condition["baseline"]) == (3600, 86400)  # 1 h against 24 h
        assert condition["threshold"] == threshold and rule.interval_seconds == 300


ISSUE_RPCS = (
    "ListRules", "GetRule", "CreateRule", "UpdateRule", "DeleteRule", "EnableRule", "DisableRule",
    "ReloadRules", "ListAlerts", "GetAlertHistory", "GetRunnerStatus", "EvaluateRules", "BacktestRule",
)  # fmt: skip


def test_grpcurl_lists_every_rule_and_alert_rpc(server: tuple[RunningApp, Keys]) -> None:
    app, keys = server
    out = grpcurl(
        "-H",
        f"authorization: Bearer {keys.read}",
        app.query_target,
        "list",
        "vigil.alerting.v1.AlertingService",
    )
    assert out.returncode == 0, out.stderr
    listed = set(out.stdout.split())
    assert {f"vigil.alerting.v1.AlertingService.{rpc}" for rpc in ISSUE_RPCS} <= listed


SEED_POLICY = {
    "name": "high-cpu-alert",
    "severity": "warning",
    "target": "web-*",
    "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80},
}


def test_a_bad_rules_file_on_sighup_leaves_the_old_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([SEED_POLICY]))
    server = ServerProcess(tmp_path / "data", VIGIL_RULES_FILE=str(rules), VIGIL_RULES_INTERVAL_S="1")
    try:
        server.wait_ready()
        with QueryClient(f"127.0.0.1:{server.query_port}") as c:

            def evaluations() -> int:
                return next(r.evaluations for r in c.runner_status().per_rule if r.name == "high-cpu-alert")

            wait_for(lambda: evaluations() >= 1, 60, "the first evaluation")
            rules.write_text(json.dumps([SEED_POLICY, {**SEED_POLICY, "name": "two", "target": "web-[1"}]))
            os.kill(server.proc.pid, signal.SIGHUP)
            wait_for(lambda: "not reloaded" in server.log(), 60, "the refusal in the log")
            refusal = next(line for line in server.log().splitlines() if "not reloaded" in line)
            assert str(rules) in refusal and "policy 'two'" in refusal and "field target" in refusal
            assert server.proc.poll() is None  # still serving
            assert {r.name for r in c.rules() if r.source == "file"} == {"high-cpu-alert"}
            before = evaluations()
            wait_for(lambda: evaluations() >= before + 2, 60, "the old rule still evaluated")
            # A good file afterwards is taken: the signal was handled, not lost.
            rules.write_text(json.dumps([SEED_POLICY, {**SEED_POLICY, "name": "two"}]))
            os.kill(server.proc.pid, signal.SIGHUP)
            wait_for(
                lambda: {r.name for r in c.rules() if r.source == "file"} == {"high-cpu-alert", "two"},
                60,
                "reload",
            )
    finally:
        server.terminate()
        assert server.wait() == 0
