"""Knows whether storage is usable: reachable, and every migration applied.

The server starts even when ClickHouse is down; ``ensure_schema`` is retried until the
migrations are in, and ``check`` backs the ``/ready`` endpoint.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from clickhouse_connect.driver.client import Client

from vigil_storage.client import close_quietly, connect
from vigil_storage.cluster import Cluster
from vigil_storage.errors import StorageError, StorageUnavailable, translate_errors
from vigil_storage.migrate import LATEST_VERSION, applied_versions, apply_migrations


class Readiness(NamedTuple):
    ok: bool
    code: str  # short and fixed, safe to show anyone: ok, storage_unreachable, storage_error, schema_pending
    reason: str  # ClickHouse's words: may name hosts and databases


class StorageGate:
    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        ttl_days: int = 0,
        connect_timeout_s: float = 5.0,
        cluster: Cluster | None = None,
    ) -> None:
        self._dsn = dsn
        self._cluster = cluster
        self._database = database
        self._ttl_days = ttl_days
        self._connect_timeout_s = connect_timeout_s
        self._client: Client | None = None
        self._lock = threading.Lock()
        self.schema_ready = False
        self.last_error = "migrations not applied yet"

    def ensure_schema(self) -> bool:
        """Apply pending migrations (blocking). True once the schema is current."""
        with self._lock:
            try:
                apply_migrations(self._connected(), self._database, self._ttl_days, cluster=self._cluster)
            except StorageError as exc:
                self._fail(exc)
                return False
            self.schema_ready = True
            self.last_error = ""
            return True

    def check(self) -> Readiness:
        """Whether ClickHouse answers and the schema is at the latest version."""
        with self._lock:
            try:
                client = self._connected()
                with translate_errors("readiness check"):
                    client.command("SELECT 1")
                missing = LATEST_VERSION not in applied_versions(client, self._database)
            except StorageError as exc:
                self._fail(exc)
                code = "storage_unreachable" if isinstance(exc, StorageUnavailable) else "storage_error"
                return Readiness(False, code, exc.reason)
            if missing or not self.schema_ready:
                return Readiness(
                    False, "schema_pending", f"schema not migrated: {self.last_error or 'pending'}"
                )
            return Readiness(True, "ok", "ok")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connected(self) -> Client:
        if self._client is None:
            self._client = connect(
                self._dsn, connect_timeout_s=self._connect_timeout_s, query_timeout_s=self._connect_timeout_s
            )
        return self._client

    def _fail(self, exc: StorageError) -> None:
        self.last_error = exc.reason
        if isinstance(exc, StorageUnavailable):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        close_quietly(client)
