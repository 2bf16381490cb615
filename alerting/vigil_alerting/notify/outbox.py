"""The outbox and the delivery log, in the system database.

- ``vigil_notification_outbox``: every notification owed, written before it is sent; one row
  per version (ReplacingMergeTree by ``UpdatedNs``, read FINAL): ``pending`` → ``sent`` or
  ``failed``, with the attempts and the receiver's last answer. A started notifier resumes
  every ``pending`` row; the row's ``Id`` is the idempotency key a receiver sees again if a
  crash came between its send and the ``sent`` version reaching the table.
- ``vigil_notification_log``: append-only, one row per attempt (and per alert suppressed
  by a silence, an inhibition or a mute): when, receiver, integration, result, answer, and
  whose it is (``Project``: the alerts' project, their telemetry database; every alert of a
  notification is of one project). Rows written before the column existed read as ``''``:
  they are the default project's (as a notifier used without projects writes them), so a
  server that had one project keeps its log across the upgrade.

Both keep ``retention_s`` (ClickHouse TTL); an outbox row still ``pending`` is never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clickhouse_connect.driver import options
from clickhouse_connect.driver.client import Client

from vigil_alerting.notify.alert import Alert, Notification
from vigil_alerting.notify.dispatch import LogEntry
from vigil_storage.system_store import SystemStore, filters

_DDL = (
    """CREATE TABLE IF NOT EXISTS {db}.vigil_notification_outbox (
    Id String,
    CreatedNs Int64,
    Receiver String,
    Integration LowCardinality(String),
    IntegrationIndex UInt16,
    GroupKey String,
    Status LowCardinality(String),
    Firing Array(String),
    Resolved Array(String),
    Body String,
    State LowCardinality(String),
    Attempts UInt32,
    LastAnswer String,
    UpdatedNs Int64
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY Id
TTL toDateTime(intDiv(UpdatedNs, 1000000000)) + toIntervalSecond({retention_s}) WHERE State != 'pending'""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_notification_log (
    AtNs Int64,
    NotificationId String,
    Receiver String,
    Integration LowCardinality(String),
    GroupKey String,
    Fingerprints Array(String),
    Attempt UInt32,
    Result LowCardinality(String),
    Answer String,
    Seconds Float64,
    Project String DEFAULT ''
) ENGINE = MergeTree
PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(AtNs))
ORDER BY AtNs
TTL toDateTime(intDiv(AtNs, 1000000000)) + toIntervalSecond({retention_s})""",
)
# A log made before it was per project gets the column (its rows read as ''). Apart from _DDL,
# which holds only CREATE TABLEs (the cluster renderer replicates each of them).
_UPGRADE = "ALTER TABLE {db}.vigil_notification_log ADD COLUMN IF NOT EXISTS Project String DEFAULT ''"
_OUTBOX = [
    "Id", "CreatedNs", "Receiver", "Integration", "IntegrationIndex", "GroupKey", "Status", "Firing", "Resolved",
    "Body", "State", "Attempts", "LastAnswer", "UpdatedNs",
]  # fmt: skip
_LOG = [
    "AtNs",
    "NotificationId",
    "Receiver",
    "Integration",
    "GroupKey",
    "Fingerprints",
    "Attempt",
    "Result",
    "Answer",
    "Seconds",
    "Project",
]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    notification: Notification
    state: str  # pending, sent, failed
    attempts: int
    last_answer: str
    updated_ns: int


@dataclass(frozen=True, slots=True)
class DeliveryLogEntry:
    at_ns: int
    notification_id: str
    receiver: str
    integration: str
    group_key: str
    fingerprints: tuple[str, ...]
    attempt: int
    result: str  # sent, retry, failed, silenced by …, inhibited, muted …, unsuppressed
    answer: str
    seconds: float
    project: str = ""  # the alerts' project (their telemetry database)


def _row(r: OutboxRow, body: str) -> list[object]:
    n = r.notification
    return [
        n.id, n.created_ns, n.receiver, n.integration, n.index, n.group_key, n.status,
        [a.fingerprint for a in n.alerts if not a.resolved], [a.fingerprint for a in n.alerts if a.resolved],
        body, r.state, r.attempts, r.last_answer[:4000], r.updated_ns,
    ]  # fmt: skip


def _notification(r: Sequence[object]) -> Notification:
    body = json.loads(str(r[9]))
    return Notification(
        id=str(r[0]), created_ns=int(r[1]), receiver=str(r[2]), integration=str(r[3]), index=int(r[4]),  # type: ignore[call-overload]
        group_key=str(r[5]), group_labels=dict(body["groupLabels"]),
        alerts=tuple(Alert.from_json(a) for a in body["alerts"]), external_url=body["externalURL"],
        truncated=body.get("truncated", 0),
    )  # fmt: skip


class Outbox(SystemStore):
    """The caller owns ``client`` (one thread at a time)."""

    def __init__(self, client: Client, system_database: str, *, retention_s: float = 30 * 86400.0) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        super().__init__(client, system_database)
        self.retention_s = int(retention_s)
        self._bodies: dict[str, str] = {}  # of pending notifications: encoded once, not per version

    def _body(self, r: OutboxRow) -> str:
        n = r.notification
        body = self._bodies.get(n.id) or json.dumps(n.to_json(), separators=(",", ":"))
        if r.state == "pending":
            self._bodies[n.id] = body
        else:
            self._bodies.pop(n.id, None)
        return body

    def ensure_schema(self) -> None:
        self._create("creating the notification tables", [*_DDL, _UPGRADE], retention_s=self.retention_s)
        # clickhouse-connect imports pandas on a process's first INSERT (2-3 s here): paid at
        # start, not by the first notification owed.
        _ = options.pd

    def write(self, rows: Iterable[OutboxRow], log: Iterable[DeliveryLogEntry] = ()) -> None:
        """Outbox versions, then log rows (a crash between the two loses a log row, never a
        notification)."""
        o_rows = [_row(r, self._body(r)) for r in rows]
        l_rows = [
            [e.at_ns, e.notification_id, e.receiver, e.integration, e.group_key, list(e.fingerprints), e.attempt,
             e.result, e.answer[:4000], e.seconds, e.project]
            for e in log
        ]  # fmt: skip
        self._append("writing the notification outbox", "vigil_notification_outbox", o_rows, _OUTBOX)
        self._append("writing the notification outbox", "vigil_notification_log", l_rows, _LOG)

    def _select(self, clause: str, params: dict[str, object]) -> list[OutboxRow]:
        sql = (
            f"SELECT {', '.join(_OUTBOX)} FROM {self.db}.vigil_notification_outbox FINAL"
            f" WHERE {clause} ORDER BY CreatedNs, Id"
        )
        rows = self._rows("reading the notification outbox", sql, parameters=params)
        return [OutboxRow(_notification(r), r[10], r[11], r[12], r[13]) for r in rows]

    def pending(self) -> list[OutboxRow]:
        return self._select("State = 'pending'", {})

    def rows(self, receiver: str = "") -> list[OutboxRow]:
        return self._select(*filters(r=("Receiver = {r:String}", receiver)))

    def backlog(self) -> int:
        return int(
            self._rows(
                "counting the notification outbox",
                f"SELECT count() FROM {self.db}.vigil_notification_outbox FINAL WHERE State = 'pending'",
            )[0][0]
        )

    def notification_log(self) -> dict[tuple[str, str, str, int], LogEntry]:
        """What each integration was last told about each group (seeds the dispatcher)."""
        sql = (
            f"SELECT GroupKey, Receiver, Integration, IntegrationIndex, argMax(Firing, CreatedNs), "
            f"argMax(Resolved, CreatedNs), max(CreatedNs) FROM {self.db}.vigil_notification_outbox FINAL "
            f"GROUP BY GroupKey, Receiver, Integration, IntegrationIndex"
        )
        rows = self._rows("reading the notification log", sql)
        return {
            (r[0], r[1], r[2], int(r[3])): LogEntry(frozenset(r[4]), frozenset(r[5]), int(r[6])) for r in rows
        }

    def delivery_log(
        self,
        *,
        fingerprint: str = "",
        notification_id: str = "",
        fingerprints: Sequence[str] = (),
        receiver: str = "",
        projects: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[DeliveryLogEntry]:
        """The latest ``limit`` entries, oldest first: of one alert, any of ``fingerprints``,
        one notification, one receiver, or all; of any of ``projects`` when given (a fingerprint
        is only unique within its project)."""
        clause, params = filters(
            projects=("Project IN {projects:Array(String)}", list(projects)),
            fp=("has(Fingerprints, {fp:String})", fingerprint),
            fps=("hasAny(Fingerprints, {fps:Array(String)})", list(fingerprints)),
            id=("NotificationId = {id:String}", notification_id),
            receiver=("Receiver = {receiver:String}", receiver),
        )
        sql = (
            f"SELECT {', '.join(_LOG)} FROM {self.db}.vigil_notification_log"
            f" WHERE {clause} ORDER BY AtNs DESC LIMIT {{limit:UInt32}}"
        )
        rows = self._rows("reading the delivery log", sql, parameters={**params, "limit": limit})
        return [
            DeliveryLogEntry(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6], r[7], r[8], r[9], r[10])
            for r in reversed(rows)
        ]
