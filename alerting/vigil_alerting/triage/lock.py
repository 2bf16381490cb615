"""The triage lock: one analysis per incident at a time, not again within the interval unless
the severity rises, across restarts and processes, on INSERT-only rows in the system database.

ClickHouse has no compare-and-set, so the lock is the worker lease's "compare after write"
(server/vigil_server/worker_lease.py) applied to claim rows that are never updated:

1. **Read** the incident's rows in ``vigil_triage_claims``. The last generation's winning claim
   (see 3) decides: it has no ``done`` row and has not expired → busy; it is done and younger
   than ``VIGIL_TRIAGE_INTERVAL_S`` and the severity is not higher than the one it analysed →
   recent. Otherwise the caller may claim generation ``last + 1`` (the fencing token).
2. **Write** a claim row for that generation (a unique ``ClaimId``, an expiry).
3. **Wait** ``VIGIL_TRIAGE_CLAIM_SETTLE_S``, then read that generation's claims back. The
   winner is the claim with the earliest ``InsertedAt`` (filled in by the ClickHouse server
   at INSERT, so every claimer compares on one clock), ties by ``ClaimId``. Every claimer
   reads the same rows and picks the same winner.

Why that is safe: a claim A is written, then read back after the settle wait; a competing claim
B that A's read-back does not see was not yet committed then, so B's ``InsertedAt`` is later
than A's (an INSERT is stamped and committed within the settle wait), and B, whose own
read-back sees A (committed before A read back), loses to A. Two claimers cannot both see
themselves as the earliest. A claimer that read before a winner's claim was visible and
claims the same generation late simply loses; one that reads after it sees a running claim
(busy) or a done one (recent).

4. Before the result goes on the timeline, ``still_holds`` checks the token: no claim of a
   later generation exists (the claim expired and someone took over: the result is dropped).
   Then a ``done`` row ends the claim, with the model, tokens and cost (the hourly caps sum
   these). A process that dies mid-analysis leaves its claim to expire after
   ``VIGIL_TRIAGE_CLAIM_TTL_S``; the next trigger then analyses again.

Residual risk, written down: an INSERT stamped but committed more than the settle wait later
(a stalled ClickHouse) can let two claimers of one generation both go on; the cost is one
extra analysis on the timeline, never a lost incident. On a cluster the table is replicated
and the lock's reads and writes use the lease's quorum settings.

What it shares with the lease is in vigil_storage/claims.py (the cluster settings), with why
the rest is not shared: the lease's one replaced row lets the latest write stand and confirms
a claim a tick later without blocking; here every row is kept (the done rows are the interval
and the caps' history) and the earliest claim of a generation stands after a blocking wait.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from vigil_alerting.rules.model import SEVERITY_RANK
from vigil_storage.claims import claim_settings
from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

TABLE = "vigil_triage_claims"
DDL = """CREATE TABLE IF NOT EXISTS {db}.vigil_triage_claims (
    Project String,
    IncidentId String,
    Token UInt64,
    ClaimId String,
    Holder String,
    Kind LowCardinality(String),
    Severity LowCardinality(String),
    ExpiresNs Int64,
    Result LowCardinality(String),
    Model String,
    Tokens UInt64,
    CostUsd Float64,
    WrittenNs Int64,
    InsertedAt DateTime64(9) DEFAULT now64(9)
) ENGINE = MergeTree
ORDER BY (Project, IncidentId, Token, ClaimId)"""
_COLUMNS = [
    "Project", "IncidentId", "Token", "ClaimId", "Holder", "Kind", "Severity", "ExpiresNs", "Result",
    "Model", "Tokens", "CostUsd", "WrittenNs",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    token: int
    claim_id: str
    holder: str
    kind: str  # "claim" or "done"
    severity: str
    expires_ns: int
    result: str
    written_ns: int
    inserted_ns: int


@dataclass(frozen=True, slots=True)
class Claim:
    project: str
    incident_id: str
    token: int
    claim_id: str
    severity: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an analysis may start now, and if not why (``busy`` or ``recent``)."""

    may_claim: bool
    token: int  # the generation to claim
    reason: str = ""
    last_severity: str = ""
    last_done_ns: int = 0


def _winner(rows: list[Row], token: int) -> Row | None:
    claims = [r for r in rows if r.kind == "claim" and r.token == token]
    return min(claims, key=lambda r: (r.inserted_ns, r.claim_id)) if claims else None


