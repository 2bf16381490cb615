"""Vigil watches itself: every ``interval_s`` its own Prometheus metrics (every ``vigil_*``
family of the server's registry, plus a few derived figures) become OTLP metric points of
service ``vigil`` in the default project, where ordinary rules (rules/builtin.py's
self-monitoring rules) and QueryMetrics see them.

Why through the ingest pipeline rather than a direct INSERT: a snapshot is then an ordinary
OTLP request — decoded, checked, fsynced in the write-ahead log and batched like any other —
so it needs no ClickHouse client or schema code of its own, and while ClickHouse is
unreachable the snapshots wait in the log with everything else and land when it is back:
the history of an outage is not lost with the outage. (The rules themselves query
ClickHouse, so they cannot fire *during* an outage of it; /ready and an external scrape of
/metrics are the way to see that one live: docs/runbooks/clickhouse-unreachable.md.)

Counters and histograms are sent as delta sums and delta histograms (the change since the
previous snapshot; the first one since the process started), so that a rule's ``increase``
is exact across restarts and a labelled counter that first appears with a value (its first
auth failure) counts from zero. Gauges are sent as they are.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

SERVICE = "vigil"
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA

Export = Callable[[bytes], Awaitable[Any]]


def _attributes(labels: dict[str, str]) -> list[KeyValue]:
    out = []
    for key, value in sorted(labels.items()):
        kv = KeyValue(key=key)
        kv.value.string_value = value
        out.append(kv)
    return out


class SelfMonitor:
    """Builds snapshots (``snapshot``) and sends one every ``interval_s`` (``run``)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        export: Export,
        interval_s: float,
        *,
        derived: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self._registry = registry
        self._export = export
        self.interval_s = interval_s
        self._derived = derived or dict
        # What the last stored snapshot counted, per series; the next one sends the change.
        self._previous: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._last_ns = time.time_ns()  # the first delta covers the time since start-up
        self._pending: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._pending_ns = 0
        self._resource = _attributes(
            {"service.name": SERVICE, "service.instance.id": f"{socket.gethostname()}-{os.getpid()}"}
        )

    def snapshot(self, now_ns: int | None = None) -> ExportMetricsServiceRequest:
        """The change since the last committed snapshot (``commit`` once it is stored)."""
        now = now_ns or time.time_ns()
        start = self._last_ns
        self._pending, self._pending_ns = {}, now
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(self._resource)
        scope = rm.scope_metrics.add()
        scope.scope.name = "vigil.self_monitor"
        metrics = scope.metrics
        for family in self._registry.collect():
            if not family.name.startswith("vigil_"):
                continue
            if family.type == "counter":
                self._counter(metrics, family, start, now)
            elif family.type == "gauge":
                self._gauge(metrics, family.name, family.documentation, family.samples, now)
            elif family.type == "histogram":
                self._histogram(metrics, family, start, now)
        for name, value in self._derived().items():
            metric = metrics.add(name=name)
            metric.gauge.data_points.add(time_unix_nano=now, as_double=value)
        return request

    def commit(self) -> None:
        """The last snapshot was stored: the next one counts from it. (A refused one is not
        committed, so the next one carries its changes.)"""
        self._previous.update(self._pending)
        self._last_ns = self._pending_ns

    def _delta(self, key: tuple[str, tuple[tuple[str, str], ...]], value: Any, zero: Any) -> Any:
        self._pending[key] = value
        return self._previous.get(key, zero)

    def _counter(self, metrics: Any, family: Any, start: int, now: int) -> None:
        samples = [s for s in family.samples if s.name.endswith("_total")]
        if not samples:
            return
        metric: Metric = metrics.add(name=samples[0].name, description=family.documentation)
        metric.sum.aggregation_temporality = _DELTA
        metric.sum.is_monotonic = True
        for s in samples:
            before = self._delta((s.name, tuple(sorted(s.labels.items()))), s.value, 0.0)
            point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now)
            point.as_double = max(s.value - before, 0.0)
            point.attributes.extend(_attributes(s.labels))

    @staticmethod
    def _gauge(metrics: Any, name: str, documentation: str, samples: Any, now: int) -> None:
        if not samples:
            return
        metric: Metric = metrics.add(name=name, description=documentation)
        for s in samples:
            if math.isnan(s.value):
                continue
            point = metric.gauge.data_points.add(time_unix_nano=now, as_double=s.value)
            point.attributes.extend(_attributes(s.labels))

    def _histogram(self, metrics: Any, family: Any, start: int, now: int) -> None:
        series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for s in family.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            entry = series.setdefault(
                tuple(sorted(labels.items())), {"buckets": [], "sum": 0.0, "count": 0.0}
            )
            if s.name.endswith("_bucket"):
                entry["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum"):
                entry["sum"] = s.value
            elif s.name.endswith("_count"):
                entry["count"] = s.value
        if not series:
            return
        metric: Metric = metrics.add(name=family.name, description=family.documentation)
        metric.histogram.aggregation_temporality = _DELTA
        for key, entry in series.items():
            buckets = sorted(entry["buckets"])
            cumulative = [c for _, c in buckets]
            counts = [cumulative[0], *(b - a for a, b in itertools.pairwise(cumulative))]
            now_state = (counts, entry["sum"], entry["count"])
            before = self._delta((family.name, key), now_state, ([0.0] * len(counts), 0.0, 0.0))
            point = metric.histogram.data_points.add(start_time_unix_nano=start, time_unix_nano=now)
            point.explicit_bounds.extend(le for le, _ in buckets if not math.isinf(le))
            point.bucket_counts.extend(int(max(c - b, 0)) for c, b in zip(counts, before[0], strict=True))
            point.sum = max(entry["sum"] - before[1], 0.0)
            point.count = int(max(entry["count"] - before[2], 0))
            point.attributes.extend(_attributes(dict(key)))

    async def run(self, stop: asyncio.Event) -> None:
        """A snapshot every ``interval_s`` until ``stop``; one that is refused (the log full,
        shutting down) is logged, and the next one carries its changes on."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
                return
            except TimeoutError:
                pass
            body = self.snapshot().SerializeToString()
            try:
                await self._export(body)
            except Exception as exc:  # a refusal or a bug: self-monitoring must not stop the server
                log.warning("self-monitoring snapshot not stored: %s", exc)
            else:
                self.commit()
