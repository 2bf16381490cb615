"""Drift: PSI against an independent numpy implementation, through the real ClickHouse query;
the GetDrift API (grpcurl, bad arguments); and the detector end to end through `vigil serve`."""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from test_query_grpcurl import grpcurl

from vigil import QueryClient, QueryError
from vigil_query.drift import psi as psi_math
from vigil_query.drift.query import MANTISSA_BITS, _rounded_up
from vigil_storage import MIGRATIONS

from reference_payload import kv
from support import RunningApp, ServerProcess, export_otlp

HOUR_NS = 3600 * 10**9
EPS = 1e-4


def test_the_rollup_migrations_round_as_the_drift_query_does() -> None:
    """0013 and 0015 spell out the query's rounding in SQL (a migration cannot import it): a
    change of MANTISSA_BITS must come with new rollups, or drift would mix two roundings."""

    def bare(sql: str) -> str:
        return "".join(sql.split())

    rounding = bare(_rounded_up("assumeNotNull(m.2)"))
    rollups = [m for m in MIGRATIONS if m.name.startswith(("span_values_hourly", "span_values_minutely"))]
    assert {m.version for m in rollups} == {13, 15}
    for m in rollups:
        assert bare(m.sql).count(rounding) == 2, f"{m.version} {m.name} rounds differently from drift_sql"


def numpy_psi(
    edges: list[float], baseline: np.ndarray, current: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """PSI written independently: bins by searchsorted on the given edges, shares floored at 1e-4."""
    bins = len(edges) + 1
    b = np.bincount(np.searchsorted(edges, baseline, side="left"), minlength=bins) / len(baseline)
    c = np.bincount(np.searchsorted(edges, current, side="left"), minlength=bins) / len(current)
    bf, cf = np.maximum(b, EPS), np.maximum(c, EPS)
    return float(np.sum((cf - bf) * np.log(cf / bf))), b, c


counts = st.lists(st.integers(0, 1000), min_size=2, max_size=30)


@given(st.data())
def test_psi_formula_matches_numpy(data: st.DataObject) -> None:
    base = data.draw(counts.filter(any))
    cur = data.draw(st.lists(st.integers(0, 1000), min_size=len(base), max_size=len(base)).filter(any))
    b, c = np.array(base) / sum(base), np.array(cur) / sum(cur)
    bf, cf = np.maximum(b, EPS), np.maximum(c, EPS)
    assert psi_math.psi(base, cur) == pytest.approx(float(np.sum((cf - bf) * np.log(cf / bf))), abs=1e-12)


def test_severity_thresholds() -> None:
    t = psi_math.Thresholds()
    assert [t.severity(v) for v in (0.0, 0.099, 0.1, 0.199, 0.2, 3.0)] == [
        "none",
        "none",
        "medium",
        "medium",
        "high",
        "high",
    ]
    with pytest.raises(ValueError, match="medium <= high"):
        psi_math.Thresholds(medium=0.3, high=0.2)


def span(
    trace_id: bytes, span_id: bytes, name: str, start_ns: int, duration_ns: int, attrs: dict | None = None
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        attributes=[kv(k, v) for k, v in (attrs or {}).items()],
    )


def request_of(service: str, spans: list[Span]) -> bytes:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", service)]}, scope_spans=[ScopeSpans(spans=spans)]
            )
        ]
    ).SerializeToString()


def send_durations(
    target: str, service: str, op: str, durations: list[int], start_ns: int, end_ns: int, rng: random.Random
) -> None:
    """One span per duration (ns), spread over [start_ns, end_ns)."""
    spans = [
        span(rng.randbytes(16), rng.randbytes(8), op, rng.randrange(start_ns, end_ns), d) for d in durations
    ]
    for i in range(0, len(spans), 5000):
        response = export_otlp(target, request_of(service, spans[i : i + 5000]))
        assert not response.partial_success.rejected_spans


durations_ns = st.one_of(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=300),
    # Heavy ties: a handful of distinct values, so many quantiles coincide.
    st.lists(
        st.sampled_from([1_000_000, 2_000_000, 2_000_000, 5_000_000, 7_500_000]), min_size=1, max_size=300
    ),
    st.lists(st.just(3_000_000), min_size=1, max_size=50),
)


