"""The migrations rendered for a ClickHouse cluster (``VIGIL_CLICKHOUSE_CLUSTER``).

The single-node migrations stay the one source of the schema; this module rewrites their
statements, so the two renderings cannot drift apart. On a cluster each table of the
single-node schema becomes two:

- ``<table>_local`` on every host (``ON CLUSTER``), on the ``Replicated`` variant of its engine
  with the path ``/clickhouse/tables/{shard}/{database}/{table}`` and replica ``{replica}``
  (the macros each host's configuration defines);
- ``<table>`` itself, a ``Distributed`` table over the local ones with the sharding key of
  ``SHARDING_KEYS``: the exporter's name keeps working for Grafana, the query service and the
  collector's INSERTs.

Materialized views read the local table and write the local target, on each shard: the spans
of a trace and its lookup row, written by the view on the shard the spans went to, are on one
shard. Rollups are partial per shard (aggregating merges happen only within a shard); every
reader already groups and merges their rows, and reads them through the Distributed table.

The control-plane tables of the system database (users, keys, projects, prices, alert state)
are replicated but not sharded: one replica on every host of the cluster (a path without
``{shard}``), no Distributed table — small tables read with FINAL, on whichever host answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

LOCAL_SUFFIX = "_local"
SHARDED_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
# The system database's tables: every host holds a replica of the one copy.
UNSHARDED_PATH = "/clickhouse/tables/all/{database}/{table}"
REPLICA = "{replica}"

# How each telemetry table's rows are spread over the shards. Deterministic, so that an INSERT
# written again after a crash splits into the same per-shard blocks and each is deduplicated
# by its shard; chosen so that what a query reads together is on one shard:
SHARDING_KEYS: dict[str, str] = {
    # A trace's spans on one shard, with its lookup row (the view writes it there).
    "otel_traces": "cityHash64(TraceId)",
    "otel_traces_trace_id_ts": "cityHash64(TraceId)",
    # Logs have no id: spread by trace and time (a trace's logs are not read with its spans
    # in one query, and logs without a trace id still spread).
    "otel_logs": "cityHash64(TraceId, Timestamp)",
    # A metric series (service, name, attributes) on one shard, like SigNoz's fingerprint.
    **{
        f"otel_metrics_{kind}": "cityHash64(ServiceName, MetricName, mapKeys(Attributes), mapValues(Attributes))"
        for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary")
    },
    # Rollups: rows are inserted by each shard's view; the key only places the backfill.
    "otel_genai_usage_hourly": "cityHash64(ServiceName, GenAiModel, UserId)",
    "otel_sessions_hourly": "cityHash64(SessionId)",
    "otel_requests_minutely": "cityHash64(ServiceName, SpanName)",
    "otel_session_usage_hourly": "cityHash64(SessionId)",
    "otel_operations_minutely": "cityHash64(ServiceName, SpanName)",
    "otel_requests_hourly": "cityHash64(ServiceName, SpanName)",
    "otel_genai_model_usage_hourly": "cityHash64(ServiceName, GenAiModel)",
    "otel_session_model_usage_hourly": "cityHash64(SessionId)",
    "otel_span_values_hourly": "cityHash64(ServiceName, SpanName)",
    "otel_genai_model_usage_minutely": "cityHash64(ServiceName, GenAiModel)",
    "otel_span_values_minutely": "cityHash64(ServiceName, SpanName)",
    # Versioned rows read with FINAL: all versions of a row on one shard.
    "vigil_drift_alerts": "cityHash64(AlertId)",
    "vigil_replays": "cityHash64(ReplayId)",
}

_IDENT = r"`?[A-Za-z_][A-Za-z0-9_]*`?"
_CREATE_TABLE = re.compile(rf"^CREATE TABLE IF NOT EXISTS ({_IDENT})\.({_IDENT})\s", re.S)
_CREATE_VIEW = re.compile(
    rf"^CREATE MATERIALIZED VIEW IF NOT EXISTS ({_IDENT})\.({_IDENT})\s+TO ({_IDENT})\.({_IDENT})\s", re.S
)
_ALTER = re.compile(rf"^ALTER TABLE ({_IDENT})\.({_IDENT})\s+(.*)$", re.S)
_INSERT = re.compile(r"^INSERT INTO ", re.S)
_ENGINE = re.compile(r"\bENGINE = (\w*MergeTree)(?:\(([^()]*)\))?")
_FROM = re.compile(rf"\bFROM ({_IDENT})\.({_IDENT})")


class ClusterRenderError(ValueError):
    """A single-node statement the cluster rendering does not know how to rewrite."""


@dataclass(frozen=True)
class Cluster:
    """A cluster to render for: its name (``<remote_servers>`` in the server configuration)."""

    name: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ClusterRenderError(f"cluster name must be a plain identifier, got {self.name!r}")

    @property
    def on(self) -> str:
        return f"ON CLUSTER `{self.name}`"


def _bare(identifier: str) -> str:
    return identifier.strip("`")


def _replicated_engine(engine: str, args: str | None, path: str) -> str:
    params = f"'{path}', '{REPLICA}'" + (f", {args}" if args and args.strip() else "")
    return f"ENGINE = Replicated{engine}({params})"


def _only_dedup_window(rest: str) -> bool:
    """An ALTER that only sets the non-replicated deduplication window (migration 0004):
    replicated tables deduplicate by default, so on a cluster it has nothing to do."""
    return bool(re.fullmatch(r"MODIFY SETTING non_replicated_deduplication_window = \d+", rest.strip()))


def render_statement(statement: str, cluster: Cluster) -> list[str]:
    """One single-node migration statement as the statements a cluster runs instead."""
    text = statement.strip()
    if match := _CREATE_TABLE.match(text):
        db, table = match.group(1), _bare(match.group(2))
        engine = _ENGINE.search(text)
        if engine is None:
            raise ClusterRenderError(f"CREATE TABLE {table}: no MergeTree engine to replicate")
        if table not in SHARDING_KEYS:
            raise ClusterRenderError(f"table {table} has no sharding key: add it to SHARDING_KEYS")
        local = f"{db}.{table}{LOCAL_SUFFIX}"
        body = text[match.end() :]
        body = (
            body[: engine.start() - match.end()]
            + _replicated_engine(engine.group(1), engine.group(2), SHARDED_PATH)
            + body[engine.end() - match.end() :]
        )
        return [
            f"CREATE TABLE IF NOT EXISTS {local} {cluster.on}\n{body}",
            f"CREATE TABLE IF NOT EXISTS {db}.{table} {cluster.on} AS {local}\n"
            f"ENGINE = Distributed(`{cluster.name}`, {db}, {table}{LOCAL_SUFFIX}, {SHARDING_KEYS[table]})",
        ]
    if match := _CREATE_VIEW.match(text):
        db, view, tdb, target = match.groups()
        select = text[match.end() :]
        select = _FROM.sub(lambda m: f"FROM {m.group(1)}.{_bare(m.group(2))}{LOCAL_SUFFIX}", select)
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view} {cluster.on}\n"
            f"TO {tdb}.{_bare(target)}{LOCAL_SUFFIX}\n{select}"
        ]
    if match := _ALTER.match(text):
        db, table, rest = match.group(1), _bare(match.group(2)), match.group(3)
        if _only_dedup_window(rest):
            return []
        local = [f"ALTER TABLE {db}.{table}{LOCAL_SUFFIX} {cluster.on} {rest}"]
        if re.match(r"ADD COLUMN", rest.strip()):
            # The Distributed table shows the same columns (MATERIALIZED ones too: a SELECT of
            # one is sent to the shards, which read what they stored).
            return [*local, f"ALTER TABLE {db}.{table} {cluster.on} {rest}"]
        return local
    if _INSERT.match(text):
        # A backfill: through the Distributed tables, once, from the host the migrator uses.
        return [text]
    raise ClusterRenderError(f"no cluster rendering for: {text.splitlines()[0][:80]}")


def render(statements: Iterable[str], cluster: Cluster) -> list[str]:
    """Every statement of a migration, rendered for ``cluster``."""
    return [out for statement in statements for out in render_statement(statement, cluster)]


def render_replicated(statement: str, cluster: Cluster) -> str:
    """A system-database ``CREATE TABLE``, replicated on every host and not sharded."""
    text = statement.strip()
    match = _CREATE_TABLE.match(text)
    engine = _ENGINE.search(text)
    if match is None or engine is None:
        raise ClusterRenderError(f"not a MergeTree CREATE TABLE: {text.splitlines()[0][:80]}")
    head = f"CREATE TABLE IF NOT EXISTS {match.group(1)}.{match.group(2)} {cluster.on}"
    return (
        head
        + "\n"
        + text[match.end() : engine.start()]
        + _replicated_engine(engine.group(1), engine.group(2), UNSHARDED_PATH)
        + text[engine.end() :]
    )


def create_database(database: str, cluster: Cluster | None) -> str:
    on = f" {cluster.on}" if cluster else ""
    return f"CREATE DATABASE IF NOT EXISTS {database}{on}"
