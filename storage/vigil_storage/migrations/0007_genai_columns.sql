-- LLM analytics read these instead of the attribute map: the model, provider, token counts,
-- session and user of a span, taken from the current GenAI convention names first, then the
-- older names many instrumentations still emit (docs/llm-analytics.md). MATERIALIZED: computed
-- at INSERT from SpanAttributes, never sent by clients; the exporter's columns are unchanged,
-- so Grafana and existing SQL see the same table (SELECT * does not list these columns).
-- Parts written before this migration compute the values when read (correct, slower) until
-- they are merged or rewritten: ALTER TABLE otel_traces MATERIALIZE COLUMN <name> (README).
ALTER TABLE ${db}.otel_traces
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
    -- Counted inside the input tokens (the conventions'; Vigil's Anthropic instrumentation adds
    -- Anthropic's separate counts in); OpenInference's names as the fallback.
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
ALTER TABLE ${db}.otel_traces ADD INDEX IF NOT EXISTS idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE ${db}.otel_traces ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.001) GRANULARITY 1
