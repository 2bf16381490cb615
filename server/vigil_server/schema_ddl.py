"""Every table Vigil keeps, as DDL: for ``vigil migrate --print-ddl`` and, on a cluster, for
creating the system database's tables replicated before the modules that own them run their
own ``CREATE TABLE IF NOT EXISTS`` (which then finds them and does nothing).

The telemetry database's statements are the migrations (rendered by vigil_storage.cluster on
a cluster); the system database's come from the modules that own its tables.
"""

from __future__ import annotations

from vigil_alerting.actions import store as action_store
from vigil_alerting.incidents import store as incident_store
from vigil_alerting.notify import outbox
from vigil_alerting.silence import store as silence_store
from vigil_alerting.state import rules_store
from vigil_alerting.state import store as alert_store
from vigil_alerting.triage import lock as triage_lock
from vigil_auth import registry
from vigil_query.analytics.prices import store as price_book
from vigil_server import worker_lease
from vigil_storage.cluster import Cluster, create_database, render_replicated
from vigil_storage.migrate import all_statements, quote_identifier

# How long delivered notifications are kept (VIGIL_NOTIFY_RETENTION_DAYS' default).
NOTIFY_RETENTION_S = 30 * 86400


def system_creates(system_database: str, notify_retention_s: int = NOTIFY_RETENTION_S) -> list[str]:
    """The system database's CREATE TABLE statements, single-node form."""
    db = quote_identifier(system_database)
    ddl = [
        *registry._DDL,
        price_book._DDL,
        *alert_store._DDL,
        rules_store._DDL,
        *outbox._DDL,
        *incident_store._DDL,
        action_store._DDL,
        silence_store._DDL,
        worker_lease.DDL,
        triage_lock.DDL,
    ]
    return [statement.format(db=db, retention_s=notify_retention_s).strip() for statement in ddl]


def system_statements(
    system_database: str, cluster: Cluster | None, notify_retention_s: int = NOTIFY_RETENTION_S
) -> list[str]:
    """The system database and its tables; on a cluster replicated on every host, not sharded."""
    creates = system_creates(system_database, notify_retention_s)
    if cluster is not None:
        creates = [render_replicated(statement, cluster) for statement in creates]
    return [create_database(quote_identifier(system_database), cluster), *creates]


def print_ddl(database: str, system_database: str, ttl_days: int, cluster: Cluster | None) -> str:
    """What ``vigil migrate`` runs on an empty deployment, statement by statement."""
    statements = [
        *all_statements(database, ttl_days, cluster),
        *system_statements(system_database, cluster),
    ]
    return "".join(f"{statement};\n\n" for statement in statements)
