"""Client factory: one DSN, two deployments.

``chdb:///abs/dir`` opens the embedded engine (one data directory per process, see
docs/architecture.md); ``http(s)://user:pass@host:port`` talks to a ClickHouse server.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from vigil_storage.errors import translate_errors

# Every INSERT Vigil sends, explicitly: recent ClickHouse enables async_insert by default, and
# a write that returns must mean the rows are in a part (readable, and what an OTLP ack
# promises), not in a server-side buffer. (ClickHouse does not fsync parts by default; see
# the README on what an ack guarantees.)
# One INSERT carries the requests of many clients (group commit): a batch whose spans cover
# more than 100 days (100 partitions) must not make ClickHouse refuse it, and with it every
# other client's spans, over and over as they retry. ClickHouse logs a warning instead.
# INSERT threads run at a lower OS priority (nice 10): acknowledgements (and, with embedded
# ClickHouse, the applications on the same machine) come first, since an exporter whose acks
# stall drops spans from its queue; a stock SDK app at 10k spans/s next to `vigil serve`
# dropped ~10% without it, ~1% with it, as many as next to a parse-and-ack sink.
INSERT_SETTINGS = {
    "async_insert": 0,
    "throw_on_max_partitions_per_insert_block": 0,
    "os_thread_priority": 10,
}

# The collector's INSERTs on a cluster (docs/deploy.md, "Inserts on a cluster"): into the
# Distributed tables, returning only once every shard's block is written to a replica (by
# default a Distributed INSERT is queued on the receiving host and sent in the background, and
# lost if that host dies before), and with the materialized views deduplicated with their
# table, so that a batch written again after a crash feeds the lookup table and the rollups once.
CLUSTER_INSERT_SETTINGS: dict[str, str | int] = {
    "distributed_foreground_insert": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


def connect(
    dsn: str,
    *,
    connect_timeout_s: float = 5.0,
    query_timeout_s: float = 30.0,
    settings: dict[str, str | int] | None = None,
) -> Client:
    """Open a clickhouse-connect client for ``dsn``; raises StorageUnavailable if unreachable.

    Every caller that runs in its own thread gets its own client: clients are not shared
    across threads (the chDB backend serialises calls per client anyway).
    """
    with translate_errors(f"connecting to {_redacted(dsn)}"):
        if dsn.startswith("chdb:"):
            path = urlparse(dsn).path
            if path:
                Path(path).mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(dsn=dsn, settings=settings or None)
        return clickhouse_connect.get_client(
            dsn=dsn,
            settings=settings or None,
            connect_timeout=connect_timeout_s,
            send_receive_timeout=query_timeout_s,
            # Session ids make concurrent queries on one client fail; we need none.
            autogenerate_session_id=False,
        )


def close_quietly(client: Client | None) -> None:
    """Close ``client`` if there is one; closing a broken connection must not mask the error
    that broke it, so errors from close itself are swallowed."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()


def _redacted(dsn: str) -> str:
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@")
    return dsn
