-- Drift alerts written by the drift detector (vigil_query.drift_detector). A row is one
-- version of an alert: an update inserts the alert again with a higher Version, and reads
-- use FINAL, so there is never an UPDATE mutation. One open alert per (Metric, GroupKey).
CREATE TABLE IF NOT EXISTS ${db}.vigil_drift_alerts (
    AlertId String,
    Metric LowCardinality(String),
    -- The group as canonical JSON (sorted keys), and as a map for reading.
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
