"""vigil_drift_alerts: read, page, resolve, and write alert versions.

The table is a ReplacingMergeTree keyed by AlertId; each change inserts a new version and
reads use FINAL (the table holds one row per alert and group, so FINAL is cheap).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.drift import psi as psi_math
from vigil_query.drift.query import DriftQuery, DriftResult, Window
from vigil_query.errors import InvalidQuery, NotFound
from vigil_query.reader import Reader, Writer, datetime_of_ns

TABLE = "vigil_drift_alerts"
DEFAULT_PAGE_SIZE = 100
ALERT_SEVERITIES = (psi_math.MEDIUM, psi_math.HIGH)
RESOLVED_BY_USER = "user"
RESOLVED_BY_DETECTOR = "detector"

COLUMNS = (
    "AlertId", "Metric", "GroupKey", "GroupValues", "Psi", "Severity",
    "BaselineCount", "CurrentCount", "BaselineP50", "BaselineP95", "CurrentP50", "CurrentP95",
    "BinEdges", "BaselineProportions", "CurrentProportions",
    "BaselineStart", "BaselineEnd", "CurrentStart", "CurrentEnd",
    "CreatedAt", "UpdatedAt", "Resolved", "ResolvedAt", "ResolvedBy", "Version",
)  # fmt: skip
_TIME_COLUMNS = {
    "BaselineStart",
    "BaselineEnd",
    "CurrentStart",
    "CurrentEnd",
    "CreatedAt",
    "UpdatedAt",
    "ResolvedAt",
}
_SELECT = ", ".join(f"toUnixTimestamp64Nano({c})" if c in _TIME_COLUMNS else c for c in COLUMNS)


def group_key(group: dict[str, str]) -> str:
    return json.dumps(group, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    metric: str
    result: DriftResult
    current: Window
    baseline: Window
    created_ns: int
    updated_ns: int
    resolved: bool = False
    resolved_ns: int = 0
    resolved_by: str = ""
    version: int = 0

    @property
    def key(self) -> str:
        return group_key(self.result.group)

    def row(self) -> list[Any]:
        r = self.result
        return [
            self.alert_id, self.metric, self.key, r.group, r.psi, r.severity,
            r.baseline_count, r.current_count, r.baseline_p50, r.baseline_p95, r.current_p50, r.current_p95,
            r.bin_edges, r.baseline_proportions, r.current_proportions,
            datetime_of_ns(self.baseline.start_ns), datetime_of_ns(self.baseline.end_ns),
            datetime_of_ns(self.current.start_ns), datetime_of_ns(self.current.end_ns),
            datetime_of_ns(self.created_ns), datetime_of_ns(self.updated_ns),
            int(self.resolved), datetime_of_ns(self.resolved_ns), self.resolved_by, self.version,
        ]  # fmt: skip

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Alert:
        v = dict(zip(COLUMNS, row, strict=True))
        result = DriftResult(
            group=dict(v["GroupValues"]),
            psi=v["Psi"],
            severity=v["Severity"],
            baseline_count=v["BaselineCount"],
            current_count=v["CurrentCount"],
            bin_edges=list(v["BinEdges"]),
            baseline_proportions=list(v["BaselineProportions"]),
            current_proportions=list(v["CurrentProportions"]),
            baseline_p50=v["BaselineP50"],
            baseline_p95=v["BaselineP95"],
            current_p50=v["CurrentP50"],
            current_p95=v["CurrentP95"],
        )
        return cls(
            alert_id=v["AlertId"],
            metric=v["Metric"],
            result=result,
            current=Window(v["CurrentStart"], v["CurrentEnd"]),
            baseline=Window(v["BaselineStart"], v["BaselineEnd"]),
            created_ns=v["CreatedAt"],
            updated_ns=v["UpdatedAt"],
            resolved=bool(v["Resolved"]),
            resolved_ns=v["ResolvedAt"] if v["Resolved"] else 0,
            resolved_by=v["ResolvedBy"],
            version=v["Version"],
        )

    def to_proto(self) -> query_pb2.DriftAlert:
        return query_pb2.DriftAlert(
            alert_id=self.alert_id,
            metric=self.metric,
            group=self.result.group,
            psi=self.result.psi,
            severity=self.result.severity,
            latest=self.result.to_proto(),
            current=self.current.to_proto(),
            baseline=self.baseline.to_proto(),
            created_time_unix_nano=self.created_ns,
            updated_time_unix_nano=self.updated_ns,
            resolved=self.resolved,
            resolved_time_unix_nano=self.resolved_ns,
            resolved_by=self.resolved_by,
        )


def _next_version(previous: int) -> int:
    # Versions order an alert's rows; the clock is enough, bumped past the previous version
    # so that two changes within one microsecond still order.
    return max(time.time_ns() // 1000, previous + 1)


def new_alert(metric: str, result: DriftResult, q: DriftQuery, now_ns: int) -> Alert:
    return Alert(
        alert_id=uuid.uuid4().hex,
        metric=metric,
        result=result,
        current=q.current,
        baseline=q.baseline,
        created_ns=now_ns,
        updated_ns=now_ns,
        version=_next_version(0),
    )


def updated(alert: Alert, result: DriftResult, q: DriftQuery, now_ns: int) -> Alert:
    return replace(
        alert,
        result=result,
        current=q.current,
        baseline=q.baseline,
        updated_ns=now_ns,
        version=_next_version(alert.version),
    )


def resolved(alert: Alert, by: str, now_ns: int) -> Alert:
    return replace(
        alert,
        resolved=True,
        resolved_ns=now_ns,
        resolved_by=by,
        updated_ns=now_ns,
        version=_next_version(alert.version),
    )


def write(writer: Writer, alerts: list[Alert]) -> None:
    if alerts:
        writer.insert(TABLE, [a.row() for a in alerts], COLUMNS, "write drift alerts")


def open_alerts(reader: Reader, metric: str) -> dict[str, Alert]:
    rows = reader.rows(
        f"SELECT {_SELECT} FROM {reader.db}.{TABLE} FINAL WHERE Resolved = 0 AND Metric = {{metric:String}}",
        {"metric": metric},
        "read open drift alerts",
    )
    return {a.key: a for a in map(Alert.from_row, rows)}


def list_alerts(
    reader: Reader, request: query_pb2.ListDriftAlertsRequest
) -> query_pb2.ListDriftAlertsResponse:
    size = page_token.page_size(request.page_size, DEFAULT_PAGE_SIZE)
    clauses, params = ["1"], {}
    if request.severity:
        if request.severity not in ALERT_SEVERITIES:
            raise InvalidQuery(
                f"severity must be one of {', '.join(ALERT_SEVERITIES)}, got {request.severity!r}"
            )
        clauses.append("Severity = {severity:String}")
        params["severity"] = request.severity
    if request.metric:
        clauses.append("Metric = {metric:String}")
        params["metric"] = request.metric
    which = request.resolved or query_pb2.ListDriftAlertsRequest.RESOLVED_FILTER_UNRESOLVED_ONLY
    if which == query_pb2.ListDriftAlertsRequest.RESOLVED_FILTER_UNRESOLVED_ONLY:
        clauses.append("Resolved = 0")
    elif which == query_pb2.ListDriftAlertsRequest.RESOLVED_FILTER_RESOLVED_ONLY:
        clauses.append("Resolved = 1")
    lo, hi = request.updated_time_min_unix_nano, request.updated_time_max_unix_nano
    if lo < 0 or hi < 0 or (hi and lo > hi):
        raise InvalidQuery(f"updated time range is invalid: min {lo}, max {hi}")
    if lo:
        clauses.append("UpdatedAt >= fromUnixTimestamp64Nano({lo:Int64})")
        params["lo"] = lo
    if hi:
        clauses.append("UpdatedAt <= fromUnixTimestamp64Nano({hi:Int64})")
        params["hi"] = hi
    unpaged = query_pb2.ListDriftAlertsRequest()
    unpaged.CopyFrom(request)
    unpaged.ClearField("page_token")
    unpaged.ClearField("page_size")
    fingerprint = page_token.fingerprint(unpaged)
    if request.page_token:
        updated_ns, alert_id = page_token.decode_parts(request.page_token, fingerprint, int, str)
        clauses.append("(toUnixTimestamp64Nano(UpdatedAt), AlertId) < ({after_ns:Int64}, {after_id:String})")
        params.update(after_ns=updated_ns, after_id=alert_id)
    rows = reader.rows(
        f"SELECT {_SELECT} FROM {reader.db}.{TABLE} FINAL WHERE {' AND '.join(clauses)} "
        f"ORDER BY UpdatedAt DESC, AlertId DESC LIMIT {size + 1}",
        params,
        "list drift alerts",
    )
    alerts = [Alert.from_row(r) for r in rows[:size]]
    response = query_pb2.ListDriftAlertsResponse(alerts=[a.to_proto() for a in alerts])
    if len(rows) > size:
        last = alerts[-1]
        response.next_page_token = page_token.encode_parts([last.updated_ns, last.alert_id], fingerprint)
    return response


def resolve_alert(
    reader: Reader, request: query_pb2.ResolveDriftAlertRequest
) -> query_pb2.ResolveDriftAlertResponse:
    alert_id = request.alert_id.strip().lower()
    if not alert_id:
        raise InvalidQuery("alert_id is required")
    rows = reader.rows(
        f"SELECT {_SELECT} FROM {reader.db}.{TABLE} FINAL WHERE AlertId = {{id:String}}",
        {"id": alert_id},
        "read drift alert",
    )
    if not rows:
        raise NotFound(f"no drift alert with id {alert_id!r}")
    alert = Alert.from_row(rows[0])
    if not alert.resolved:
        alert = resolved(alert, RESOLVED_BY_USER, time.time_ns())
        write(reader.writer, [alert])
    return query_pb2.ResolveDriftAlertResponse(alert=alert.to_proto())
