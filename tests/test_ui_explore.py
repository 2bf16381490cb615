"""The overview, logs and metrics pages in a real Chromium (ui/tests/e2e.mjs) against a real
server fed by the stock OpenTelemetry SDK's traces, logs and metrics: the page's numbers
against the API's answer for the same query. Screenshots land in .test-artifacts/ui/."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from explore_support import log_provider, meter_provider, python_logger, send_turns, send_warning_in_span
from test_ui import CHROMIUM, SHOTS, UI, browser, needs_browser, needs_ui

from vigil import QueryClient

from support import RunningApp

pytestmark = [needs_ui, needs_browser]
S = 10**9


def watch(scenario: str, web_base: str, send: Callable[[], float], *args: str) -> tuple[dict, float]:
    """Run a scenario that prints "live" when the page is live; then ``send`` (which returns
    when it sent, time.time()); the scenario's result and that time."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    watcher = subprocess.Popen(
        ["node", str(UI / "tests" / "e2e.mjs"), scenario, web_base, str(SHOTS), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=UI, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        line = watcher.stdout.readline().strip()
        assert line == "live", f"{scenario}: {line} {watcher.stderr.read() if watcher.stderr else ''}"
        sent_at = send()
        out, err = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, f"{scenario}: {err.strip()} (screenshots in {SHOTS})"
    return json.loads(out.strip().splitlines()[-1]), sent_at


def test_the_overview_shows_the_api_totals_by_model_and_opens_the_top_session(app: RunningApp) -> None:
    sent = send_turns(app, "ui-overview")
    app.flush()
    with QueryClient(app.query_target) as client:
        api = client.overview(service="ui-overview")
    seen = browser("overview", app.web_base, "ui-overview")
    totals = seen["totals"]
    assert totals["requests"] == api.requests.requests == sent.requests
    assert totals["errors"] == api.requests.errors == sent.errors
    assert totals["p95"] == api.requests.latency_p95_nano
    assert totals["llm-calls"] == api.usage.total.calls == sent.requests
    assert totals["input-tokens"] == api.usage.total.input_tokens == sent.input_tokens
    assert totals["output-tokens"] == api.usage.total.output_tokens == sent.output_tokens
    assert totals["cost"] == pytest.approx(api.usage.total.cost_usd) and api.usage.total.cost_usd > 0
    assert "5" in seen["texts"][0] and seen["texts"][-1].startswith("$")
    # By model: a series per model on the cost chart.
    assert seen["costSeries"] == 2 and sorted(seen["legend"]) == ["gpt-4o", "gpt-4o-mini"]
    assert seen["topSession"] == "s-big" and seen["sessionUrl"].endswith("/sessions/s-big")


def test_a_warning_is_found_by_text_and_severity_and_shown_on_its_trace(app: RunningApp) -> None:
    trace_id, span_id = send_warning_in_span(app, "ui-logs", "order A-1042 is late")
    app.flush()
    seen = browser("logs-find", app.web_base, "ui-logs", "A-1042 is late")
    assert seen["unfiltered"] == 2 and seen["rows"] == 1 and seen["severity"] == "WARN"
    assert "order.id" in seen["details"] and "service.name" in seen["details"]
    assert seen["href"] == f"/traces/{trace_id}?span={span_id}"
    assert urlparse(seen["traceUrl"]).path == f"/traces/{trace_id}"
    assert "WARN" in seen["traceLog"] and "fetch-order" in seen["traceLog"]
    assert seen["selected"] == "fetch-order" and seen["panelHasLog"]


def test_the_live_log_tail_shows_a_record_sent_after_it_went_live(app: RunningApp) -> None:
    def send() -> float:
        logs = log_provider(app, "ui-logs-live")
        python_logger(logs, "vigil.tests.ui.live").error("refund queue stalled")
        logs.shutdown()
        return time.time()

    seen, _ = watch("logs-live", app.web_base, send, "ui-logs-live", "refund queue stalled")
    assert seen["rows"] == 1 and seen["state"].startswith("Live")


def _metrics(app: RunningApp, service: str) -> tuple[int, int]:
    """A latency histogram and a token counter per model, exported four times a second apart
    (the stock SDK stamps points with the export's time): several buckets in a short range."""
    provider, reader = meter_provider(app, service)
    meter = provider.get_meter("ui")
    latency = meter.create_histogram("ui.latency", unit="ms")
    tokens = meter.create_counter("ui.tokens", unit="{token}")
    start = time.time_ns()
    for round_ in range(4):
        for value in range(1, 41):
            latency.record(value * (round_ + 1) * 5)
        for model, n in (("gpt-4o", 300), ("gpt-4o-mini", 200), ("claude-3", 100)):
            tokens.add(n * (round_ + 1), {"model": model})
        reader.collect()
        time.sleep(1.0)  # spreads the points over time (data shape, not a wait for a condition)
    provider.shutdown()
    app.flush()
    return start - 30 * S, time.time_ns() + 15 * S


def test_metric_charts_match_query_metrics_split_by_model_and_zoom(app: RunningApp) -> None:
    lo, hi = _metrics(app, "ui-metrics")
    window = {"from": lo // 10**6, "to": hi // 10**6}
    seen = browser(
        "metric-chart",
        app.web_base,
        urlencode({"metric": "ui.latency", "agg": "p95", **window}),
        "metrics-p95",
    )
    with QueryClient(app.query_target) as client:
        api = client.query_metrics(
            "ui.latency", "p95", start=window["from"] * 10**6, end=window["to"] * 10**6
        )
    (series,) = api.series
    assert [r["time"] for r in seen["rows"]] == [p.time_unix_nano // 10**6 for p in series.points]
    assert [r["values"][0] for r in seen["rows"]] == pytest.approx([p.value for p in series.points])
    assert len(seen["rows"]) >= 3

    split = browser("metric-chart", app.web_base,
                    urlencode({"metric": "ui.tokens", "agg": "increase", "split": "model", **window}), "metrics-split")  # fmt: skip
    assert split["dataSeries"] == 3 and sorted(split["legend"]) == ["claude-3", "gpt-4o", "gpt-4o-mini"]

    zoomed = browser("zoom", app.web_base, urlencode({"metric": "ui.latency", "agg": "p95", **window}))
    after = parse_qs(urlparse(zoomed["urlAfter"]).query)
    start, end = int(after["from"][0]), int(after["to"][0])
    assert window["from"] < start < end < window["to"]
    assert after["metric"] == ["ui.latency"] and after["agg"] == ["p95"]
    times = [r["time"] for r in zoomed["after"]["rows"]]
    assert times and all(start <= t <= end for t in times)
    assert zoomed["after"] != zoomed["before"]  # new buckets: a narrower step over the selection
    assert zoomed["reloaded"] == zoomed["after"]  # the URL alone reproduces the view
    assert zoomed["backUrl"] == zoomed["urlBefore"]
    assert zoomed["longestFrameMs"] < 100


def test_live_metrics_show_a_point_sent_after_the_page_went_live(app: RunningApp) -> None:
    provider, reader = meter_provider(app, "ui-metrics-live")
    depth = provider.get_meter("ui").create_gauge("ui.queue.depth", unit="{job}")
    depth.set(3)
    reader.collect()
    app.flush()

    def send() -> float:
        depth.set(4242)
        reader.collect()
        return time.time()

    try:
        seen, sent_at = watch(
            "metric-live", app.web_base, send, urlencode({"metric": "ui.queue.depth"}), "4242"
        )
    finally:
        provider.shutdown()
    assert seen["foundAtMs"] / 1000 - sent_at < 3.0
