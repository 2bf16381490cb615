"""Drift over hours reads the hourly histograms (migration 0013) for the windows' whole hours, the
minute histograms (0015) for the whole minutes of the partial hours at their edges, and raw spans
only for the partial minutes left: the answer is the same as from raw spans alone. Spans are sent
by the stock OpenTelemetry SDK with start times spread over five hours."""

from __future__ import annotations

import itertools
import uuid

from alert_support import send_spans
from clickhouse_connect.driver.client import Client

from vigil_alerting.evaluate.evaluator import evaluate_rule
from vigil_alerting.rules import parse_rule
from vigil_query.drift import psi as psi_math
from vigil_query.drift import query as drift_sql

from support import RunningApp

HOUR_S = 3600
MINUTE_NS = 60 * 10**9


def _send_history(app: RunningApp, uid: str) -> tuple[str, str]:
    shifted, steady = f"rollup-shifted-{uid}", f"rollup-steady-{uid}"
    for ago_min in range(0, 5 * 60, 20):
        for service in (shifted, steady):
            slow = service == shifted and ago_min < 60  # the last hour of one service is slower
            spans = [
                (
                    f"op-{i % 2}",
                    (300.0 if slow else 10.0) + (i * 7 + ago_min) % 50,
                    False,
                    {"gen_ai.usage.input_tokens": str(100 + (i * 13 + ago_min) % 400)},
                )
                for i in range(12)
            ]
            send_spans(app, service, spans, ago_s=ago_min * 60 + 5)
    app.flush()
    return shifted, steady


def _mine(rows: list[tuple], n: int, uid: str) -> dict[tuple, tuple]:
    """This test's groups: their key columns -> the rest of the row."""
    return {tuple(r[:n]): tuple(r[n:]) for r in rows if str(r[0]).endswith(uid)}


def _assert_every_source_has_spans(ch: Client, uid: str, now_ns: int) -> None:
    current = drift_sql.Window(now_ns - HOUR_S * 10**9, now_ns)
    baseline = drift_sql.Window(now_ns - 5 * HOUR_S * 10**9, current.start_ns)
    for source in range(3):  # hours, minutes, partial minutes
        ranges = [r for w in (baseline, current) for r in drift_sql._pieces(w)[source]]
        assert ranges
        condition = " OR ".join(
            f"(Timestamp >= fromUnixTimestamp64Nano({s}) AND Timestamp < fromUnixTimestamp64Nano({e}))"
            for s, e in ranges
        )
        spans = ch.query(
            f"SELECT count() FROM otel.otel_traces WHERE endsWith(ServiceName, {{u:String}}) AND ({condition})",
            parameters={"u": uid},
        ).result_rows[0][0]
        assert spans > 0, f"source {source} holds none of the test's spans"


