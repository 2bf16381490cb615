-- LLM calls per minute, service, provider and model: 0012's hourly rollup at the minute, for
-- GetUsage and the overview over short ranges (minute steps), which read the spans before it
-- (a zoom to a few hours of 10M spans a day: 1.25M spans scanned and priced, seconds). A day
-- is 1,440 rows per (service, model). Filled once from the spans stored.
CREATE TABLE IF NOT EXISTS ${db}.otel_genai_model_usage_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
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
PARTITION BY toDate(Minute)
ORDER BY (Minute, ServiceName, GenAiProvider, GenAiModel)
${ttl_minute}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_genai_model_usage_minutely_mv TO ${db}.otel_genai_model_usage_minutely AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, GenAiProvider, GenAiModel,
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
GROUP BY Minute, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO ${db}.otel_genai_model_usage_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM ${db}.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Minute, ServiceName, GenAiProvider, GenAiModel
