"""WAL → ClickHouse: cuts the write-ahead log (WAL) into large batches and writes them in order.

Requests are acknowledged by the WAL (wal/journal.py) once fsynced; this is what happens after.
A batch is the records ``[start, end)`` of the WAL, cut when a writer is free and either
``max_items`` are waiting or the oldest waiting record is ``max_wait_s`` old (and never over
``max_bytes``). Items are counted by their cost in spans' worth (wal/records.cost: eight
metric data points count as one span), here and in the pace. Each writer ("lane") runs its
INSERTs in a thread of its own, so the next batch is written while the last one still is.

Exactly once (wal/state.py): a batch's boundaries are recorded durably before its INSERT;
every INSERT carries ``insert_deduplication_token = [<collector id>:]<generation>:<start>-<end>:<kind>``; after a
crash the recorded batches are written again with the same boundaries, and ClickHouse drops
what it already has. The checkpoint moves once an INSERT commits, and committed segments
are deleted.

Failures, and why none can block the WAL for good: retries with backoff, refused batches
split down to the record, dead letters and the check of batches written again after a restart
are the failure policy (failures.py). The cutting loop is supervised: if it crashes, the
traceback is logged and it restarts.

A batch holds records of several kinds (wal/records.py): each kind goes into its own INSERT,
through the writer registered for it, so logs and metrics get writers of their own and share
the WAL, the batches and the retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from vigil_collector.batch import failures
from vigil_collector.batch.pacing import Pacer
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.journal import Damaged, WriteAheadLog
from vigil_collector.wal.records import Record, RecordKind
from vigil_storage import StorageError

log = logging.getLogger(__name__)


class RecordWriter(Protocol):
    """Inserts records of its ``kinds`` into one table family. Raises StorageError if the
    INSERT did not commit (StorageDataError if ClickHouse refused the data itself)."""

    kinds: frozenset[RecordKind]

    def write(self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str) -> str:
        """Insert the payloads into ``database``'s tables in one INSERT with this deduplication
        token; returns a label for the metrics (who decoded them)."""
        ...

    def close(self) -> None: ...


@dataclass
class _Lane:
    """A writer per table family and the one thread they run on (a ClickHouse client never
    crosses threads)."""

    writers: dict[RecordKind, RecordWriter]
    thread: ThreadPoolExecutor


@dataclass(frozen=True)
class _Target:
    """Where a group of a batch's records goes."""

    writer: RecordWriter
    kind: RecordKind
    project: int
    database: str


@dataclass
class Batch:
    start: int
    end: int
    entries: list[Record | Damaged]
    items: int = 0
    cost: int = 0  # records.cost: what the cut and the pace count
    bytes: int = 0
    oldest_ns: int = 0
    written: dict[str, int] = field(default_factory=dict)  # items by metric label
    redo: bool = False  # recorded before a restart: written again, then checked
    cut_at: float = 0.0  # time.monotonic() when it was handed to a writer


