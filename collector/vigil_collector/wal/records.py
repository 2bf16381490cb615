"""The log's on-disk format: segment files of checksummed records.

A segment file starts with a 16-byte header, then holds records back to back::

    segment header   magic b"VIGILWL2" | first_seq u64
    record header    length u32 | crc32 u32 | kind u8 | items u32 | appended_ns u64 | project u16
    payload          length bytes

All integers are little-endian. ``crc32`` (zlib's) covers everything after itself: kind,
items, append time, project and payload. ``project`` is the number of the project the
record's data belongs to (0 = the default project); the writers insert it into that
project's database. A record whose header or payload runs past the end of the
file, or whose checksum does not match, was torn by a crash while it was being appended:
its group was never fsynced, so it was never acknowledged, and it is dropped.

A record of a request that may be retried (idempotent ingest, ``VIGIL_INGEST_DEDUP_WINDOW_S``)
has ``DIGEST_FLAG`` set in its kind byte and its payload starts with the request's 16-byte
digest (dedup.py), covered by the checksum like the rest: so the digests of the requests
the log holds survive a restart with the records themselves, at no extra write or fsync.
Readers strip it (``Record.digest``); segments without the flag read as before.

A record's sequence number is not stored: it is its segment's ``first_seq`` plus its index
in the segment. ``kind`` says what the payload is, so one log serves every signal (a writer
registers the kinds it inserts, write/ and batch/).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum


class RecordKind(IntEnum):
    """What a record's payload holds."""

    # An OTLP/protobuf ExportTraceServiceRequest whose spans are all valid and that
    # ClickHouse may decode itself (decode/native.py).
    TRACES_OTLP = 1
    # otel_traces rows decoded in Python (JSON requests, partial successes, truncated
    # values): an Arrow IPC stream in SPAN_SCHEMA.
    TRACES_ARROW = 2
    # otel_logs rows: an Arrow IPC stream in LOG_SCHEMA.
    LOGS_ARROW = 3
    # otel_metrics_* rows of one request: IPC streams, one per point type (decode/metrics.py).
    METRICS_ARROW = 4
    # An OTLP/protobuf ExportMetricsServiceRequest whose points are all valid and that
    # ClickHouse may decode itself, after one byte: the mask of its point types (bit i:
    # decode/metrics.TABLES[i]).
    METRICS_OTLP = 5


SEGMENT_MAGIC = b"VIGILWL2"  # VIGILWAL: the first format, without projects
SEGMENT_HEADER = struct.Struct("<8sQ")
RECORD_HEADER = struct.Struct("<IIBIQH")
_CHECKED = struct.Struct("<BIQH")  # the header fields the checksum covers
MAX_PAYLOAD = 2**32 - 1
DIGEST_FLAG = 0x80  # in the kind byte: the payload starts with the request's digest
DIGEST_BYTES = 16


# Items of a kind per unit of cost (default 1): what a record costs the writers, in spans'
# worth. Batches are cut and acknowledgements paced by cost (batch/batcher.py), so that a
# batch is about the same INSERT work whatever it holds. A metric data point costs ClickHouse
# a fifth to a seventh of a span (~6 µs against 20-45), and a metrics batch pays the
# planning of one INSERT per point type in it: eight points count as one span
# (bench/metrics.py: 8 gave 100-123k points/s end to end where 4 gave 87-106k, alternating).
_ITEMS_PER_COST = {RecordKind.METRICS_ARROW: 8, RecordKind.METRICS_OTLP: 8}


def cost(kind: int, items: int) -> int:
    per = _ITEMS_PER_COST.get(kind, 1)  # type: ignore[call-overload]
    return (items + per - 1) // per


@dataclass(frozen=True)
class Record:
    seq: int
    kind: RecordKind
    items: int  # spans (or log records, data points)
    appended_ns: int  # wall-clock time of the append
    payload: bytes
    project: int = 0
    digest: bytes = b""  # the request's digest (idempotent ingest), b"" if none was recorded

    @property
    def size(self) -> int:
        """Bytes on disk, header included."""
        return RECORD_HEADER.size + len(self.digest) + len(self.payload)

    @property
    def cost(self) -> int:
        return cost(self.kind, self.items)


def _checksum(kind: int, items: int, appended_ns: int, project: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_CHECKED.pack(kind, items, appended_ns, project)))


def encode_header(
    kind: int, items: int, appended_ns: int, project: int, payload: bytes, digest: bytes = b""
) -> bytes:
    """The record header for ``digest`` + ``payload`` (written in that order; with a digest the
    kind carries DIGEST_FLAG). The checksum is computed here: zlib releases the GIL on large
    buffers, so call it off the event loop."""
    length = len(digest) + len(payload)
    if length > MAX_PAYLOAD:
        raise ValueError(f"a record holds at most {MAX_PAYLOAD} bytes, got {length}")
    if digest:
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"a request digest has {DIGEST_BYTES} bytes, got {len(digest)}")
        kind |= DIGEST_FLAG
    crc = zlib.crc32(
        payload, zlib.crc32(digest, zlib.crc32(_CHECKED.pack(kind, items, appended_ns, project)))
    )
    return RECORD_HEADER.pack(length, crc, kind, items, appended_ns, project)


def split_kind(kind: int) -> tuple[int, bool]:
    """A header's kind byte as (the record kind, whether the payload starts with a digest)."""
    return kind & ~DIGEST_FLAG, bool(kind & DIGEST_FLAG)


def checksum_ok(header: tuple[int, int, int, int, int, int], payload: bytes) -> bool:
    _, crc, kind, items, appended_ns, project = header
    return _checksum(kind, items, appended_ns, project, payload) == crc


def encode_segment_header(first_seq: int) -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_seq)


def segment_first_seq(header: bytes) -> int | None:
    """The first sequence number a segment header names, or None if it is not one."""
    if len(header) < SEGMENT_HEADER.size:
        return None
    magic, first_seq = SEGMENT_HEADER.unpack_from(header)
    return first_seq if magic == SEGMENT_MAGIC else None
