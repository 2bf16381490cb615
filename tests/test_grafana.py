"""Grafana provisioning (deploy/grafana): every ClickHouse panel's SQL runs, with Grafana's
macros expanded as the ClickHouse plugin expands them, on spans the stock OpenTelemetry SDK
sent to a real Vigil, and returns rows; every Prometheus panel names metrics Vigil exports."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from support import RunningApp

GRAFANA = Path(__file__).resolve().parents[1] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def expand_macros(sql: str, from_s: int, to_s: int, interval_s: int) -> str:
    """Grafana's ClickHouse plugin (grafana/clickhouse-datasource, pkg/macros): times in unix
    seconds, the interval in whole seconds (at least 1)."""
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)", rf"\1 >= toDateTime({from_s}) AND \1 <= toDateTime({to_s})", sql
    )
    sql = re.sub(
        r"\$__timeInterval\(([^)]+)\)",
        rf"toStartOfInterval(toDateTime(\1), INTERVAL {max(interval_s, 1)} second)",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({from_s})").replace("$__toTime", f"toDateTime({to_s})")
    sql = sql.replace("$__interval_s", str(max(interval_s, 1)))
    assert "$__" not in sql, f"a macro this test does not expand: {sql}"
    return sql


def panels(datasource_type: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if panel["datasource"]["type"] == datasource_type:
                found.append((f"{path.stem}: {panel['title']}", panel))
    return found


@pytest.fixture(scope="module")
def llm_spans(app: RunningApp) -> int:
    """LLM calls as an instrumented app sends them: models the default price book prices,
    sessions, users, an error."""
    provider = TracerProvider(resource=Resource.create({"service.name": "grafana-llm-app"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    tracer = provider.get_tracer("grafana-test")
    calls = [
        ("openai", "gpt-4o", "sess-a", "alice", 1200, 300, False),
        ("openai", "gpt-4o-mini", "sess-a", "alice", 800, 100, False),
        ("anthropic", "claude-sonnet-4-5", "sess-b", "bob", 5000, 900, True),
        ("openai", "gpt-4o", "sess-c", "carol", 300, 50, False),
    ]
    for provider_name, model, session, user, inp, out, failed in calls:
        with tracer.start_as_current_span("chat") as span:
            span.set_attributes(
                {
                    "gen_ai.provider.name": provider_name,
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": inp,
                    "gen_ai.usage.output_tokens": out,
                    "session.id": session,
                    "user.id": user,
                }
            )
            if failed:
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    app.flush()
    return len(calls)


def test_dashboards_exist_and_use_the_provisioned_datasources() -> None:
    assert {p.stem for p in DASHBOARDS} == {"llm-overview", "vigil-health"}
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "vigil.yaml").read_text())
    uids = {d["uid"]: d for d in provisioned["datasources"]}
    ch = uids["vigil-clickhouse"]["jsonData"]
    assert ch["username"] == "grafana" and ch["defaultDatabase"] == "otel"
    assert ch["traces"]["otelEnabled"] and ch["traces"]["defaultTable"] == "otel_traces"
    assert ch["logs"]["otelEnabled"] and ch["logs"]["defaultTable"] == "otel_logs"
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] in uids
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == panel["datasource"]["uid"]


@pytest.mark.parametrize("name,panel", panels("grafana-clickhouse-datasource"), ids=lambda v: str(v)[:60])
def test_clickhouse_panel_sql_returns_rows_on_sdk_data(
    ch: Client, llm_spans: int, name: str, panel: dict[str, Any]
) -> None:
    now = int(time.time())
    for target in panel["targets"]:
        sql = expand_macros(target["rawSql"], now - 6 * 3600, now + 60, 60)
        rows = ch.query(sql).result_rows
        assert rows, f"{name}: no rows"
        if "cost_usd" in sql:
            names = ch.query(sql).column_names
            costs = [r[names.index("cost_usd")] for r in rows]
            assert any(c and c > 0 for c in costs), f"{name}: nothing priced: {rows}"


def test_prometheus_panels_name_metrics_vigil_exports(app: RunningApp) -> None:
    exported = set()
    for family in app.app.metrics.registry.collect():
        exported |= {family.name, *(s.name for s in family.samples)}
        if family.type == "counter":
            exported.add(f"{family.name}_total")
    prom = panels("prometheus")
    assert prom
    for name, panel in prom:
        for target in panel["targets"]:
            metrics = set(re.findall(r"\bvigil_[a-z_]+", target["expr"]))
            assert metrics and metrics <= exported, f"{name}: {metrics - exported}"
