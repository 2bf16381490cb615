"""The RPCs behind the UI's overview, logs and metrics pages (GetOverview, GetLogVolume,
TailLogs, StreamMetrics, the INCREASE and MEAN aggregations, max_series), over a real server
fed by the stock OpenTelemetry SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from explore_support import (
    TURNS,
    log_provider,
    meter_provider,
    python_logger,
    send_turns,
    send_warning_in_span,
)

from vigil import QueryClient
from vigil.query.v1 import query_pb2
from vigil.query_client import QueryError

from support import RunningApp, wait_for

S = 10**9


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Iterator[QueryClient]:
    with QueryClient(app.query_target) as c:
        yield c


def _merged(responses: list[query_pb2.StreamMetricsResponse]) -> dict[str, float]:
    """The live chart's view: a later response's point replaces the one at the same time."""
    points: dict[str, dict[int, float]] = {}
    for response in list(responses):
        for series in response.metrics.series:
            points.setdefault(series.group["model"], {}).update(
                {p.time_unix_nano: p.value for p in series.points}
            )
    return {model: sum(values.values()) for model, values in points.items()}


def test_overview_totals_groups_and_top_lists(app: RunningApp, client: QueryClient) -> None:
    sent = send_turns(app, "ov-api")
    app.flush()
    overview = client.overview(service="ov-api")
    assert overview.step_nano == 3600 * S  # 24 hours: whole hours, the hourly LLM rollup
    assert (overview.requests.requests, overview.requests.errors) == (sent.requests, sent.errors)
    assert overview.requests.latency_p50_nano > 0
    usage = client.usage(service="ov-api", start=overview.start_time_min_unix_nano, end=overview.start_time_max_unix_nano,
                         step_s=3600)  # fmt: skip
    assert overview.usage.total == usage.total
    assert overview.usage.total.input_tokens == sent.input_tokens
    assert overview.usage.total.output_tokens == sent.output_tokens
    assert overview.usage.total.cost_usd == pytest.approx(
        (30_000 * 2.5 + 6_000 * 10 + 9_500 * 0.15 + 1_300 * 0.6) / 1e6
    )

    by_model = client.overview(service="ov-api", group_by="model")
    assert sorted(g.key for g in by_model.usage.groups) == ["gpt-4o", "gpt-4o-mini"]
    assert [g.key for g in by_model.request_groups] == [""]  # root spans name no model
    by_user = client.overview(service="ov-api", group_by="user")
    assert {g.key: g.total.requests for g in by_user.request_groups} == {"ada": 2, "bob": 2, "cy": 1}

    top = {t.name: t for t in overview.top}
    assert [e.key for e in top["sessions"].by_cost] == ["s-big", "s-mid", "s-small"]
    assert [e.key for e in top["sessions"].by_errors] == ["s-big"]
    assert [e.key for e in top["users"].by_cost] == ["ada", "cy", "bob"]
    assert [e.key for e in top["models"].by_cost] == ["gpt-4o", "gpt-4o-mini"]
    assert top["models"].by_cost[1].count == sum(1 for t in TURNS if t[2] == "gpt-4o-mini")
    (operation,) = top["operations"].by_errors
    assert (operation.key, operation.errors, operation.count) == ("answer", 1, 5)

    # An hour: minute buckets, the LLM calls read from the spans; the same totals.
    now = time.time_ns()
    short = client.overview(service="ov-api", start=now - 3600 * S, end=now)
    assert short.step_nano == 60 * S
    assert short.requests.requests == sent.requests
    assert short.usage.total.input_tokens == sent.input_tokens
    assert sum(b.stats.requests for g in short.request_groups for b in g.buckets) == sent.requests


def test_overview_refuses_bad_requests_with_the_reason(client: QueryClient) -> None:
    with pytest.raises(QueryError, match="whole number of minutes"):
        client.overview(step_s=90)
    with pytest.raises(QueryError, match="top must be at most 100"):
        client.overview(top=1000)


def test_log_volume_by_severity_and_the_live_log_tail(app: RunningApp, client: QueryClient) -> None:
    trace_id, span_id = send_warning_in_span(app, "logs-api", "order A-1042 is late")
    app.flush()
    volume = client.log_volume(service="logs-api")
    assert {s.severity: sum(p.count for p in s.points) for s in volume.series} == {"INFO": 1, "WARN": 1}
    assert volume.total == 2
    (warning,) = client.search_logs(service="logs-api", min_severity=13, body_contains="A-1042 IS LATE").logs
    assert (warning.trace_id, warning.span_id, warning.severity_text) == (trace_id, span_id, "WARN")

    received: list[query_pb2.LogRecord] = []
    live = threading.Event()
    with client.tail_logs(service="logs-api") as tail:

        def read() -> None:
            for response in tail:
                live.set()
                received.extend(response.logs)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert live.wait(20)
        logs = log_provider(app, "logs-api")
        python_logger(logs, "vigil.tests.explore.tail").error("payment service down")
        logs.shutdown()
        wait_for(lambda: received, 60, "the tailed record")
    reader.join(10)
    assert [r.body for r in received] == ["payment service down"]
    assert received[0].severity_text == "ERROR"


def test_increase_mean_top_series_and_live_metrics(app: RunningApp, client: QueryClient) -> None:
    provider, reader = meter_provider(app, "metrics-api")
    meter = provider.get_meter("explore")
    tokens = meter.create_counter("explore.tokens", unit="{token}")
    latency = meter.create_histogram("explore.latency", unit="ms")
    for model, n in (("gpt-4o", 300), ("gpt-4o-mini", 200), ("claude", 100)):
        tokens.add(n, {"model": model})
    for value in (10, 20, 30, 40):
        latency.record(value)
    reader.collect()
    app.flush()
    start = time.time_ns() - 600 * S
    increase = client.query_metrics("explore.tokens", "increase", group_by=["model"], start=start, step_s=600)
    assert {s.group["model"]: sum(p.value for p in s.points) for s in increase.series} == {
        "gpt-4o": 300, "gpt-4o-mini": 200, "claude": 100,
    }  # fmt: skip
    top = client.query_metrics(
        "explore.tokens", "increase", group_by=["model"], start=start, step_s=600, max_series=2
    )
    assert top.truncated and sorted(s.group["model"] for s in top.series) == ["gpt-4o", "gpt-4o-mini"]
    mean = client.query_metrics("explore.latency", "mean", start=start, step_s=600)
    assert [p.value for s in mean.series for p in s.points] == [25.0]

    # Live: the first response is the query so far; a point exported later arrives in a poll.
    responses: list[query_pb2.StreamMetricsResponse] = []
    with client.stream_metrics(
        "explore.tokens", "increase", group_by=["model"], start=start, step_s=60
    ) as stream:

        def read() -> None:
            for response in stream:
                responses.append(response)

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        wait_for(lambda: responses, 60, "the first response")
        assert sum(p.value for s in responses[0].metrics.series for p in s.points) == 600
        tokens.add(50, {"model": "gpt-4o"})
        reader.collect()
        wait_for(lambda: _merged(responses).get("gpt-4o") == 350, 60, "the new point")
    thread.join(10)
    provider.shutdown()
