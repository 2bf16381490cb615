"""The query service's way to ClickHouse, shared by its reading side (reader.py) and its
writing side (writer.py): a small thread pool, one client per thread, a time limit on every
statement and a cap on the work running or waiting, so one request cannot take the server down.

Reading and writing are two pools on two DSNs so that reads can run as a read-only ClickHouse
user (``VIGIL_QUERY_DSN``) while the few writes (replays, alert resolutions, admin RPCs) keep
the storage DSN's rights.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Self, TypeVar

from clickhouse_connect.driver.client import Client

from vigil_query.errors import Busy
from vigil_storage import StorageUnavailable, connect
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

T = TypeVar("T")


@dataclass
class _Inflight:
    limit: int
    count: int = 0


class StoragePool:
    # Told the seconds each ``run`` took, waiting for a thread included (vigil_query_seconds).
    on_duration: Callable[[float], None] | None = None

    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        system_database: str,
        timeout_s: float,
        threads: int = 4,
        connect_timeout_s: float = 5,
        max_inflight: int = 0,
        thread_name: str = "vigil-query",
    ) -> None:
        self._dsn = dsn
        self.database = database
        # The main telemetry database (the default project's), whatever project a view is over.
        self.main_database = database
        # The control plane's (registry, price book): see vigil_auth.registry.
        self.system_database = system_database
        self.db = quote_identifier(database)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_name)
        # Work running or waiting for a thread, capped: beyond it a call is refused at once
        # (Busy) instead of queueing without bound behind heavy queries.
        self._inflight = _Inflight(max_inflight or 4 * threads)

    async def run(self, fn: Callable[[Self], T]) -> T:
        """Run ``fn(self)`` on one of this pool's threads; raises Busy when ``max_inflight``
        calls are already running or waiting."""
        inflight = self._inflight
        if inflight.count >= inflight.limit:
            raise Busy(
                f"the query service is busy ({inflight.count} queries running or waiting, the limit of "
                "VIGIL_QUERY_MAX_INFLIGHT); retry in a moment"
            )
        inflight.count += 1
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self)
        finally:
            inflight.count -= 1
            if self.on_duration is not None:
                self.on_duration(time.perf_counter() - started)

    def scoped(self, database: str) -> Self:
        """This pool over another database (a project's), sharing threads, clients and the
        in-flight cap: what each request's SQL runs on once its caller is known."""
        if database == self.database:
            return self
        view = copy.copy(self)
        view.database, view.db = database, quote_identifier(database)
        return view

    def client(self) -> Client:
        """The calling thread's client of this pool, for work that calls storage functions
        itself (the registry's, the price book's)."""
        return self._client()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

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

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(
                self._dsn, connect_timeout_s=self._connect_timeout_s, query_timeout_s=self._timeout_s + 5
            )
            self._local.client = client
        return client
