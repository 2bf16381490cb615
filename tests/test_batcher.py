"""The batcher's contract, between a real write-ahead log and a writer the test controls (the
Batcher takes any RecordWriter): acks do not wait for ClickHouse, batches are cut by size
and time, retried until they commit, refused records go to dead letters, and after a crash
the same batches are written again with the same deduplication tokens."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vigil_collector.batch import Batcher
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.journal import WriteAheadLog
from vigil_collector.wal.records import RecordKind
from vigil_storage import StorageUnavailable
from vigil_storage.errors import StorageDataError

KIND = RecordKind.TRACES_OTLP


class RecordingWriter:
    """Remembers what it is given (payloads and tokens); can be held or made to fail."""

    kinds = frozenset({RecordKind.TRACES_OTLP, RecordKind.TRACES_ARROW})

    def __init__(self) -> None:
        self.inserts: list[tuple[str, list[bytes]]] = []
        self.databases: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_with: Exception | None = None
        self.refuse: set[bytes] = set()
        self.attempts = 0

    def write(self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str) -> str:
        self.attempts += 1
        self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        if self.refuse & set(payloads):
            raise StorageDataError(
                "inserting: Code: 27. Cannot parse input (CANNOT_PARSE_INPUT_ASSERTION_FAILED)"
            )
        self.inserts.append((token, payloads))
        self.databases.append(database)
        return "test"

    def close(self) -> None:
        pass

    @property
    def stored(self) -> list[bytes]:
        return [p for _, payloads in self.inserts for p in payloads]


class RecoveringRecorder(RecordingWriter):
    """Also asked, for batches written again after a restart, to check and fill them."""

    def __init__(self) -> None:
        super().__init__()
        self.recovered: list[str] = []

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        self.recovered.append(token)
        return 0


def open_log(directory: Path) -> WriteAheadLog:
    wal = WriteAheadLog(directory, max_bytes=64 * 1024 * 1024, metrics=CollectorMetrics())
    wal.open()
    wal.start()
    return wal


def make_batcher(wal: WriteAheadLog, *writers: RecordingWriter, **kw: float) -> Batcher:
    opts = {"max_items": 1000, "max_bytes": 1 << 30, "max_wait_s": 0.05} | kw
    batcher = Batcher(
        wal,
        [[w] for w in writers],
        metrics=CollectorMetrics(),
        databases={0: "otel", 3: "otel_three"}.get,
        retry_max_s=0.2,
        **opts,
    )  # type: ignore[arg-type]
    batcher.start()
    return batcher


async def stop(wal: WriteAheadLog, batcher: Batcher, timeout_s: float = 5) -> bool:
    wal.stop_accepting()
    drained = await batcher.drain(timeout_s)
    batcher.close()
    wal.close()
    return drained


async def until(condition: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    """Polls ``condition`` on the loop (the batcher runs on it) until true; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        await asyncio.sleep(0.01)


