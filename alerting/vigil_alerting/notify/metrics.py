"""The pipeline's Prometheus metrics, on the registry the caller passes (the server's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.notifications = Counter(
            "vigil_notifications_total",
            "Notifications by outcome: sent, failed (given up or refused), retried (one per retried attempt).",
            ["receiver", "integration", "result"],
            registry=registry,
        )
        self.latency = Histogram(
            "vigil_notification_delivery_seconds",
            "From a notification being owed (written to the outbox) to the receiver accepting it.",
            ["receiver", "integration"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=registry,
        )
        self.backlog = Gauge(
            "vigil_notification_outbox_backlog",
            "Notifications owed and not yet delivered or failed.",
            registry=registry,
        )
        self.forwarded = Counter(
            "vigil_alertmanager_forwards_total",
            "POSTs of alerts to the external Alertmanager, by result (sent, error).",
            ["result"],
            registry=registry,
        )
