"""Versioned, idempotent schema migrations, applied at start-up and by ``vigil migrate``.

Each migration is a .sql file beside this module (``NNNN_name.sql``), statements separated
by ``;`` at line end, written with ``IF NOT EXISTS`` so that re-running a half-applied
migration is harmless (ClickHouse DDL is not transactional). Applied versions are recorded
in ``vigil_schema_migrations``.

A migration that only tunes tables (MergeTree settings) may carry the line
``-- requires-merge-tree-setting: NAME``: on a ClickHouse server without that setting it is
skipped with a warning and recorded, so that an older server still runs Vigil.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from clickhouse_connect.driver.client import Client

from vigil_storage.cluster import Cluster, create_database, render, render_replicated
from vigil_storage.errors import translate_errors

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = "vigil_schema_migrations"
_FILE_RE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_REQUIRES_RE = re.compile(r"^--\s*requires-merge-tree-setting:\s*(\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def required_settings(self) -> tuple[str, ...]:
        """The MergeTree settings this migration sets, which older servers may not have."""
        return tuple(_REQUIRES_RE.findall(self.sql))

    def statements(self, database: str, ttl_days: int) -> list[str]:
        ttl = f"TTL toDateTime(Timestamp) + toIntervalDay({ttl_days})" if ttl_days else ""
        ttl_start = f"TTL Start + toIntervalDay({ttl_days})" if ttl_days else ""
        ttl_metrics = f"TTL toDateTime(TimeUnix) + toIntervalDay({ttl_days})" if ttl_days else ""
        ttl_hour = f"TTL Hour + toIntervalDay({ttl_days})" if ttl_days else ""
        ttl_minute = f"TTL Minute + toIntervalDay({ttl_days})" if ttl_days else ""
        text = Template(self.sql).substitute(
            db=quote_identifier(database),
            ttl=ttl,
            ttl_start=ttl_start,
            ttl_metrics=ttl_metrics,
            ttl_hour=ttl_hour,
            ttl_minute=ttl_minute,
        )
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [stmt.strip() for stmt in re.split(r";\s*(?:\n|$)", text) if stmt.strip()]


def quote_identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"database name must be a plain identifier, got {name!r}")
    return f"`{name}`"


def _load() -> tuple[Migration, ...]:
    found = []
    for entry in resources.files("vigil_storage.migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _load()
LATEST_VERSION: int = MIGRATIONS[-1].version if MIGRATIONS else 0


def applied_versions(client: Client, database: str) -> set[int]:
    """Versions recorded as applied; empty if the database or table does not exist yet."""
    db = quote_identifier(database)
    with translate_errors("reading applied migrations"):
        exists = client.command(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": database, "t": MIGRATIONS_TABLE},
        )
        if not int(exists):
            return set()
        rows = client.query(f"SELECT version FROM {db}.{MIGRATIONS_TABLE}").result_rows
    return {int(r[0]) for r in rows}


def table_columns(client: Client, database: str, table: str) -> list[str]:
    """The columns of ``database.table`` in order; empty when there is no such table."""
    with translate_errors(f"reading the columns of {database}.{table}"):
        rows = client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}"
            " ORDER BY position",
            parameters={"db": database, "t": table},
        ).result_rows
    return [r[0] for r in rows]


def move_tables(client: Client, source: str, target: str, tables: tuple[str, ...]) -> list[str]:
    """Move the rows of ``tables`` from database ``source`` into the same-named tables of
    ``target`` (which must exist), then DROP them from ``source``; returns the tables moved.

    For versioned tables (ReplacingMergeTree, read with FINAL) this is crash-safe and
    idempotent: a move cut short between its copy and its DROP copies the same rows again at
    the next start, and FINAL collapses them; a row changed in ``target`` since keeps its
    newer version. Columns are matched by name (those ``source`` lacks take their defaults),
    so a table that gained columns since still receives the old rows."""
    src, dst = quote_identifier(source), quote_identifier(target)
    moved = []
    for table in tables:
        old = table_columns(client, source, table)
        if not old:
            continue
        shared = ", ".join(f"`{c}`" for c in table_columns(client, target, table) if c in old)
        if not shared:
            raise ValueError(f"{target}.{table} does not exist: create it before moving {source}.{table}")
        with translate_errors(f"moving {source}.{table} to {target}"):
            client.command(f"INSERT INTO {dst}.{table} ({shared}) SELECT {shared} FROM {src}.{table}")
            client.command(f"DROP TABLE IF EXISTS {src}.{table} SYNC")
        log.info("moved %s.%s into %s", source, table, target)
        moved.append(table)
    return moved


def _missing_settings(client: Client, names: tuple[str, ...]) -> list[str]:
    if not names:
        return []
    rows = client.query(
        "SELECT name FROM system.merge_tree_settings WHERE name IN {names:Array(String)}",
        parameters={"names": list(names)},
    ).result_rows
    known = {r[0] for r in rows}
    return [n for n in names if n not in known]


def migrations_table_ddl(database: str, cluster: Cluster | None = None) -> str:
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{MIGRATIONS_TABLE} "
        "(version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    return render_replicated(ddl, cluster) if cluster else ddl


def rendered(migration: Migration, database: str, ttl_days: int, cluster: Cluster | None) -> list[str]:
    """A migration's statements, for one server or for ``cluster`` (cluster.py)."""
    statements = migration.statements(database, ttl_days)
    return render(statements, cluster) if cluster else statements


def all_statements(
    database: str,
    ttl_days: int = 0,
    cluster: Cluster | None = None,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[str]:
    """Everything ``apply_migrations`` would run on an empty database (``--print-ddl``)."""
    out = [create_database(quote_identifier(database), cluster), migrations_table_ddl(database, cluster)]
    for migration in migrations:
        out.extend(rendered(migration, database, ttl_days, cluster))
    return out


def apply_migrations(
    client: Client,
    database: str,
    ttl_days: int = 0,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    cluster: Cluster | None = None,
) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now (skipped
    ones included: they are recorded too). With ``cluster``, the cluster rendering: each
    ``ON CLUSTER`` statement returns once every host has run it (ClickHouse waits on its DDL
    queue up to ``distributed_ddl_task_timeout`` and fails the statement otherwise), so the
    next one never runs ahead of a host."""
    db = quote_identifier(database)
    with translate_errors("applying migrations"):
        client.command(create_database(db, cluster))
        client.command(migrations_table_ddl(database, cluster))
    done = applied_versions(client, database)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        with translate_errors(f"applying migration {migration.version:04d}_{migration.name}"):
            missing = _missing_settings(client, migration.required_settings)
            if missing:
                log.warning(
                    "migration %04d_%s skipped: this ClickHouse server has no MergeTree setting %s"
                    " (after an upgrade, set it by hand: README, Storage)",
                    migration.version,
                    migration.name,
                    ", ".join(missing),
                )
            else:
                for statement in rendered(migration, database, ttl_days, cluster):
                    client.command(statement)
            client.command(
                f"INSERT INTO {db}.{MIGRATIONS_TABLE} (version, name) VALUES ({{v:UInt32}}, {{n:String}})",
                parameters={"v": migration.version, "n": migration.name},
            )
        applied.append(migration.version)
    return applied
