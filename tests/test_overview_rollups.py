"""GetOverview's requests come from migration 0012's rollups (operations per minute without
the user; requests per hour and user for the split by user over long ranges), and from 0011's
minute rollup split by user over short ranges: every bucket's requests, errors and latency
must equal the root spans' own, summed by hand, whichever table answered."""

from __future__ import annotations

import time

import pytest
from clickhouse_connect.driver.client import Client
from explore_support import send_turns

from vigil import QueryClient

from support import RunningApp

S = 10**9
SERVICE = "ovr-api"
ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
KEYS = {"": "''", "model": "''", "service": "ServiceName", "user": "UserId"}


def test_request_buckets_equal_the_root_spans_for_every_split_and_grain(app: RunningApp, ch: Client) -> None:
    send_turns(app, SERVICE, operation="answer")
    send_turns(app, SERVICE, operation="plan")
    app.flush()
    now = time.time_ns()
    db = app.settings.database
    with QueryClient(app.query_target) as client:
        for group in KEYS:
            for start, step in ((now - 24 * 3600 * S, 3600 * S), (now - 3600 * S, 60 * S)):
                overview = client.overview(service=SERVICE, group_by=group, start=start, end=now)
                assert overview.step_nano == step
                origin = overview.start_time_min_unix_nano
                by_hand = ch.query(
                    f"SELECT {KEYS[group]} AS key, {origin} + intDiv(toUnixTimestamp64Nano(Timestamp) - {origin},"
                    f" {step}) * {step} AS bucket, count(), countIf({ERROR}),"
                    " quantilesTDigest(0.5, 0.95, 0.99)(Duration)"
                    f" FROM {db}.otel_traces WHERE ServiceName = {{s:String}} AND ParentSpanId = ''"
                    f" AND Timestamp >= fromUnixTimestamp64Nano({origin}) GROUP BY key, bucket",
                    parameters={"s": SERVICE},
                ).result_rows
                expected = {(k, b): (n, e) for k, b, n, e, _ in by_hand}
                got = {
                    (g.key, b.time_unix_nano): (b.stats.requests, b.stats.errors)
                    for g in overview.request_groups
                    for b in g.buckets
                }
                assert got == expected, (group, step)
                assert sum(n for n, _ in expected.values()) == 10
                latency = {(k, b): q for k, b, _, _, q in by_hand}
                for g in overview.request_groups:
                    for b in g.buckets:
                        stats = b.stats
                        got_latency = [stats.latency_p50_nano, stats.latency_p95_nano, stats.latency_p99_nano]
                        want = latency[(g.key, b.time_unix_nano)]
                        assert got_latency == pytest.approx(want, rel=0.01), (group, step)
                (operations,) = [t for t in overview.top if t.name == "operations"]
                assert sorted((e.key, e.count, e.errors) for e in operations.by_errors) == [
                    ("answer", 5, 1),
                    ("plan", 5, 1),
                ]


def test_llm_usage_and_top_lists_agree_whichever_rollup_answers(app: RunningApp, ch: Client) -> None:
    """By model: 0012's rollup without the user; by user: 0008's; the top sessions without a
    service filter from 0012's session rollup without the service, with one from 0011's."""
    service = "ovr-usage"
    send_turns(app, service)
    app.flush()
    now = time.time_ns()
    start = now - 24 * 3600 * S
    with QueryClient(app.query_target) as client:
        by_model = client.overview(service=service, group_by="model", start=start, end=now)
        by_user = client.overview(service=service, group_by="user", start=start, end=now)
        usage = client.usage(service=service, group_by="user", start=start, end=now, step_s=3600)
        unfiltered = client.overview(start=start, end=now, top=100)
    calls, inputs, outputs, errors = ch.query(
        f"SELECT count(), sum(GenAiInputTokens), sum(GenAiOutputTokens), countIf({ERROR})"
        f" FROM {app.settings.database}.otel_traces WHERE ServiceName = {{s:String}} AND GenAiModel != ''",
        parameters={"s": service},
    ).result_rows[0]
    for total in (by_model.usage.total, by_user.usage.total, usage.total):
        assert (total.calls, total.input_tokens, total.output_tokens, total.errors) == (
            calls,
            inputs,
            outputs,
            errors,
        )
        assert total.cost_usd == pytest.approx(by_user.usage.total.cost_usd)
    assert [e.key for e in {t.name: t for t in by_model.top}["sessions"].by_cost] == [
        "s-big",
        "s-mid",
        "s-small",
    ]
    # Unfiltered: every session's LLM calls and errors over all services, as the spans say.
    sessions = {t.name: t for t in unfiltered.top}["sessions"]
    by_hand = dict(
        ((key, (n, e)) for key, n, e in ch.query(
            f"SELECT SessionId, count(), countIf({ERROR}) FROM {app.settings.database}.otel_traces"
            f" WHERE SessionId != '' AND GenAiModel != '' AND Timestamp >= fromUnixTimestamp64Nano({start // 3600 // S * 3600 * S})"
            " GROUP BY SessionId"
        ).result_rows)
    )  # fmt: skip
    listed = [*sessions.by_cost, *sessions.by_errors]
    assert {"s-big", "s-mid", "s-small"} <= {e.key for e in listed}
    for entry in listed:
        assert (entry.count, entry.errors) == by_hand[entry.key], entry.key
