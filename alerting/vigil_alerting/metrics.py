"""Alerting's Prometheus metrics, on the server's registry (``/metrics``):

- ``vigil_alerts{project,rule,severity,state}``: instances per state now, like Prometheus'
  ``ALERTS`` (read from the runners at each scrape, so it is never stale);
- ``vigil_rule_evaluations_total{result}``: evaluations by result (``ok``, ``error``);
- ``vigil_rule_evaluation_seconds``: the duration of one evaluation of one rule.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil_alerting.state.machine import AlertInstance

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# (project, instances of its rules in force, severity of each rule)
Snapshot = Iterable[tuple[str, list[AlertInstance], dict[str, str]]]


class _AlertsCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vigil_alerts",
            "Alert instances per state (inactive instances are not shown).",
            labels=["project", "rule", "severity", "state"],
        )
        for project, instances, severities in self._snapshot():
            counts = Tally(
                (i.rule, severities.get(i.rule, ""), i.state) for i in instances if i.state != "inactive"
            )
            for (rule, severity, state), n in sorted(counts.items()):
                family.add_metric([project, rule, severity, state], n)
        yield family


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry, snapshot: Callable[[], Snapshot]) -> None:
        self.evaluations = Counter(
            "vigil_rule_evaluations",
            "Alert rule evaluations by result (ok, error).",
            ["result"],
            registry=registry,
        )
        self.seconds = Histogram(
            "vigil_rule_evaluation_seconds",
            "Duration of one evaluation of one alert rule (its query and state update).",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        registry.register(_AlertsCollector(snapshot))

    def observe(self, result: str, seconds: float) -> None:
        self.evaluations.labels(result).inc()
        self.seconds.observe(seconds)