# Derandomized: the same 25 examples every run, so CI cannot fail on a new draw (other seeds
# were run by hand with --hypothesis-seed).
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(baseline=durations_ns, current=durations_ns, bins=st.integers(2, 12), seed=st.integers(0, 2**32))
def test_psi_from_clickhouse_matches_numpy(
    app: RunningApp, baseline: list[int], current: list[int], bins: int, seed: int
) -> None:
    rng = random.Random(seed)
    service = f"drift-prop-{uuid.uuid4().hex[:12]}"
    now = time.time_ns()
    current_window = (now - HOUR_NS, now)
    baseline_window = (now - 25 * HOUR_NS, now - HOUR_NS)
    send_durations(
        app.grpc_target, service, "op", baseline, baseline_window[0] + 10**9, baseline_window[1] - 10**9, rng
    )
    send_durations(
        app.grpc_target, service, "op", current, current_window[0] + 10**9, current_window[1] - 10**9, rng
    )
    app.flush()
    with QueryClient(app.query_target) as client:
        response = client.drift(
            service=service, current=current_window, baseline=baseline_window, bins=bins, min_samples=1
        )
    (group,) = response.groups
    assert dict(group.group) == {"service.name": service, "span.name": "op"}
    assert group.baseline_count == len(baseline) and group.current_count == len(current)
    edges = list(group.bin_edges)
    assert len(edges) <= bins - 1 and all(a < b for a, b in itertools.pairwise(edges))
    expected, b, c = numpy_psi(edges, np.array(baseline) / 1e6, np.array(current) / 1e6)
    assert abs(group.psi - expected) <= 1e-9
    assert np.allclose(group.baseline_proportions, b, rtol=0, atol=1e-12)
    assert np.allclose(group.current_proportions, c, rtol=0, atol=1e-12)
    assert group.severity == psi_math.Thresholds().severity(expected)
    # p50/p95 are of values rounded up to MANTISSA_BITS: within the sample's range, rounded.
    low, high = min(baseline) / 1e6, max(baseline) / 1e6
    assert low <= group.baseline_p50 <= group.baseline_p95 <= high * (1 + 2.0**-MANTISSA_BITS)


