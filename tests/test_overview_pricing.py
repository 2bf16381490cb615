"""Short ranges of the overview read the minute LLM rollup (migration 0014) and its top lists
are priced per model and stretch between the range's price changes (``range_cost_sql``): the
tokens, calls, errors and costs must equal the spans' own, priced span by span by hand, also
when a model's price changes inside the range."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from vigil import QueryClient
from vigil_query.analytics.prices import store as price_book
from vigil_query.analytics.prices.book import Price

from support import RunningApp

S = 10**9
MINUTE = 60 * S
HOUR = 3600 * S
ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
MODEL = "ovp-model"
# USD per million input and output tokens, before and after the change (``edge``).
BEFORE, AFTER = (1.0, 4.0), (10.0, 40.0)


def _send(app: RunningApp, service: str, calls: list[tuple[int, str, str, int, int, bool]]) -> None:
    """LLM spans (stock SDK) at given times: (start ns, session, user, input, output, fails)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=app.grpc_target, insecure=True))
    )
    tracer = provider.get_tracer("overview-pricing")
    for start, session, user, inputs, outputs, fails in calls:
        span = tracer.start_span(
            f"chat {MODEL}",
            start_time=start,
            attributes={
                "gen_ai.system": "openai",
                "gen_ai.request.model": MODEL,
                "gen_ai.usage.input_tokens": inputs,
                "gen_ai.usage.output_tokens": outputs,
                "session.id": session,
                "user.id": user,
            },
        )
        if fails:
            span.set_status(Status(StatusCode.ERROR, "rate limited"))
        span.end(end_time=start + 50_000_000)
    provider.shutdown()


@pytest.fixture()
def changing_price(ch: Client) -> Iterator[int]:
    """A user price for MODEL that changes at a whole hour two hours ago; removed after."""
    edge = time.time_ns() // HOUR * HOUR - 2 * HOUR
    mine = [
        Price("", MODEL, *BEFORE, 0.0, 0.0, effective_to_ns=edge),
        Price("", MODEL, *AFTER, 0.0, 0.0, effective_from_ns=edge),
    ]
    price_book.set_prices(ch, "vigil_system", mine)
    try:
        yield edge
    finally:
        others = [
            p for p in price_book.list_prices(ch, "vigil_system") if p.origin == "user" and p.model != MODEL
        ]
        price_book.set_prices(ch, "vigil_system", others, replace=True)


def _by_hand(ch: Client, db: str, service: str, column: str, lo: int, hi: int, edge: int) -> dict[str, tuple]:
    """Per key: (calls, errors, cost), each span priced at its own time."""
    rows = ch.query(
        f"SELECT {column}, count(), countIf({ERROR}),"
        f" sum(if(toUnixTimestamp64Nano(Timestamp) < {edge}, GenAiInputTokens * {BEFORE[0]} + GenAiOutputTokens * {BEFORE[1]},"
        f" GenAiInputTokens * {AFTER[0]} + GenAiOutputTokens * {AFTER[1]})) / 1e6"
        f" FROM {db}.otel_traces WHERE ServiceName = {{s:String}} AND GenAiModel != ''"
        f" AND Timestamp >= fromUnixTimestamp64Nano({lo}) AND Timestamp <= fromUnixTimestamp64Nano({hi})"
        f" GROUP BY {column}",
        parameters={"s": service},
    ).result_rows
    return {key: (calls, errors, cost) for key, calls, errors, cost in rows}


def test_top_lists_and_usage_follow_a_price_change_inside_the_range(
    app: RunningApp, ch: Client, changing_price: int
) -> None:
    edge = changing_price
    service = "ovp-api"
    # Sessions on both sides of the change; "s-edge" has calls before and after it, in the
    # partial hours at a short range's ends and in the whole hours between.
    _send(
        app,
        service,
        [
            (edge - 65 * MINUTE, "s-edge", "ann", 1_000, 100, False),
            (edge - 30 * MINUTE, "s-edge", "ann", 2_000, 200, True),
            (edge + 30 * MINUTE, "s-edge", "ann", 3_000, 300, False),
            (edge + 65 * MINUTE, "s-edge", "ann", 500, 50, False),
            (edge - 20 * MINUTE, "s-old", "ben", 9_000, 900, False),
            (edge + 10 * MINUTE, "s-new", "ben", 1_500, 150, True),
        ],
    )
    app.flush()
    db = app.settings.database
    now = time.time_ns()
    with QueryClient(app.query_target) as client:
        # 24 h: hourly rollups; 45 min around the change: spans and the minute rollup; 2 h 20
        # min around it: whole hours and the partial hours at the ends.
        for lo, hi in (
            (now - 24 * HOUR, now),
            (edge - 45 * MINUTE, edge + 45 * MINUTE),
            (edge - 70 * MINUTE, edge + 70 * MINUTE),
        ):
            overview = client.overview(service=service, group_by="model", start=lo, end=hi, top=100)
            origin = overview.start_time_min_unix_nano
            grain = HOUR if overview.step_nano % HOUR == 0 else MINUTE
            end = hi // grain * grain + grain - 1  # the rollups' last bucket is whole
            tops = {t.name: t for t in overview.top}
            for name, column in (("sessions", "SessionId"), ("users", "UserId"), ("models", "GenAiModel")):
                want = _by_hand(ch, db, service, column, origin, end, edge)
                got = {e.key: (e.count, e.errors, e.cost_usd) for e in tops[name].by_cost}
                assert set(got) == set(want), (name, lo, hi)
                for key, (calls, errors, cost) in want.items():
                    assert got[key][:2] == (calls, errors), (name, key, lo, hi)
                    assert got[key][2] == pytest.approx(cost, rel=1e-9), (name, key, lo, hi)
                    assert tops[name].by_cost[0].unpriced_calls == 0
            (total,) = _by_hand(ch, db, service, "''", origin, end, edge).values()
            usage = overview.usage.total
            assert (usage.calls, usage.errors, usage.unpriced_calls) == (total[0], total[1], 0), (lo, hi)
            assert usage.cost_usd == pytest.approx(total[2], rel=1e-9), (lo, hi)


