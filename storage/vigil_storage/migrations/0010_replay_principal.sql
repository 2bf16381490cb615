-- Replay history as an audit record and the source of the replay caps: who asked (the
-- authenticated principal, not the request's free-text RequestedBy), and what the replay
-- spent of the server's provider keys. The per-principal caps sum these over the last
-- window (VIGIL_REPLAY_CAP_WINDOW_S), so they hold across restarts and between servers.
-- Rows written before this migration have no principal and count for nothing.
ALTER TABLE ${db}.vigil_replays
    ADD COLUMN IF NOT EXISTS Principal String AFTER RequestedBy,
    ADD COLUMN IF NOT EXISTS ProviderCalls UInt32 AFTER Status,
    ADD COLUMN IF NOT EXISTS Tokens UInt64 AFTER ProviderCalls
