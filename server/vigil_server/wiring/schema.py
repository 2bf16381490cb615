"""Every schema Vigil keeps up to date: the main database's migrations, the system
database's tables (the registry, the price book), each project's."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from vigil_auth import registry
from vigil_query.analytics.prices import store as price_book
from vigil_server.schema_ddl import system_statements
from vigil_server.settings import VigilSettings
from vigil_storage import apply_migrations
from vigil_storage.migrate import move_tables


def migrate_all(client: Client, s: VigilSettings) -> list[int]:
    """Every schema Vigil keeps, up to date: the main database's migrations (their versions
    applied now are returned), the system database's tables, each project's."""
    cluster = s.cluster()
    applied = apply_migrations(client, s.database, s.traces_ttl_days, cluster=cluster)
    if cluster is not None:  # replicated on every host first; the owners' CREATEs then find them
        for statement in system_statements(s.system_database, cluster, int(s.notify_retention_days * 86400)):
            client.command(statement)
    ensure_system(client, s)
    for project in registry.list_projects(client, s.system_database, main=s.database)[1:]:
        apply_migrations(client, project.database, s.traces_ttl_days, cluster=cluster)
    return applied


def ensure_system(client: Client, s: VigilSettings) -> None:
    """The system database: the registry's tables and the price book (with its defaults).
    An install made by an earlier version kept them in the main telemetry database: their
    rows are moved here and the old tables dropped (crash-safe and idempotent, see
    ``move_tables``), so that no credential stays where Grafana and ETL jobs read."""
    registry.ensure(client, s.system_database)
    price_book.ensure(client, s.system_database)
    if move_tables(client, s.database, s.system_database, (*registry.TABLES, price_book.TABLE)):
        price_book.ensure(client, s.system_database)  # the moved defaults, brought up to date