def test_drift_from_the_hourly_rollup_equals_raw_spans(app: RunningApp, ch: Client) -> None:
    uid = uuid.uuid4().hex[:8]
    shifted, steady = _send_history(app, uid)
    # The evaluation time: the end of the minute of the newest spans, so that each of the three
    # sources (hours, minutes, the partial minute at the end) holds some of this test's spans.
    newest = ch.query(
        "SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM otel.otel_traces WHERE endsWith(ServiceName, {u:String})",
        parameters={"u": uid},
    ).result_rows[0][0]
    now_ns = newest // MINUTE_NS * MINUTE_NS + MINUTE_NS - 1
    _assert_every_source_has_spans(ch, uid, now_ns)
    for measure, group_by in (
        ("duration", ("service.name",)),
        ("input_tokens", ("service.name", "span.name")),
    ):
        q = drift_sql.DriftQuery(
            metric=drift_sql.METRICS[measure],
            group_by=group_by,
            current=drift_sql.Window(now_ns - HOUR_S * 10**9, now_ns),
            baseline=drift_sql.Window(now_ns - 5 * HOUR_S * 10**9, now_ns - HOUR_S * 10**9),
            bins=4,
            min_samples=20,
        )
        assert drift_sql.uses_rollup(q)
        via_rollup, params = drift_sql.drift_sql(q, "`otel`")
        assert drift_sql.ROLLUP_TABLE in via_rollup and drift_sql.MINUTE_TABLE in via_rollup
        raw, raw_params = drift_sql.drift_sql(q, "`otel`", rollup=False)
        assert drift_sql.ROLLUP_TABLE not in raw and drift_sql.MINUTE_TABLE not in raw

        got = _mine(ch.query(via_rollup, parameters=params).result_rows, len(group_by), uid)
        want = _mine(ch.query(raw, parameters=raw_params).result_rows, len(group_by), uid)
        assert got == want  # edges, counts per window and bin, p50/p95: identical
        assert len(got) == (2 if measure == "duration" else 4)
        # Each group's window counts, by hand over the raw spans.
        for key, (_edges, n_base, n_cur, *_rest) in got.items():
            hand = ch.query(
                "SELECT countIf(Timestamp < fromUnixTimestamp64Nano({c:Int64})), "
                "countIf(Timestamp >= fromUnixTimestamp64Nano({c:Int64})) FROM otel.otel_traces "
                "WHERE ServiceName = {s:String} AND Timestamp >= fromUnixTimestamp64Nano({b:Int64}) "
                "AND Timestamp < fromUnixTimestamp64Nano({e:Int64})"
                + (" AND SpanName = {n:String}" if len(key) > 1 else ""),
                parameters={
                    "s": key[0],
                    "n": key[-1],
                    "b": q.baseline.start_ns,
                    "c": q.current.start_ns,
                    "e": now_ns,
                },
            ).result_rows[0]
            assert (n_base, n_cur) == hand

    # The rule evaluator (the built-in drift rules' path) answers the same PSI as the raw rows.
    rule = parse_rule(
        {
            "name": "drift-rollup",
            "target": f"rollup-*-{uid}",
            "group_by": ["service.name"],
            "condition": {"type": "drift", "current": "1h", "baseline": "4h", "bins": 4, "min_samples": 20},
        }
    )
    result = evaluate_rule(ch, "otel", rule, now_ns)
    q = drift_sql.DriftQuery(
        metric=drift_sql.METRICS["duration"],
        group_by=("service.name",),
        current=drift_sql.Window(now_ns - HOUR_S * 10**9, now_ns),
        baseline=drift_sql.Window(now_ns - 5 * HOUR_S * 10**9, now_ns - HOUR_S * 10**9),
        bins=4,
        min_samples=20,
    )
    raw, raw_params = drift_sql.drift_sql(q, "`otel`", rollup=False)
    expected = {}
    for row in ch.query(raw, parameters=raw_params).result_rows:
        if row[0] in (shifted, steady):
            expected[row[0]] = drift_sql._result(q, row, psi_math.Thresholds(0.1, 0.2)).psi
    assert {g.labels["service.name"]: g.value for g in result.groups} == expected
    by_service = {g.labels["service.name"]: g for g in result.groups}
    assert by_service[shifted].breaching and not by_service[steady].breaching


def test_rollup_only_for_its_columns() -> None:
    day = drift_sql.Window(0, 24 * HOUR_S * 10**9)
    hour = drift_sql.Window(day.end_ns, day.end_ns + HOUR_S * 10**9)

    def q(group_by: tuple[str, ...], baseline: drift_sql.Window = day) -> drift_sql.DriftQuery:
        return drift_sql.DriftQuery(drift_sql.METRICS["duration"], group_by, hour, baseline, 10, 100)

    assert drift_sql.uses_rollup(q(("service.name", "span.name")))
    # An attribute key is not a column of the rollup: raw spans answer it.
    assert not drift_sql.uses_rollup(q(("service.name", "gen_ai.request.model")))
    sql, _ = drift_sql.drift_sql(q(("gen_ai.request.model",)), "`otel`")
    assert drift_sql.ROLLUP_TABLE not in sql
    # A window without a whole hour reads the minute histograms for its whole minutes.
    minutes = drift_sql.DriftQuery(
        drift_sql.METRICS["duration"],
        ("service.name",),
        drift_sql.Window(10**9, 5 * 60 * 10**9 + 10**9),
        drift_sql.Window(0, 10**9),
        10,
        100,
    )
    assert drift_sql.uses_rollup(minutes)
    sql, _ = drift_sql.drift_sql(minutes, "`otel`")
    assert drift_sql.MINUTE_TABLE in sql and drift_sql.ROLLUP_TABLE not in sql
    # Windows without a whole minute read the spans.
    short = drift_sql.DriftQuery(
        drift_sql.METRICS["duration"],
        ("service.name",),
        drift_sql.Window(10**9, 2 * 10**9),
        drift_sql.Window(0, 10**9),
        10,
        100,
    )
    assert not drift_sql.uses_rollup(short)


