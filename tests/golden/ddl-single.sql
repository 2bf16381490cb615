CREATE DATABASE IF NOT EXISTS `otel`;

CREATE TABLE IF NOT EXISTS `otel`.vigil_schema_migrations (version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version;

CREATE TABLE IF NOT EXISTS `otel`.otel_traces (
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

SETTINGS index_granularity = 8192, index_granularity_bytes = 262144,
    min_compress_block_size = 16384, max_compress_block_size = 262144, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta(4), ZSTD(1)),
    End DateTime CODEC(Delta(4), ZSTD(1)),
    SpanKeys Array(Tuple(ServiceName LowCardinality(String), SpanName LowCardinality(String), Second DateTime))
        CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_traces_trace_id_ts_mv
TO `otel`.otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End,
    groupUniqArray((ServiceName, SpanName, toDateTime(Timestamp))) AS SpanKeys
FROM `otel`.otel_traces
WHERE TraceId != ''
GROUP BY TraceId;

CREATE TABLE IF NOT EXISTS `otel`.vigil_drift_alerts (
    AlertId String,
    Metric LowCardinality(String),
    GroupKey String,
    GroupValues Map(LowCardinality(String), String),
    Psi Float64,
    Severity LowCardinality(String),
    BaselineCount UInt64,
    CurrentCount UInt64,
    BaselineP50 Float64,
    BaselineP95 Float64,
    CurrentP50 Float64,
    CurrentP95 Float64,
    BinEdges Array(Float64),
    BaselineProportions Array(Float64),
    CurrentProportions Array(Float64),
    BaselineStart DateTime64(9),
    BaselineEnd DateTime64(9),
    CurrentStart DateTime64(9),
    CurrentEnd DateTime64(9),
    CreatedAt DateTime64(9),
    UpdatedAt DateTime64(9),
    Resolved UInt8,
    ResolvedAt DateTime64(9),
    ResolvedBy LowCardinality(String),
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY AlertId;

CREATE TABLE IF NOT EXISTS `otel`.vigil_replays (
    ReplayId String,
    SourceTraceId String,
    NewTraceId String,
    Mutations String CODEC(ZSTD(1)),
    Execute UInt8,
    RequestedBy String,
    CreatedAt DateTime64(9),
    Status LowCardinality(String),
    Result String CODEC(ZSTD(1))
) ENGINE = MergeTree
ORDER BY (SourceTraceId, CreatedAt, ReplayId);

ALTER TABLE `otel`.otel_traces MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE `otel`.otel_traces_trace_id_ts MODIFY SETTING non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_metrics_gauge (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_metrics_sum (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_metrics_histogram (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_metrics_exponential_histogram (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.otel_metrics_summary (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))

SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

ALTER TABLE `otel`.otel_traces
    ADD COLUMN IF NOT EXISTS GenAiModel LowCardinality(String) MATERIALIZED multiIf(
        SpanAttributes['gen_ai.response.model'] != '', SpanAttributes['gen_ai.response.model'],
        SpanAttributes['gen_ai.request.model'] != '', SpanAttributes['gen_ai.request.model'],
        SpanAttributes['llm.model_name']) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS GenAiProvider LowCardinality(String) MATERIALIZED if(
        SpanAttributes['gen_ai.provider.name'] != '', SpanAttributes['gen_ai.provider.name'],
        SpanAttributes['gen_ai.system']) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS GenAiInputTokens Nullable(UInt64) MATERIALIZED multiIf(
        mapContains(SpanAttributes, 'gen_ai.usage.input_tokens'), toUInt64OrNull(SpanAttributes['gen_ai.usage.input_tokens']),
        mapContains(SpanAttributes, 'gen_ai.usage.prompt_tokens'), toUInt64OrNull(SpanAttributes['gen_ai.usage.prompt_tokens']),
        toUInt64OrNull(SpanAttributes['llm.token_count.prompt'])) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS GenAiOutputTokens Nullable(UInt64) MATERIALIZED multiIf(
        mapContains(SpanAttributes, 'gen_ai.usage.output_tokens'), toUInt64OrNull(SpanAttributes['gen_ai.usage.output_tokens']),
        mapContains(SpanAttributes, 'gen_ai.usage.completion_tokens'), toUInt64OrNull(SpanAttributes['gen_ai.usage.completion_tokens']),
        toUInt64OrNull(SpanAttributes['llm.token_count.completion'])) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS GenAiCacheReadTokens UInt64 MATERIALIZED toUInt64OrZero(if(
        mapContains(SpanAttributes, 'gen_ai.usage.cache_read.input_tokens'), SpanAttributes['gen_ai.usage.cache_read.input_tokens'],
        SpanAttributes['llm.token_count.prompt_details.cache_read'])) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS GenAiCacheCreationTokens UInt64 MATERIALIZED toUInt64OrZero(if(
        mapContains(SpanAttributes, 'gen_ai.usage.cache_creation.input_tokens'), SpanAttributes['gen_ai.usage.cache_creation.input_tokens'],
        SpanAttributes['llm.token_count.prompt_details.cache_write'])) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS SessionId String MATERIALIZED multiIf(
        SpanAttributes['session.id'] != '', SpanAttributes['session.id'],
        SpanAttributes['gen_ai.conversation.id'] != '', SpanAttributes['gen_ai.conversation.id'],
        SpanAttributes['langfuse.session.id']) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS UserId String MATERIALIZED multiIf(
        SpanAttributes['user.id'] != '', SpanAttributes['user.id'],
        SpanAttributes['enduser.id'] != '', SpanAttributes['enduser.id'],
        SpanAttributes['langfuse.user.id']) CODEC(ZSTD(1));

ALTER TABLE `otel`.otel_traces ADD INDEX IF NOT EXISTS idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1;

ALTER TABLE `otel`.otel_traces ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.001) GRANULARITY 1;

CREATE TABLE IF NOT EXISTS `otel`.otel_genai_usage_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    GenAiProvider LowCardinality(String) CODEC(ZSTD(1)),
    GenAiModel LowCardinality(String) CODEC(ZSTD(1)),
    UserId String CODEC(ZSTD(1)),
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
ORDER BY (Hour, ServiceName, GenAiProvider, GenAiModel, UserId)

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_genai_usage_hourly_mv TO `otel`.otel_genai_usage_hourly AS
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
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel, UserId;

INSERT INTO `otel`.otel_genai_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel, UserId;

CREATE TABLE IF NOT EXISTS `otel`.otel_sessions_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    FirstNs SimpleAggregateFunction(min, Int64),
    LastNs SimpleAggregateFunction(max, Int64),
    Services SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    Users SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    INDEX idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Hour, SessionId)

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_sessions_hourly_mv TO `otel`.otel_sessions_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId,
    min(toUnixTimestamp64Nano(Timestamp)) AS FirstNs,
    max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS LastNs,
    groupUniqArray(toString(ServiceName)) AS Services,
    groupUniqArrayIf(UserId, UserId != '') AS Users
FROM `otel`.otel_traces
WHERE SessionId != ''
GROUP BY Hour, SessionId;

INSERT INTO `otel`.otel_sessions_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId,
    min(toUnixTimestamp64Nano(Timestamp)), max(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)),
    groupUniqArray(toString(ServiceName)), groupUniqArrayIf(UserId, UserId != '')
FROM `otel`.otel_traces
WHERE SessionId != ''
GROUP BY Hour, SessionId;

ALTER TABLE `otel`.otel_traces MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_traces_trace_id_ts MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_logs MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_metrics_gauge MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_metrics_sum MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_metrics_histogram MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_metrics_exponential_histogram MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.otel_metrics_summary MODIFY SETTING merge_selector_base = 20;

ALTER TABLE `otel`.vigil_replays
    ADD COLUMN IF NOT EXISTS Principal String AFTER RequestedBy,
    ADD COLUMN IF NOT EXISTS ProviderCalls UInt32 AFTER Status,
    ADD COLUMN IF NOT EXISTS Tokens UInt64 AFTER ProviderCalls;

CREATE TABLE IF NOT EXISTS `otel`.otel_requests_minutely (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_requests_minutely_mv TO `otel`.otel_requests_minutely AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, UserId,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName, UserId;

INSERT INTO `otel`.otel_requests_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName, UserId;

CREATE TABLE IF NOT EXISTS `otel`.otel_session_usage_hourly (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_session_usage_hourly_mv TO `otel`.otel_session_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, ServiceName, GenAiProvider, GenAiModel,
    count() AS Calls,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))) AS UncachedInputTokens,
    sum(ifNull(GenAiOutputTokens, 0)) AS OutputTokens,
    sum(GenAiCacheReadTokens) AS CacheReadTokens,
    sum(GenAiCacheCreationTokens) AS CacheCreationTokens
FROM `otel`.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO `otel`.otel_session_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens)
FROM `otel`.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, ServiceName, GenAiProvider, GenAiModel;