def test_get_drift_via_grpcurl_and_bad_arguments(app: RunningApp) -> None:
    method = "vigil.query.v1.QueryService/GetDrift"
    ok = grpcurl(
        app.query_target, method, data={"metric": "duration", "groupBy": ["service.name"], "bins": 5}
    )
    assert ok.returncode == 0, ok.stderr
    body = json.loads(ok.stdout)
    assert (
        body["metric"] == "duration" and body["unit"] == "ms" and body["group_by"] == ["service.name"]
    )  # grpcurl prints .proto names
    now = time.time_ns()
    bad = {
        "bins must be between 2 and 100, got 1": {"bins": 1},
        "unknown metric 'latency'": {"metric": "latency"},
        "current window is inverted": {
            "current": {"startTimeUnixNano": str(now), "endTimeUnixNano": str(now - HOUR_NS)}
        },
        "baseline window must end before the current window starts": {
            "current": {"startTimeUnixNano": str(now - HOUR_NS), "endTimeUnixNano": str(now)},
            "baseline": {
                "startTimeUnixNano": str(now - 2 * HOUR_NS),
                "endTimeUnixNano": str(now - HOUR_NS // 2),
            },
        },
        "group_by keys must be non-empty and distinct": {"groupBy": ["span.name", "span.name"]},
    }
    for reason, data in bad.items():
        out = grpcurl(app.query_target, method, data=data)
        assert out.returncode != 0
        assert "InvalidArgument" in out.stderr and reason in out.stderr, out.stderr


def test_group_by_attribute_and_token_metric(app: RunningApp) -> None:
    rng = random.Random(5)
    service = f"drift-tokens-{uuid.uuid4().hex[:8]}"
    now = time.time_ns()
    spans = []
    for i in range(3000):
        in_current = i % 5 == 0
        start = (
            now - rng.randrange(HOUR_NS // 10, HOUR_NS - HOUR_NS // 10)
            if in_current
            else now - rng.randrange(2 * HOUR_NS, 20 * HOUR_NS)
        )
        model = "model-a" if i % 2 else "model-b"
        tokens = rng.randint(100, 200) * (3 if in_current and model == "model-a" else 1)
        # Half the spans carry the older attribute name: it counts as the same metric.
        key = "gen_ai.usage.input_tokens" if i % 3 else "gen_ai.usage.prompt_tokens"
        spans.append(
            span(
                rng.randbytes(16),
                rng.randbytes(8),
                "chat",
                start,
                10**6,
                {key: tokens, "gen_ai.request.model": model},
            )
        )
    # Spans without the group key are left out, not lumped into a group "".
    for _ in range(300):
        start = now - rng.randrange(2 * HOUR_NS, 20 * HOUR_NS)
        spans.append(
            span(rng.randbytes(16), rng.randbytes(8), "chat", start, 10**6, {"gen_ai.usage.input_tokens": 5})
        )
    # A model that only appears in the current window: no baseline, so not scored.
    for _ in range(50):
        start = now - rng.randrange(HOUR_NS // 10, HOUR_NS - HOUR_NS // 10)
        attrs = {"gen_ai.usage.input_tokens": 10, "gen_ai.request.model": "model-new"}
        spans.append(span(rng.randbytes(16), rng.randbytes(8), "chat", start, 10**6, attrs))
    export_otlp(app.grpc_target, request_of(service, spans))
    app.flush()
    with QueryClient(app.query_target) as client:
        response = client.drift(
            "input_tokens", group_by=["gen_ai.request.model"], service=service, min_samples=20
        )
        with pytest.raises(QueryError) as err:
            client.drift("input_tokens", group_by=["a", "b", "c", "d", "e"])
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert response.unit == "tokens"
    by_model = {g.group["gen_ai.request.model"]: g for g in response.groups}
    assert (
        by_model["model-a"].severity == "high"
        and by_model["model-a"].current_p50 > 2 * by_model["model-a"].baseline_p50
    )
    assert by_model["model-b"].severity == "none"
    assert set(by_model) == {"model-a", "model-b", "model-new"}
    new_model = by_model["model-new"]
    assert new_model.severity == "insufficient_data" and new_model.baseline_count == 0
    assert new_model.current_count == 50 and list(new_model.bin_edges) == []
    assert response.groups[-1].group["gen_ai.request.model"] == "model-new"  # unscored groups last
    assert by_model["model-a"].baseline_count + by_model["model-a"].current_count == 1500


def shifted_traffic(target: str, rng: random.Random) -> None:
    """Three operations over 24 h of baseline and 1 h of current traffic:
    'steady' unchanged, 'slower' latency x1.5 in the last hour, 'nudged' a small, medium shift."""
    now = time.time_ns()
    base_lo, base_hi = now - 24 * HOUR_NS, now - HOUR_NS - 60 * 10**9
    cur_lo, cur_hi = now - HOUR_NS + 60 * 10**9, now - 60 * 10**9
    for op, factor in (("steady", 1.0), ("slower", 1.5)):
        base = [int(rng.lognormvariate(4, 0.25) * 1e6) for _ in range(2000)]
        cur = [int(rng.lognormvariate(4, 0.25) * 1e6 * factor) for _ in range(400)]
        send_durations(target, "agent-svc", op, base, base_lo, base_hi, rng)
        send_durations(target, "agent-svc", op, cur, cur_lo, cur_hi, rng)
    # 'nudged': baseline evenly 1..1000 ms (deciles at ~100, 200, ...); current at the bin
    # centres with shares [3, 17, 10, 10, ...]% → PSI = 0.07 ln(1/0.3) + 0.07 ln(1.7) ≈ 0.121.
    base = [i * 10**6 for i in range(1, 1001)]
    shares = [3, 17, 10, 10, 10, 10, 10, 10, 10, 10]
    cur = [(100 * b + 50) * 10**6 for b, share in enumerate(shares) for _ in range(share * 4)]
    send_durations(target, "agent-svc", "nudged", base, base_lo, base_hi, rng)
    send_durations(target, "agent-svc", "nudged", cur, cur_lo, cur_hi, rng)


def test_detector_end_to_end_through_vigil_serve(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", VIGIL_DRIFT_INTERVAL_S="1", VIGIL_DRIFT_METRICS='["duration"]')
    try:
        server.wait_ready()
        shifted_traffic(server.grpc_target, random.Random(11))
        target = f"127.0.0.1:{server.query_port}"
        with QueryClient(target) as client:
            deadline = time.monotonic() + 60
            while True:
                alerts = list(client.drift_alerts(metric="duration").alerts)
                if len(alerts) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            by_op = {a.group["span.name"]: a for a in alerts}
            assert set(by_op) == {"slower", "nudged"}, alerts
            assert by_op["slower"].severity == "high" and by_op["slower"].psi >= 0.2
            assert by_op["nudged"].severity == "medium" and 0.1 <= by_op["nudged"].psi < 0.2
            slower = by_op["slower"]
            assert slower.latest.current_p50 == pytest.approx(1.5 * slower.latest.baseline_p50, rel=0.15)
            assert len(slower.latest.baseline_proportions) == len(slower.latest.bin_edges) + 1

            # More detector passes: the open alerts are updated, not duplicated.
            updated = max(a.updated_time_unix_nano for a in alerts)
            deadline = time.monotonic() + 30
            while True:
                again = list(client.drift_alerts(metric="duration").alerts)
                if max(a.updated_time_unix_nano for a in again) > updated or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert sorted(a.alert_id for a in again) == sorted(a.alert_id for a in alerts)
            assert max(a.updated_time_unix_nano for a in again) > max(
                a.updated_time_unix_nano for a in alerts
            )
            assert [a.group["span.name"] for a in client.drift_alerts(severity="high").alerts] == ["slower"]

            first = client.drift_alerts(page_size=1)
            assert len(first.alerts) == 1 and first.next_page_token
            second = client.drift_alerts(page_size=1, page_token=first.next_page_token)
            assert {first.alerts[0].alert_id, second.alerts[0].alert_id} == set(
                by_op[o].alert_id for o in by_op
            )
            assert not second.next_page_token

            done = client.resolve_drift_alert(slower.alert_id)
            assert done.resolved and done.resolved_by == "user" and done.resolved_time_unix_nano > 0
            resolved = client.drift_alerts(resolved=True).alerts
            assert [a.alert_id for a in resolved] == [slower.alert_id]
            with pytest.raises(QueryError) as err:
                client.resolve_drift_alert("no-such-alert")
            assert err.value.code == grpc.StatusCode.NOT_FOUND
            with pytest.raises(QueryError) as err:
                client.drift_alerts(severity="none")
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.terminate()
        assert server.wait() == 0, server.log()[-3000:]
