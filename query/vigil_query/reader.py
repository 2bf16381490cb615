"""Runs the query API's ClickHouse reads on a small thread pool (see pool.py), one client per
thread, with a time limit and a row limit on every query so one request cannot take the
server down. Its DSN may be a read-only ClickHouse user's (``VIGIL_QUERY_DSN``): whatever the
query service writes goes through ``writer`` (writer.py), on the storage DSN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from vigil_query.pool import StoragePool
from vigil_query.writer import Writer, datetime_of_ns

__all__ = ["Reader", "Writer", "datetime_of_ns"]


class Reader(StoragePool):
    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        writer: Writer,
        timeout_s: float,
        max_rows: int,
        max_memory_bytes: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(dsn, database, timeout_s=timeout_s, **kwargs)
        self.writer = writer
        self._max_rows = max_rows
        self._max_memory_bytes = max_memory_bytes

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "max_execution_time": self._timeout_s,
            "max_result_rows": self._max_rows,
            "result_overflow_mode": "throw",
            # 0 = ClickHouse's own limits only (the server's max_server_memory_usage).
            "max_memory_usage": self._max_memory_bytes,
            # Point reads of a few granules: plain pread beats the thread-pool reader (~20%).
            "local_filesystem_read_method": "pread",
        }

    def scoped(self, database: str) -> Self:
        view = super().scoped(database)
        if view is not self:
            view.writer = self.writer.scoped(database)
        return view

    def rows(
        self, sql: str, params: dict[str, Any], what: str, settings: dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        merged = {**self.settings, **settings} if settings else self.settings
        with self._using_client(what) as client:
            return client.query(sql, parameters=params, settings=merged).result_rows

    def close(self) -> None:
        super().close()
        self.writer.close()
