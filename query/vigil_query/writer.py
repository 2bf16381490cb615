"""The query service's writes, on the storage DSN: drift alerts (the detector's, a user's
resolution), replay history and replayed traces, and the admin RPCs' registry changes. Its
own threads and clients (see pool.py), apart from the reads, which may run as a read-only
ClickHouse user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vigil_query.pool import StoragePool
from vigil_storage.client import INSERT_SETTINGS


def datetime_of_ns(ns: int) -> datetime:
    """A DateTime64 value to insert, from Unix nanoseconds (kept to the microsecond: the
    alert and replay times written through ``Writer.insert`` need no more)."""
    return datetime.fromtimestamp(ns / 1e9, UTC)


class Writer(StoragePool):
    """Writes may be called from any thread (a reader thread that read what it then writes
    uses its own client of this pool, on the storage DSN) or run on the pool's threads."""

    def __init__(self, dsn: str, database: str, **kwargs: Any) -> None:
        super().__init__(dsn, database, thread_name="vigil-write", **kwargs)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], what: str) -> None:
        """A small INSERT into one of Vigil's own tables (``table`` without the database)."""
        with self._using_client(what) as client:
            client.insert(f"{self.db}.{table}", rows, column_names=list(columns), settings=INSERT_SETTINGS)

    def insert_arrow(self, table: str, data: Any, what: str) -> None:
        """Insert an Arrow table into one of the database's tables, committed before returning."""
        with self._using_client(what) as client:
            client.insert_arrow(f"{self.db}.{table}", data, settings=INSERT_SETTINGS)
