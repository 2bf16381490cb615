"""The write-ahead log on its own: group fsync, reading back in order, torn tails, a damaged
segment, the size bound, segment deletion, and one process per directory."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil_collector.errors import Overloaded, RecordTooLarge, ShuttingDown
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.journal import Damaged, WriteAheadLog
from vigil_collector.wal.records import RECORD_HEADER, Record, RecordKind
from vigil_collector.wal.segments import list_segments

KIND = RecordKind.TRACES_OTLP


def make_log(directory: Path, **kw: int) -> WriteAheadLog:
    wal = WriteAheadLog(
        directory, max_bytes=kw.pop("max_bytes", 64 * 1024 * 1024), metrics=CollectorMetrics(), **kw
    )
    wal.open()
    return wal


@contextlib.contextmanager
def fdatasync_failing(call: int, error: OSError) -> Iterator[None]:
    """``os.fdatasync`` raises ``error`` on its ``call``-th call (1 = the next), works otherwise."""
    real = os.fdatasync
    calls = 0

    def fdatasync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == call:
            raise error
        real(fd)

    os.fdatasync = fdatasync
    try:
        yield
    finally:
        os.fdatasync = real


def payload(i: int, size: int = 100) -> bytes:
    return (f"record-{i}-".encode() * size)[:size]


async def append_all(wal: WriteAheadLog, payloads: list[bytes]) -> list[int]:
    return list(await asyncio.gather(*(wal.append(KIND, 1, p) for p in payloads)))


def flip_byte(path: Path, index: int) -> None:
    """Damage a segment on disk, as a bad disk or another process would."""
    data = bytearray(path.read_bytes())
    data[index] ^= 0xFF
    path.write_bytes(bytes(data))


async def with_damaged_active_segment(directory: Path) -> WriteAheadLog:
    """A started log of 4 records whose segment, still being written, is damaged inside its
    second or third record after they were fsynced and checked."""
    wal = make_log(directory)
    wal.start()
    await append_all(wal, [payload(i, 500) for i in range(4)])
    (_, path), *_ = list_segments(directory)
    flip_byte(path, path.stat().st_size // 2)
    return wal


def read_all(wal: WriteAheadLog, start: int = 0) -> list[Record | Damaged]:
    out, _ = wal.read(start, wal.durable_seq, 2**40, 2**40)
    return out


def test_concurrent_appends_share_fsyncs_and_read_back_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = make_log(tmp_path)
        wal.start()
        seqs = await append_all(wal, [payload(i) for i in range(200)])
        assert sorted(seqs) == list(range(200))
        fsyncs = wal._metrics.wal_fsync_seconds._sum
        assert fsyncs is not None
        count = sum(b.get() for b in wal._metrics.wal_fsync_seconds._buckets)
        assert count < 200  # group fsync: many appends per fsync
        records = read_all(wal)
        assert [r.seq for r in records] == list(range(200))
        by_seq = dict(zip(seqs, [payload(i) for i in range(200)], strict=True))
        assert all(isinstance(r, Record) and r.payload == by_seq[r.seq] for r in records)
        wal.close()

    asyncio.run(scenario())


def test_a_torn_last_record_is_dropped_at_open(tmp_path: Path) -> None:
    async def write() -> None:
        wal = make_log(tmp_path)
        wal.start()
        for i in range(3):
            await wal.append(KIND, 5, payload(i, 1000))
        wal.close()

    asyncio.run(write())
    (_, path), *_ = list_segments(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:  # a crash in the middle of the third record's payload
        f.truncate(size - 400)

    async def reopen() -> None:
        wal = make_log(tmp_path)
        assert wal.recovered.records == 2 and wal.recovered.items == 10
        assert wal.durable_seq == 2
        wal.start()
        assert await wal.append(KIND, 1, b"after") == 2  # appended where the torn one was
        records = read_all(wal)
        assert [r.payload for r in records] == [payload(0, 1000), payload(1, 1000), b"after"]  # type: ignore[union-attr]
        wal.close()

    asyncio.run(reopen())


def test_a_flipped_bit_in_an_older_segment_goes_to_dead_letters(tmp_path: Path) -> None:
    async def write() -> None:
        wal = make_log(tmp_path, segment_bytes=4096)
        wal.start()
        for i in range(12):
            await wal.append(KIND, 1, payload(i, 1000))
        wal.close()

    asyncio.run(write())
    segments = list_segments(tmp_path)
    assert len(segments) >= 3
    _, path = segments[0]
    flip_byte(path, -10)  # the last record of the first segment

    wal = make_log(tmp_path, segment_bytes=4096)
    entries = wal.dead_letters.entries()
    assert len(entries) == 1 and "checksum mismatch" in str(entries[0]["reason"])
    records = read_all(wal)
    seqs = [r.seq for r in records]
    assert len(seqs) == 11 and all(isinstance(r, Record) for r in records)
    assert seqs == sorted(seqs)
    wal.close()


def test_the_log_is_bounded_and_released_segments_free_room(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = make_log(tmp_path, max_bytes=64 * 1024, segment_bytes=8 * 1024)
        wal.start()
        appended = 0
        with pytest.raises(Overloaded, match="write-ahead log is full"):
            for i in range(1000):
                await wal.append(KIND, 1, payload(i, 1000))
                appended += 1
        assert 50 <= appended <= 64
        assert wal.disk_bytes <= 64 * 1024
        with pytest.raises(RecordTooLarge):
            await wal.append(KIND, 1, b"x" * 70 * 1024)
        assert wal.state is not None
        wal.state.cut(0, 30)
        wal.release(wal.state.commit(0, 30))
        assert wal.disk_bytes < 40 * 1024
        await wal.append(KIND, 1, payload(0, 1000))  # room again
        assert read_all(wal, 30)[0].seq == 30
        wal.stop_accepting()
        with pytest.raises(ShuttingDown):
            await wal.append(KIND, 1, b"late")
        wal.close()

    asyncio.run(scenario())


def test_one_process_per_directory(tmp_path: Path) -> None:
    wal = make_log(tmp_path)
    with pytest.raises(RuntimeError, match="another Vigil process is using the write-ahead log"):
        make_log(tmp_path)
    wal.close()
    make_log(tmp_path).close()


def test_read_stops_at_item_and_byte_limits(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = make_log(tmp_path)
        wal.start()
        for i in range(10):
            await wal.append(KIND, 100, payload(i, 1000))
        out, end = wal.read(0, wal.durable_seq, 350, 2**40)
        assert [r.seq for r in out] == [0, 1, 2] and end == 3
        out, end = wal.read(3, wal.durable_seq, 2**40, 2 * (1000 + RECORD_HEADER.size))
        assert [r.seq for r in out] == [3, 4] and end == 5
        out, end = wal.read(9, wal.durable_seq, 1, 1)  # at least one record
        assert [r.seq for r in out] == [9] and end == 10
        wal.close()

    asyncio.run(scenario())


def test_a_failed_write_leaves_no_hole(tmp_path: Path) -> None:
    """A group that could not be written is refused, and the next one takes its place."""

    async def scenario() -> None:
        wal = make_log(tmp_path)
        wal.start()
        await wal.append(KIND, 1, b"first")
        with (
            fdatasync_failing(1, OSError(28, "No space left on device")),
            pytest.raises(Exception, match="No space left on device"),
        ):
            await wal.append(KIND, 1, b"lost")
        assert await wal.append(KIND, 1, b"second") == 1
        assert [r.payload for r in read_all(wal)] == [b"first", b"second"]  # type: ignore[union-attr]
        wal.close()
        again = make_log(tmp_path)
        assert again.recovered.records == 2
        again.close()

    asyncio.run(scenario())


def test_a_group_that_fails_after_starting_a_segment_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        wal = make_log(tmp_path, segment_bytes=4096)
        wal.start()
        for i in range(3):
            await wal.append(KIND, 1, payload(i, 1000))
        # The roll's sync passes, the group's fails.
        with (
            fdatasync_failing(2, OSError(5, "Input/output error")),
            pytest.raises(Exception, match="Input/output error"),
        ):
            await wal.append(KIND, 1, payload(9, 3000))
        assert len(list_segments(tmp_path)) == 1
        assert await wal.append(KIND, 1, b"next") == 3
        wal.close()
        again = make_log(tmp_path, segment_bytes=4096)
        assert [r.payload for r in read_all(again)][-1] == b"next"  # type: ignore[union-attr]
        assert again.recovered.records == 4
        again.close()

    asyncio.run(scenario())


def test_a_segment_started_just_before_a_crash_is_dropped(tmp_path: Path) -> None:
    from vigil_collector.wal.records import encode_segment_header
    from vigil_collector.wal.segments import segment_path

    async def write() -> None:
        wal = make_log(tmp_path)
        wal.start()
        await wal.append(KIND, 1, b"kept")
        wal.close()

    asyncio.run(write())
    segment_path(tmp_path, 1).write_bytes(encode_segment_header(1))  # no record made it

    async def reopen() -> None:
        wal = make_log(tmp_path)
        assert [p.name for _, p in list_segments(tmp_path)] == [f"{0:020d}.wal"]
        wal.start()
        assert await wal.append(KIND, 1, b"next") == 1
        assert [r.payload for r in read_all(wal)] == [b"kept", b"next"]  # type: ignore[union-attr]
        wal.close()

    asyncio.run(reopen())


def test_a_record_damaged_in_the_segment_being_written_is_skipped_not_retried(tmp_path: Path) -> None:
    """Its bytes change on disk after they were fsynced and checked: the segment is closed,
    the rest of it goes to the batcher as damaged (dead letters), and reading goes on with the
    records appended after it, instead of failing on it at every read."""

    async def scenario() -> None:
        wal = await with_damaged_active_segment(tmp_path)
        first = read_all(wal)
        assert isinstance(first[-1], Damaged) and "checksum" in first[-1].reason
        assert all(isinstance(r, Record) for r in first[:-1]) and len(first) in (2, 3)
        assert first[-1].records == 4 - first[-1].seq
        after = await wal.append(KIND, 1, b"after the damage")
        assert after == 4  # numbering goes on, in a new segment
        assert len(list_segments(tmp_path)) == 2
        rest = read_all(wal, start=4)
        assert [r.payload for r in rest] == [b"after the damage"]  # type: ignore[union-attr]
        wal.close()

    asyncio.run(scenario())


def test_damage_in_the_segment_being_written_is_skipped_while_appends_go_on(tmp_path: Path) -> None:
    """The same while clients keep appending: records appended just after the segment is
    closed go into the next one, and the damaged one still ends where that one begins."""

    async def scenario() -> None:
        wal = await with_damaged_active_segment(tmp_path)
        reading = asyncio.create_task(asyncio.to_thread(read_all, wal))
        appended = await append_all(wal, [payload(i, 500) for i in range(4, 204)])
        first = await reading
        damaged = first[-1]
        assert isinstance(damaged, Damaged)
        following = damaged.seq + damaged.records
        assert following == list_segments(tmp_path)[1][0]  # where the next segment begins
        rest = read_all(wal, start=following)
        assert [r.seq for r in rest] == list(range(following, appended[-1] + 1))
        wal.close()

    asyncio.run(scenario())
