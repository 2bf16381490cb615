-- The overview's requests without the user (migration 0011's minute rollup has a row per
-- minute, service, operation and user: with many users a row per request, 1.25M for a day of
-- 10M spans, whose t-digests took the overview over a second). Root spans per minute,
-- service and operation serve every split but the user's (a few rows a minute), and per hour,
-- service, operation and user the split by user over long ranges. Filled once from the spans.
CREATE TABLE IF NOT EXISTS ${db}.otel_operations_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Requests SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Minute, ServiceName, SpanName)
${ttl_minute}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_operations_minutely_mv TO ${db}.otel_operations_minutely AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName;

INSERT INTO ${db}.otel_operations_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName;

CREATE TABLE IF NOT EXISTS ${db}.otel_requests_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Requests SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, ServiceName, SpanName, UserId)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_requests_hourly_mv TO ${db}.otel_requests_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, SpanName, UserId,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Hour, ServiceName, SpanName, UserId;

INSERT INTO ${db}.otel_requests_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, SpanName, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE ParentSpanId = ''
GROUP BY Hour, ServiceName, SpanName, UserId
