"""Records ClickHouse refuses for good, kept aside with the reason instead of retried forever.

``<wal dir>/dead-letter/`` holds one file per record (its payload as it was in the log:
an OTLP/protobuf body or an Arrow IPC stream) and ``index.jsonl``, a line per record with
its sequence number, kind, item count, file name, time and ClickHouse's reason. An operator
can inspect, fix and re-send them; nothing reads them back automatically.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from prometheus_client import Counter

from vigil_collector.wal.records import Record
from vigil_collector.wal.state import fsync_dir

INDEX = "index.jsonl"
_SUFFIX = {1: "otlp.pb", 2: "arrow"}


class DeadLetters:
    def __init__(self, directory: Path, counter: Counter) -> None:
        self.directory = directory
        self._counter = counter  # vigil_wal_dead_letter_records_total
        self._lock = threading.Lock()

    def add(self, record: Record, reason: str) -> Path:
        return self.add_bytes(record.seq, int(record.kind), record.items, record.payload, reason)

    def add_bytes(self, seq: int, kind: int, items: int, payload: bytes, reason: str) -> Path:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{seq:020d}.{_SUFFIX.get(kind, 'bin')}"
            path.write_bytes(payload)
            line = {
                "seq": seq,
                "kind": kind,
                "items": items,
                "bytes": len(payload),
                "file": path.name,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "reason": reason,
            }
            with open(self.directory / INDEX, "a", encoding="utf-8") as index:
                index.write(json.dumps(line) + "\n")
                index.flush()
                os.fsync(index.fileno())
            fsync_dir(self.directory)
        self._counter.inc()
        return path

    def entries(self) -> list[dict[str, object]]:
        index = self.directory / INDEX
        if not index.exists():
            return []
        return [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line]