CREATE TABLE IF NOT EXISTS `otel`.otel_operations_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Requests SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Minute, ServiceName, SpanName)

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_operations_minutely_mv TO `otel`.otel_operations_minutely AS
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName;

INSERT INTO `otel`.otel_operations_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, SpanName,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Minute, ServiceName, SpanName;

CREATE TABLE IF NOT EXISTS `otel`.otel_requests_hourly (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_requests_hourly_mv TO `otel`.otel_requests_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, SpanName, UserId,
    count() AS Requests,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration) AS Latency
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Hour, ServiceName, SpanName, UserId;

INSERT INTO `otel`.otel_requests_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, SpanName, UserId,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE ParentSpanId = ''
GROUP BY Hour, ServiceName, SpanName, UserId;

CREATE TABLE IF NOT EXISTS `otel`.otel_genai_model_usage_hourly (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_genai_model_usage_hourly_mv TO `otel`.otel_genai_model_usage_hourly AS
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
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO `otel`.otel_genai_model_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Hour, ServiceName, GenAiProvider, GenAiModel;

CREATE TABLE IF NOT EXISTS `otel`.otel_session_model_usage_hourly (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_session_model_usage_hourly_mv TO `otel`.otel_session_model_usage_hourly AS
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, GenAiProvider, GenAiModel,
    count() AS Calls,
    countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS Errors,
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))) AS UncachedInputTokens,
    sum(ifNull(GenAiOutputTokens, 0)) AS OutputTokens,
    sum(GenAiCacheReadTokens) AS CacheReadTokens,
    sum(GenAiCacheCreationTokens) AS CacheCreationTokens
