"""The worker lease (server/vigil_server/worker_lease.py) and the worker role built on it:
two holders over one real chDB storage (two processes cannot open one chDB directory, so the
mechanism is tested with two holders in one process, each with its own client)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
from clickhouse_connect.driver.client import Client

from vigil_alerting.triage.lock import TriageLock
from vigil_server.worker import Worker, WorkerJob
from vigil_server.worker_lease import LeaseRow, WorkerLease, new_holder
from vigil_storage import connect

from support import REPO

DB = "lease_test_sys"
TTL_NS = 30 * 10**9
RENEW_NS = 10 * 10**9


class Clock:
    def __init__(self) -> None:
        self.ns = time.time_ns()

    def __call__(self) -> int:
        return self.ns

    def advance(self, ns: int) -> None:
        self.ns += ns


@pytest.fixture
def system_db(ch: Client) -> Iterator[str]:
    ch.command(f"DROP DATABASE IF EXISTS {DB}")
    ch.command(f"CREATE DATABASE {DB}")
    yield DB
    ch.command(f"DROP DATABASE IF EXISTS {DB}")


def lease(dsn: str, clock: Clock, who: str) -> WorkerLease:
    held = WorkerLease(
        lambda: connect(dsn), DB, new_holder(who), ttl_s=TTL_NS / 1e9, renew_s=RENEW_NS / 1e9, clock=clock
    )
    held.ensure_table()
    return held


def test_one_of_two_holders_is_active_and_the_other_takes_over_after_expiry(app, system_db: str) -> None:
    clock = Clock()
    a, b = lease(app.settings.dsn, clock, "a"), lease(app.settings.dsn, clock, "b")
    # Both find the lease free and claim it in the same round: neither acts yet.
    assert (a.tick(), b.tick()) == (False, False)
    clock.advance(RENEW_NS)
    results = (a.tick(), b.tick())
    assert sorted(results) == [False, True], "exactly one claim stands"
    active, standby = (a, b) if results[0] else (b, a)
    token = active.token
    assert active.still_holds() and not standby.still_holds()
    # Renewals keep it; the standby keeps waiting while it does.
    for _ in range(5):
        clock.advance(RENEW_NS)
        assert active.tick() and not standby.tick()
    assert active.token == token
    # The active one stops renewing (a crash, ClickHouse unreachable from it): once its lease
    # expired it no longer counts as active, and the standby claims with a higher token.
    clock.advance(TTL_NS + 1)
    assert not active.active
    assert not standby.tick()  # the claim
    clock.advance(RENEW_NS)
    assert standby.tick() and standby.token == token + 1
    # The old holder comes back: it finds the lease taken and does not act again.
    assert not active.tick() and active.token == 0
    assert not active.still_holds() and standby.still_holds()


def test_release_hands_over_without_waiting_for_the_ttl(app, system_db: str) -> None:
    clock = Clock()
    a, b = lease(app.settings.dsn, clock, "a"), lease(app.settings.dsn, clock, "b")
    a.tick()
    clock.advance(RENEW_NS)
    assert a.tick() and not b.tick()
    a.release()
    assert not a.active
    assert not b.tick()  # claims at once: the released lease has expired
    clock.advance(RENEW_NS)
    assert b.tick()


def test_a_claim_overtaken_by_another_never_acts(app, system_db: str) -> None:
    clock = Clock()
    a, b = lease(app.settings.dsn, clock, "a"), lease(app.settings.dsn, clock, "b")
    assert not a.tick()  # a claims
    clock.advance(1_000)
    # b read the lease before a's claim landed and claims too (simulated: b writes its claim
    # through the same path after reading nothing): the later write is the lease.
    b._claimed_ns, b.token = clock(), 1
    b._write(1, clock() + TTL_NS)
    clock.advance(RENEW_NS)
    assert not a.tick() and a.token == 0
    assert b.tick() and b.still_holds()


def test_settings_refuse_a_renewal_slower_than_the_ttl(app) -> None:
    with pytest.raises(ValueError, match="shorter"):
        WorkerLease(lambda: connect(app.settings.dsn), DB, "x", ttl_s=5, renew_s=5)


def test_two_workers_one_runs_the_jobs_the_other_waits_then_takes_over(app, system_db: str) -> None:
    ran: dict[str, int] = {"a": 0, "b": 0}

    def job(who: str) -> WorkerJob:
        async def run(stop: asyncio.Event) -> None:
            while not stop.is_set():
                ran[who] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.02)

        return WorkerJob("count", run)

    async def wait_for(cond, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)

    # Each lease's clock is read once a round (at the top of its tick): its rounds, counted.
    rounds: dict[str, int] = {"a": 0, "b": 0}

    def clock(who: str) -> Callable[[], int]:
        def now() -> int:
            rounds[who] += 1
            return time.time_ns()

        return now

    async def scenario() -> None:
        def make(who: str) -> Worker:
            held = WorkerLease(
                lambda: connect(app.settings.dsn),
                DB,
                new_holder(who),
                # Far beyond a renewal: a loaded machine's late renewal must not hand the lease
                # over (the standby takes over at once on a release, not at the expiry).
                ttl_s=5.0,
                renew_s=0.2,
                clock=clock(who),
            )
            return Worker(held, [job(who)], renew_s=0.2)

        a, b = make("a"), make("b")
        await a.start()
        await b.start()
        await wait_for(lambda: a.active or b.active)
        first, second = (a, b) if a.active else (b, a)
        name_second = "b" if first is a else "a"
        before, looked = ran[name_second], rounds[name_second]
        # Three rounds of the standby's own, however slow the machine: it stays idle.
        await wait_for(lambda: rounds[name_second] >= looked + 3)
        assert not second.active and ran[name_second] == before
        await first.stop()  # releases: the standby takes over within a couple of rounds
        await wait_for(lambda: second.active)
        await wait_for(lambda: ran[name_second] > before)
        await second.stop()

    asyncio.run(scenario())


def test_the_lease_and_the_triage_lock_share_their_cluster_settings() -> None:
    """One definition of compare-after-write's cluster settings (vigil_storage/claims.py): the
    lease and the triage lock both take theirs from it, and say why the rest is not shared."""
    users = ["server/vigil_server/worker_lease.py", "alerting/vigil_alerting/triage/lock.py"]
    for path in users:
        text = (REPO / path).read_text()
        assert 'insert_quorum"' not in text and "vigil_storage.claims import" in text, path
        assert "vigil_storage/claims.py" in text, f"{path} does not point to the shared part"
    lease = WorkerLease(lambda: None, DB, "h", ttl_s=3, renew_s=1, cluster=True)  # type: ignore[arg-type,return-value]
    lock = TriageLock(DB, "h", ttl_s=3, settle_s=1, cluster=True)
    assert lease._write_settings["insert_quorum"] == "auto" and lock.write_settings["insert_quorum"] == "auto"
    assert lease._read_settings == lock.read_settings == {"select_sequential_consistency": 1}
    single = TriageLock(DB, "h", ttl_s=3, settle_s=1)
    assert "insert_quorum" not in single.write_settings and single.read_settings == {}


def test_a_lease_table_made_before_addresses_gets_the_column_and_the_holder_its_address(
    app, ch: Client, system_db: str
) -> None:
    # The table as versions before the split alerting API made it: no Address column.
    ch.command(
        f"CREATE TABLE {DB}.vigil_worker_lease (Name String, Holder String, Token UInt64, ExpiresNs Int64, "
        "WrittenNs Int64) ENGINE = ReplacingMergeTree(WrittenNs) ORDER BY Name"
    )
    ch.command(f"INSERT INTO {DB}.vigil_worker_lease VALUES ('worker', 'old/1', 3, 0, 1)")
    clock = Clock()
    held = lease(app.settings.dsn, clock, "new")  # ensure_table: the upgrade
    held.address = "worker-0.example:4319"
    assert held.read() == LeaseRow("old/1", 3, 0, "")  # an old row reads with no address
    assert not held.tick()  # the expired lease claimed, with the next token
    clock.advance(RENEW_NS)
    assert held.tick()
    row = held.read()
    assert row is not None and (row.holder, row.token, row.address) == (
        held.holder,
        4,
        "worker-0.example:4319",
    )
    assert held.seen == row
    held.close()
