-- Requests per minute: root spans (no parent) by service, operation (the root span's name)
-- and user, kept by a materialized view as spans are inserted, so the UI's overview reads a
-- row per minute and group instead of every span (bench/ui.py). Minutes, so a short range
-- still has many points; a day is 1,440 rows per group. Filled once from the spans stored.
CREATE TABLE IF NOT EXISTS ${db}.otel_requests_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Requests SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Minute, ServiceName, SpanName, UserId)
${ttl_minute}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_requests_minutely_mv TO ${db}.otel_requests_minutely AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, UserId,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName, UserId;

INSERT INTO ${db}.otel_requests_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName, UserId
