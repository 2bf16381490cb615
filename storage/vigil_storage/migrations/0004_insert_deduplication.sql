-- The collector writes every batch from its write-ahead log with an insert_deduplication_token
-- and, after a crash, writes the batches it cannot know were committed again: ClickHouse drops
-- an INSERT whose token is among the last N it has seen. Replicated tables keep such a window
-- by default; plain MergeTree needs this table setting (a setting, not a schema change).
-- The materialized view into otel_traces_trace_id_ts is not fed by a dropped INSERT.
ALTER TABLE ${db}.otel_traces MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE ${db}.otel_traces_trace_id_ts MODIFY SETTING non_replicated_deduplication_window = 1000
