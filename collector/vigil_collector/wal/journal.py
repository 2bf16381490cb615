"""The write-ahead log: an acknowledged request is a record fsynced here.

Why a segmented append-only file and not SQLite: the log is written once, read once in
order and dropped from the front; that is exactly a sequence of files, and it costs one
``write`` and one shared ``fdatasync`` per group of requests, with no page, index or
journal writes on top (SQLite in WAL mode writes each payload twice, into its WAL and then
its database, and frees pages instead of deleting files). The format is in records.py.

Group fsync: ``append`` (on the event loop) queues a record and awaits it; one appender
thread takes everything queued, writes it and calls ``fdatasync`` once, then resolves all
of those appends. While one fsync runs the next group gathers, so many concurrent requests
share one fsync, and a lone client pays one (~0.5 ms here) per request.

Readers (the batcher) only ever see records up to ``durable_seq``: a record that is written
but not fsynced may still vanish in a crash, and inserting it could store spans whose
client, never acknowledged, sends them again.

A record may carry the digest of the request it came from (idempotent ingest, dedup.py):
``recent`` lists, after ``open``, the digests the log and its recent-request index
(recent.py) hold from the last ``dedup_window_s`` seconds, and ``release`` saves the digests
of the segments it deletes to that index first.

The log is bounded on disk (``max_bytes``): an append that does not fit is refused with a
retryable error, and room comes back when the writers' checkpoint passes whole segments,
which are then deleted (``release``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil_collector.errors import Overloaded, RecordTooLarge, ShuttingDown, WalUnavailable
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.dead_letter import DEFAULT_MAX_BYTES as DEFAULT_DEAD_LETTER_BYTES
from vigil_collector.wal.dead_letter import DeadLetters
from vigil_collector.wal.recent import RecentIndex
from vigil_collector.wal.records import (
    RECORD_HEADER,
    SEGMENT_HEADER,
    Record,
    RecordKind,
    cost,
    encode_header,
    encode_segment_header,
)
from vigil_collector.wal.segments import (
    ScannedSegment,
    SegmentReader,
    list_segments,
    scan_segment,
    segment_digests,
    segment_path,
)
from vigil_collector.wal.state import StateFile, fsync_dir, private_dir

log = logging.getLogger(__name__)

LOCK_FILE = "LOCK"
DEAD_LETTER_DIR = "dead-letter"
MAX_SEGMENT_BYTES = 64 * 1024 * 1024


class WalLocked(RuntimeError):
    """Another process holds the WAL's directory (its lock file)."""


@dataclass(frozen=True)
class Damaged:
    """Records from ``seq`` to the end of their segment that can no longer be read (their
    bytes changed on disk after they were checked), raw, for the dead-letter directory."""

    seq: int
    raw: bytes
    reason: str
    records: int = 0  # how many sequence numbers it covers (seq to the next segment's first)


@dataclass(frozen=True)
class Backlog:
    """What the log recovered at open: records durable but not yet in ClickHouse."""

    records: int
    items: int
    bytes: int
    oldest_ns: int


@dataclass
class _Append:
    kind: int
    items: int
    payload: bytes
    appended_ns: int
    done: asyncio.Future[int]
    project: int = 0
    seq: int = 0
    digest: bytes = b""

    @property
    def size(self) -> int:
        """Bytes on disk, header included."""
        return RECORD_HEADER.size + len(self.digest) + len(self.payload)


@dataclass
class _Segment:
    first_seq: int
    path: Path
    size: int


