-- Trace id → where its spans sit in otel_traces' primary key (ServiceName, SpanName, second).
-- GetTrace reads this small table by its own primary key, then reads otel_traces by primary
-- key ranges, instead of checking the TraceId bloom filter of every granule in the time range.
CREATE TABLE IF NOT EXISTS ${db}.vigil_trace_index (
    TraceId String CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (TraceId, Timestamp)
${ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.vigil_trace_index_mv
TO ${db}.vigil_trace_index
AS SELECT TraceId, Timestamp, ServiceName, SpanName
FROM ${db}.otel_traces
WHERE TraceId != '';
