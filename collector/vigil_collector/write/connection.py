"""One writer's ClickHouse connection, and the Arrow INSERT every writer uses.

Each writer runs on a thread of its own (the batcher's lanes), with a connection of its own:
opened lazily and dropped after a connection failure, so the collector recovers by itself
when ClickHouse comes back. Every INSERT carries the batcher's ``insert_deduplication_token``:
ClickHouse drops an INSERT whose token it has seen (``non_replicated_deduplication_window``
on our tables), which makes writing a batch again after a crash harmless.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc
from clickhouse_connect.driver.client import Client

from vigil_storage import StorageUnavailable, connect
from vigil_storage.client import INSERT_SETTINGS, close_quietly
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier


class Connection:
    def __init__(self, dsn: str, *, connect_timeout_s: float, insert_timeout_s: float) -> None:
        self.dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._insert_timeout_s = insert_timeout_s
        self._client: Client | None = None
        # Settings of every query on this connection (on a cluster: client.py's
        # CLUSTER_INSERT_SETTINGS); set before the first write.
        self.session_settings: dict[str, str | int] = {}

    def client(self) -> Client:
        if self._client is None:
            self._client = connect(
                self.dsn,
                connect_timeout_s=self._connect_timeout_s,
                query_timeout_s=self._insert_timeout_s,
                settings=self.session_settings,
            )
        return self._client

    def failed(self, exc: StorageUnavailable) -> None:
        # A connection that failed is dropped (the next write reconnects); a server that
        # answered (a table detached, too many parts) keeps its connection.
        if exc.name is None:
            self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        close_quietly(client)


def insert_arrow(connection: Connection, table: pa.Table, target: str, token: str, items: str) -> None:
    """Insert all rows of ``table`` into ``target`` (``database.table``) in one INSERT;
    ``items`` names them in errors (spans, log records). Raises StorageError on failure."""
    client = connection.client()
    try:
        with translate_errors(f"inserting {table.num_rows} {items}"):
            client.insert_arrow(target, table, settings=with_token(INSERT_SETTINGS, token))
    except StorageUnavailable as exc:
        connection.failed(exc)
        raise


def read_ipc(payloads: list[bytes]) -> pa.Table:
    """The rows of records decoded in Python (Arrow IPC streams), as one table."""
    tables = [pa.ipc.open_stream(p).read_all() for p in payloads]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def qualified(database: str, table_name: str) -> str:
    return f"{quote_identifier(database)}.{table_name}"


def with_token(settings: dict[str, str | int], token: str) -> dict[str, str | int]:
    """``settings`` plus the batch's deduplication token, if it has one."""
    return {**settings, "insert_deduplication_token": token} if token else settings
