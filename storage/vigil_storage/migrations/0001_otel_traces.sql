-- Traces in the OpenTelemetry Collector contrib ClickHouse exporter's schema ("map" layout),
-- so Grafana's ClickHouse datasource (OpenTelemetry mode) and existing dashboards read it.
CREATE TABLE IF NOT EXISTS ${db}.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
${ttl}
-- Storage settings beyond the exporter's (not part of its schema): LLM spans are wide
-- (~1 KB), so granules of at most 256 KiB and compressed blocks of 16-256 KiB keep a trace
-- lookup from decompressing megabytes of attribute maps per span (GetTrace: 30 -> 18 ms on
-- 10M spans; +9% on disk). See SpanKeys below.
SETTINGS index_granularity = 8192, index_granularity_bytes = 262144,
    min_compress_block_size = 16384, max_compress_block_size = 262144, ttl_only_drop_parts = 1;

-- Trace id -> time range, so a trace lookup reads one small table instead of scanning
-- (Grafana's trace view uses TraceId, Start, End). SpanKeys is Vigil's own extra column:
-- where the trace's spans sit in otel_traces' primary key (ServiceName, SpanName, second),
-- so GetTrace reads exactly those granules instead of checking the TraceId bloom filter of
-- every granule in the time range.
CREATE TABLE IF NOT EXISTS ${db}.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta(4), ZSTD(1)),
    End DateTime CODEC(Delta(4), ZSTD(1)),
    SpanKeys Array(Tuple(ServiceName LowCardinality(String), SpanName LowCardinality(String), Second DateTime))
        CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
${ttl_start}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_trace_id_ts_mv
TO ${db}.otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End,
    groupUniqArray((ServiceName, SpanName, toDateTime(Timestamp))) AS SpanKeys
FROM ${db}.otel_traces
WHERE TraceId != ''
GROUP BY TraceId;
