"""Credentials out of the telemetry databases (issue 31, item 2): an install made by the
previous version (registry and price book in VIGIL_DATABASE) is upgraded at start — users and
keys keep working, the old tables are gone — and a ClickHouse user with the documented
Grafana grants (SELECT on the telemetry databases only) runs Grafana's trace and log SQL but
cannot read a password hash.

Embedded chDB has no CREATE USER, but it enforces the grants of a users.xml: the Grafana check
opens a data directory Vigil made in a second process as a user holding exactly the GRANT lines
of docs/security/storage-users.md. The same check against a ClickHouse server (CREATE USER,
and the query service on a read-only VIGIL_QUERY_DSN) is the Docker test at the end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid
from functools import partial
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from vigil import QueryClient
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_query.analytics.prices import store as price_book
from vigil_query.analytics.prices.book import Price
from vigil_server.wiring.schema import migrate_all
from vigil_storage import apply_migrations

from support import REPO, RunningApp, http_request, make_request, make_settings, wait_for

SECRET = "storage-users-secret-0123456789abcdef"
CREDENTIAL_TABLES = (*registry.TABLES, price_book.TABLE)
DOC = REPO / "docs" / "security" / "storage-users.md"


def _tables(ch: Client, database: str) -> set[str]:
    rows = ch.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}
    ).result_rows
    return {r[0] for r in rows}


def test_an_old_install_is_upgraded_and_no_credential_table_stays_in_a_telemetry_database(
    chdb_dir: Path, ch: Client
) -> None:
    main = "upgr" + uuid.uuid4().hex[:6]
    # The previous version's layout: the registry's tables and the price book in the main
    # telemetry database (the same DDL, pointed at it), with a project, a key, a user, a price.
    registry.ensure(ch, main)
    price_book.ensure(ch, main)
    registry.create_project(ch, main, "shop", main=main, create_tables=partial(apply_migrations, ch))
    _, key = registry.create_key(ch, main, KeyHasher(SECRET.encode()), "shop", ["ingest", "read"])
    registry.create_user(ch, main, "olga", hash_password("olga's password"), is_admin=False)
    registry.grant(ch, main, "olga", "shop", "viewer")
    price_book.set_prices(ch, main, [Price("acme", "acme-1", 1.0, 2.0, 1.0, 1.0)])
    assert set(CREDENTIAL_TABLES) <= _tables(ch, main)

    app = RunningApp(make_settings(chdb_dir, database=main, auth="on", auth_secret=SECRET))
    try:
        system = app.settings.system_database
        for database in (main, f"{main}_shop"):
            assert not set(CREDENTIAL_TABLES) & _tables(ch, database), database
        assert set(CREDENTIAL_TABLES) <= _tables(ch, system)
        # The key still writes into its project, the user still logs in and reads it.
        status = http_request(
            f"{app.http_base}/v1/traces",
            make_request(2, "after-upgrade").SerializeToString(),
            {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
        )[0]
        assert status == 200
        app.flush()
        with QueryClient(app.query_target, project="shop") as client:
            client.login("olga", "olga's password")
            wait_for(lambda: client.services() == ["after-upgrade"], 60, "the upgraded server's services")
        assert [p.model for p in price_book.list_prices(ch, system) if p.origin == "user"] == ["acme-1"]

        # A move cut short after its copy (the old table back, with the same rows) is
        # finished at the next start without duplicating anything.
        users_before = registry.list_users(ch, system)
        registry.ensure(ch, main)
        ch.command(f"INSERT INTO {main}.vigil_users SELECT * FROM {system}.vigil_users")
        migrate_all(ch, app.settings)
        migrate_all(ch, app.settings)
        assert registry.list_users(ch, system) == users_before
        assert not set(CREDENTIAL_TABLES) & _tables(ch, main)
    finally:
        app.stop()


def test_no_credential_table_in_the_session_install(app: RunningApp, ch: Client) -> None:
    telemetry = [
        r[0]
        for r in ch.query(
            "SELECT name FROM system.databases WHERE name = {main:String} OR startsWith(name, {prefix:String})",
            parameters={"main": app.settings.database, "prefix": app.settings.database + "_"},
        ).result_rows
    ]
    assert app.settings.database in telemetry
    for database in telemetry:
        assert not set(CREDENTIAL_TABLES) & _tables(ch, database), database
    assert {"vigil_users", "vigil_api_keys"} <= _tables(ch, app.settings.system_database)


def test_system_database_must_be_apart_from_telemetry(tmp_path: Path) -> None:
    for bad in ("otel", "otel_system"):
        with pytest.raises(ValueError, match="VIGIL_SYSTEM_DATABASE"):
            make_settings(tmp_path, system_database=bad)


def documented_grants(user: str) -> list[str]:
    """The GRANT statements docs/security/storage-users.md gives ``user``."""
    found = re.findall(rf"^(GRANT [^;]+ TO {user});", DOC.read_text(), flags=re.MULTILINE)
    assert found, f"no GRANT ... TO {user}; in {DOC}"
    return found


# Vigil's own tables and a span, a log record and a user, made by Vigil's code in a process of
# its own (chDB opens a data directory once per process).
_MAKE = """
import sys, time
from pathlib import Path
from vigil_auth import registry
from vigil_auth.passwords import hash_password
from vigil_server.wiring.schema import migrate_all
from vigil_server.settings import VigilSettings
from vigil_storage import apply_migrations, connect

