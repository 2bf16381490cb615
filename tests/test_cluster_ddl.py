"""The schema rendered for a ClickHouse cluster (storage/vigil_storage/cluster.py) and
``vigil migrate --print-ddl``.

No ClickHouse server or Keeper runs here, so the cluster rendering is checked by golden files,
by static rules, and by running it on chDB with only what needs a cluster swapped out
(``ON CLUSTER`` dropped, ``Replicated*`` engines back to their plain ones, ``Distributed``
tables as ``Null`` tables with the same columns): what is left is ClickHouse's own parser and
table machinery, which check every column, view and key.

Regenerate the golden files after a migration is added:
    vigil migrate --print-ddl > tests/golden/ddl-single.sql
    vigil migrate --print-ddl --cluster prod > tests/golden/ddl-cluster-prod.sql
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from vigil_server.cli import main
from vigil_server.schema_ddl import print_ddl, system_creates
from vigil_storage.cluster import (
    SHARDING_KEYS,
    Cluster,
    ClusterRenderError,
    render_statement,
)
from vigil_storage.migrate import all_statements, apply_migrations

GOLDEN = Path(__file__).parent / "golden"
PROD = Cluster("prod")
EXPORTER_TABLES = (
    "otel_traces",
    "otel_logs",
    *(f"otel_metrics_{k}" for k in ("gauge", "sum", "histogram", "exponential_histogram", "summary")),
)


def split(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";\n\n") if s.strip()]


def cli_ddl(*args: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in (
        "VIGIL_DATABASE",
        "VIGIL_SYSTEM_DATABASE",
        "VIGIL_CLICKHOUSE_CLUSTER",
        "VIGIL_TRACES_TTL_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["migrate", "--print-ddl", *args]) == 0
    return out.getvalue()


def test_print_ddl_cluster_matches_the_golden_file_and_names_every_exporter_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    printed = cli_ddl("--cluster", "prod", monkeypatch=monkeypatch)
    assert printed == (GOLDEN / "ddl-cluster-prod.sql").read_text(), "regenerate: see this file's docstring"
    for table in EXPORTER_TABLES:
        assert f"CREATE TABLE IF NOT EXISTS `otel`.{table}_local ON CLUSTER `prod`" in printed
        assert re.search(
            rf"`otel`\.{table} ON CLUSTER `prod` AS `otel`\.{table}_local\nENGINE = Distributed", printed
        )
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
        in printed
    )


def test_print_ddl_without_a_cluster_is_the_single_node_schema_that_migrations_run(
    ch: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = cli_ddl(monkeypatch=monkeypatch)
    assert printed == (GOLDEN / "ddl-single.sql").read_text()
    assert "ON CLUSTER" not in printed and "Replicated" not in printed and "Distributed" not in printed

    # What apply_migrations sends to ClickHouse on an empty database, statement for statement.
    sent: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(ch, name)

        def command(self, cmd: str, *args: Any, **kwargs: Any) -> Any:
            if not cmd.startswith(("SELECT", "INSERT INTO `single_ddl`.vigil_schema_migrations")):
                sent.append(cmd)
            return ch.command(cmd, *args, **kwargs)

    ch.command("DROP DATABASE IF EXISTS single_ddl")
    try:
        apply_migrations(Recording(), "single_ddl")  # type: ignore[arg-type]
    finally:
        ch.command("DROP DATABASE IF EXISTS single_ddl")
    assert sent == all_statements("single_ddl")
    assert split(printed)[: len(sent)] == all_statements("otel")


# --- the static rules ------------------------------------------------------------------------


def cluster_statements() -> list[str]:
    return split(print_ddl("otel", "vigil_system", 0, PROD))


def test_every_ddl_statement_runs_on_the_cluster() -> None:
    for statement in cluster_statements():
        if statement.startswith("INSERT INTO"):
            # the rollups' backfill: data through the Distributed tables, once, not DDL
            assert re.match(r"INSERT INTO `otel`\.\w+\n", statement)
            continue
        head = statement.split("(", 1)[0]
        assert "ON CLUSTER `prod`" in head, head


def test_every_local_engine_is_replicated_and_every_sharded_path_has_the_macros() -> None:
    for statement in cluster_statements():
        for engine, args in re.findall(r"ENGINE = (\w+)\(([^)]*)\)?", statement):
            if engine == "Distributed":
                continue
            assert engine.startswith("Replicated") and engine.endswith("MergeTree"), statement[:120]
            assert "'{replica}'" in args
            if (
                statement.startswith("CREATE TABLE IF NOT EXISTS `otel`.")
                and "vigil_schema_migrations" not in statement
            ):
                assert "{shard}" in args, statement[:120]
            else:  # the system database and the migrations record: one copy on every host
                assert "{shard}" not in args, statement[:120]
        assert not re.search(r"ENGINE = (?!Replicated|Distributed)\w*MergeTree", statement), statement[:120]


def single_node_views() -> int:
    """As many views on a cluster as the single-node schema has."""
    return sum(
        1 for s in all_statements("otel", 0, None) if s.lstrip().startswith("CREATE MATERIALIZED VIEW")
    )


def test_every_view_reads_and_writes_local_tables() -> None:
    views = [s for s in cluster_statements() if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) == single_node_views()
    for view in views:
        assert re.search(r"\nTO `otel`\.\w+_local\n", view), view[:200]
        sources = re.findall(r"\bFROM (\S+)", view)
        assert sources and all(s.endswith("_local") for s in sources), sources


def test_every_distributed_table_sits_over_an_earlier_local_table_with_a_deterministic_key() -> None:
    created: set[str] = set()
    distributed = []
    for statement in cluster_statements():
        if m := re.match(r"CREATE TABLE IF NOT EXISTS `otel`\.(\w+) ON CLUSTER", statement):
            if d := re.search(r"ENGINE = Distributed\(`prod`, `otel`, (\w+), (.+)\)$", statement):
                local, key = d.groups()
                assert local in created and local == f"{m.group(1)}_local"
                assert key == SHARDING_KEYS[m.group(1)]
                assert not re.search(r"rand|now|today|generateUUID", key, re.I), key
                distributed.append(m.group(1))
            created.add(m.group(1))
    assert set(EXPORTER_TABLES) <= set(distributed)
    assert "otel_traces_trace_id_ts" in distributed
    # A trace and its lookup row: the same key on the same column, so one shard.
    assert SHARDING_KEYS["otel_traces"] == SHARDING_KEYS["otel_traces_trace_id_ts"] == "cityHash64(TraceId)"


def test_system_tables_are_replicated_on_every_host_and_not_sharded() -> None:
    system = [s for s in cluster_statements() if "`vigil_system`." in s.split("(", 1)[0]]
    assert len(system) == len(system_creates("vigil_system"))
    for statement in system:
        assert "'/clickhouse/tables/all/{database}/{table}', '{replica}'" in statement
        assert "Distributed" not in statement and "_local" not in statement
    names = {re.search(r"`vigil_system`\.(\w+)", s).group(1) for s in system}  # type: ignore[union-attr]
    assert {"vigil_users", "vigil_api_keys", "vigil_model_prices", "vigil_worker_lease"} <= names


def test_an_unknown_statement_or_table_is_refused_with_the_reason() -> None:
    with pytest.raises(ClusterRenderError, match="no sharding key"):
        render_statement(
            "CREATE TABLE IF NOT EXISTS `otel`.mystery (a String) ENGINE = MergeTree ORDER BY a", PROD
        )
    with pytest.raises(ClusterRenderError, match="no cluster rendering"):
        render_statement("DROP TABLE `otel`.otel_traces", PROD)
    with pytest.raises(ClusterRenderError, match="plain identifier"):
        Cluster("prod; DROP")


# --- the rendering run on chDB, minus what needs a cluster ----------------------------------


def on_chdb(statement: str, rename: dict[str, str]) -> str:
    """The statement as one chDB can run: no ON CLUSTER, plain engines, Distributed → Null."""
    text = statement.replace(" ON CLUSTER `prod`", "")
    text = re.sub(
        r"ENGINE = Replicated(\w+)\('[^']*', '\{replica\}'(?:, ([^)]*))?\)", r"ENGINE = \1(\2)", text
    )
    text = re.sub(r"ENGINE = Distributed\(.*\)$", "ENGINE = Null", text)
    for old, new in rename.items():
        text = text.replace(f"`{old}`.", f"`{new}`.")
    return text


@pytest.fixture
def rendered_on_chdb(ch: Client) -> Iterator[tuple[str, str]]:
    names = ("clu_otel", "clu_sys", "one_otel")
    for name in names:
        ch.command(f"DROP DATABASE IF EXISTS {name}")
    ch.command("CREATE DATABASE clu_otel")
    ch.command("CREATE DATABASE clu_sys")
    try:
        for statement in cluster_statements():
            if statement.startswith("CREATE DATABASE"):
                continue
            ch.command(on_chdb(statement, {"otel": "clu_otel", "vigil_system": "clu_sys"}))
        apply_migrations(ch, "one_otel")
        yield "clu_otel", "one_otel"
    finally:
        for name in names:
            ch.command(f"DROP DATABASE IF EXISTS {name}")


def columns(ch: Client, database: str, table: str) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in ch.query(
            "SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns"
            " WHERE database = {d:String} AND table = {t:String} ORDER BY position",
            parameters={"d": database, "t": table},
        ).result_rows
    ]


def test_distributed_tables_expose_exactly_the_single_node_columns(
    ch: Client, rendered_on_chdb: tuple[str, str]
) -> None:
    cluster_db, single_db = rendered_on_chdb
    for table in SHARDING_KEYS:
        single = columns(ch, single_db, table)
        assert single, table
        assert columns(ch, cluster_db, table) == single, table
        assert columns(ch, cluster_db, f"{table}_local") == single, table


def test_sharding_keys_evaluate_on_their_local_tables(ch: Client, rendered_on_chdb: tuple[str, str]) -> None:
    cluster_db, _ = rendered_on_chdb
    for table, key in SHARDING_KEYS.items():
        result = ch.query(f"SELECT {key} AS k FROM {cluster_db}.{table}_local LIMIT 0")
        assert result.column_types[0].name == "UInt64", table


def test_views_on_chdb_read_local_tables(ch: Client, rendered_on_chdb: tuple[str, str]) -> None:
    cluster_db, _ = rendered_on_chdb
    rows = ch.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = {d:String} AND engine = 'MaterializedView'",
        parameters={"d": cluster_db},
    ).result_rows
    assert len(rows) == single_node_views()
    for name, create in rows:
        assert re.search(r"TO clu_otel\.\w+_local", create), name
        assert "FROM clu_otel.otel_traces_local" in create, name
