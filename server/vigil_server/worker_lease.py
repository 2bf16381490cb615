"""The worker lease: exactly one active worker per deployment, decided in ClickHouse.

One row per lease name in the system database: who holds it and where it serves the alerting
API (the query role forwards there), its fencing token (raised by every change of holder), when
it expires. ClickHouse has no compare-and-set on a MergeTree,
so the lease is a ReplacingMergeTree row read with FINAL, and a write is checked after the
fact ("compare after write"):

- a holder renews by writing its row again with a later expiry, then reads the lease back:
  still its own (holder and token) → it stays active until that expiry;
- a contender that finds the lease free (no row, or expired) writes a claim with the next
  token and becomes active only if, one renewal interval later, the lease read back is still
  its claim. Two contenders that claim at once both write; FINAL keeps one row (the latest
  write), both read the same row back after the interval, and exactly one goes on. A claim
  never acts in the interval where a competing claim may still be in flight.
- an active worker that cannot renew (ClickHouse unreachable) stops acting when its own
  expiry passes, before anyone else can claim the lease (the standby waits for the expiry
  too, and then one more interval).

On a cluster the table is replicated on every host (schema_ddl.py), and lease writes and
reads use ``insert_quorum`` and ``select_sequential_consistency`` so that a read on any
replica sees every acknowledged claim. Hosts' clocks must agree to well within the TTL (NTP).

The cluster settings are shared with the triage lock (vigil_storage/claims.py, which also says
why the rest of the two protocols is not: one replaced row where the latest write stands,
confirmed a tick later, against kept rows where the earliest claim stands, after a blocking wait).

The fencing token lets what the worker does be checked: ``still_holds`` reads the lease
again, so a side effect that must not happen twice could be skipped by a worker whose token
is no longer the lease's. The notifier and the action queue do not check it yet (see
docs/deploy.md: the expiry order is what keeps them single).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from vigil_storage.claims import claim_settings
from vigil_storage.client import close_quietly
from vigil_storage.errors import StorageUnavailable, translate_errors
from vigil_storage.migrate import quote_identifier

log = logging.getLogger(__name__)

TABLE = "vigil_worker_lease"
DDL = """CREATE TABLE IF NOT EXISTS {db}.vigil_worker_lease (
    Name String,
    Holder String,
    Token UInt64,
    ExpiresNs Int64,
    WrittenNs Int64,
    Address String DEFAULT ''
) ENGINE = ReplacingMergeTree(WrittenNs)
ORDER BY Name"""
# A lease table made before workers served the alerting API gets the holder's address (its
# row reads as '' until the holder writes it again). Apart from DDL, which is a CREATE TABLE
# the cluster renderer replicates.
UPGRADE = "ALTER TABLE {db}.vigil_worker_lease ADD COLUMN IF NOT EXISTS Address String DEFAULT ''"


@dataclass(frozen=True)
class LeaseRow:
    holder: str
    token: int
    expires_ns: int
    address: str = ""  # where the holder serves the alerting API (host:port)


def new_holder(identity: str) -> str:
    """A holder name unique to this process: two workers on one host never share one."""
    return f"{identity}/{uuid.uuid4().hex[:12]}"


class WorkerLease:
    """One process's view of the lease ``name``. Call ``tick`` every renewal interval; act
    while ``active``. Not thread-safe: one caller."""

    def __init__(
        self,
        connect: Callable[[], Client],
        system_database: str,
        holder: str,
        *,
        ttl_s: float,
        renew_s: float,
        name: str = "worker",
        cluster: bool = False,
        clock: Callable[[], int] = time.time_ns,
        address: str = "",
    ) -> None:
        if renew_s >= ttl_s:
            raise ValueError("the renewal interval must be shorter than the lease's TTL")
        self._connect = connect
        self._conn: Client | None = None
        self._table = f"{quote_identifier(system_database)}.{TABLE}"
        self._ddl = [ddl.format(db=quote_identifier(system_database)) for ddl in (DDL, UPGRADE)]
        self.holder = holder
        self.address = address  # written with every claim and renewal: the query role forwards there
        self.seen: LeaseRow | None = None  # the row as last read (for a standby's answer)
        self.name = name
        self._ttl_ns = int(ttl_s * 1e9)
        self._renew_ns = int(renew_s * 1e9)
        self._write_settings, self._read_settings = claim_settings(cluster)
        self._clock = clock
        self.token = 0  # the fencing token while active (or claimed), else 0
        self._claimed_ns = 0  # when our pending claim was written; 0: none pending
        self._valid_until_ns = 0  # we may act until then (our last confirmed expiry)

    def _client(self) -> Client:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    def ensure_table(self) -> None:
        with translate_errors("creating the worker lease table"):
            for ddl in self._ddl:
                self._client().command(ddl)

    @property
    def claiming(self) -> bool:
        """A claim written, not yet confirmed (active an interval later if it stands)."""
        return self._claimed_ns != 0

    @property
    def active(self) -> bool:
        """True while this process holds a confirmed lease that has not expired."""
        return self._claimed_ns == 0 and self.token > 0 and self._clock() < self._valid_until_ns

    def read(self) -> LeaseRow | None:
        with translate_errors("reading the worker lease"):
            rows = (
                self._client()
                .query(
                    f"SELECT Holder, Token, ExpiresNs, Address FROM {self._table} FINAL"
                    " WHERE Name = {n:String}",
                    parameters={"n": self.name},
                    settings=self._read_settings,
                )
                .result_rows
            )
        row = LeaseRow(str(rows[0][0]), int(rows[0][1]), int(rows[0][2]), str(rows[0][3])) if rows else None
        self.seen = row
        return row

    def _write(self, token: int, expires_ns: int) -> None:
        with translate_errors("writing the worker lease"):
            self._client().insert(
                self._table,
                [[self.name, self.holder, token, expires_ns, self._clock(), self.address]],
                column_names=["Name", "Holder", "Token", "ExpiresNs", "WrittenNs", "Address"],
                settings=self._write_settings,
            )

    def _ours(self, row: LeaseRow | None) -> bool:
        return row is not None and row.holder == self.holder and row.token == self.token

    def tick(self) -> bool:
        """Renew, confirm a claim, or try to claim; returns ``active`` afterwards. A storage
        error propagates: the caller keeps calling, and ``active`` turns false at expiry."""
        try:
            return self._tick()
        except StorageUnavailable:
            self.close()  # reconnect at the next tick
            raise

    def _tick(self) -> bool:
        now = self._clock()
        row = self.read()
        if self._claimed_ns:
            # A pending claim: it stands if, an interval after it, it is still the lease.
            if not self._ours(row):
                self._lose(row)
                return False
            if now - self._claimed_ns < self._renew_ns:
                return False
            self._claimed_ns = 0
            log.info("worker lease acquired", extra={"holder": self.holder, "token": self.token})
        elif self.token:
            if not self._ours(row):
                self._lose(row)
                return False
        elif row is not None and row.expires_ns > now:
            return False  # held by another, not expired
        else:
            self.token = (row.token if row else 0) + 1
            self._claimed_ns = now
            self._write(self.token, now + self._ttl_ns)
            return False
        expires = now + self._ttl_ns
        self._write(self.token, expires)
        if not self._ours(self.read()):
            self._lose(row)
            return False
        self._valid_until_ns = expires
        return True

    def still_holds(self) -> bool:
        """The fencing check before a side effect: is the lease still ours, with our token?"""
        return self.active and self._ours(self.read())

    def release(self) -> None:
        """Give the lease up at shutdown: expire it now, so a standby need not wait the TTL."""
        if self.token and self._claimed_ns == 0 and self._ours(self.read()):
            self._write(self.token, 0)
        self._lose(None, quiet=True)

    def _lose(self, row: LeaseRow | None, *, quiet: bool = False) -> None:
        if self.token and not quiet:
            log.warning(
                "worker lease lost: another worker holds it",
                extra={"holder": self.holder, "other": row.holder if row else "", "token": self.token},
            )
        self.token = 0
        self._claimed_ns = 0
        self._valid_until_ns = 0