s = VigilSettings(_env_file=None, data_dir=Path(sys.argv[1]))
ch = connect(s.dsn)
migrate_all(ch, s)
registry.create_project(
    ch, s.system_database, "checkout", main=s.database, create_tables=lambda d: apply_migrations(ch, d)
)
migrate_all(ch, s)
registry.create_user(ch, s.system_database, "root", hash_password("root password"), is_admin=True)
now = time.time_ns()
for db in ("otel", "otel_checkout"):
    ch.command(
        f"INSERT INTO {db}.otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, Duration)"
        f" VALUES (fromUnixTimestamp64Nano({now}), 'abc', 's1', 'svc', 'root', 1000)"
    )
    ch.command(
        f"INSERT INTO {db}.otel_logs (Timestamp, TraceId, SeverityText, ServiceName, Body)"
        f" VALUES (fromUnixTimestamp64Nano({now}), 'abc', 'ERROR', 'svc', 'it broke')"
    )
print(s.dsn)
"""

# Grafana's SQL (docs/grafana.md) and the password hash, as the restricted user.
_READ = """
import json, sys
import chdb

conn = chdb.connect(sys.argv[1] + "?config-file=" + sys.argv[2])
out = {}
TRACE = '''WITH 'abc' AS __gf_trace_id,
 (SELECT min(Start) FROM {db}.otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) AS __gf_trace_start,
 (SELECT max(End) + 1 FROM {db}.otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) AS __gf_trace_end
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
 SpanName AS operationName, multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
 multiply(Duration, 0.000001) AS duration,
 arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
 arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
 if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode,
 arrayMap((name, timestamp, attributes) -> tuple(name, toString(toUnixTimestamp64Milli(timestamp)),
   arrayMap(key -> map('key', key, 'value', attributes[key]), mapKeys(attributes))),
   Events.Name, Events.Timestamp, Events.Attributes) AS logs,
 SpanKind AS kind, StatusMessage AS statusMessage, TraceState AS traceState
FROM {db}.otel_traces
WHERE traceID = __gf_trace_id AND Timestamp >= __gf_trace_start AND Timestamp <= __gf_trace_end'''
SEARCH = '''SELECT TraceId AS traceID, ServiceName AS serviceName, SpanName AS operationName,
 Timestamp AS startTime, multiply(Duration, 0.000001) AS duration FROM {db}.otel_traces
WHERE (Timestamp >= now() - INTERVAL 1 DAY AND Timestamp <= now() + INTERVAL 1 DAY)
 AND (ParentSpanId = '') AND (Duration > 0) ORDER BY Timestamp DESC, Duration DESC LIMIT 1000'''
LOGS = '''SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level" FROM "{db}"."otel_logs"
WHERE ( timestamp >= now() - INTERVAL 1 DAY AND timestamp <= now() + INTERVAL 1 DAY )
ORDER BY timestamp DESC LIMIT 1000'''
VOLUME = '''SELECT toStartOfInterval("Timestamp", INTERVAL 1 MINUTE) as "time",
 sum(multiSearchAny(toString("SeverityText"), ['critical','fatal','crit','alert','emerg','CRITICAL'])) as critical,
 sum(multiSearchAny(toString("SeverityText"), ['error','err','eror','ERROR'])) as error
FROM "{db}"."otel_logs" WHERE ( "Timestamp" >= now() - INTERVAL 1 DAY ) GROUP BY time ORDER BY time ASC'''
TRACE_LOGS = '''SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level", TraceId as "traceID",
 ResourceAttributes, ScopeAttributes, LogAttributes FROM "{db}"."otel_logs"
WHERE ( traceID = 'abc' ) ORDER BY timestamp ASC LIMIT 1000'''
for db in ("otel", "otel_checkout"):
    for name, sql in (("trace", TRACE), ("search", SEARCH), ("logs", LOGS), ("volume", VOLUME), ("trace_logs", TRACE_LOGS)):
        try:
            out[f"{db}.{name}"] = json.loads(str(conn.query(sql.format(db=db), "JSONCompact")))["rows"]
        except Exception as exc:
            out[f"{db}.{name}"] = "error: " + str(exc)[:300]
