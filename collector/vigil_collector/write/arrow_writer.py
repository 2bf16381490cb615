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

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
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
        recovery_key: tuple[str, ...] = (),
    ) -> None:
        self._dsn = dsn
        self._table_name = table
        self.kinds = kinds
        self._items = items  # for error messages: spans, log records
        self._recovery_key = recovery_key  # what tells rows apart (recover), time column first
        self._connect_timeout_s = connect_timeout_s
        self._insert_timeout_s = insert_timeout_s
        self._client: Client | None = None
        # Settings of every query on this writer's connection (on a cluster: client.py's
        # CLUSTER_INSERT_SETTINGS); set before the first write.
        self.session_settings: dict[str, str | int] = {}

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

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the rows of these payloads that ``database`` lacks (a batch written again
        after a crash: see batch/failures.RecoveringWriter), when the writer has a recovery key."""
        if not self._recovery_key:
            return 0
        tables = [pa.ipc.open_stream(p).read_all() for p in payloads]
        return self.recover_rows(
            pa.concat_tables(tables), database, token, self._table_name, self._recovery_key
        )

    def recover_rows(
        self,
        table: pa.Table,
        database: str,
        token: str,
        table_name: str,
        key: tuple[str, ...],
        narrow_by: str = "",
    ) -> int:
        """Insert the rows of ``table`` that ``database``'s ``table_name`` lacks, by ``key``
        as a multiset: a key the batch holds n times and the table m times (in the batch's
        time range and services) is missing n - m times. The first of ``key`` is the time
        column; ``narrow_by``, a column of ``key`` with an index (spans: TraceId), also limits
        the query to the batch's values of it. Returns the rows inserted."""
        if table.num_rows == 0:
            return 0
        time_column = key[0]
        times = table.column(time_column).cast(pa.int64())
        columns = [f"toUnixTimestamp64Nano(`{time_column}`)", *(f"`{k}`" for k in key[1:])]
        client = self._connected()
        target = f"{quote_identifier(database)}.{table_name}"
        with translate_errors(f"checking the {self._items} of a batch written again"):
            rows = client.query(
                f"SELECT {', '.join(columns)}, count() FROM {target}"
                f" WHERE `{time_column}` >= fromUnixTimestamp64Nano({{lo:Int64}})"
                f" AND `{time_column}` <= fromUnixTimestamp64Nano({{hi:Int64}})"
                " AND ServiceName IN {services:Array(String)}"
                + (f" AND `{narrow_by}` IN {{narrow:Array(String)}}" if narrow_by else "")
                + f" GROUP BY {', '.join(columns)}",
                parameters={
                    "lo": pc.min(times).as_py(),
                    "hi": pc.max(times).as_py(),
                    "services": sorted(set(table.column("ServiceName").to_pylist())),
                    "narrow": sorted(set(table.column(narrow_by).to_pylist())) if narrow_by else [],
                },
            ).result_rows
        present = Counter({tuple(_hashable(v) for v in row[:-1]): row[-1] for row in rows})
        values = [times.to_pylist(), *(table.column(k).to_pylist() for k in key[1:])]
        missing = []
        for row in zip(*values, strict=True):
            found = tuple(_hashable(v) for v in row)
            if present[found] > 0:
                present[found] -= 1
                missing.append(False)
            else:
                missing.append(True)
        count = sum(missing)
        if count:
            self.write_arrow(
                table.filter(pa.array(missing)), database, f"{token}:recovered" if token else "", table_name
            )
        return count

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
                self._dsn,
                connect_timeout_s=self._connect_timeout_s,
                query_timeout_s=self._insert_timeout_s,
                settings=self.session_settings,
            )
        return self._client


def _hashable(value: object) -> object:
    """A value as ClickHouse and Arrow both give it, comparable: maps (dicts from ClickHouse,
    lists of pairs from Arrow) as tuples of pairs, lists as tuples."""
    if isinstance(value, dict):
        return tuple(value.items())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def with_token(settings: dict[str, str | int], token: str) -> dict[str, str | int]:
    """``settings`` plus the batch's deduplication token, if it has one."""
    return {**settings, "insert_deduplication_token": token} if token else settings