def test_waiting_records_share_one_insert(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        batcher = make_batcher(wal, writer, max_wait_s=0.3)
        await asyncio.gather(*(wal.append(KIND, 10, b"r%d" % i) for i in range(20)))
        await batcher.flushed()
        assert len(writer.inserts) == 1 and len(writer.stored) == 20
        token, _ = writer.inserts[0]
        assert token == f"{wal.generation}:0-20:{int(KIND)}:0"
        # Committed after lingering for more: its oldest record waited at least that long.
        registry = batcher._metrics.registry
        assert registry.get_sample_value("vigil_batcher_commit_lag_seconds_count") == 1
        assert registry.get_sample_value("vigil_batcher_commit_lag_seconds_sum") >= 0.3
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_a_full_batch_is_cut_without_waiting(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        batcher = make_batcher(wal, writer, max_items=100, max_wait_s=30)
        await asyncio.gather(*(wal.append(KIND, 50, b"r%d" % i) for i in range(4)))
        await asyncio.wait_for(batcher.flushed(), 5)
        assert [len(p) for _, p in writer.inserts] == [2, 2]
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_acks_do_not_wait_for_clickhouse_and_failures_are_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        writer.fail_with = StorageUnavailable("inserting: ClickHouse unavailable: connection refused")
        batcher = make_batcher(wal, writer)
        # Acknowledged (fsynced) while every INSERT fails.
        await asyncio.wait_for(asyncio.gather(*(wal.append(KIND, 5, b"r%d" % i) for i in range(30))), 5)
        await until(lambda: writer.attempts >= 2, "a retry of the failed INSERT")
        assert not writer.inserts
        assert batcher.backlog_records == 30
        writer.fail_with = None  # ClickHouse is back: the backlog drains by itself, oldest first
        await asyncio.wait_for(batcher.flushed(), 10)
        assert writer.stored == [b"r%d" % i for i in range(30)]
        assert batcher.backlog_records == 0
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_a_refused_record_goes_to_dead_letters_and_the_rest_is_written(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        writer.refuse = {b"poison"}
        batcher = make_batcher(wal, writer, max_wait_s=0.2)
        await asyncio.gather(
            wal.append(KIND, 1, b"a"), wal.append(KIND, 1, b"poison"), wal.append(KIND, 1, b"b")
        )
        await asyncio.wait_for(batcher.flushed(), 5)
        assert sorted(writer.stored) == [b"a", b"b"]
        # One record at a time after the whole batch was refused: each with its own token.
        assert all(
            token.endswith(f"-{int(token.split(':')[1].split('-')[0]) + 1}:1:0")
            for token, _ in writer.inserts
        )
        entries = wal.dead_letters.entries()
        assert len(entries) == 1 and "CANNOT_PARSE_INPUT_ASSERTION_FAILED" in str(entries[0]["reason"])
        assert (wal.dead_letters.directory / str(entries[0]["file"])).read_bytes() == b"poison"
        await wal.append(KIND, 1, b"later")
        await asyncio.wait_for(batcher.flushed(), 5)
        assert writer.stored[-1] == b"later"
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_after_a_crash_the_same_batches_are_written_again_with_the_same_tokens(tmp_path: Path) -> None:
    """The batch was cut (recorded) and its INSERT may or may not have committed when the
    process died: the next start writes exactly that batch again, with the same token, which
    ClickHouse deduplicates, and then what followed it."""
    tokens: list[str] = []

    async def first_run() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        writer.release.clear()  # the INSERT hangs: the process "dies" during it
        batcher = make_batcher(wal, writer, max_items=30)
        await asyncio.gather(*(wal.append(KIND, 10, b"r%d" % i) for i in range(5)))
        await until(lambda: writer.attempts, "the INSERT to start")
        assert wal.state is not None and wal.state.state.pending == [(0, 3)]
        assert not await stop(wal, batcher, timeout_s=0.3)
        # The "dead" process's INSERT must never finish: released to a failure, so that its
        # thread cannot commit the batch while the next run opens the log.
        writer.fail_with = RuntimeError("the process died during this INSERT")
        writer.release.set()

    async def second_run() -> None:
        wal = open_log(tmp_path)
        assert wal.recovered.records == 5
        writer = RecoveringRecorder()
        batcher = make_batcher(wal, writer, max_items=30)
        await asyncio.wait_for(batcher.flushed(), 5)
        tokens.extend(t for t, _ in writer.inserts)
        assert writer.stored == [b"r%d" % i for i in range(5)]
        generation = wal.generation
        assert tokens[0] == f"{generation}:0-3:1:0"
        # Only the batch written again is checked (its INSERT may have been dropped as a
        # duplicate of one that never committed: batch/failures.RecoveringWriter).
        assert writer.recovered == [tokens[0]]
        assert await stop(wal, batcher)

    asyncio.run(first_run())
    asyncio.run(second_run())
    assert not list(tmp_path.glob("*.wal"))[1:]  # committed segments are deleted


def test_an_unexpected_writer_exception_never_blocks_the_wal(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        writer.fail_with = KeyError("a bug")
        batcher = make_batcher(wal, writer)
        await wal.append(KIND, 1, b"unlucky")
        await asyncio.wait_for(batcher.flushed(), 10)  # retried three times, then set aside
        assert len(wal.dead_letters.entries()) == 1
        writer.fail_with = None
        await wal.append(KIND, 1, b"fine")
        await asyncio.wait_for(batcher.flushed(), 5)
        assert writer.stored == [b"fine"]
        assert await stop(wal, batcher)

    asyncio.run(scenario())


@pytest.mark.parametrize("lanes", [2])
def test_free_writers_share_the_backlog(tmp_path: Path, lanes: int) -> None:
    async def scenario() -> None:
        wal = open_log(tmp_path)
        writers = [RecordingWriter() for _ in range(lanes)]
        for w in writers:
            w.release.clear()
        batcher = make_batcher(wal, *writers, max_items=100)
        await asyncio.gather(*(wal.append(KIND, 50, b"r%d" % i) for i in range(8)))
        # Every lane takes a batch while all are held: none waits for another's INSERT.
        await until(lambda: all(w.attempts for w in writers), "every writer lane holding a batch")
        for w in writers:
            w.release.set()
        await asyncio.wait_for(batcher.flushed(), 5)
        assert all(w.inserts for w in writers)
        assert sorted(p for w in writers for p in w.stored) == sorted(b"r%d" % i for i in range(8))
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_records_go_to_their_projects_database(tmp_path: Path) -> None:
    """One INSERT per project of a batch, each into that project's database and with its own
    token; records of a project that no longer exists go to dead letters."""

    async def scenario() -> None:
        wal = open_log(tmp_path)
        writer = RecordingWriter()
        batcher = make_batcher(wal, writer, max_wait_s=0.2)
        await asyncio.gather(
            wal.append(KIND, 1, b"p0-a"),
            wal.append(KIND, 1, b"p3-a", project=3),
            wal.append(KIND, 1, b"p0-b"),
            wal.append(KIND, 1, b"gone", project=9),
        )
        await asyncio.wait_for(batcher.flushed(), 5)
        stored = {db: payloads for db, (_, payloads) in zip(writer.databases, writer.inserts, strict=True)}
        assert stored == {"otel": [b"p0-a", b"p0-b"], "otel_three": [b"p3-a"]}
        assert sorted(token.rsplit(":", 1)[1] for token, _ in writer.inserts) == ["0", "3"]
        (dead,) = wal.dead_letters.entries()
        assert "project 9 no longer exists" in str(dead["reason"])
        assert await stop(wal, batcher)

    asyncio.run(scenario())


def test_tokens_carry_the_collector_identity_and_a_restart_keeps_them(tmp_path: Path) -> None:
    """N collectors on one cluster: each token starts with the collector's stable identity
    (VIGIL_COLLECTOR_ID), so two collectors never share one even with equal boundaries; a
    restarted collector (same identity, same log) writes its cut batch under the same token."""
    attempted: dict[str, list[str]] = {"collector-0": [], "collector-1": []}

    class Attempts(RecordingWriter):
        def __init__(self, who: str) -> None:
            super().__init__()
            self.who = who

        def write(
            self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str
        ) -> str:
            attempted[self.who].append(token)
            return super().write(kind, payloads, items, token, database)

    async def run(who: str, crash: bool) -> str:
        wal = open_log(tmp_path / who)
        writer = Attempts(who)
        if crash:
            writer.release.clear()
        batcher = make_batcher(wal, writer, max_items=30, identity=who)  # type: ignore[arg-type]
        if crash:
            await asyncio.gather(*(wal.append(KIND, 10, b"r%d" % i) for i in range(3)))
            await until(lambda: writer.attempts, "the INSERT to start")
            assert not await stop(wal, batcher, timeout_s=0.3)
            writer.fail_with = RuntimeError("the process died during this INSERT")
            writer.release.set()
            return ""
        await asyncio.wait_for(batcher.flushed(), 5)
        generation = wal.generation
        assert await stop(wal, batcher)
        return generation

    asyncio.run(run("collector-0", crash=True))
    asyncio.run(run("collector-1", crash=True))
    generations = {who: asyncio.run(run(who, crash=False)) for who in attempted}
    for who, tokens in attempted.items():
        assert tokens[0] == f"{who}:{generations[who]}:0-3:{int(KIND)}:0"
        assert tokens[-1] == tokens[0], "the batch written again after the restart, same token"
    assert not set(attempted["collector-0"]) & set(attempted["collector-1"])