def test_pieces_cover_the_window_exactly_once() -> None:
    hour, minute = HOUR_S * 10**9, MINUTE_NS
    for start, end in (
        (0, 25 * hour),
        (7, 25 * hour + 3),
        (hour - 5 * minute - 1, 3 * hour + 7 * minute + 2),
        (minute + 1, 2 * minute + 5),
        (10, 20),
        (3 * minute, 3 * minute + 59 * minute),
    ):
        hours, minutes, raw = drift_sql._pieces(drift_sql.Window(start, end))
        ranges = sorted(hours + minutes + raw)
        assert ranges[0][0] == start and ranges[-1][1] == end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert all(s % hour == 0 and e % hour == 0 for s, e in hours)
        assert all(s % minute == 0 and e % minute == 0 for s, e in minutes)
        assert all(drift_sql._whole(s, e, minute) is None for s, e in raw) and len(raw) <= 2


def _insert_spans(ch: Client, db: str, now_ns: int, offset: int) -> None:
    """600 spans over the last 3 hours (a span every 18 s), durations and tokens varied."""
    ch.command(
        f"INSERT INTO {db}.otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, Duration, SpanAttributes) "
        "SELECT fromUnixTimestamp64Nano(toInt64({now:Int64} - number * 18000000000 - {off:Int64})), "
        "hex(number), hex(number), concat('svc-', toString(number % 2)), 'op', "
        "toUInt64(1000000 * (5 + (number * 37) % 300)), "
        "map('gen_ai.usage.input_tokens', toString(10 + (number * 13) % 900)) FROM numbers(600)",
        parameters={"now": now_ns, "off": offset},
    )


def test_minute_rollup_is_filled_from_spans_stored_before_it(ch: Client) -> None:
    """Spans stored before migration 0015 are in its minute histograms (the migration fills
    them once, as 0013 does for the hourly ones), and spans stored after come through its view."""
    from vigil_storage import apply_migrations
    from vigil_storage.migrate import MIGRATIONS

    db = f"rollup_backfill_{uuid.uuid4().hex[:8]}"
    now_ns = (ch.query("SELECT toUnixTimestamp64Nano(now64(9))").result_rows[0][0] // MINUTE_NS) * MINUTE_NS
    try:
        apply_migrations(ch, db, migrations=tuple(m for m in MIGRATIONS if m.version < 15))
        _insert_spans(ch, db, now_ns, 7 * 10**9)  # before the minute rollup exists
        apply_migrations(ch, db)
        _insert_spans(ch, db, now_ns, 11 * 10**9)  # after: through its materialized view
        for measure in ("duration", "input_tokens"):
            q = drift_sql.DriftQuery(
                metric=drift_sql.METRICS[measure],
                group_by=("service.name",),
                current=drift_sql.Window(now_ns - HOUR_S * 10**9 + 30 * 10**9, now_ns),
                baseline=drift_sql.Window(
                    now_ns - 3 * HOUR_S * 10**9 + 30 * 10**9, now_ns - HOUR_S * 10**9 + 30 * 10**9
                ),
                bins=4,
                min_samples=20,
            )
            via_rollup, params = drift_sql.drift_sql(q, f"`{db}`")
            assert drift_sql.MINUTE_TABLE in via_rollup
            raw, raw_params = drift_sql.drift_sql(q, f"`{db}`", rollup=False)
            got = sorted(ch.query(via_rollup, parameters=params).result_rows)
            want = sorted(ch.query(raw, parameters=raw_params).result_rows)
            assert got == want and len(got) == 2
            # Every span is counted once: the windows hold all but the oldest few.
            assert sum(row[2] + row[3] for row in got) > 1000
        minute_spans = ch.query(
            f"SELECT sum(Spans) FROM {db}.{drift_sql.MINUTE_TABLE} WHERE Metric = 'duration'"
        ).result_rows[0][0]
        assert minute_spans == 1200
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {db}")
