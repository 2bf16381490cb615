"""Segment files: finding them, checking them after a crash, reading records back.

Segments are named by the sequence number of their first record (``00000000000000000042.wal``)
so that sorting names sorts the log, and deleting the oldest files drops its oldest records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vigil_collector.wal.records import (
    DIGEST_BYTES,
    RECORD_HEADER,
    SEGMENT_HEADER,
    Record,
    RecordKind,
    checksum_ok,
    cost,
    segment_first_seq,
    split_kind,
)

SUFFIX = ".wal"


def segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{first_seq:020d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first_seq, path) of every segment file, oldest first."""
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        stem = path.name[: -len(SUFFIX)]
        if stem.isdigit():
            found.append((int(stem), path))
    found.sort()
    return found


@dataclass
class ScannedSegment:
    """What a segment holds up to its first bad byte, and how much of it is backlog (not yet
    in ClickHouse)."""

    first_seq: int
    path: Path
    records: int  # valid records
    valid_bytes: int  # file offset just past the last valid record
    file_bytes: int
    problem: str  # why the scan stopped before the end of the file; '' if it did not
    backlog_records: int = 0
    backlog_items: int = 0
    backlog_cost: int = 0
    backlog_bytes: int = 0
    oldest_backlog_ns: int = 0
    digests: list[tuple[int, bytes]] = field(default_factory=list)  # (appended_ns, digest), in order

    @property
    def end_seq(self) -> int:
        return self.first_seq + self.records


def scan_segment(first_seq: int, path: Path, in_backlog: Callable[[int], bool]) -> ScannedSegment:
    """Read every record of ``path`` and check it; stop at the first one that is cut short,
    fails its checksum or has an unknown kind."""
    with open(path, "rb") as f:
        data = f.read()
    header_seq = segment_first_seq(data[: SEGMENT_HEADER.size])
    if header_seq is None:
        problem = (
            "written by an earlier Vigil (log format 1, before projects)"
            if data.startswith(b"VIGILWAL")
            else "no segment header"
        )
        return ScannedSegment(first_seq, path, 0, 0, len(data), problem)
    if header_seq != first_seq:
        problem = f"segment header names sequence {header_seq}, file name {first_seq}"
        return ScannedSegment(first_seq, path, 0, 0, len(data), problem)
    scanned = ScannedSegment(first_seq, path, 0, SEGMENT_HEADER.size, len(data), "")
    offset = SEGMENT_HEADER.size
    view = memoryview(data)
    seq = first_seq
    while offset < len(data):
        if offset + RECORD_HEADER.size > len(data):
            scanned.problem = f"record header cut short at byte {offset}"
            break
        header = RECORD_HEADER.unpack_from(data, offset)
        length, _, kind, items, appended_ns, _ = header
        end = offset + RECORD_HEADER.size + length
        if end > len(data):
            scanned.problem = f"record payload cut short at byte {offset} ({end - len(data)} bytes missing)"
            break
        if not checksum_ok(header, view[offset + RECORD_HEADER.size : end]):
            scanned.problem = f"checksum mismatch in the record at byte {offset}"
            break
        kind, has_digest = split_kind(kind)
        if kind not in RecordKind._value2member_map_ or (has_digest and length < DIGEST_BYTES):
            scanned.problem = f"unknown record kind {kind} at byte {offset}"
            break
        if has_digest:
            start = offset + RECORD_HEADER.size
            scanned.digests.append((appended_ns, bytes(view[start : start + DIGEST_BYTES])))
        if in_backlog(seq):
            if not scanned.backlog_records:
                scanned.oldest_backlog_ns = appended_ns
            scanned.backlog_records += 1
            scanned.backlog_items += items
            scanned.backlog_cost += cost(kind, items)
            scanned.backlog_bytes += end - offset
        scanned.records += 1
        seq += 1
        offset = end
    scanned.valid_bytes = offset
    return scanned


class SegmentReader:
    """Reads records from one segment file, sequentially from a byte offset."""

    def __init__(self, first_seq: int, path: Path) -> None:
        self.first_seq = first_seq
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self._fd)

    def records(self, offset: int, seq: int, limit_seq: int) -> Iterator[tuple[Record | str, int]]:
        """Records from ``offset`` (which holds record ``seq``) up to ``limit_seq``, each with
        the offset after it. A problem (a checksum that no longer matches: the disk changed
        under us) is yielded as its description instead of a record, and ends the segment."""
        while seq < limit_seq:
            raw = os.pread(self._fd, RECORD_HEADER.size, offset)
            if len(raw) < RECORD_HEADER.size:
                return  # end of the data written so far
            header = RECORD_HEADER.unpack(raw)
            length, _, kind, items, appended_ns, project = header
            payload = os.pread(self._fd, length, offset + RECORD_HEADER.size)
            if len(payload) < length or not checksum_ok(header, payload):
                yield f"record {seq} at byte {offset} of {self.path.name} is damaged (checksum)", offset
                return
            offset += RECORD_HEADER.size + length
            kind, has_digest = split_kind(kind)
            digest = b""
            if has_digest:
                digest, payload = payload[:DIGEST_BYTES], payload[DIGEST_BYTES:]
            yield Record(seq, RecordKind(kind), items, appended_ns, payload, project, digest), offset
            seq += 1

    def skip(self, offset: int, count: int) -> int:
        """The offset ``count`` records after ``offset`` (headers only)."""
        for _ in range(count):
            raw = os.pread(self._fd, RECORD_HEADER.size, offset)
            if len(raw) < RECORD_HEADER.size:
                raise ValueError(f"{self.path.name}: fewer records than expected")
            offset += RECORD_HEADER.size + RECORD_HEADER.unpack(raw)[0]
        return offset


def segment_digests(path: Path) -> list[tuple[int, bytes]]:
    """(appended_ns, digest) of the records of ``path`` that carry one, reading headers and
    digests only (for the recent-request index when a segment is deleted)."""
    out: list[tuple[int, bytes]] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = SEGMENT_HEADER.size
        while True:
            raw = os.pread(fd, RECORD_HEADER.size + DIGEST_BYTES, offset)
            if len(raw) < RECORD_HEADER.size:
                return out
            length, _, kind, _, appended_ns, _ = RECORD_HEADER.unpack_from(raw)
            if split_kind(kind)[1] and len(raw) == RECORD_HEADER.size + DIGEST_BYTES:
                out.append((appended_ns, raw[RECORD_HEADER.size :]))
            offset += RECORD_HEADER.size + length
    finally:
        os.close(fd)
