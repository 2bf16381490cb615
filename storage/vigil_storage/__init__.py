"""Storage: the only package that knows ClickHouse connection details, DDL and migrations.

The collector writes through it and the query service reads through it; both deployments
(embedded chDB and a ClickHouse server) go through clickhouse-connect, picked by the DSN.
"""

from vigil_storage.client import connect
from vigil_storage.errors import StorageError, StorageQueryError, StorageUnavailable
from vigil_storage.migrate import MIGRATIONS, applied_versions, apply_migrations

__all__ = [
    "MIGRATIONS",
    "StorageError",
    "StorageQueryError",
    "StorageUnavailable",
    "applied_versions",
    "apply_migrations",
    "connect",
]