for name, sql in (
    ("hash", "SELECT password_hash FROM vigil_system.vigil_users"),
    ("keys", "SELECT hash FROM vigil_system.vigil_api_keys"),
    ("old_hash", "SELECT password_hash FROM otel.vigil_users"),
    ("insert", "INSERT INTO otel.otel_logs (Body) VALUES ('x')"),
):
    try:
        out[name] = "ok: " + str(conn.query(sql, "CSV"))
    except Exception as exc:
        out[name] = "error: " + str(exc)[:300]
print(json.dumps(out))
"""


def test_grafana_grants_read_telemetry_but_no_password_hash(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-c", _MAKE, str(tmp_path / "data")], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr
    directory = made.stdout.strip().splitlines()[-1].removeprefix("chdb://")

    # The one user of this engine holds exactly the documented grants ("TO grafana" is
    # implied by where a users.xml puts them).
    grants = "".join(f"<query>{g.removesuffix(' TO grafana')}</query>" for g in documented_grants("grafana"))
    (tmp_path / "users.xml").write_text(
        "<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users><default>"
        "<password></password><profile>default</profile><quota>default</quota>"
        f"<networks><ip>::/0</ip></networks><grants>{grants}</grants></default></users></clickhouse>"
    )
    (tmp_path / "config.xml").write_text(
        textwrap.dedent(f"""\
            <clickhouse><user_directories><users_xml><path>{tmp_path / "users.xml"}</path></users_xml>
            </user_directories></clickhouse>""")
    )
    read = subprocess.run(
        [sys.executable, "-c", _READ, directory, str(tmp_path / "config.xml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert read.returncode == 0, read.stderr
    out = json.loads(read.stdout.strip().splitlines()[-1])
    for db in ("otel", "otel_checkout"):
        for name in ("trace", "search", "logs", "volume", "trace_logs"):
            assert out[f"{db}.{name}"] == 1, (db, name, out[f"{db}.{name}"])
    assert "ACCESS_DENIED" in out["hash"] and "ACCESS_DENIED" in out["keys"]
    assert "UNKNOWN_TABLE" in out["old_hash"]  # nothing left in the telemetry database
    assert "ACCESS_DENIED" in out["insert"]


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.mark.docker
@pytest.mark.skipif(not _docker_available(), reason="no Docker engine: ClickHouse server test skipped")
def test_clickhouse_server_users_as_documented(tmp_path: Path) -> None:
    """On a ClickHouse server: the Grafana and query users created with the documented
    statements; Grafana's SQL works and the hash is refused; the query service reads through
    VIGIL_QUERY_DSN as the query user while replays and admin writes still work."""
    import clickhouse_connect
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer("clickhouse/clickhouse-server:latest").with_exposed_ports(8123)
    container.with_env("CLICKHOUSE_SKIP_USER_SETUP", "1")
    with container:
        wait_for_logs(container, "Ready for connections", timeout=120)
        host, port = container.get_container_host_ip(), container.get_exposed_port(8123)
        dsn = f"http://default:@{host}:{port}"
        admin = clickhouse_connect.get_client(dsn=dsn)
        settings = make_settings(tmp_path, storage_dsn=dsn)
        migrate_all(admin, settings)
        registry.create_project(
            admin,
            settings.system_database,
            "checkout",
            main=settings.database,
            create_tables=partial(apply_migrations, admin),
        )
        migrate_all(admin, settings)
        registry.create_user(admin, settings.system_database, "root", hash_password("pw root"), is_admin=True)
        for user in ("grafana", "vigil_query"):
            admin.command(f"CREATE USER {user} IDENTIFIED BY 'pw-{user}'")
            for grant in documented_grants(user):
                admin.command(grant)
        grafana = clickhouse_connect.get_client(dsn=f"http://grafana:pw-grafana@{host}:{port}")
        for db in ("otel", "otel_checkout"):
            grafana.query(f"SELECT TraceId, Start, End FROM {db}.otel_traces_trace_id_ts LIMIT 1")
            grafana.query(f'SELECT Timestamp, Body, SeverityText FROM "{db}"."otel_logs" LIMIT 1')
        with pytest.raises(Exception, match=r"ACCESS_DENIED|Not enough privileges"):
            grafana.query("SELECT password_hash FROM vigil_system.vigil_users")
        query_dsn = f"http://vigil_query:pw-vigil_query@{host}:{port}"
        with pytest.raises(Exception, match=r"ACCESS_DENIED|Not enough privileges"):
            clickhouse_connect.get_client(dsn=query_dsn).query("SELECT * FROM vigil_system.vigil_users")
        served = RunningApp(make_settings(tmp_path, storage_dsn=dsn, query_dsn=query_dsn))
        try:
            with QueryClient(served.query_target) as client:
                client.services()
                client.usage(group_by="project")
                client.model_prices()
        finally:
            served.stop()
