"""The batcher's failure policy on its own (batch/failures.py): the backoff, which errors are
the data's fault, and a refused group split down to the record, only those refused alone
going to dead letters. tests/test_batcher.py runs the same policy inside the batcher."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from vigil_collector.batch.failures import Backoff, refused, split_refused
from vigil_collector.wal.dead_letter import DeadLetters
from vigil_collector.wal.records import Record, RecordKind
from vigil_storage import StorageError, StorageUnavailable
from vigil_storage.errors import StorageDataError


def test_backoff_doubles_up_to_its_ceiling_and_logs_the_first_and_every_twentieth() -> None:
    backoff = Backoff(max_s=1.0)
    delays = [backoff.failed() for _ in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    logged = []
    backoff = Backoff(max_s=1.0)
    for _ in range(40):
        backoff.failed()
        logged.append(backoff.worth_logging)
    assert [i + 1 for i, worth in enumerate(logged) if worth] == [1, 20, 40]


def test_the_data_is_refused_outages_are_retried_and_bugs_after_three_tries() -> None:
    assert refused(StorageDataError("bad type"), attempt=0)
    assert refused(ValueError("cannot decode"), attempt=0)
    assert not refused(StorageUnavailable("down"), attempt=99)
    assert not refused(StorageError("too many parts"), attempt=99)
    assert not refused(KeyError("a bug"), attempt=2) and refused(KeyError("a bug"), attempt=3)


def test_a_refused_group_is_split_and_only_what_is_refused_alone_is_dead_lettered(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    letters = DeadLetters(tmp_path / "dead-letter", Counter("dl", "", registry=registry))
    records = [Record(seq, RecordKind.LOGS_ARROW, 1, 0, f"payload {seq}".encode()) for seq in range(10, 14)]
    inserted: list[tuple[int, int]] = []

    def insert(rs: list[Record], first: int, end: int) -> None:
        if any(r.seq == 12 for r in rs):
            raise StorageDataError("Cannot parse input")
        inserted.append((first, end))

    split_refused(insert, records, 10, 14, 0, letters)
    assert inserted == [(10, 11), (11, 12), (13, 14)]  # one at a time, the same tokens after a crash
    assert registry.get_sample_value("dl_total") == 1
    assert [p.read_bytes() for p in letters.directory.glob("*") if p.read_bytes() == b"payload 12"]

    def outage(rs: list[Record], first: int, end: int) -> None:
        raise StorageUnavailable("connection refused")

    with pytest.raises(StorageUnavailable):  # the whole batch is retried, nothing dead-lettered
        split_refused(outage, records, 10, 14, 0, letters)
    assert registry.get_sample_value("dl_total") == 1
