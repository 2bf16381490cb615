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
;

-- LLM calls per hour, service, provider and model: 0008's rollup less the user (which makes
-- it a row per user besides), for GetUsage and the overview whenever neither groups nor
-- filters by user: a few hundred rows for a day instead of hundreds of thousands.
CREATE TABLE IF NOT EXISTS ${db}.otel_genai_model_usage_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    GenAiProvider LowCardinality(String) CODEC(ZSTD(1)),
    GenAiModel LowCardinality(String) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    InputTokens SimpleAggregateFunction(sum, UInt64),
    UncachedInputTokens SimpleAggregateFunction(sum, UInt64),
    OutputTokens SimpleAggregateFunction(sum, UInt64),
    CacheReadTokens SimpleAggregateFunction(sum, UInt64),
    CacheCreationTokens SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, ServiceName, GenAiProvider, GenAiModel)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_genai_model_usage_hourly_mv TO ${db}.otel_genai_model_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel,
    count() AS Calls,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    sum(ifNull(GenAiInputTokens, 0)) AS InputTokens,
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))) AS UncachedInputTokens,
    sum(ifNull(GenAiOutputTokens, 0)) AS OutputTokens,
    sum(GenAiCacheReadTokens) AS CacheReadTokens,
    sum(GenAiCacheCreationTokens) AS CacheCreationTokens,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM ${db}.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO ${db}.otel_genai_model_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel;

-- Each session's LLM calls per hour and model: 0011's session rollup less the service (a
-- session whose requests go through several services has a row per service and model), for
-- the overview's top sessions when it is not filtered by service.
CREATE TABLE IF NOT EXISTS ${db}.otel_session_model_usage_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
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
ORDER BY (Hour, SessionId, GenAiProvider, GenAiModel)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_session_model_usage_hourly_mv TO ${db}.otel_session_model_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, GenAiProvider, GenAiModel,
    count() AS Calls,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))) AS UncachedInputTokens,
    sum(ifNull(GenAiOutputTokens, 0)) AS OutputTokens,
    sum(GenAiCacheReadTokens) AS CacheReadTokens,
    sum(GenAiCacheCreationTokens) AS CacheCreationTokens
FROM ${db}.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, GenAiProvider, GenAiModel;

INSERT INTO ${db}.otel_session_model_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens)
FROM ${db}.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, GenAiProvider, GenAiModel
