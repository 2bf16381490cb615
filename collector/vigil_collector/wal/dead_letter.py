"""Records ClickHouse refuses for good, kept aside with the reason instead of retried forever.

``<wal dir>/dead-letter/`` holds one file per record (its payload as it was in the log:
an OTLP/protobuf body or an Arrow IPC stream) and ``index.jsonl``, a line per record with
its sequence number, kind, project (the number the log gave it; null for damaged log bytes,
whose project cannot be known), item count, file name, time and ClickHouse's reason. An
operator can inspect, fix and re-send them to their project; nothing reads them back
automatically.

The folder is bounded (``max_bytes``): past it the oldest dead letters are deleted, their
index lines with them, and counted (vigil_dead_letters_dropped_total), so that a stream of
refused records cannot fill the disk the log needs. Files are the process's only (0600).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from prometheus_client import Counter

from vigil_collector.wal.records import Record
from vigil_collector.wal.state import fsync_dir, private_dir

INDEX = "index.jsonl"
_SUFFIX = {1: "otlp.pb", 2: "arrow"}
FILE_MODE = 0o600
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024


class DeadLetters:
    def __init__(
        self,
        directory: Path,
        counter: Counter,
        dropped: Counter | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._counter = counter  # vigil_wal_dead_letter_records_total
        self._dropped = dropped  # vigil_dead_letters_dropped_total
        self._lock = threading.Lock()
        self._bytes: int | None = None  # on disk, counted at the first add

    def add(self, record: Record, reason: str) -> Path:
        return self.add_bytes(
            record.seq, int(record.kind), record.items, record.payload, reason, project=record.project
        )

    def add_bytes(
        self, seq: int, kind: int, items: int, payload: bytes, reason: str, *, project: int | None = None
    ) -> Path:
        with self._lock:
            if self._bytes is None:
                private_dir(self.directory)
                self._bytes = self._disk_bytes()
            path = self.directory / f"{seq:020d}.{_SUFFIX.get(kind, 'bin')}"
            _write_private(path, payload)
            line = {
                "seq": seq,
                "kind": kind,
                "project": project,
                "items": items,
                "bytes": len(payload),
                "file": path.name,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "reason": reason,
            }
            encoded = (json.dumps(line) + "\n").encode()
            fd = os.open(self.directory / INDEX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            try:
                os.write(fd, encoded)
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.directory)
            self._bytes += len(payload) + len(encoded)
            if self._bytes > self.max_bytes:
                self._drop_oldest()
        self._counter.inc()
        return path

    def entries(self) -> list[dict[str, object]]:
        index = self.directory / INDEX
        if not index.exists():
            return []
        return [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line]

    def _disk_bytes(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(entry.stat().st_size for entry in os.scandir(self.directory) if entry.is_file())

    def _drop_oldest(self) -> None:
        """Delete the oldest dead letters (the index is in order of arrival) until the folder
        is within its bound; the newest one goes too if it alone is larger."""
        entries = self.entries()
        total = self._disk_bytes()  # measured: a file written twice under one name counts once
        kept = list(entries)
        dropped = 0
        while kept and total > self.max_bytes:
            entry = kept.pop(0)
            path = self.directory / str(entry["file"])
            line_bytes = len(json.dumps(entry)) + 1
            if any(str(other["file"]) == entry["file"] for other in kept):
                total -= line_bytes  # a later entry owns the file now: only the line goes
                continue
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                size = 0  # deleted by an operator: only its line was left
            else:
                dropped += 1
            total -= size + line_bytes
        tmp = self.directory / (INDEX + ".tmp")
        _write_private(tmp, "".join(json.dumps(entry) + "\n" for entry in kept).encode())
        os.replace(tmp, self.directory / INDEX)
        fsync_dir(self.directory)
        self._bytes = self._disk_bytes()
        if dropped and self._dropped is not None:
            self._dropped.inc(dropped)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a file left by an older version keeps its mode otherwise
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
