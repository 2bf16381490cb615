"""The insert-only stores of the system database (alert state, silences, the outbox, incidents,
actions) share one helper, vigil_storage/system_store.py, instead of each repeating how a table
is created, how rows are appended and read, and how the latest version is selected."""

from __future__ import annotations

import ast
import re
import uuid

import pytest
from clickhouse_connect.driver.client import Client

from vigil_alerting.actions.store import ActionStore
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.notify.outbox import Outbox
from vigil_alerting.silence.store import SilenceStore
from vigil_alerting.state.store import AlertStore
from vigil_storage.system_store import SystemStore, filters

from support import REPO

STORES = {
    "alerting/vigil_alerting/actions/store.py": ActionStore,
    "alerting/vigil_alerting/incidents/store.py": IncidentStore,
    "alerting/vigil_alerting/notify/outbox.py": Outbox,
    "alerting/vigil_alerting/silence/store.py": SilenceStore,
    "alerting/vigil_alerting/state/store.py": AlertStore,
}

_DDL = """CREATE TABLE IF NOT EXISTS {db}.things (
    Project String, Id String, Version UInt64, Note String
) ENGINE = MergeTree ORDER BY (Project, Id, Version)"""


class Things(SystemStore):
    def ensure_schema(self) -> None:
        self._create("creating the things table", [_DDL])

    def save(self, rows: list[list[object]]) -> None:
        self._append("writing things", "things", rows, ["Project", "Id", "Version", "Note"])

    def latest(self, note: str = "", min_version: int = 0) -> list[tuple]:
        clause, params = filters(
            "Project = 'p'", note=("Note = {note:String}", note), v=("Version >= {v:UInt64}", min_version)
        )
        sql = self._latest_sql("things", ["Project", "Id", "Version", "Note"], clause)
        return sorted(self._rows("reading things", sql, params))


def test_each_store_uses_the_shared_helper_and_inserts_through_it() -> None:
    for path, cls in STORES.items():
        assert issubclass(cls, SystemStore), cls
        tree = ast.parse((REPO / path).read_text())
        direct = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr in ("insert", "command")
            if isinstance(n.value, ast.Attribute) and n.value.attr == "client"
        ]
        imports = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert direct == [] and "vigil_storage.client" not in imports, f"{path} writes by itself: {direct}"


def test_no_store_builds_its_optional_filters_by_hand() -> None:
    """One mechanism for optional filters (``filters``): no ``if x: where.append(...)``."""
    for path in STORES:
        text = (REPO / path).read_text()
        by_hand = re.findall(r"(?:where|conditions)\.append\(|params\[\"\w+\"\] = ", text)
        assert by_hand == [], f"{path} builds a filter by hand: {by_hand}"


def test_filters_keep_the_set_values_and_refuse_a_condition_without_its_parameter() -> None:
    assert filters() == ("1", {})
    assert filters("Project = {p:String}", s=("Status = {s:String}", ""), n=("N >= {n:Int64}", 0)) == (
        "Project = {p:String}",
        {},
    )
    clause, params = filters(
        "Project = {p:String}", s=("Status = {s:String}", "open"), until=("OpenedNs < {until:Int64}", 5)
    )
    assert clause == "Project = {p:String} AND Status = {s:String} AND OpenedNs < {until:Int64}"
    assert params == {"s": "open", "until": 5}
    with pytest.raises(ValueError, match="'s': its condition must use"):
        filters(s=("Status = {status:String}", "open"))


def test_create_append_and_latest_on_a_real_clickhouse(ch: Client) -> None:
    database = f"vigil_system_store_{uuid.uuid4().hex[:8]}"
    store = Things(ch, database)
    try:
        store.ensure_schema()
        store.ensure_schema()  # idempotent: every start runs it
        store.save([])  # nothing to write: no INSERT
        store.save([["p", "a", 1, "first"], ["p", "b", 1, "only"], ["q", "a", 9, "other project"]])
        store.save([["p", "a", 2, "second"]])
        assert store.latest() == [("p", "a", 2, "second"), ("p", "b", 1, "only")]
        assert store.latest(note="only") == [("p", "b", 1, "only")]
        assert store.latest(min_version=2) == [("p", "a", 2, "second")]
        count = ch.query(f"SELECT count() FROM {store.db}.things").result_rows[0][0]
        assert count == 4, "every version stays: the table is its own history"
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {store.db}")
