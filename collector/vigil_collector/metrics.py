"""The collector's self-metrics (Prometheus), shaped like the Go collector's
``otelcol_receiver_accepted_spans`` family but with our own prefix.

Each app instance owns a registry, so several collectors can live in one process (tests).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
_FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LAG_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10, 30, 60, 300, 3600)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.auth_failures = Counter(
            "vigil_auth_failures",
            "Requests refused for their credential (unauthenticated, permission_denied, login).",
            ["reason"],
            registry=r,
        )
        # One family per signal, as the Go collector has (…_spans, …_log_records).
        self.signals = {unit: SignalCounters(unit, r) for unit in ("spans", "log_records", "metric_points")}
        self.requests = Counter(
            "vigil_receiver_requests",
            "Export requests by outcome.",
            ["signal", "transport", "outcome"],
            registry=r,
        )
        self.duplicate_requests = Counter(
            "vigil_ingest_duplicate_requests",
            "Requests acknowledged without being stored again: an identical copy (same project, same "
            "decompressed body) was acknowledged within VIGIL_INGEST_DEDUP_WINDOW_S.",
            ["signal"],
            registry=r,
        )
        self.decoded_spans = Counter(
            "vigil_decoder_spans",
            "Stored spans by who decoded them: clickhouse (native decode) or python.",
            ["decoder"],
            registry=r,
        )
        self.pending_bytes = Gauge(
            "vigil_receiver_pending_bytes",
            "Bytes of requests received but not yet in the write-ahead log (decoding or awaiting fsync).",
            registry=r,
        )
        self.wal_bytes = Gauge(
            "vigil_wal_bytes",
            "Bytes of write-ahead log segments on disk (bounded by VIGIL_WAL_MAX_BYTES).",
            registry=r,
        )
        self.wal_fsync_seconds = Histogram(
            "vigil_wal_fsync_seconds",
            "Duration of one write-ahead log fsync (one per group of appends).",
            buckets=_FSYNC_BUCKETS,
            registry=r,
        )
        self.wal_full_refusals = Counter(
            "vigil_wal_full_refusals", "Appends refused because the write-ahead log was full.", registry=r
        )
        self.dead_letter_records = Counter(
            "vigil_wal_dead_letter_records",
            "Records ClickHouse refused for good, moved to the dead-letter directory.",
            registry=r,
        )
        self.dead_letters_dropped = Counter(
            "vigil_dead_letters_dropped",
            "Dead letters deleted, oldest first, to keep the folder within VIGIL_DEAD_LETTER_MAX_BYTES.",
            registry=r,
        )
        self.backlog_records = Gauge(
            "vigil_wal_backlog_records", "Records in the write-ahead log not yet in ClickHouse.", registry=r
        )
        self.backlog_bytes = Gauge(
            "vigil_wal_backlog_bytes",
            "Bytes of records in the write-ahead log not yet in ClickHouse.",
            registry=r,
        )
        self.backlog_age = Gauge(
            "vigil_wal_oldest_unwritten_age_seconds",
            "Age of the oldest record not yet in ClickHouse; 0 when all are written.",
            registry=r,
        )
        self.paced_requests = Gauge(
            "vigil_ingest_paced_requests",
            "Requests waiting before their append because ClickHouse is behind (batch/pacing.py).",
            registry=r,
        )
        self.pace_bound = Gauge(
            "vigil_ingest_pace_bound_spans",
            "What may wait for ClickHouse (in spans' worth) before requests wait; it adapts.",
            registry=r,
        )
        self.batch_spans = Histogram(
            "vigil_batcher_batch_spans", "Spans per INSERT.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.commit_lag = Histogram(
            "vigil_batcher_commit_lag_seconds",
            "Per committed batch, seconds from the append (ack) of its oldest record to the commit: "
            "how stale its spans are at most when they become queryable.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.insert_seconds = Histogram(
            "vigil_writer_insert_seconds", "Duration of one INSERT.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.query_seconds = Histogram(
            "vigil_query_seconds",
            "Duration of one read of the query service (its ClickHouse query, waiting for a thread included).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.insert_failures = Counter(
            "vigil_writer_failed_inserts", "INSERT attempts that failed (they are retried).", registry=r
        )


class SignalCounters:
    """What the receivers count of one signal's items (spans, log records)."""

    def __init__(self, unit: str, r: CollectorRegistry) -> None:
        items = unit.replace("_", " ")
        self.received = Counter(
            f"vigil_receiver_received_{unit}",
            f"{items.capitalize()} in requests that decoded.",
            ["transport"],
            registry=r,
        )
        self.accepted = Counter(
            f"vigil_receiver_accepted_{unit}",
            f"{items.capitalize()} acknowledged: fsynced in the write-ahead log.",
            ["transport"],
            registry=r,
        )
        self.rejected = Counter(
            f"vigil_receiver_rejected_{unit}",
            f"Invalid {items} dropped (reported as partial success).",
            ["transport"],
            registry=r,
        )
        self.refused = Counter(
            f"vigil_receiver_refused_{unit}",
            f"Valid {items} answered with a retryable error.",
            ["transport", "reason"],
            registry=r,
        )
