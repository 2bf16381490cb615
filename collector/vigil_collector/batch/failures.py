"""The batcher's failure policy: what happens when an INSERT of a batch does not commit, kept
apart from the scheduling (cutting, lanes, pacing) in batcher.py.

- ClickHouse unreachable, timing out, or failing for a reason of its own (a table detached,
  too many parts, memory): the batch is retried with backoff (``Backoff``, up to
  ``retry_max_s``), for as long as it takes; meanwhile ingest keeps acknowledging until the
  WAL is full.
- ClickHouse refuses the data itself (a parse or type error), or the payload cannot be
  decoded (``refused``): the batch is written again one record at a time, and a record
  refused on its own goes to the dead-letter directory with the reason (``split_refused``).
  An unexpected exception (a bug) is retried ``BUG_ATTEMPTS`` times, then treated the same way.
- Redo: a batch recorded before a restart is written again with its boundaries and tokens,
  then checked against ClickHouse (``recover_redo``: see ``RecoveringWriter``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import pyarrow as pa
from google.protobuf.message import DecodeError

from vigil_collector.wal.dead_letter import DeadLetters
from vigil_collector.wal.records import Record, RecordKind
from vigil_storage import StorageError
from vigil_storage.errors import StorageDataError

log = logging.getLogger("vigil_collector.batch.batcher")  # the name operators' filters know

BUG_ATTEMPTS = 3  # an unexpected exception is retried this often before the batch is split
FIRST_DELAY_S = 0.1


class RecoveringWriter(Protocol):
    """A writer that can tell which of a batch's items ClickHouse holds, and insert the rest.

    Why: ClickHouse (non-replicated MergeTree) records an INSERT's deduplication token just
    before it commits the part. A crash between the two (with the embedded engine, a crash of
    Vigil) leaves the token without the rows, and the batch written again after the restart
    is dropped as a duplicate. So batches written again at start are checked (spans by their
    ids, other rows by a key); the missing items are inserted with a token of their own."""

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the items of these payloads that ``database`` lacks; returns how many."""
        ...


class Backoff:
    """The delays between a batch's attempts: doubling from FIRST_DELAY_S up to ``max_s``."""

    def __init__(self, max_s: float) -> None:
        self._max_s = max_s
        self.attempt = 0
        self.delay_s = FIRST_DELAY_S

    def failed(self) -> float:
        """Count a failed attempt; returns how long to wait before the next one."""
        self.attempt += 1
        delay, self.delay_s = self.delay_s, min(self.delay_s * 2, self._max_s)
        return delay

    @property
    def worth_logging(self) -> bool:
        """The first failure and every twentieth: a long outage does not flood the logging output."""
        return self.attempt == 1 or self.attempt % 20 == 0


def refused(exc: Exception, attempt: int) -> bool:
    """Is ``exc`` about the data itself, so that retrying the same batch cannot help?"""
    if isinstance(exc, StorageDataError):
        return True
    if isinstance(exc, StorageError):
        return False  # an outage or a server-side condition: retry
    if isinstance(exc, DecodeError | pa.ArrowInvalid | ValueError):
        return True  # the payload cannot be decoded
    return attempt >= BUG_ATTEMPTS


def reason(exc: Exception) -> str:
    if isinstance(exc, StorageError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def dead_letter(dead_letters: DeadLetters, record: Record, why: str) -> None:
    path = dead_letters.add(record, why)
    log.error(
        "record %d (%s, %d items) refused by ClickHouse, moved to %s: %s",
        record.seq,
        record.kind.name,
        record.items,
        path,
        why,
    )


def split_refused(
    insert: Callable[[list[Record], int, int], None],
    records: list[Record],
    start: int,
    end: int,
    attempt: int,
    dead_letters: DeadLetters,
) -> None:
    """``insert(records, start, end)``; if ClickHouse refuses the data, each record again on
    its own (the same split, the same tokens after a crash), dead-lettering those refused
    alone. Anything else (an outage) is raised: the whole batch is retried."""
    try:
        insert(records, start, end)
        return
    except Exception as exc:
        if not refused(exc, attempt):
            raise
        if len(records) == 1:
            dead_letter(dead_letters, records[0], reason(exc))
            return
        log.warning(
            "ClickHouse refused records %d-%d (%s); writing them one at a time", start, end, reason(exc)
        )
    for r in records:
        try:
            insert([r], r.seq, r.seq + 1)
        except Exception as exc:
            if not refused(exc, attempt):
                raise
            dead_letter(dead_letters, r, reason(exc))


def recover_redo(
    writer: object, kind: RecordKind, payloads: list[bytes], token: str, database: str, first: int, end: int
) -> None:
    """After a batch written again at start: insert what ClickHouse lacks of it, if the
    writer can tell (``RecoveringWriter``)."""
    recover = getattr(writer, "recover", None)
    if recover is None:
        return
    missing = recover(kind, payloads, token, database)
    if missing:
        log.warning(
            "records %d-%d: %d items written before the restart were not in ClickHouse "
            "(its deduplication log outlived their part); inserted them again",
            first,
            end,
            missing,
        )
