-- Hourly rollups of the LLM calls and of the sessions, kept by materialized views as spans
-- are inserted, so that GetUsage and SearchSessions read a row per hour and group instead of
-- every span (bench/query.py: 10M spans). A view is fed only by INSERTs that are stored: an
-- INSERT that deduplication drops (a write-ahead log batch written again) feeds nothing.
-- Each rollup is filled once here from the spans already stored.

-- LLM calls (spans with a model or token counts) per hour, service, provider, model and user.
CREATE TABLE IF NOT EXISTS ${db}.otel_genai_usage_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    GenAiProvider LowCardinality(String) CODEC(ZSTD(1)),
    GenAiModel LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    InputTokens SimpleAggregateFunction(sum, UInt64),
    -- input tokens less the cached ones, per call (what the input price applies to)
    UncachedInputTokens SimpleAggregateFunction(sum, UInt64),
    OutputTokens SimpleAggregateFunction(sum, UInt64),
    CacheReadTokens SimpleAggregateFunction(sum, UInt64),
    CacheCreationTokens SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, ServiceName, GenAiProvider, GenAiModel, UserId)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_genai_usage_hourly_mv TO ${db}.otel_genai_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel, UserId,
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
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel, UserId;

INSERT INTO ${db}.otel_genai_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel, UserId;

-- Sessions per hour: when they were active, and by which services and users. Only min, max
-- and sets: feeding a span twice changes nothing.
CREATE TABLE IF NOT EXISTS ${db}.otel_sessions_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    FirstNs SimpleAggregateFunction(min, Int64),
    -- the latest span end (start + duration), ns
    LastNs SimpleAggregateFunction(max, Int64),
    Services SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    Users SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    INDEX idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, SessionId)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_sessions_hourly_mv TO ${db}.otel_sessions_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId,
    min(toUnixTimestamp64Nano(Timestamp)) AS FirstNs,
    max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS LastNs,
    groupUniqArray(toString(ServiceName)) AS Services,
    groupUniqArrayIf(UserId, UserId != '') AS Users
FROM ${db}.otel_traces
WHERE SessionId != ''
GROUP BY Hour, SessionId;

INSERT INTO ${db}.otel_sessions_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId,
    min(toUnixTimestamp64Nano(Timestamp)), max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)),
    groupUniqArray(toString(ServiceName)), groupUniqArrayIf(UserId, UserId != '')
FROM ${db}.otel_traces
WHERE SessionId != ''
GROUP BY Hour, SessionId
