-- requires-merge-tree-setting: merge_selector_base
-- Merge the parts that ingest writes less eagerly. Each INSERT from the write-ahead log makes
-- a small part (about a second of spans: INSERTs are cut that often for freshness), and
-- ClickHouse's default merge selector (base 5) merges such small parts again and again: at
-- sustained ingest on 2 cores the merges took about a third of the collector's CPU. Base 20
-- merges wider groups of parts at once, so each span is rewritten fewer times (2 minutes of
-- 25k spans/s in 20k-span INSERTs: 1.3 rows merged per row inserted against 3.3, 29 against
-- 45 us of CPU a span; make bench at 8 x 8, alternating: 31-42k against 27-34k spans/s end to
-- end). The number of parts stays bounded: ClickHouse lowers the base again as
-- parts age or grow in number (SimpleMergeSelector), and queries were as fast with the
-- 13 parts base 20 left as with 8 (bench/query.py, 3M spans). A setting, not a schema change;
-- skipped on a ClickHouse server that does not have it.
ALTER TABLE ${db}.otel_traces MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_traces_trace_id_ts MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_logs MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_metrics_gauge MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_metrics_sum MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_metrics_histogram MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_metrics_exponential_histogram MODIFY SETTING merge_selector_base = 20;
ALTER TABLE ${db}.otel_metrics_summary MODIFY SETTING merge_selector_base = 20
