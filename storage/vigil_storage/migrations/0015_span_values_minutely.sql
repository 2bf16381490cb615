-- Drift's histograms per minute: 0013's hourly histograms at the minute, same columns and the
-- same rounding (6 significant bits, vigil_query.drift.query.MANTISSA_BITS). A drift query reads
-- the hourly rows for its windows' whole hours, these rows for the whole minutes of the partial
-- hours at the windows' edges, and raw spans only for the partial minutes left (at most three),
-- where it read up to three hours of raw spans before. Counts per rounded value are the same
-- either way (tests/test_rules_rollup.py). Minutes are epoch-aligned as 0013's hours are.
-- Filled once from the spans stored, as 0013 is.
CREATE TABLE IF NOT EXISTS ${db}.otel_span_values_minutely (
    Minute DateTime CODEC(Delta, ZSTD(1)),
    Metric LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Spans SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Metric, Minute, ServiceName, SpanName, Value)
${ttl_minute}
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_span_values_minutely_mv TO ${db}.otel_span_values_minutely AS
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 60000000000) * 60) AS Minute,
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
GROUP BY Minute, Metric, ServiceName, SpanName, Value;

INSERT INTO ${db}.otel_span_values_minutely
SELECT toDateTime(intDiv(toUnixTimestamp64Nano(Timestamp), 60000000000) * 60) AS Minute,
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
GROUP BY Minute, Metric, ServiceName, SpanName, Value
