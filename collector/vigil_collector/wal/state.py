"""The log's progress file: which records went into which INSERT, and which are committed.

Exactly once across crashes rests on two facts kept here:

- a batch's boundaries (``[start, end)`` in sequence numbers) are recorded, durably,
  *before* its INSERT is sent, so that after a crash the same records are inserted again
  in the same batches; each INSERT carries ``insert_deduplication_token`` made from the
  log's generation and the batch's boundaries, and ClickHouse drops a repeated one;
- the checkpoint (every record below it is in ClickHouse) only moves once an INSERT has
  committed, and segments are deleted only below a checkpoint that is durable.

``generation`` is random per log directory: a new, empty log must never reuse the tokens of
an older one whose batches ClickHouse still remembers.

The file is small (the batches being written) and replaced atomically: written to a
temporary file, fsynced, renamed over the old one, and the directory fsynced.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "state.json"
_FORMAT = 1


@dataclass
class LogState:
    generation: str
    next_cut: int  # the first record not yet in any batch
    pending: list[tuple[int, int]] = field(default_factory=list)  # batches cut, not committed

    @property
    def checkpoint(self) -> int:
        """Every record below this sequence number is in ClickHouse."""
        return min(start for start, _ in self.pending) if self.pending else self.next_cut


class StateFile:
    """The durable LogState, changed under a lock from the cutting and writing threads."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / STATE_FILE
        self._dir = directory
        self._lock = threading.Lock()
        self.state = self._load()

    @property
    def exists(self) -> bool:
        return self._path.exists()

    def _load(self) -> LogState:
        if not self._path.exists():
            return LogState(generation=uuid.uuid4().hex, next_cut=0)
        raw = json.loads(self._path.read_text())
        if raw.get("format") != _FORMAT:
            raise ValueError(f"{self._path}: unknown format {raw.get('format')!r}")
        return LogState(
            generation=str(raw["generation"]),
            next_cut=int(raw["next_cut"]),
            pending=[(int(s), int(e)) for s, e in raw["pending"]],
        )

    # Each change is written first and only then made in memory: a failed write (the disk)
    # leaves both as they were, and the caller may try again.

    def start_at(self, seq: int) -> None:
        """A log whose first record is ``seq`` and that has no state yet (new, or its state
        file was lost: then what the log holds is written again)."""
        with self._lock:
            self._replace(
                LogState(self.state.generation, max(self.state.next_cut, seq), list(self.state.pending))
            )

    def cut(self, start: int, end: int) -> None:
        """Record the batch ``[start, end)``; it must start where the last one ended."""
        with self._lock:
            if start != self.state.next_cut:
                raise ValueError(f"batch starts at {start}, expected {self.state.next_cut}")
            self._replace(LogState(self.state.generation, end, [*self.state.pending, (start, end)]))

    def commit(self, start: int, end: int) -> int:
        """The batch ``[start, end)`` is in ClickHouse; returns the new checkpoint."""
        with self._lock:
            pending = [batch for batch in self.state.pending if batch != (start, end)]
            self._replace(LogState(self.state.generation, self.state.next_cut, pending))
            return self.state.checkpoint

    def _replace(self, new: LogState) -> None:
        self._save(new)
        self.state = new

    def _save(self, state: LogState) -> None:
        data = json.dumps(
            {
                "format": _FORMAT,
                "generation": state.generation,
                "next_cut": state.next_cut,
                "pending": state.pending,
            }
        ).encode()
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a temporary file left by an older version kept its mode
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        fsync_dir(self._dir)


def private_dir(directory: Path) -> None:
    """Create ``directory`` (and its missing parents) for this process's user only (0700), and
    make an existing one so: what the log holds is every prompt and completion sent."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_uid == os.geteuid():  # someone else's (a mounted volume): theirs to set
        os.chmod(directory, 0o700)


def fsync_dir(directory: Path) -> None:
    """Make a file's creation, rename or deletion in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