class WriteAheadLog:
    """Lifecycle: ``open`` (blocking: lock and recover) → ``start`` (on the loop) →
    ``append``… → ``stop_accepting`` → ``close``."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        metrics: CollectorMetrics,
        segment_bytes: int | None = None,
        dead_letter_max_bytes: int = DEFAULT_DEAD_LETTER_BYTES,
        dedup_window_s: float = 0.0,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Small logs get small segments, so that deleting one frees a useful share.
        self._segment_bytes = segment_bytes or max(1024 * 1024, min(MAX_SEGMENT_BYTES, max_bytes // 8))
        self._metrics = metrics
        self.dead_letters = DeadLetters(
            directory / DEAD_LETTER_DIR,
            metrics.dead_letter_records,
            metrics.dead_letters_dropped,
            max_bytes=dead_letter_max_bytes,
        )
        self.state: StateFile | None = None
        self._lock_fd: int | None = None
        self._segments: list[_Segment] = []  # oldest first; guarded by _seg_lock
        self._seg_lock = threading.Lock()
        self._fd: int | None = None  # the segment being appended to (appender thread only)
        self._disk_bytes = 0  # on disk plus queued to be written; guarded by _seg_lock
        self._next_seq = 0  # the sequence number of the next record written (appender thread)
        self.durable_seq = 0  # every record below is fsynced; read on any thread
        # Counted over the records fsynced since open, plus the backlog recovered at open:
        self.durable_records = 0
        self.durable_cost = 0  # of the records durable so far (records.cost): the batcher's measure
        self.durable_bytes = 0
        self._last_append: asyncio.Future[int] | None = None
        self._queue: list[_Append] = []
        self._seal_requests: list[threading.Event] = []  # readers waiting for _seal_active
        self._cond = threading.Condition()
        self._closing = False
        self._accepting = False
        self._failed: str = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_durable: list[Callable[[int], None]] = []
        self._readers: dict[int, SegmentReader] = {}
        self._hint: tuple[int, int, int] = (-1, -1, 0)  # (seq, segment, offset) after the last read
        self.recovered = Backlog(0, 0, 0, 0)
        self.dedup_window_s = dedup_window_s
        self._recent_index = RecentIndex(directory, dedup_window_s) if dedup_window_s > 0 else None
        # After open: (appended_ns, digest) of the requests of the window, oldest first.
        self.recent: list[tuple[int, bytes]] = []

    # --- lifecycle -----------------------------------------------------------------------

    def open(self) -> Backlog:
        """Lock the directory, drop a torn tail, delete what is committed; returns the
        backlog: what must still be written to ClickHouse."""
        private_dir(self.directory)
        self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise WalLocked(
                f"another Vigil process is using the write-ahead log in {self.directory}; "
                "give each collector its own VIGIL_WAL_DIR"
            ) from None
        self.state = state = StateFile(self.directory)
        found = list_segments(self.directory)
        if not state.exists:
            if found:
                log.warning(
                    "write-ahead log %s has segments but no state file: writing all of it again "
                    "(spans already in ClickHouse may be stored twice)",
                    self.directory,
                )
            state.start_at(found[0][0] if found else 0)
        checkpoint = state.state.checkpoint
        pending = list(state.state.pending)
        next_cut = state.state.next_cut

        def in_backlog(seq: int) -> bool:
            return seq >= next_cut or any(s <= seq < e for s, e in pending)

        records = items = costs = size = 0
        oldest = 0
        kept: list[_Segment] = []
        recent: list[tuple[int, bytes]] = []
        for i, (first_seq, path) in enumerate(found):
            following = found[i + 1][0] if i + 1 < len(found) else None
            if following is not None and following <= checkpoint:
                if self._recent_index is not None:
                    self._recent_index.add(segment_digests(path))
                path.unlink()  # every record in it is committed
                continue
            scanned = scan_segment(first_seq, path, in_backlog)
            recent += scanned.digests
            last = following is None
            if scanned.problem:
                self._repair(scanned, last)
            if scanned.records == 0:  # no header, or a crash right after a segment was started
                path.unlink()
                continue
            if first_seq < self._next_seq:
                raise RuntimeError(f"write-ahead log segments overlap at {path.name}")
            kept.append(_Segment(first_seq, path, scanned.valid_bytes))
            records += scanned.backlog_records
            items += scanned.backlog_items
            costs += scanned.backlog_cost
            size += scanned.backlog_bytes
            if scanned.backlog_records and not oldest:
                oldest = scanned.oldest_backlog_ns
            self._next_seq = scanned.end_seq
        fsync_dir(self.directory)
        lost = [(s, e) for s, e in pending if e > self._next_seq]
        if lost:
            # Only fsynced records are ever cut into batches: this means the disk lost data.
            log.error("write-ahead log: the records of batches %s are gone; they cannot be written", lost)
            for batch in lost:
                state.commit(*batch)
        self._next_seq = max(self._next_seq, next_cut)
        self._segments = kept
        self._disk_bytes = sum(s.size for s in kept)
        self.durable_seq = self._next_seq
        self.durable_records, self.durable_cost, self.durable_bytes = records, costs, size
        self.recovered = Backlog(records, items, size, oldest)
        if self._recent_index is not None:
            cutoff = time.time_ns() - int(self.dedup_window_s * 1e9)
            self.recent = sorted(self._recent_index.load() + [e for e in recent if e[0] >= cutoff])
        self._metrics.wal_bytes.set(self._disk_bytes)
        return self.recovered

    def _repair(self, scanned: ScannedSegment, last: bool) -> None:
        """A segment whose scan stopped early: the last one was torn by a crash mid-append
        (never acknowledged: cut off); an earlier one is damaged (kept aside)."""
        if last:
            log.warning(
                "write-ahead log: dropping the torn tail of %s (%s, %d bytes): a crash during an "
                "append, never acknowledged",
                scanned.path.name,
                scanned.problem,
                scanned.file_bytes - scanned.valid_bytes,
            )
        else:
            raw = _read_from(scanned.path, scanned.valid_bytes)
            self.dead_letters.add_bytes(
                scanned.end_seq,
                0,
                0,
                raw,
                f"damaged write-ahead log segment {scanned.path.name}: {scanned.problem}",
            )
            log.error(
                "write-ahead log segment %s is damaged (%s): %d bytes after its record %d moved to %s",
                scanned.path.name,
                scanned.problem,
                len(raw),
                scanned.end_seq,
                self.dead_letters.directory,
            )
        with open(scanned.path, "r+b") as f:
            f.truncate(scanned.valid_bytes)
            os.fsync(f.fileno())

    def start(self) -> None:
        """Start the appender thread; appends are accepted from now on."""
        self._loop = asyncio.get_running_loop()
        self._accepting = True
        self._thread = threading.Thread(target=self._append_loop, name="vigil-wal", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        self._accepting = False

    def close(self) -> None:
        """Write what is queued, stop the appender, release the directory."""
        self._accepting = False
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def sync(self) -> None:
        """Wait until every append made so far has been fsynced (or has failed)."""
        last = self._last_append
        if last is not None and not last.done():
            await asyncio.wait([last])

    def on_durable(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(durable_seq)`` on the loop after each fsynced group."""
        self._on_durable.append(callback)

    # --- appending (event loop) ------------------------------------------------------------

    @property
    def generation(self) -> str:
        assert self.state is not None, "open() first"
        return self.state.state.generation

    @property
    def disk_bytes(self) -> int:
        return self._disk_bytes

    @property
    def full(self) -> bool:
        """Too full for requests of ordinary size: what /ready reports as not ready."""
        return self._disk_bytes >= self.max_bytes * 0.99

    async def append(
        self, kind: RecordKind, items: int, payload: bytes, project: int = 0, digest: bytes = b""
    ) -> int:
        """Append one record of ``project``; returns its sequence number once it is fsynced. Raises
        Overloaded when the log is full, ShuttingDown once closing, WalUnavailable when the
        disk failed."""
        return await asyncio.shield(self.enqueue(kind, items, payload, project, digest))

    def enqueue(
        self, kind: RecordKind, items: int, payload: bytes, project: int = 0, digest: bytes = b""
    ) -> asyncio.Future[int]:
        """Queue one record (with the request's ``digest``, if given); the future gets its
        sequence number once it is fsynced, or the error. Refusals (full, closing, failed) are
        raised here. Once queued, the record is written whatever its caller does."""
        if not self._accepting:
            raise ShuttingDown("collector is shutting down; retry against another instance or later")
        if self._failed:
            raise WalUnavailable(f"write-ahead log unusable: {self._failed}")
        size = RECORD_HEADER.size + len(digest) + len(payload)
        if size + SEGMENT_HEADER.size > self.max_bytes:
            raise RecordTooLarge(
                f"request of {len(payload)} bytes is larger than the write-ahead log "
                f"(VIGIL_WAL_MAX_BYTES={self.max_bytes})"
            )
        with self._seg_lock:
            if self._disk_bytes + size > self.max_bytes:
                full = self._disk_bytes
                room = False
            else:
                self._disk_bytes += size
                room = True
        if not room:
            self._metrics.wal_full_refusals.inc()
            raise Overloaded(
                f"write-ahead log is full ({full} of {self.max_bytes} bytes): ClickHouse is "
                "behind or down; retry later"
            )
        assert self._loop is not None, "start() first"
        entry = _Append(
            int(kind), items, payload, time.time_ns(), self._loop.create_future(), project, digest=digest
        )
        self._last_append = entry.done
        with self._cond:
            self._queue.append(entry)
            self._cond.notify()
        # Once queued, the record is written whatever the caller does: if it went away,
        # its outcome is still marked as seen.
        entry.done.add_done_callback(lambda f: f.cancelled() or f.exception())
        return entry.done

    # --- the appender thread -----------------------------------------------------------------

    def _append_loop(self) -> None:
        """Supervised: whatever goes wrong with a group, its appends are answered and the
        thread goes on with the next one."""
        while True:
            with self._cond:
                while not self._queue and not self._closing and not self._seal_requests:
                    self._cond.wait()
                seals, self._seal_requests = self._seal_requests, []
                if not self._queue and not seals:
                    return
                group, self._queue = self._queue, []
            if seals:
                try:
                    self._seal_now()
                except Exception:
                    log.exception("write-ahead log: could not close the segment being written")
                finally:
                    for done in seals:
                        done.set()
            if not group:
                continue
            try:
                self._append_group(group)
            except Exception as exc:
                log.exception("write-ahead log appender failed on a group of %d records", len(group))
                self._finish(group, WalUnavailable(f"write-ahead log internal error: {exc}"), 0.0)

    def _append_group(self, group: list[_Append]) -> None:
        if self._failed:
            self._finish(group, WalUnavailable(f"write-ahead log unusable: {self._failed}"), 0.0)
            return
        mark = self._mark()
        try:
            fsync_s = self._write_group(group)
        except Exception as exc:  # OSError (disk full, I/O error), or a bug: answer all the same
            self._undo(mark, exc)
            self._finish(group, WalUnavailable(f"write-ahead log write failed: {exc}"), 0.0)
            return
        self._finish(group, None, fsync_s)

    def _mark(self) -> tuple[int, int]:
        """Where the next group starts: (segments that exist, size of the last one)."""
        with self._seg_lock:
            if self._fd is None or not self._segments:
                return len(self._segments), 0
            return len(self._segments), self._segments[-1].size

    def _write_group(self, group: list[_Append]) -> float:
        """Write and fsync ``group``; its records get their sequence numbers here, so that a
        group that fails leaves no hole (the next one takes the same numbers)."""
        seq = self._next_seq
        for entry in group:
            entry.seq = seq
            seq += 1
            header = encode_header(
                entry.kind, entry.items, entry.appended_ns, entry.project, entry.payload, entry.digest
            )
            size = entry.size
            if self._fd is None or (
                self._segments[-1].size + size > self._segment_bytes
                and self._segments[-1].size > SEGMENT_HEADER.size
            ):
                self._roll(entry.seq)
            _write_all(self._fd, header + entry.digest)  # type: ignore[arg-type]
            _write_all(self._fd, entry.payload)  # type: ignore[arg-type]
            with self._seg_lock:
                self._segments[-1].size += size
        started = time.perf_counter()
        os.fdatasync(self._fd)  # type: ignore[arg-type]
        self._next_seq = seq
        return time.perf_counter() - started

    def _seal_active(self, segment: _Segment) -> int | None:
        """Close ``segment``, the one being written, and start the next one, so that a record
        damaged in it can be skipped like damage in an older segment (the reader moves on to
        the next segment). The appender's thread does it between two groups; this waits for
        it. Returns the next segment's first sequence number (looked up as for an older
        segment: the appender may already have written more after it), or None if it could
        not be closed."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._seal_now()  # no appender: nothing else touches the segments
        else:
            done = threading.Event()
            with self._cond:
                self._seal_requests.append(done)
                self._cond.notify_all()
            done.wait()
        with self._seg_lock:
            return next((s.first_seq for s in self._segments if s.first_seq > segment.first_seq), None)

    def _seal_now(self) -> None:
        with self._seg_lock:
            last = self._segments[-1] if self._segments else None
        if last is None or last.first_seq < self._next_seq:  # else it holds no record yet
            self._roll(self._next_seq)

    def _roll(self, first_seq: int) -> None:
        """Start a new segment whose first record is ``first_seq``."""
        if self._fd is not None:
            os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = None
        path = segment_path(self.directory, first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        _write_all(fd, encode_segment_header(first_seq))
        fsync_dir(self.directory)
        with self._seg_lock:
            self._segments.append(_Segment(first_seq, path, SEGMENT_HEADER.size))
            self._disk_bytes += SEGMENT_HEADER.size
        self._fd = fd

    def _undo(self, mark: tuple[int, int], exc: Exception) -> None:
        """A group failed half-written: remove every byte of it (segments it started, and its
        records in the segment that was current), so that no record of a refused group is
        ever read, and the next group, which takes the same sequence numbers, follows a
        complete record. If even that fails, the log is unusable."""
        log.error("write-ahead log write failed: %s", exc)
        count, size = mark
        try:
            with self._seg_lock:
                started = self._segments[count:]
                del self._segments[count:]
                self._disk_bytes -= SEGMENT_HEADER.size * len(started)  # records: see _finish
                current = self._segments[-1] if count and size else None
            if started and self._fd is not None:
                os.close(self._fd)
                self._fd = None
            for segment in started:
                segment.path.unlink(missing_ok=True)
            if current is not None:
                if self._fd is None:
                    self._fd = os.open(current.path, os.O_WRONLY | os.O_APPEND)
                os.ftruncate(self._fd, size)
                os.fdatasync(self._fd)
                with self._seg_lock:
                    current.size = size
            fsync_dir(self.directory)
        except OSError as again:
            self._failed = f"{exc}; then could not repair the segment: {again}"
            log.error("write-ahead log unusable: %s", self._failed)

    def _finish(self, group: list[_Append], error: Exception | None, fsync_s: float) -> None:
        assert self._loop is not None
        if error is not None:
            with self._seg_lock:
                self._disk_bytes -= sum(e.size for e in group)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._resolve, group, error, fsync_s)

    def _resolve(self, group: list[_Append], error: Exception | None, fsync_s: float) -> None:
        """On the loop: answer the group's appends and tell the readers."""
        if error is None:
            self.durable_seq = group[-1].seq + 1
            self.durable_records += len(group)
            self.durable_cost += sum(cost(e.kind, e.items) for e in group)
            self.durable_bytes += sum(e.size for e in group)
            self._metrics.wal_fsync_seconds.observe(fsync_s)
            self._metrics.wal_bytes.set(self._disk_bytes)
        for entry in group:
            if not entry.done.done():
                if error is None:
                    entry.done.set_result(entry.seq)
                else:
                    entry.done.set_exception(error)
        if error is None:
            for callback in self._on_durable:
                callback(self.durable_seq)

    # --- reading and releasing (the batcher's threads) ------------------------------------------

    def read(
        self, start: int, limit: int, max_cost: int, max_bytes: int
    ) -> tuple[list[Record | Damaged], int]:
        """Records from ``start`` on, below ``limit`` (at most the durable end), until
        ``max_cost`` (records.cost) or ``max_bytes`` would be exceeded (at least one record).
        Returns them and the sequence number after the last. Called by one thread at a time."""
        out: list[Record | Damaged] = []
        seq, costs, size = start, 0, 0
        while seq < limit:
            with self._seg_lock:
                firsts = [s.first_seq for s in self._segments]
                i = bisect.bisect_right(firsts, seq) - 1
                if i < 0:
                    raise RuntimeError(f"write-ahead log: record {seq} is gone (oldest kept: {firsts[:1]})")
                segment = self._segments[i]
                following = self._segments[i + 1].first_seq if i + 1 < len(self._segments) else None
            reader = self._reader(segment)
            hint_seq, hint_first, hint_offset = self._hint
            try:
                if (hint_seq, hint_first) == (seq, segment.first_seq):
                    offset = hint_offset
                else:
                    offset = reader.skip(SEGMENT_HEADER.size, seq - segment.first_seq)
            except ValueError:
                offset = -1  # seq falls in the gap a damaged segment left
            if offset >= 0:
                seg_limit = limit if following is None else min(limit, following)
                for found, after in reader.records(offset, seq, seg_limit):
                    if isinstance(found, str):
                        if following is None:
                            # Damaged after it was checked (its bytes changed on disk), in the
                            # segment being written: close that segment, so that what follows
                            # goes into the next one, and skip the rest of it as for an
                            # older one. Otherwise every read would stop here, for good.
                            log.error("write-ahead log: %s, in the segment being written", found)
                            following = self._seal_active(segment)
                            if following is None:
                                raise RuntimeError(f"write-ahead log: {found}; could not close its segment")
                        out.append(Damaged(seq, _read_from(segment.path, after), found, following - seq))
                        seq = following
                        break
                    if out and (costs + found.cost > max_cost or size + found.size > max_bytes):
                        return out, seq
                    out.append(found)
                    costs += found.cost
                    size += found.size
                    seq = found.seq + 1
                    self._hint = (seq, segment.first_seq, after)
            if seq < limit and following is not None and seq < following:
                seq = following  # the rest of this segment is gone (damaged and cut off)
            elif seq < limit and following is None:
                break  # not on disk (cannot happen below the durable end)
        return out, seq

    def _reader(self, segment: _Segment) -> SegmentReader:
        reader = self._readers.get(segment.first_seq)
        if reader is None:
            reader = self._readers[segment.first_seq] = SegmentReader(segment.first_seq, segment.path)
        return reader

    def release(self, checkpoint: int) -> None:
        """Delete every segment whose records are all below ``checkpoint`` (committed)."""
        with self._seg_lock:
            doomed = []
            while len(self._segments) > 1 and self._segments[1].first_seq <= checkpoint:
                doomed.append(self._segments.pop(0))
            self._disk_bytes -= sum(s.size for s in doomed)
            disk = self._disk_bytes
        if doomed and self._recent_index is not None:
            # Durably before the segments go: a retry after a restart must still be recognised.
            try:
                self._recent_index.add([e for s in doomed for e in segment_digests(s.path)])
            except OSError as exc:  # the records are in ClickHouse: only dedup after a restart suffers
                log.error("write-ahead log: could not save the digests of deleted segments: %s", exc)
        for segment in doomed:
            reader = self._readers.pop(segment.first_seq, None)
            if reader is not None:
                reader.close()
            segment.path.unlink(missing_ok=True)
        if doomed:
            fsync_dir(self.directory)
            self._metrics.wal_bytes.set(disk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_from(path: Path, offset: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read()
