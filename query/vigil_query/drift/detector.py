"""The drift detector: evaluates drift on a schedule and keeps vigil_drift_alerts current.

For each configured metric, one GetDrift evaluation over all groups, then per group:
- drift (medium or high) and no open alert → a new alert;
- drift and an open alert → the same alert, updated (never a duplicate while drift persists);
- no drift any more (severity none) and an open alert → resolved by the detector;
- insufficient data → the alert, if any, is left as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil_proto.query.v1 import query_pb2
from vigil_query.drift import alerts as alerts_sql
from vigil_query.drift import psi as psi_math
from vigil_query.drift.query import METRICS, drift_query, evaluate
from vigil_query.reader import Reader

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    metrics: tuple[str, ...] = tuple(METRICS)
    group_by: tuple[str, ...] = ()
    bins: int = 10
    min_samples: int = 0
    current_s: float = 3600
    baseline_s: float = 86400
    interval_s: float = 300
    thresholds: psi_math.Thresholds = field(default_factory=psi_math.Thresholds)

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown drift metrics {unknown}: use {', '.join(METRICS)}")


@dataclass(slots=True)
class DetectorReport:
    evaluated_groups: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0


def evaluate_once(reader: Reader, config: DetectorConfig, now_ns: int | None = None) -> DetectorReport:
    """One pass over every metric; blocking (run it on a reader thread)."""
    now_ns = now_ns or time.time_ns()
    report = DetectorReport()
    current_ns, baseline_ns = int(config.current_s * 1e9), int(config.baseline_s * 1e9)
    for metric in config.metrics:
        request = query_pb2.GetDriftRequest(
            metric=metric,
            group_by=list(config.group_by),
            bins=config.bins,
            min_samples=config.min_samples,
            current=query_pb2.TimeWindow(start_time_unix_nano=now_ns - current_ns, end_time_unix_nano=now_ns),
            baseline=query_pb2.TimeWindow(
                start_time_unix_nano=now_ns - current_ns - baseline_ns, end_time_unix_nano=now_ns - current_ns
            ),
        )
        q = drift_query(request, now_ns)
        results = evaluate(reader, q, config.thresholds)
        open_alerts = alerts_sql.open_alerts(reader, metric)
        changes = []
        for result in results:
            existing = open_alerts.get(alerts_sql.group_key(result.group))
            if result.severity in alerts_sql.ALERT_SEVERITIES:
                if existing is None:
                    changes.append(alerts_sql.new_alert(metric, result, q, now_ns))
                    report.opened += 1
                else:
                    changes.append(alerts_sql.updated(existing, result, q, now_ns))
                    report.updated += 1
            elif result.severity == psi_math.NONE and existing is not None:
                changes.append(alerts_sql.resolved(existing, alerts_sql.RESOLVED_BY_DETECTOR, now_ns))
                report.resolved += 1
        alerts_sql.write(reader.writer, changes)
        report.evaluated_groups += len(results)
    return report


async def run_detector(
    reader: Reader,
    config: DetectorConfig,
    stop: asyncio.Event,
    databases: Callable[[], list[str]] | None = None,
) -> None:
    """Evaluate every ``interval_s`` until ``stop`` is set, in each project's database (each
    keeps its own alerts); a failed pass is logged and retried."""
    while not stop.is_set():
        for database in databases() if databases else [reader.database]:
            await _evaluate_logged(reader.scoped(database), config)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.interval_s)


async def _evaluate_logged(reader: Reader, config: DetectorConfig) -> None:
    started = time.monotonic()
    try:
        report = await reader.run(lambda r: evaluate_once(r, config))
        log.info(
            "drift evaluated",
            extra={
                "database": reader.database,
                "groups": report.evaluated_groups,
                "opened": report.opened,
                "updated": report.updated,
                "resolved": report.resolved,
                "duration_s": round(time.monotonic() - started, 3),
            },
        )
    except Exception as exc:  # storage down, say: the next pass tries again
        log.warning("drift evaluation in %s failed: %s", reader.database, exc)
