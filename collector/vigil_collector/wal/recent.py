"""The digests of recent requests whose records the log has already deleted (idempotent ingest).

While a request's record is in a segment, its digest is there too (records.py), and a restart
finds it by scanning the segments. A segment is deleted once ClickHouse has its records,
which is usually long before the dedup window is over: so just before a segment is deleted,
the digests of its records still inside the window are appended to an index file here and
fsynced. Opening the log reads both, and a retry that arrives after a restart is recognised
whether its first copy's record is still in the log or not.

The files are append-only runs of fixed entries (``appended_ns`` u64 little-endian, digest),
never rewritten. A new file is started once the current one is older than the window; every
entry of a file was appended before its successor was started, so a file whose successor is
older than the window holds nothing the window still covers and is deleted whole. At most
two or three files exist, and what they hold is bounded by what the window holds. A crash
mid-append leaves a partial last entry, which is ignored.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
import time
from pathlib import Path

from vigil_collector.wal.records import DIGEST_BYTES
from vigil_collector.wal.state import fsync_dir

_ENTRY = struct.Struct(f"<Q{DIGEST_BYTES}s")
_PREFIX = "recent-requests-"
_SUFFIX = ".idx"


class RecentIndex:
    """The index files in ``directory`` (the log's), for a window of ``window_s`` seconds.
    ``add`` is called from the writer lanes' threads (the log's ``release``): one at a time."""

    def __init__(self, directory: Path, window_s: float) -> None:
        self._dir = directory
        self._window_ns = int(window_s * 1e9)
        self._lock = threading.Lock()

    def _files(self) -> list[tuple[int, Path]]:
        found = []
        for path in self._dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            stem = path.name[len(_PREFIX) : -len(_SUFFIX)]
            if stem.isdigit():
                found.append((int(stem), path))
        found.sort()
        return found

    def load(self, now_ns: int | None = None) -> list[tuple[int, bytes]]:
        """(appended_ns, digest) of every entry still inside the window."""
        cutoff = (now_ns or time.time_ns()) - self._window_ns
        out = []
        for _, path in self._files():
            data = path.read_bytes()
            usable = len(data) - len(data) % _ENTRY.size
            out += [(ns, d) for ns, d in _ENTRY.iter_unpack(data[:usable]) if ns >= cutoff]
        return out

    def add(self, entries: list[tuple[int, bytes]], now_ns: int | None = None) -> None:
        """Durably append the entries still inside the window (before their segment goes)."""
        with self._lock:
            self._add(entries, now_ns)

    def _add(self, entries: list[tuple[int, bytes]], now_ns: int | None) -> None:
        now = now_ns or time.time_ns()
        cutoff = now - self._window_ns
        files = self._files()
        changed = False
        # A file whose successor was started before the window began holds only expired entries.
        for (_, path), (successor, _) in itertools.pairwise(files):
            if successor < cutoff:
                path.unlink(missing_ok=True)
                changed = True
        files = [f for f in files if f[1].exists()]
        keep = [e for e in entries if e[0] >= cutoff]
        if keep:
            if not files or files[-1][0] < cutoff:
                files.append((now, self._dir / f"{_PREFIX}{now:020d}{_SUFFIX}"))
                changed = True
            fd = os.open(files[-1][1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                view = memoryview(b"".join(_ENTRY.pack(ns, d) for ns, d in keep))
                while view:
                    view = view[os.write(fd, view) :]
                os.fdatasync(fd)
            finally:
                os.close(fd)
        if changed:
            fsync_dir(self._dir)
