"""The storage schema is the OpenTelemetry Collector contrib ClickHouse exporter's, so tools
written for it (Grafana's ClickHouse datasource in OpenTelemetry mode) work on ours; and
migrations are versioned and idempotent."""

from __future__ import annotations

import random

from clickhouse_connect.driver.client import Client

from vigil_storage import applied_versions, apply_migrations
from vigil_storage.migrate import LATEST_VERSION, MIGRATIONS, Migration

from support import RunningApp, export_otlp, make_request

MAP = "Map(LowCardinality(String), String)"
EXPECTED_COLUMNS = [
    ("Timestamp", "DateTime64(9)", "Delta(8), ZSTD(1)"),
    ("TraceId", "String", "ZSTD(1)"),
    ("SpanId", "String", "ZSTD(1)"),
    ("ParentSpanId", "String", "ZSTD(1)"),
    ("TraceState", "String", "ZSTD(1)"),
    ("SpanName", "LowCardinality(String)", "ZSTD(1)"),
    ("SpanKind", "LowCardinality(String)", "ZSTD(1)"),
    ("ServiceName", "LowCardinality(String)", "ZSTD(1)"),
    ("ResourceAttributes", MAP, "ZSTD(1)"),
    ("ScopeName", "String", "ZSTD(1)"),
    ("ScopeVersion", "String", "ZSTD(1)"),
    ("SpanAttributes", MAP, "ZSTD(1)"),
    ("Duration", "UInt64", "T64, ZSTD(1)"),
    ("StatusCode", "LowCardinality(String)", "ZSTD(1)"),
    ("StatusMessage", "String", "ZSTD(1)"),
    ("Events.Timestamp", "Array(DateTime64(9))", "ZSTD(1)"),
    ("Events.Name", "Array(LowCardinality(String))", "ZSTD(1)"),
    ("Events.Attributes", f"Array({MAP})", "ZSTD(1)"),
    ("Links.TraceId", "Array(String)", "ZSTD(1)"),
    ("Links.SpanId", "Array(String)", "ZSTD(1)"),
    ("Links.TraceState", "Array(String)", "ZSTD(1)"),
    ("Links.Attributes", f"Array({MAP})", "ZSTD(1)"),
]
EXPECTED_INDEXES = {
    ("idx_trace_id", "TraceId", "bloom_filter(0.001)", 1),
    ("idx_res_attr_key", "mapKeys(ResourceAttributes)", "bloom_filter(0.01)", 1),
    ("idx_res_attr_value", "mapValues(ResourceAttributes)", "bloom_filter(0.01)", 1),
    ("idx_span_attr_key", "mapKeys(SpanAttributes)", "bloom_filter(0.01)", 1),
    ("idx_span_attr_value", "mapValues(SpanAttributes)", "bloom_filter(0.01)", 1),
    ("idx_duration", "Duration", "minmax", 1),
    ("idx_session_id", "SessionId", "bloom_filter(0.001)", 1),
    ("idx_user_id", "UserId", "bloom_filter(0.001)", 1),
}
# Vigil's LLM analytics columns after the exporter's, all MATERIALIZED from SpanAttributes
# (never in an INSERT, nor in SELECT *).
GENAI_COLUMNS = [
    ("GenAiModel", "LowCardinality(String)"),
    ("GenAiProvider", "LowCardinality(String)"),
    ("GenAiInputTokens", "Nullable(UInt64)"),
    ("GenAiOutputTokens", "Nullable(UInt64)"),
    ("GenAiCacheReadTokens", "UInt64"),
    ("GenAiCacheCreationTokens", "UInt64"),
    ("SessionId", "String"),
    ("UserId", "String"),
]


def test_traces_table_matches_the_exporter_schema(app: RunningApp, ch: Client) -> None:
    columns = ch.query(
        "SELECT name, type, compression_codec, default_kind FROM system.columns"
        " WHERE database = 'otel' AND table = 'otel_traces' ORDER BY position"
    ).result_rows
    exporter = [(n, t, c.removeprefix("CODEC(").removesuffix(")")) for n, t, c, kind in columns if not kind]
    assert exporter == EXPECTED_COLUMNS
    assert [(n, t) for n, t, _, kind in columns if kind] == GENAI_COLUMNS
    assert {kind for *_, kind in columns if kind} == {"MATERIALIZED"}
    indexes = ch.query(
        "SELECT name, expr, type_full, granularity FROM system.data_skipping_indices"
        " WHERE database = 'otel' AND table = 'otel_traces'"
    ).result_rows
    assert set(indexes) == EXPECTED_INDEXES
    engine, partition, sorting, settings = ch.query(
        "SELECT engine, partition_key, sorting_key, engine_full FROM system.tables"
        " WHERE database = 'otel' AND name = 'otel_traces'"
    ).result_rows[0]
    assert engine == "MergeTree"
    assert partition == "toDate(Timestamp)"
    assert sorting == "ServiceName, SpanName, toDateTime(Timestamp)"
    assert "index_granularity = 8192" in settings and "ttl_only_drop_parts = 1" in settings

    lookup = ch.query(
        "SELECT name, type FROM system.columns WHERE database = 'otel' AND table = 'otel_traces_trace_id_ts'"
        " ORDER BY position"
    ).result_rows
    assert lookup[:3] == [("TraceId", "String"), ("Start", "DateTime"), ("End", "DateTime")]
    assert lookup[3][0] == "SpanKeys"  # Vigil's own extra column (GetTrace), after Grafana's three


