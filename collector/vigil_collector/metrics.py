"""The collector's self-metrics (Prometheus), shaped like the Go collector's
``otelcol_receiver_accepted_spans`` family but with our own prefix.

Each app instance owns a registry, so several collectors can live in one process (tests).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.spans_received = Counter(
            "vigil_receiver_received_spans", "Spans in requests that decoded.", ["transport"], registry=r
        )
        self.spans_accepted = Counter(
            "vigil_receiver_accepted_spans",
            "Spans committed to ClickHouse and acknowledged.",
            ["transport"],
            registry=r,
        )
        self.spans_rejected = Counter(
            "vigil_receiver_rejected_spans",
            "Invalid spans dropped (reported as partial success).",
            ["transport"],
            registry=r,
        )
        self.spans_refused = Counter(
            "vigil_receiver_refused_spans",
            "Valid spans answered with a retryable error.",
            ["transport", "reason"],
            registry=r,
        )
        self.requests = Counter(
            "vigil_receiver_requests", "Export requests by outcome.", ["transport", "outcome"], registry=r
        )
        self.decoded_spans = Counter(
            "vigil_decoder_spans",
            "Stored spans by who decoded them: clickhouse (native decode) or python.",
            ["decoder"],
            registry=r,
        )
        self.queue_spans = Gauge(
            "vigil_batcher_queue_spans", "Spans waiting for or inside an INSERT.", registry=r
        )
        self.batch_spans = Histogram(
            "vigil_batcher_batch_spans", "Spans per INSERT.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.insert_seconds = Histogram(
            "vigil_writer_insert_seconds", "Duration of one INSERT.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.insert_failures = Counter("vigil_writer_failed_inserts", "INSERTs that failed.", registry=r)