class Batcher:
    """Lifecycle: ``start`` → (``flushed`` …) → ``drain`` → ``close``."""

    def __init__(
        self,
        wal: WriteAheadLog,
        lanes: list[list[RecordWriter]],
        *,
        max_items: int,
        max_bytes: int,
        max_wait_s: float,
        metrics: CollectorMetrics,
        databases: Callable[[int], str | None],
        storage_ready: Callable[[], bool] = lambda: True,
        retry_max_s: float = 5.0,
        pace_s: float = 0.0,
        identity: str = "",
    ) -> None:
        if not lanes or max_items <= 0 or max_bytes <= 0 or max_wait_s < 0:
            raise ValueError("need lanes, max_items > 0, max_bytes > 0, max_wait_s >= 0")
        self._wal = wal
        # The collector's stable name (VIGIL_COLLECTOR_ID), first in every token: collectors
        # writing to one cluster never share a token, and a restarted one (same name, same
        # WAL) writes its unfinished batches again under the same tokens.
        self._token_prefix = f"{identity}:" if identity else ""
        self._lanes = []
        for i, writers in enumerate(lanes):
            by_kind = {kind: w for w in writers for kind in w.kinds}
            thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vigil-writer-{i}")
            self._lanes.append(_Lane(by_kind, thread))
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_wait_s = max_wait_s
        self._metrics = metrics
        self._databases = databases  # project number → its database; None once deleted
        self._storage_ready = storage_ready
        self._retry_max_s = retry_max_s
        # Acknowledgements wait while more waits for the writers than a bound sized so that
        # an INSERT takes about pace_s (pacing.py); never below a tenth of a full batch,
        # where each INSERT's fixed cost would dominate.
        self.pacer = Pacer(
            target_s=pace_s,
            floor=max(1, max_items // 10),
            ceiling=max_items,
            unwritten=self._unwritten_cost,
            healthy=lambda: not self.last_error,
            reserved_ended=lambda: self._wakeup.set(),
        )
        self._cutter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-cutter")
        self._free: asyncio.Queue[_Lane] | None = None
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[None]] = set()
        self._redo: list[tuple[int, int]] = []
        self._next_cut = 0
        self._cut_cost = 0
        self._checkpoint = 0
        # (durable_seq, wall-clock ns) after each fsynced group not yet wholly cut: when the
        # oldest waiting record arrived.
        self._arrivals: deque[tuple[int, int]] = deque()
        self._pending: dict[tuple[int, int], int] = {}  # batches being written → oldest_ns
        self._committed_records = 0
        self._committed_bytes = 0
        self._committed_cost = 0
        self.last_error = ""  # why the latest INSERT attempt failed; '' once one commits

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start writing: first the batches a previous run cut but did not commit (same
        boundaries, same tokens), then new ones."""
        assert self._wal.state is not None, "open the WAL first"
        state = self._wal.state.state
        self._redo = sorted(state.pending)
        self._next_cut = state.next_cut
        self._checkpoint = state.checkpoint
        if self._wal.durable_seq > self._next_cut:
            self._arrivals.append((self._wal.durable_seq, self._wal.recovered.oldest_ns or time.time_ns()))
        self._free = asyncio.Queue()
        for lane in self._lanes:
            self._free.put_nowait(lane)
        self._wal.on_durable(self._on_durable)
        m = self._metrics
        m.backlog_records.set_function(lambda: self.backlog_records)
        m.backlog_bytes.set_function(lambda: self.backlog_bytes)
        m.backlog_age.set_function(self.oldest_unwritten_age_s)
        m.paced_requests.set_function(lambda: self.pacer.waiting)
        m.pace_bound.set_function(self.pacer.bound)
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="vigil-batcher")

    async def flushed(self) -> None:
        """Wait until everything appended so far is in ClickHouse (tests, read-your-writes)."""
        await self._wal.sync()
        target = self._wal.durable_seq
        while self._checkpoint < target:
            self._progress.clear()
            await self._progress.wait()

    def _unwritten_cost(self) -> int:
        return self._wal.durable_cost - self._committed_cost

    def _cut_items_limit(self) -> int:
        # Paced, the pacer lets in what the bound leaves beyond the batches being written, so
        # a batch takes all of that: a request let in but left out would wait for another
        # whole INSERT (it did when each batch took a writer's share of the bound: freshness
        # p99 at 8 x 8 up to two INSERTs). With no batch being written (the first, or all
        # writers free again), the bound is shared among the writers, so that they all write
        # at once and each batch is committed (visible) sooner.
        if not self.pacer.paced:
            return self._max_items
        bound = self.pacer.bound()
        share = bound // len(self._lanes)
        writing = self._cut_cost - self._committed_cost
        return max(1, min(self._max_items, max(share, bound - writing) if writing else share))

    def admitted(self, cost: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait, while ClickHouse is healthy but behind, until a request of ``cost`` may be
        appended (pacing.py); the block appends it."""
        return self.pacer.admitted(cost)

    async def drain(self, timeout_s: float) -> bool:
        """Write everything in the WAL within ``timeout_s``; what is left stays in the WAL for
        the next start. True if all was written."""
        self._draining = True
        self.pacer.stop()
        self._wakeup.set()
        assert self._task is not None, "start() first"
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            return True
        except TimeoutError:
            log.warning(
                "shutdown deadline: %d records left in the write-ahead log for the next start",
                self.backlog_records,
            )
            return False
        finally:
            self._stop.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close(self) -> None:
        """Stop the threads (an INSERT still running is not waited for: its batch is recorded
        and is written again, deduplicated, at the next start) and close the writers."""
        self._cutter.shutdown(wait=True)
        for lane in self._lanes:
            # Closed on their own thread, after any INSERT it is still running.
            lane.thread.submit(_close_all, list({id(w): w for w in lane.writers.values()}.values()))
            lane.thread.shutdown(wait=False)

    # --- state for metrics and readiness ---------------------------------------------------------

    @property
    def backlog_records(self) -> int:
        return self._wal.durable_records - self._committed_records

    @property
    def backlog_bytes(self) -> int:
        return self._wal.durable_bytes - self._committed_bytes

    def oldest_unwritten_age_s(self) -> float:
        oldest = [ns for ns in self._pending.values() if ns]
        if self._arrivals and self._wal.durable_seq > self._next_cut:
            oldest.append(self._arrivals[0][1])
        return max(0.0, (time.time_ns() - min(oldest)) / 1e9) if oldest else 0.0

    # --- the loop ------------------------------------------------------------------------------

    def _on_durable(self, durable_seq: int) -> None:
        self._arrivals.append((durable_seq, time.time_ns()))
        if len(self._arrivals) > 10_000:  # a long outage: keep the oldest, thin out the rest
            self._arrivals = deque(list(self._arrivals)[::2])
        self._wakeup.set()

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the batcher loop crashed; restarting it")
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        assert self._free is not None
        loop = asyncio.get_running_loop()
        while True:
            if self._redo:
                lane = await self._free.get()
                start, end = self._redo[0]
                try:
                    batch = await loop.run_in_executor(self._cutter, self._read, start, end, None)
                except BaseException:
                    self._free.put_nowait(lane)  # a crash must not lose the lane (supervised)
                    raise
                self._redo.pop(0)
                batch.redo = True
                self._cut_cost += batch.cost
                self._spawn(lane, batch)
                continue
            if self._next_cut >= self._wal.durable_seq:
                if self._draining:
                    break
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            lane = await self._free.get()
            try:
                await self._linger()
                batch = await loop.run_in_executor(
                    self._cutter, self._read, self._next_cut, self._wal.durable_seq, self._cut_items_limit()
                )
            except BaseException:
                self._free.put_nowait(lane)
                raise
            self._next_cut = batch.end
            self._cut_cost += batch.cost
            while self._arrivals and self._arrivals[0][0] <= self._next_cut:
                self._arrivals.popleft()
            self._spawn(lane, batch)
        while self._writing:
            await asyncio.gather(*self._writing, return_exceptions=True)

    async def _linger(self) -> None:
        """Until a full batch waits, the oldest waiting record is max_wait old, the pacer
        holds requests back (nothing more comes until a batch commits), or draining. While
        the pacer has just let requests in, until they are durable rather than max_wait:
        cutting before them would make a small batch, and small batches are what a
        saturated ClickHouse can least afford (each INSERT has a fixed cost)."""
        while not self._draining:
            waiting = self._wal.durable_cost - self._cut_cost
            if waiting >= self._cut_items_limit() or not self._arrivals or self.pacer.holding:
                return
            if self.pacer.appending:
                timeout = self._max_wait_s
            else:
                timeout = self._max_wait_s - (time.time_ns() - self._arrivals[0][1]) / 1e9
                if timeout <= 0:
                    return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return

    def _read(self, start: int, limit: int, cut_items: int | None) -> Batch:
        """Read a batch from the WAL (cutter thread): a new one of at most ``cut_items`` is
        recorded before it is written; a recorded one (``None``) is read with its recorded
        boundaries."""
        if cut_items is not None:
            entries, end = self._wal.read(start, limit, cut_items, self._max_bytes)
            assert self._wal.state is not None
            self._wal.state.cut(start, end)
        else:
            entries, end = self._wal.read(start, limit, 2**62, 2**62)
            end = limit
        batch = Batch(start, end, entries)
        for e in entries:
            if isinstance(e, Record):
                batch.items += e.items
                batch.cost += e.cost
                batch.bytes += e.size
                batch.oldest_ns = batch.oldest_ns or e.appended_ns
        return batch

    def _spawn(self, lane: _Lane, batch: Batch) -> None:
        self._pending[(batch.start, batch.end)] = batch.oldest_ns
        batch.cut_at = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._write(lane, batch))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, lane: _Lane, batch: Batch) -> None:
        """Write one batch until it commits (or the collector stops); always frees the lane."""
        assert self._free is not None
        loop = asyncio.get_running_loop()
        backoff = failures.Backoff(self._retry_max_s)
        try:
            while True:
                started = time.perf_counter()
                reason = ""
                if not self._storage_ready():
                    reason = "storage not ready (migrations pending)"
                else:
                    try:
                        checkpoint = await loop.run_in_executor(
                            lane.thread, self._write_sync, lane, batch, backoff.attempt
                        )
                        break
                    except StorageError as exc:
                        reason = exc.reason
                    except Exception as exc:
                        log.exception("writing records %d-%d failed unexpectedly", batch.start, batch.end)
                        reason = f"internal error {type(exc).__name__}: {exc}"
                delay = backoff.failed()
                self.last_error = reason
                self.pacer.wake()  # an outage is not paced: let the waiting requests in
                self._metrics.insert_failures.inc()
                if backoff.worth_logging:
                    log.warning(
                        "records %d-%d (%d items) not written, retrying (attempt %d): %s",
                        batch.start,
                        batch.end,
                        batch.items,
                        backoff.attempt,
                        reason,
                    )
                if self._stop.is_set():
                    return  # recorded in the state: written at the next start
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
            self._metrics.insert_seconds.observe(time.perf_counter() - started)
            if batch.oldest_ns:
                self._metrics.commit_lag.observe(max(0.0, (time.time_ns() - batch.oldest_ns) / 1e9))
            self._metrics.batch_spans.observe(batch.items)
            for label, items in batch.written.items():
                self._metrics.decoded_spans.labels(label).inc(items)
            self._committed_records += sum(1 if isinstance(e, Record) else e.records for e in batch.entries)
            self._committed_bytes += batch.bytes + sum(
                len(e.raw) for e in batch.entries if isinstance(e, Damaged)
            )
            self._committed_cost += batch.cost
            self._checkpoint = max(self._checkpoint, checkpoint)  # lanes commit in any order
            self.last_error = ""
            self._pending.pop((batch.start, batch.end), None)
            self._progress.set()
            self.pacer.committed(time.monotonic() - batch.cut_at)
        finally:
            self._free.put_nowait(lane)

    # --- in the lane's thread -------------------------------------------------------------------

    def _write_sync(self, lane: _Lane, batch: Batch, attempt: int) -> int:
        """Insert the batch, a kind and project at a time; returns the new checkpoint."""
        batch.written = defaultdict(int)
        groups: dict[tuple[RecordKind, int], list[Record]] = {}
        for e in batch.entries:
            if isinstance(e, Record):
                groups.setdefault((e.kind, e.project), []).append(e)
        for (kind, project), records in groups.items():
            writer = lane.writers.get(kind)
            database = self._databases(project)
            if writer is None or database is None:
                reason = (
                    f"no writer for record kind {kind.name}"
                    if writer is None
                    else f"project {project} no longer exists"
                )
                for r in records:
                    failures.dead_letter(self._wal.dead_letters, r, reason)
                continue
            target = _Target(writer, kind, project, database)
            failures.split_refused(
                lambda rs, first, end, target=target: self._insert(batch, target, rs, first, end),
                records,
                batch.start,
                batch.end,
                attempt,
                self._wal.dead_letters,
            )
        for e in batch.entries:
            if isinstance(e, Damaged):
                self._wal.dead_letters.add_bytes(e.seq, 0, 0, e.raw, e.reason)
        assert self._wal.state is not None
        checkpoint = self._wal.state.commit(batch.start, batch.end)
        self._wal.release(checkpoint)
        return checkpoint

    def _insert(self, batch: Batch, target: _Target, records: list[Record], first: int, end: int) -> None:
        """One INSERT of ``records`` (sequence numbers ``first`` to ``end``), with the token
        that makes a repeat of it after a crash a no-op."""
        token = (
            f"{self._token_prefix}{self._wal.generation}:{first}-{end}:{int(target.kind)}:{target.project}"
        )
        items = sum(r.items for r in records)
        payloads = [r.payload for r in records]
        label = target.writer.write(target.kind, payloads, items, token, target.database)
        batch.written[label] += items
        if batch.redo:
            failures.recover_redo(target.writer, target.kind, payloads, token, target.database, first, end)


def _close_all(writers: list[RecordWriter]) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()
