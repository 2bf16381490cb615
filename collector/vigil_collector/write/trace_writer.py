"""Inserts span batches (Arrow tables) into ``otel_traces``.

Runs on the batcher's single writer thread. The client is opened lazily and dropped after
a connection failure, so the collector recovers by itself when ClickHouse comes back.
"""

from __future__ import annotations

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from vigil_storage import StorageUnavailable, connect
from vigil_storage.client import INSERT_SETTINGS, close_quietly
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier


class TraceWriter:
    def __init__(self, dsn: str, database: str, *, connect_timeout_s: float, insert_timeout_s: float) -> None:
        self._dsn = dsn
        self._table = f"{quote_identifier(database)}.otel_traces"
        self._connect_timeout_s = connect_timeout_s
        self._insert_timeout_s = insert_timeout_s
        self._client: Client | None = None

    def write(self, table: pa.Table) -> None:
        """Insert all rows of ``table`` in one INSERT; raises StorageError on failure."""
        if self._client is None:
            self._client = connect(
                self._dsn, connect_timeout_s=self._connect_timeout_s, query_timeout_s=self._insert_timeout_s
            )
        try:
            with translate_errors(f"inserting {table.num_rows} spans"):
                self._client.insert_arrow(self._table, table, settings=INSERT_SETTINGS)
        except StorageUnavailable:
            self.close()
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        close_quietly(client)
