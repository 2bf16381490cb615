"""Silences in the system database, ready for the API (create, list, expire).

``vigil_silences`` holds one row per version of a silence (ReplacingMergeTree by
``UpdatedNs``, read FINAL): expiring a silence writes a version whose end is now; nothing is
deleted, so what was silenced when stays answerable. A silence is active while
``starts <= now < ends``; a silenced alert still changes state and is recorded (the delivery
log says "silenced by <id>") but is not sent.

A silence is its project's (``Project``: the project's telemetry database, as in the alert
tables): it mutes that project's alerts only, and only that project lists or expires it. Rows
written before the column existed have ``''``, the project of a notifier used without projects,
so on a server they mute nothing and nobody sees them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from vigil_alerting.notify.errors import SilenceError
from vigil_alerting.notify.matchers import Matcher, MatcherError, matches_all, parse_matchers
from vigil_storage.system_store import SystemStore

_DDL = """CREATE TABLE IF NOT EXISTS {db}.vigil_silences (
    Id String,
    Matchers Array(String),
    StartsNs Int64,
    EndsNs Int64,
    CreatedBy String,
    Comment String,
    CreatedNs Int64,
    UpdatedNs Int64,
    Project String DEFAULT ''
) ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY Id"""
# A table made before silences were per project gets the column (its rows read as '').
_UPGRADE = "ALTER TABLE {db}.vigil_silences ADD COLUMN IF NOT EXISTS Project String DEFAULT ''"
_COLUMNS = [
    "Id",
    "Matchers",
    "StartsNs",
    "EndsNs",
    "CreatedBy",
    "Comment",
    "CreatedNs",
    "UpdatedNs",
    "Project",
]


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_ns: int
    ends_ns: int
    created_by: str
    comment: str
    created_ns: int = 0
    updated_ns: int = 0
    project: str = ""

    def active(self, now_ns: int) -> bool:
        return self.starts_ns <= now_ns < self.ends_ns

    def state(self, now_ns: int) -> str:
        return "pending" if now_ns < self.starts_ns else ("active" if now_ns < self.ends_ns else "expired")

    def matches(self, labels: dict[str, str], project: str = "") -> bool:
        """Only an alert of the silence's own project can be muted by it."""
        return project == self.project and matches_all(self.matchers, labels)


class SilenceStore(SystemStore):
    """The caller owns ``client`` (one thread at a time); every method reads or writes
    ClickHouse, so several processes (the API, the notifier) see the same silences."""

    def __init__(
        self, client: Client, system_database: str, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        super().__init__(client, system_database)
        self.clock_ns = clock_ns

    def ensure_schema(self) -> None:
        self._create("creating the silences table", [_DDL, _UPGRADE])

    def create(
        self,
        matchers: Sequence[str],
        *,
        ends_ns: int,
        created_by: str,
        comment: str,
        starts_ns: int | None = None,
        project: str = "",
    ) -> Silence:
        """A new silence of ``project``; SilenceError when it could never silence anything sensibly."""
        now = self.clock_ns()
        try:
            parsed = parse_matchers(matchers)
        except MatcherError as exc:
            raise SilenceError(f"bad matcher: {exc}") from None
        if not parsed:
            raise SilenceError("a silence needs at least one matcher")
        if all(m.matches({}) for m in parsed):
            raise SilenceError("the matchers match every alert (at least one must need a label value)")
        starts = now if starts_ns is None else starts_ns
        if ends_ns <= starts:
            raise SilenceError("the end must be after the start")
        if ends_ns <= now:
            raise SilenceError("the end is in the past")
        if not created_by.strip():
            raise SilenceError("a silence needs its creator")
        if not comment.strip():
            raise SilenceError("a silence needs a comment (why)")
        silence = Silence(uuid.uuid4().hex, parsed, starts, ends_ns, created_by, comment, now, now, project)
        self._write(silence)
        return silence

    def expire(self, silence_id: str, *, project: str = "") -> Silence:
        """Ends the silence now; SilenceError if ``project`` has none with that id or it already
        ended (another project's silence is answered as if it did not exist)."""
        current = self.get(silence_id, project=project)
        now = self.clock_ns()
        if current is None:
            raise SilenceError(f"no silence with id {silence_id!r}")
        if current.ends_ns <= now:
            raise SilenceError(f"silence {silence_id} already expired")
        expired = Silence(
            current.id, current.matchers, min(current.starts_ns, now), now, current.created_by, current.comment,
            current.created_ns, max(now, current.updated_ns + 1), current.project,
        )  # fmt: skip
        self._write(expired)
        return expired

    def get(self, silence_id: str, *, project: str = "") -> Silence | None:
        found = self._read(
            "WHERE Id = {id:String} AND Project = {project:String}", {"id": silence_id, "project": project}
        )
        return found[0] if found else None

    def list(self, *, include_expired: bool = True, project: str = "") -> list[Silence]:
        """``project``'s silences, newest first."""
        where = "WHERE Project = {project:String}" + ("" if include_expired else " AND EndsNs > {now:Int64}")
        return self._read(where, {"now": self.clock_ns(), "project": project})

    def active(self, now_ns: int | None = None) -> list[Silence]:
        """Every project's silences in force (the notifier's: it matches them by project)."""
        now = self.clock_ns() if now_ns is None else now_ns
        return [s for s in self._read("WHERE EndsNs > {now:Int64}", {"now": now}) if s.active(now)]

    def _write(self, s: Silence) -> None:
        row = [
            s.id,
            [str(m) for m in s.matchers],
            s.starts_ns,
            s.ends_ns,
            s.created_by,
            s.comment,
            s.created_ns,
            s.updated_ns,
            s.project,
        ]
        self._append("writing a silence", "vigil_silences", [row], _COLUMNS)

    def _read(self, where: str, params: dict[str, object]) -> list[Silence]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM {self.db}.vigil_silences FINAL {where} ORDER BY CreatedNs DESC"
        rows = self._rows("reading silences", sql, parameters=params)
        return [Silence(r[0], parse_matchers(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]