def test_migrations_are_recorded_and_idempotent(app: RunningApp, ch: Client) -> None:
    assert applied_versions(ch, "otel") == {m.version for m in MIGRATIONS}
    assert LATEST_VERSION in applied_versions(ch, "otel")
    assert apply_migrations(ch, "otel") == []  # nothing left to do
    # Re-running a migration's statements (as after a crash half-way) is harmless too.
    for statement in MIGRATIONS[0].statements("otel", 0):
        ch.command(statement)


def test_migrations_with_ttl(ch: Client) -> None:
    assert apply_migrations(ch, "ttl_db", ttl_days=7) == [m.version for m in MIGRATIONS]
    ddl = ch.command("SHOW CREATE TABLE ttl_db.otel_traces")
    assert "TTL toDateTime(Timestamp) + toIntervalDay(7)" in ddl


def test_ingested_tables_merge_with_a_wider_base(app: RunningApp, ch: Client) -> None:
    """Migration 0009: fewer merges of the small parts each INSERT from the log writes."""
    for table in ("otel_traces", "otel_traces_trace_id_ts", "otel_logs", "otel_metrics_sum"):
        assert "merge_selector_base = 20" in ch.command(f"SHOW CREATE TABLE otel.{table}")


def test_a_tuning_migration_is_skipped_on_a_server_without_its_setting(ch: Client) -> None:
    # The statement would fail (no such table, no such setting) if it ran.
    tuning = Migration(
        1,
        "tuning",
        "-- requires-merge-tree-setting: no_such_setting\n"
        "ALTER TABLE ${db}.no_such_table MODIFY SETTING no_such_setting = 1",
    )
    assert tuning.required_settings == ("no_such_setting",)
    assert apply_migrations(ch, "tuning_db", migrations=(tuning,)) == [1]
    assert applied_versions(ch, "tuning_db") == {1}


def test_grafana_trace_view_and_search_sql_run_on_our_tables(app: RunningApp, ch: Client) -> None:
    """The SQL Grafana's ClickHouse datasource issues in OpenTelemetry mode (docs/grafana.md)."""
    request = make_request(4, "grafana", random.Random(11))
    spans = request.resource_spans[0].scope_spans[0].spans
    for span in spans[1:]:
        span.trace_id = spans[0].trace_id
        span.parent_span_id = spans[0].span_id
    trace_id = spans[0].trace_id.hex()
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()

    trace_view = f"""
        WITH '{trace_id}' AS __gf_trace_id,
          (SELECT min(Start) FROM otel.otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) AS __gf_trace_start,
          (SELECT max(End) + 1 FROM otel.otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) AS __gf_trace_end
        SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
          SpanName AS operationName, multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
          multiply(Duration, 0.000001) AS duration,
          arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
          arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes))
            AS serviceTags,
          if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode,
          arrayMap((name, timestamp, attributes) -> tuple(name, toString(toUnixTimestamp64Milli(timestamp)),
            mapConcat(attributes, map('name', name)))::Tuple(name String, timestamp String,
            fields Map(String, String)), Events.Name, Events.Timestamp, Events.Attributes) AS logs,
          arrayMap((traceID, spanID, attributes) -> tuple(traceID, spanID, attributes)::Tuple(traceID String,
            spanID String, tags Map(String, String)), Links.TraceId, Links.SpanId, Links.Attributes)
            AS references,
          SpanKind AS kind, StatusMessage AS statusMessage, TraceState AS traceState
        FROM otel.otel_traces
        WHERE traceID = __gf_trace_id AND Timestamp >= __gf_trace_start AND Timestamp <= __gf_trace_end
        LIMIT 1000
    """
    rows = ch.query(trace_view).result_rows
    assert sorted(r[1] for r in rows) == sorted(s.span_id.hex() for s in spans)
    assert {r[3] for r in rows} == {"grafana"}

    search = """
        SELECT TraceId AS traceID, ServiceName AS serviceName, SpanName AS operationName,
          Timestamp AS startTime, multiply(Duration, 0.000001) AS duration
        FROM otel.otel_traces
        WHERE (Timestamp >= now() - INTERVAL 1 HOUR AND Timestamp <= now() + INTERVAL 1 MINUTE)
          AND (ParentSpanId = '') AND (Duration > 0) AND ServiceName = 'grafana'
        ORDER BY Timestamp DESC, Duration DESC LIMIT 1000
    """
    assert [r[0] for r in ch.query(search).result_rows] == [trace_id]
