-- Replays (the Replay RPC): one row per replay, written once when it completes.
CREATE TABLE IF NOT EXISTS ${db}.vigil_replays (
    ReplayId String,
    SourceTraceId String,
    NewTraceId String,
    -- The request's mutations, and the full ReplayResponse, as JSON.
    Mutations String CODEC(ZSTD(1)),
    Execute UInt8,
    RequestedBy String,
    CreatedAt DateTime64(9),
    Status LowCardinality(String),
    Result String CODEC(ZSTD(1))
) ENGINE = MergeTree
ORDER BY (SourceTraceId, CreatedAt, ReplayId);