FROM `otel`.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, GenAiProvider, GenAiModel;

INSERT INTO `otel`.otel_session_model_usage_hourly
SELECT toStartOfHour(Timestamp) AS Hour, SessionId, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens)
FROM `otel`.otel_traces
WHERE SessionId != '' AND (GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)
GROUP BY Hour, SessionId, GenAiProvider, GenAiModel;

CREATE TABLE IF NOT EXISTS `otel`.otel_span_values_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    Metric LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Metric, Hour, ServiceName, SpanName, Value)

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_span_values_hourly_mv TO `otel`.otel_span_values_hourly AS
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 3600000000000) * 3600) AS Hour,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM `otel`.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Hour, Metric, ServiceName, SpanName, Value;

INSERT INTO `otel`.otel_span_values_hourly
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 3600000000000) * 3600) AS Hour,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM `otel`.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Hour, Metric, ServiceName, SpanName, Value;

CREATE TABLE IF NOT EXISTS `otel`.otel_genai_model_usage_minutely (
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

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_genai_model_usage_minutely_mv TO `otel`.otel_genai_model_usage_minutely AS
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
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Minute, ServiceName, GenAiProvider, GenAiModel;

INSERT INTO `otel`.otel_genai_model_usage_minutely
SELECT toStartOfMinute(Timestamp) AS Minute, ServiceName, GenAiProvider, GenAiModel,
    count(), countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')), sum(ifNull(GenAiInputTokens, 0)),
    sum(toUInt64(greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens)
        - toInt64(GenAiCacheCreationTokens), 0))),
    sum(ifNull(GenAiOutputTokens, 0)), sum(GenAiCacheReadTokens), sum(GenAiCacheCreationTokens),
    quantilesTDigestState(0.5, 0.95, 0.99)(Duration)
FROM `otel`.otel_traces
WHERE GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL
GROUP BY Minute, ServiceName, GenAiProvider, GenAiModel;

CREATE TABLE IF NOT EXISTS `otel`.otel_span_values_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
    Metric LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Metric, Minute, ServiceName, SpanName, Value)

SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_span_values_minutely_mv TO `otel`.otel_span_values_minutely AS
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 60000000000) * 60) AS Minute,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM `otel`.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Minute, Metric, ServiceName, SpanName, Value;

INSERT INTO `otel`.otel_span_values_minutely
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 60000000000) * 60) AS Minute,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM `otel`.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Minute, Metric, ServiceName, SpanName, Value;

