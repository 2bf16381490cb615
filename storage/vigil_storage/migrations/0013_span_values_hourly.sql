-- Drift's histograms per hour: how many spans of each service and span name had each value of
-- a drift measure, the value rounded up to 6 significant bits exactly as GetDrift's query rounds
-- it (vigil_query.drift_sql: MANTISSA_BITS, _rounded_up). A drift query over a day (the built-in
-- drift rules, every evaluation interval) reads these rows for the whole hours of its windows and
-- raw spans only for the partial hours at their edges; the counts per rounded value are the same
-- either way, so the PSI is too (tests/test_rules_rollup.py). Hours are epoch-aligned (not the
-- server's time zone), as the query's hour boundaries are. Hourly rather than per minute: a
-- minute of one group holds about as many distinct rounded values as spans.
CREATE TABLE IF NOT EXISTS ${db}.otel_span_values_hourly (
    Hour DateTime CODEC(Delta, ZSTD(1)),
    Metric LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Hour)
ORDER BY (Metric, Hour, ServiceName, SpanName, Value)
${ttl_hour}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_span_values_hourly_mv TO ${db}.otel_span_values_hourly AS
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 3600000000000) * 3600) AS Hour,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM ${db}.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Hour, Metric, ServiceName, SpanName, Value;

INSERT INTO ${db}.otel_span_values_hourly
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 3600000000000) * 3600) AS Hour,
    m.1 AS Metric, ServiceName, SpanName,
    if(assumeNotNull(m.2) >= 0, reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(assumeNotNull(m.2)) + 70368744177663,
        bitNot(toUInt64(70368744177663)))),
        -reinterpretAsFloat64(bitAnd(reinterpretAsUInt64(-assumeNotNull(m.2)), bitNot(toUInt64(70368744177663))))) AS Value,
    count() AS Spans
FROM ${db}.otel_traces
ARRAY JOIN [tuple('duration', toNullable(Duration / 1e6)),
    tuple('input_tokens', toFloat64(GenAiInputTokens)),
    tuple('output_tokens', toFloat64(GenAiOutputTokens))] AS m
WHERE m.2 IS NOT NULL AND NOT isNaN(m.2)
GROUP BY Hour, Metric, ServiceName, SpanName, Value
