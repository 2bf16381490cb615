"""Inserts batches of Arrow rows (log records decoded in Python: IPC streams) into one table
of the batch's project database: the writer of every signal that has no native path, and the
base of TraceWriter.

Each writer runs on a thread of its own (the batcher's lanes). The client is opened lazily and
dropped after a connection failure, so the collector recovers by itself when ClickHouse comes
back. Every INSERT carries the batcher's ``insert_deduplication_token``: ClickHouse drops an
INSERT whose token it has seen (``non_replicated_deduplication_window`` on our tables), which
makes writing a batch again after a crash harmless.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc
from clickhouse_connect.driver.client import Client

from vigil_collector.wal.records import RecordKind
from vigil_storage import StorageUnavailable, connect
from vigil_storage.client import INSERT_SETTINGS, close_quietly
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier


class ArrowWriter:
    def __init__(
        self,
        dsn: str,
        table: str,
        kinds: frozenset[RecordKind],
        *,
        connect_timeout_s: float,
        insert_timeout_s: float,
        items: str = "rows",
    ) -> None:
        self._dsn = dsn
        self._table_name = table
        self.kinds = kinds
        self._items = items  # for error messages: spans, log records
        self._connect_timeout_s = connect_timeout_s
        self._insert_timeout_s = insert_timeout_s
        self._client: Client | None = None

    def write(self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str) -> str:
        """Insert the records' rows into ``database`` in one INSERT (the batcher's entry point)."""
        tables = [pa.ipc.open_stream(p).read_all() for p in payloads]
        self.write_arrow(tables[0] if len(tables) == 1 else pa.concat_tables(tables), database, token)
        return "python"

    def write_arrow(self, table: pa.Table, database: str, token: str = "", table_name: str = "") -> None:
        """Insert all rows of ``table`` in one INSERT (into ``table_name``, default this
        writer's table); raises StorageError on failure."""
        client = self._connected()
        settings = with_token(INSERT_SETTINGS, token)
        target = f"{quote_identifier(database)}.{table_name}" if table_name else self.table(database)
        try:
            with translate_errors(f"inserting {table.num_rows} {self._items}"):
                client.insert_arrow(target, table, settings=settings)
        except StorageUnavailable as exc:
            self._drop_if_unreachable(exc)
            raise

    def table(self, database: str) -> str:
        return f"{quote_identifier(database)}.{self._table_name}"

    def close(self) -> None:
        client, self._client = self._client, None
        close_quietly(client)

    def _drop_if_unreachable(self, exc: StorageUnavailable) -> None:
        # A connection that failed is dropped (the next write reconnects); a server that
        # answered (a table detached, too many parts) keeps its connection.
        if exc.name is None:
            self.close()

    def _connected(self) -> Client:
        if self._client is None:
            self._client = connect(
                self._dsn, connect_timeout_s=self._connect_timeout_s, query_timeout_s=self._insert_timeout_s
            )
        return self._client


def with_token(settings: dict[str, str | int], token: str) -> dict[str, str | int]:
    """``settings`` plus the batch's deduplication token, if it has one."""
    return {**settings, "insert_deduplication_token": token} if token else settings