CREATE DATABASE IF NOT EXISTS `vigil_system`;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_projects (
        number UInt16, slug String, name String, created_ns Int64, deleted UInt8, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (number, slug);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_api_keys (
        key_id String, project UInt16, name String, prefix String, hash String,
        scopes Array(String), created_ns Int64, expires_ns Int64, revoked_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY key_id;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_api_key_usage (
        key_id String, used_ns Int64
    ) ENGINE = ReplacingMergeTree(used_ns) ORDER BY key_id;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_users (
        username String, password_hash String, is_admin UInt8, created_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY username;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_members (
        username String, project UInt16, role String, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (username, project);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_sessions (
        family String, username String, refresh_id String, ended_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY family
    TTL toDateTime(intDiv(version, 1000000000)) + INTERVAL 8 DAY;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_model_prices (
    Origin LowCardinality(String),
    Provider LowCardinality(String),
    ModelPattern String,
    EffectiveFrom Int64,
    EffectiveTo Int64,
    InputPerMTok Float64,
    OutputPerMTok Float64,
    CacheReadPerMTok Float64,
    CacheCreationPerMTok Float64,
    Currency LowCardinality(String) DEFAULT 'USD',
    UpdatedNs Int64,
    Deleted UInt8
) ENGINE = ReplacingMergeTree(UpdatedNs, Deleted)
ORDER BY (Origin, Provider, ModelPattern, EffectiveFrom);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_alert_instances (
    Project String,
    Rule String,
    Fingerprint String,
    Labels Map(String, String),
    State LowCardinality(String),
    Value Nullable(Float64),
    Threshold String,
    ActiveSinceNs Int64,
    LastBreachNs Int64,
    FiredAtNs Int64,
    ResolvedAtNs Int64,
    UpdatedNs Int64,
    ExampleTraceIds Array(String)
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY (Project, Rule, Fingerprint);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_alert_transitions (
    Project String,
    AtNs Int64,
    Rule String,
    Fingerprint String,
    Labels Map(String, String),
    FromState LowCardinality(String),
    ToState LowCardinality(String),
    Value Nullable(Float64),
    Threshold String,
    Severity LowCardinality(String),
    ExampleTraceIds Array(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY (Project, Rule, AtNs);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_rule_evaluation_errors (
    Project String,
    AtNs Int64,
    Rule String,
    Error String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY (Project, Rule, AtNs);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_alert_rules (
    Project String,
    Name String,
    Policy String,
    Deleted UInt8,
    UpdatedNs Int64
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY (Project, Name);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_notification_outbox (
    Id String,
    CreatedNs Int64,
    Receiver String,
    Integration LowCardinality(String),
    IntegrationIndex UInt16,
    GroupKey String,
    Status LowCardinality(String),
    Firing Array(String),
    Resolved Array(String),
    Body String,
    State LowCardinality(String),
    Attempts UInt32,
    LastAnswer String,
    UpdatedNs Int64
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY Id
TTL toDateTime(intDiv(UpdatedNs, 1000000000)) + toIntervalSecond(2592000) WHERE State != 'pending';

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_notification_log (
    AtNs Int64,
    NotificationId String,
    Receiver String,
    Integration LowCardinality(String),
    GroupKey String,
    Fingerprints Array(String),
    Attempt UInt32,
    Result LowCardinality(String),
    Answer String,
    Seconds Float64,
    Project String DEFAULT ''
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY AtNs
TTL toDateTime(intDiv(AtNs, 1000000000)) + toIntervalSecond(2592000);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_incidents (
    Project String,
    Id String,
    Version UInt64,
    Key String,
    Title String,
    Status LowCardinality(String),
    Severity LowCardinality(String),
    Raised UInt8,
    OpenedNs Int64,
    UpdatedNs Int64,
    AcknowledgedNs Int64,
    AcknowledgedBy String,
    ResolvedNs Int64,
    ResolvedBy String,
    Policy String,
    Step UInt32,
    Round UInt32,
    NextEscalationNs Int64,
    Notified Array(String),
    Seq UInt64,
    Alerts String
) ENGINE = MergeTree
ORDER BY (Project, Id, Version);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_incident_timeline (
    Project String,
    IncidentId String,
    Seq UInt64,
    EventId String,
    AtNs Int64,
    Kind LowCardinality(String),
    Actor String,
    Receiver String,
    Result String,
    Rule String,
    Fingerprint String,
    Severity LowCardinality(String),
    Message String
) ENGINE = MergeTree
ORDER BY (Project, IncidentId, Seq);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_actions (
    Project String,
    Id String,
    Version UInt64,
    Action LowCardinality(String),
    Target String,
    Severity LowCardinality(String),
    Params String,
    Details String,
    Rule String,
    Fingerprint String,
    IncidentId String,
    RequestedBy String,
    Status LowCardinality(String),
    Attempts UInt32,
    CreatedNs Int64,
    UpdatedNs Int64,
    NextAttemptNs Int64,
    Answer String
) ENGINE = MergeTree
ORDER BY (Project, Id, Version);

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_silences (
    Id String,
    Matchers Array(String),
    StartsNs Int64,
    EndsNs Int64,
    CreatedBy String,
    Comment String,
    CreatedNs Int64,
    UpdatedNs Int64,
    Project String DEFAULT ''
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY Id;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_worker_lease (
    Name String,
    Holder String,
    Token UInt64,
    ExpiresNs Int64,
    WrittenNs Int64,
    Address String DEFAULT ''
) ENGINE = ReplacingMergeTree(WrittenNs)
ORDER BY Name;

CREATE TABLE IF NOT EXISTS `vigil_system`.vigil_triage_claims (
    Project String,
    IncidentId String,
    Token UInt64,
    ClaimId String,
    Holder String,
    Kind LowCardinality(String),
    Severity LowCardinality(String),
    ExpiresNs Int64,
    Result LowCardinality(String),
    Model String,
    Tokens UInt64,
    CostUsd Float64,
    WrittenNs Int64,
    InsertedAt DateTime64(9) DEFAULT now64(9)
) ENGINE = MergeTree
ORDER BY (Project, IncidentId, Token, ClaimId);


