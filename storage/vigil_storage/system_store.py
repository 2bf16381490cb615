"""The shape every insert-only store in the system database shares (alert state, silences, the
notification outbox, incidents, actions): its tables created with the database, rows appended
with the INSERT settings every write uses, and "latest version" reads. Nothing is ever updated
in place: a change is a new row, so the tables stay their own history and work the same on
one server and on a cluster."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

_PLACEHOLDER = re.compile(r"\{(\w+):")


def filters(*always: str, **optional: tuple[str, object]) -> tuple[str, dict[str, object]]:
    """A WHERE clause's conditions and their parameters, the one way the stores build their
    optional filters: each ``always`` condition, then each ``name=(condition, value)`` whose
    value is set (truthy: not empty, zero or None), its value bound to ``{name:Type}`` in
    ``condition``; ``"1"`` when nothing applies. The caller adds the ``always`` conditions'
    parameters."""
    conditions = list(always)
    parameters: dict[str, object] = {}
    for name, (condition, value) in optional.items():
        if _PLACEHOLDER.findall(condition) != [name]:
            raise ValueError(
                f"filter {name!r}: its condition must use {{{name}:Type}} once, got {condition!r}"
            )
        if value:
            conditions.append(condition)
            parameters[name] = value
    return " AND ".join(conditions) or "1", parameters


class SystemStore:
    """A store's tables in ``system_database``; the caller owns ``client`` (one thread at a time)."""

    def __init__(self, client: Client, system_database: str) -> None:
        self.client = client
        self.database = system_database
        self.db = quote_identifier(system_database)

    def _create(self, what: str, ddl: Iterable[str], **values: object) -> None:
        """The database and each ``ddl`` statement (``{db}`` and ``values`` filled in);
        ``what`` names the step in errors."""
        with translate_errors(what):
            self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.db}")
            for statement in ddl:
                self.client.command(statement.format(db=self.db, **values))

    def _append(
        self, what: str, table: str, rows: Sequence[Sequence[object]], columns: Sequence[str]
    ) -> None:
        """``rows`` appended to ``table`` (nothing when there are none); ``what`` names the
        write in errors."""
        if not rows:
            return
        with translate_errors(what):
            self.client.insert(
                table, rows, column_names=list(columns), database=self.database, settings=INSERT_SETTINGS
            )

    def _rows(self, what: str, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """The rows ``sql`` reads; ``what`` names the read in errors."""
        with translate_errors(what):
            return self.client.query(sql, parameters=parameters).result_rows

    def _latest_sql(self, table: str, columns: Sequence[str], where: str) -> str:
        """The latest ``Version`` of each (Project, Id) of ``table`` matching ``where`` (on the
        stored columns)."""
        return (
            f"SELECT {', '.join(columns)} FROM {self.db}.{table} WHERE {where}"
            " ORDER BY Version DESC LIMIT 1 BY Project, Id"
        )
