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
GROUP BY Minute, ServiceName, SpanName, UserId;

-- The LLM calls of each session per hour and model, with the token counts a price applies
-- to: the overview's top sessions by cost and by errors read these rows (priced at query
-- time, as otel_genai_usage_hourly's) instead of every span of the day.
CREATE TABLE IF NOT EXISTS ${db}.otel_session_usage_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    GenAiProvider LowCardinality(String) CODEC(ZSTD(1)),
    GenAiModel LowCardinality(String) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    UncachedInputTokens SimpleAggregateFunction(sum, UInt64),
    OutputTokens SimpleAggregateFunction(sum, UInt64),
    CacheReadTokens SimpleAggregateFunction(sum, UInt64),
    CacheCreationTokens SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, SessionId, ServiceName, GenAiProvider, GenAiModel)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_session_usage_hourly_mv TO ${db}.otel_session_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, ServiceName, GenAiProvider, GenAiModel,
    count() AS Calls,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))) AS UncachedInputTokens,
    sum(ifNull(GenAiOutputTokens, 0)) AS OutputTokens,
    sum(GenAiCacheReadTokens) AS CacheReadTokens,
    sum(GenAiCacheCreationTokens) AS CacheCreationTokens
FROM ${db}.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO ${db}.otel_session_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens)
FROM ${db}.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, ServiceName, GenAiProvider, GenAiModel