def decide(
    rows: list[Row], severity: str, now_ns: int, interval_s: float, *, force: bool = False
) -> Decision:
    """Step 1 of the module's protocol, on the rows already read (pure: tested on its own)."""
    claims = [r for r in rows if r.kind == "claim"]
    if not claims:
        return Decision(True, 1)
    last = max(r.token for r in claims)
    winner = _winner(rows, last)
    assert winner is not None
    done = next((r for r in rows if r.kind == "done" and r.claim_id == winner.claim_id), None)
    if done is None:
        if winner.expires_ns > now_ns:
            return Decision(False, last + 1, "busy", winner.severity)
        return Decision(True, last + 1)  # its analyser died: the claim lapsed
    recent = now_ns - done.written_ns < interval_s * 1e9
    higher = SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(winner.severity, 0)
    if recent and not higher and not force:
        return Decision(False, last + 1, "recent", winner.severity, done.written_ns)
    return Decision(True, last + 1, "", winner.severity, done.written_ns)


class TriageLock:
    """The claims of one process (``holder``); each call uses the client it is given."""

    def __init__(
        self,
        system_database: str,
        holder: str,
        *,
        ttl_s: float,
        settle_s: float,
        cluster: bool = False,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if settle_s >= ttl_s:
            raise ValueError("the claim's settle wait must be shorter than its TTL")
        self.database = system_database
        self.table = f"{quote_identifier(system_database)}.{TABLE}"
        self.holder = holder
        self.ttl_ns = int(ttl_s * 1e9)
        self.settle_s = settle_s
        write, self.read_settings = claim_settings(cluster)
        self.write_settings = {**INSERT_SETTINGS, **write}
        self.clock_ns = clock_ns

    def ensure_table(self, client: Client) -> None:
        with translate_errors("creating the triage claims table"):
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self.database)}")
            client.command(DDL.format(db=quote_identifier(self.database)))

    def rows(self, client: Client, project: str, incident_id: str) -> list[Row]:
        with translate_errors("reading the triage claims"):
            found = client.query(
                "SELECT Token, ClaimId, Holder, Kind, Severity, ExpiresNs, Result, WrittenNs,"
                f" toUnixTimestamp64Nano(InsertedAt) FROM {self.table}"
                " WHERE Project = {p:String} AND IncidentId = {i:String}",
                parameters={"p": project, "i": incident_id},
                settings=self.read_settings,
            ).result_rows
        return [Row(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], int(r[7]), int(r[8])) for r in found]

    def _insert(self, client: Client, row: list[object]) -> None:
        with translate_errors("writing a triage claim"):
            client.insert(
                TABLE, [row], column_names=_COLUMNS, database=self.database, settings=self.write_settings
            )

    def acquire(
        self,
        client: Client,
        project: str,
        incident_id: str,
        severity: str,
        interval_s: float,
        *,
        force: bool = False,
    ) -> tuple[Claim | None, Decision]:
        """Steps 1-3: the claim when this process won it, else None and why not."""
        decision = decide(
            self.rows(client, project, incident_id), severity, self.clock_ns(), interval_s, force=force
        )
        if not decision.may_claim:
            return None, decision
        claim = Claim(project, incident_id, decision.token, uuid.uuid4().hex, severity)
        now = self.clock_ns()
        self._insert(
            client,
            [project, incident_id, claim.token, claim.claim_id, self.holder, "claim", severity, now + self.ttl_ns,
             "", "", 0, 0.0, now],
        )  # fmt: skip
        # Not cut short at shutdown: a read-back before the settle wait could see a false win.
        time.sleep(self.settle_s)
        winner = _winner(self.rows(client, project, incident_id), claim.token)
        if winner is None or winner.claim_id != claim.claim_id:
            return None, Decision(False, claim.token, "lost", severity)
        return claim, decision

    def still_holds(self, client: Client, claim: Claim) -> bool:
        """The fencing check before the result is written: no later generation was claimed."""
        rows = self.rows(client, claim.project, claim.incident_id)
        return not any(r.token > claim.token for r in rows if r.kind == "claim")

    def finish(
        self, client: Client, claim: Claim, result: str, model: str, tokens: int, cost_usd: float
    ) -> None:
        """The ``done`` row: the claim ends, the interval starts, the hourly caps count it."""
        self._insert(
            client,
            [claim.project, claim.incident_id, claim.token, claim.claim_id, self.holder, "done", claim.severity, 0,
             result, model, tokens, cost_usd, self.clock_ns()],
        )  # fmt: skip

    def spent_since(self, client: Client, since_ns: int) -> tuple[int, float]:
        """(tokens, USD) of every analysis finished since ``since_ns``, every project's."""
        with translate_errors("reading the triage spend"):
            rows = client.query(
                f"SELECT sum(Tokens), sum(CostUsd) FROM {self.table} WHERE Kind = 'done' AND WrittenNs >= {{s:Int64}}",
                parameters={"s": since_ns},
                settings=self.read_settings,
            ).result_rows
        return (int(rows[0][0] or 0), float(rows[0][1] or 0.0)) if rows else (0, 0.0)
