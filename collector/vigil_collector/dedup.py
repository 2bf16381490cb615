"""Idempotent ingest: a request retried by its client is acknowledged and stored once.

A request is known by a digest of what identifies it: its signal, its project, whether it is
JSON, and its decompressed body (SHA-256, first 16 bytes; so gzip and identity copies of one
body are one request, and two requests with the same spans in different bodies are two).
Within ``window_s`` of the first copy's acknowledgement, a copy with the same digest is
answered as the first was (the body is decoded again, so the answer, partial success
included, is the same) and not appended.

Durability: the digest travels in the first copy's write-ahead log record (records.py), so
it is on disk exactly when the record is; after a restart the WAL's scan and its
recent-request index (wal/recent.py, for segments already deleted) give back every digest
of the window. The index here is in memory: a dict from digest to the acknowledgement time,
plus the in-flight appends.

Concurrent identical requests (the second arrives while the first is being fsynced): all of
this runs on the event loop, and between looking a digest up and claiming it there is no
``await``, so exactly one copy claims it and appends; the others wait on the claim, which is
resolved from the WAL's own completion (a callback on the append's future, run on the loop
before the appending request itself resumes). A waiting copy is acknowledged only if the
claim's record was fsynced; if it was refused (WAL full, disk error, shutting down), the
waiting copy claims the digest itself and tries its own append. The claim follows the WAL's
future, not the claiming request: a client that disconnects after its record was queued
does not release the claim, as the record will still be written.

Cost on the acknowledgement path: one SHA-256 of the body (~0.8 ms per MB here; run on a
thread, in parallel with the decode, for bodies over 64 KiB), a dict look-up, and 16 bytes
more per WAL record. Memory: about 150 bytes per request of the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque

from vigil_collector.wal.records import DIGEST_BYTES

_THREAD_MIN_BYTES = 64 * 1024  # below, hashing takes less than a thread hand-off


def request_digest(signal: str, project: int, is_json: bool, body: bytes) -> bytes:
    h = hashlib.sha256(f"{signal}:{project}:{int(is_json)}:".encode())
    h.update(body)  # releases the GIL on large buffers
    return h.digest()[:DIGEST_BYTES]


async def digest_of(signal: str, project: int, is_json: bool, body: bytes) -> bytes:
    if len(body) < _THREAD_MIN_BYTES:
        return request_digest(signal, project, is_json, body)
    return await asyncio.to_thread(request_digest, signal, project, is_json, body)


class RecentRequests:
    """The digests of the window's requests: acknowledged ones and claimed ones (in flight).
    Used on the event loop only."""

    def __init__(self, window_s: float, recovered: list[tuple[int, bytes]] | None = None) -> None:
        self._window_ns = int(window_s * 1e9)
        self._acked: dict[bytes, int] = {}  # digest → acknowledgement time (ns)
        self._order: deque[tuple[int, bytes]] = deque()  # the same, oldest first, for expiry
        self._claims: dict[bytes, asyncio.Future[bool]] = {}
        for ns, digest in recovered or ():
            self._remember(digest, ns)

    def __len__(self) -> int:
        return len(self._acked)

    def _remember(self, digest: bytes, ns: int) -> None:
        self._acked[digest] = ns
        self._order.append((ns, digest))

    def _expire(self, now_ns: int) -> None:
        cutoff = now_ns - self._window_ns
        order, acked = self._order, self._acked
        while order and order[0][0] < cutoff:
            ns, digest = order.popleft()
            if acked.get(digest) == ns:
                del acked[digest]

    async def claim(self, digest: bytes) -> bool:
        """True if ``digest``'s request is already durable (a duplicate: do not append). False
        if the caller now holds the claim: it must append and call ``follow`` with the WAL's
        future, or ``abandon`` if it never queued the record."""
        while True:
            claim = self._claims.get(digest)
            if claim is not None:
                if await asyncio.shield(claim):
                    return True
                continue  # the first copy was refused: try again (this copy may claim it)
            now = time.time_ns()
            self._expire(now)
            if digest in self._acked:
                return True
            self._claims[digest] = asyncio.get_running_loop().create_future()
            return False

    def follow(self, digest: bytes, appended: asyncio.Future[int]) -> None:
        """The claim on ``digest`` resolves with the WAL's append of its record."""
        appended.add_done_callback(
            lambda f: self._settle(digest, not f.cancelled() and f.exception() is None)
        )

    def abandon(self, digest: bytes) -> None:
        """The claim holder's record was never queued."""
        self._settle(digest, False)

    def _settle(self, digest: bytes, durable: bool) -> None:
        claim = self._claims.pop(digest, None)
        if durable:
            self._remember(digest, time.time_ns())
        if claim is not None and not claim.done():
            claim.set_result(durable)
