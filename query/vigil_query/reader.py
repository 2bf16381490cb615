"""Runs the query API's ClickHouse work (reads, and the small writes of alerts and replays)
on a small thread pool, one client per thread, with a time limit and a row limit on every
query so one request cannot take the server down."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from vigil_query.errors import Busy
from vigil_storage import StorageUnavailable, connect
from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

T = TypeVar("T")


@dataclass
class _Inflight:
    limit: int
    count: int = 0


def datetime_of_ns(ns: int) -> datetime:
    """A DateTime64 value to insert, from Unix nanoseconds (kept to the microsecond: the
    alert and replay times written through ``Reader.insert`` need no more)."""
    return datetime.fromtimestamp(ns / 1e9, UTC)


class Reader:
    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        timeout_s: float,
        max_rows: int,
        threads: int = 4,
        connect_timeout_s: float = 5,
        max_inflight: int = 0,
        max_memory_bytes: int = 0,
    ) -> None:
        self._dsn = dsn
        self.database = database
        # The main database (the registry's, the price book's), whatever project a view is over.
        self.main_database = database
        self.db = quote_identifier(database)
        self._timeout_s = timeout_s
        self._max_rows = max_rows
        self._max_memory_bytes = max_memory_bytes
        self._connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vigil-query")
        # Work running or waiting for a thread, capped: beyond it a call is refused at once
        # (Busy) instead of queueing without bound behind heavy queries.
        self._inflight = _Inflight(max_inflight or 4 * threads)

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

    async def run(self, fn: Callable[[Reader], T]) -> T:
        """Run ``fn(self)`` on a query thread (it may call ``rows`` several times); raises Busy
        when ``max_inflight`` calls are already running or waiting."""
        inflight = self._inflight
        if inflight.count >= inflight.limit:
            raise Busy(
                f"the query service is busy ({inflight.count} queries running or waiting, the limit of "
                "VIGIL_QUERY_MAX_INFLIGHT); retry in a moment"
            )
        inflight.count += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self)
        finally:
            inflight.count -= 1

    def scoped(self, database: str) -> Reader:
        """This reader over another database (a project's), sharing threads, clients and the
        in-flight cap: what each request's SQL runs on once its caller is known."""
        if database == self.database:
            return self
        view = copy.copy(self)
        view.database, view.db = database, quote_identifier(database)
        return view

    def rows(
        self, sql: str, params: dict[str, Any], what: str, settings: dict[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        merged = {**self.settings, **settings} if settings else self.settings
        with self._using_client(what) as client:
            return client.query(sql, parameters=params, settings=merged).result_rows

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], what: str) -> None:
        """A small INSERT into one of Vigil's own tables (``table`` without the database)."""
        with self._using_client(what) as client:
            client.insert(f"{self.db}.{table}", rows, column_names=list(columns), settings=INSERT_SETTINGS)

    def insert_arrow(self, table: str, data: Any, what: str) -> None:
        """Insert an Arrow table into one of the database's tables, committed before returning."""
        with self._using_client(what) as client:
            client.insert_arrow(f"{self.db}.{table}", data, settings=INSERT_SETTINGS)

    @contextlib.contextmanager
    def _using_client(self, what: str) -> Iterator[Client]:
        """This thread's client, errors translated; a client that lost its server is dropped,
        so the next call reconnects."""
        try:
            with translate_errors(what):
                yield self._client()
        except StorageUnavailable:
            self._local.client = None
            raise

    def client(self) -> Client:
        """This query thread's client, for work that calls storage functions itself (the
        registry's, in admin RPCs); only from inside ``run``."""
        return self._client()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(
                self._dsn, connect_timeout_s=self._connect_timeout_s, query_timeout_s=self._timeout_s + 5
            )
            self._local.client = client
        return client