def test_minute_steps_read_the_minute_llm_rollup_and_hourly_users_the_costliest_first(
    app: RunningApp, ch: Client
) -> None:
    service = "ovp-minutes"
    start = time.time_ns() // MINUTE * MINUTE - 50 * MINUTE
    _send(
        app,
        service,
        [
            (
                start + i * 7 * MINUTE + i * S,
                f"s-{i % 3}",
                f"u-{i % 3}",
                100 * (i + 1),
                10 * (i + 1),
                i % 4 == 0,
            )
            for i in range(7)
        ],
    )
    app.flush()
    db = app.settings.database
    # Kept by migration 0014's view: a row per minute, service, provider and model.
    rolled = ch.query(
        f"SELECT sum(Calls), sum(InputTokens), sum(OutputTokens), sum(Errors)"
        f" FROM {db}.otel_genai_model_usage_minutely WHERE ServiceName = {{s:String}}",
        parameters={"s": service},
    ).result_rows[0]
    assert rolled == (7, sum(100 * (i + 1) for i in range(7)), sum(10 * (i + 1) for i in range(7)), 2)
    with QueryClient(app.query_target) as client:
        usage = client.usage(
            service=service, group_by="model", start=start - 5 * MINUTE, end=start + 55 * MINUTE, step_s=300
        )
    by_hand = ch.query(
        f"SELECT {start - 5 * MINUTE} + intDiv(toUnixTimestamp64Nano(Timestamp) - {start - 5 * MINUTE}, {5 * MINUTE})"
        f" * {5 * MINUTE} AS bucket, count(), sum(GenAiInputTokens), sum(GenAiOutputTokens), countIf({ERROR})"
        f" FROM {db}.otel_traces WHERE ServiceName = {{s:String}} AND GenAiModel != '' GROUP BY bucket",
        parameters={"s": service},
    ).result_rows
    (group,) = usage.groups
    got = {
        b.time_unix_nano: (b.stats.calls, b.stats.input_tokens, b.stats.output_tokens, b.stats.errors)
        for b in group.buckets
    }
    assert got == {bucket: tuple(values) for bucket, *values in by_hand}

    # By user over whole hours: the leaders found first from the sums (unpriced model: by
    # calls, then name), only theirs merged; the total from the rollup without the user.
    with QueryClient(app.query_target) as client:
        by_user = client.usage(
            service=service, group_by="user", start=start - HOUR, step_s=3600, max_groups=2
        )
    users = {
        user: tuple(values)
        for user, *values in ch.query(
            f"SELECT UserId, count(), sum(GenAiInputTokens), sum(GenAiOutputTokens), countIf({ERROR})"
            f" FROM {db}.otel_traces WHERE ServiceName = {{s:String}} AND GenAiModel != '' GROUP BY UserId",
            parameters={"s": service},
        ).result_rows
    }
    assert [g.key for g in by_user.groups] == ["u-0", "u-1"] and by_user.truncated
    for group in by_user.groups:
        stats = group.total
        assert (stats.calls, stats.input_tokens, stats.output_tokens, stats.errors) == users[group.key]
        assert sum(b.stats.calls for b in group.buckets) == stats.calls
    total = by_user.total
    assert (total.calls, total.input_tokens, total.output_tokens, total.errors, total.unpriced_calls) == (
        *(sum(v[i] for v in users.values()) for i in range(4)),
        7,
    )
    assert total.latency_p50_nano > 0


def test_requests_by_user_keep_the_busiest_users_and_the_total_of_everyone(
    app: RunningApp, ch: Client
) -> None:
    """More users than the overview shows (20): the busiest first, each with its own counts,
    and the total over every user (read from the rollup without the user)."""
    service = "ovp-users"
    start = time.time_ns() // MINUTE * MINUTE - 40 * MINUTE
    calls = [(start + i * S, f"s-{i}", f"u-{i:02d}", 10, 1, i % 5 == 0) for i in range(24)]
    calls += [(start + MINUTE + i * S, "s-0", "u-23", 10, 1, False) for i in range(3)]
    _send(app, service, calls)
    app.flush()
    db = app.settings.database
    by_hand = dict(
        ch.query(
            f"SELECT UserId, count() FROM {db}.otel_traces WHERE ServiceName = {{s:String}} AND ParentSpanId = ''"
            " GROUP BY UserId",
            parameters={"s": service},
        ).result_rows
    )
    assert sum(by_hand.values()) == 27
    with QueryClient(app.query_target) as client:
        for lo in (time.time_ns() - 24 * HOUR, start - 10 * MINUTE):  # whole hours, minutes
            overview = client.overview(service=service, group_by="user", start=lo)
            groups = overview.request_groups
            assert len(groups) == 20
            assert [g.key for g in groups[:2]] == ["u-23", "u-00"]
            assert {g.key: g.total.requests for g in groups} == {g.key: by_hand[g.key] for g in groups}
            assert all(sum(b.stats.requests for b in g.buckets) == g.total.requests for g in groups)
            total = overview.requests
            assert (total.requests, total.errors) == (27, 5)
            assert total.latency_p50_nano > 0
