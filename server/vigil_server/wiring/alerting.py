"""The alerting side: every project's rules in one loop, the notifier, incidents, actions and
triage, built from the settings; started where the rules run (role all, or the worker)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_alerting.actions.queue import ActionQueue
from vigil_alerting.errors import RuleError
from vigil_alerting.incidents import config as incident_config
from vigil_alerting.incidents.manager import IncidentManager, WebhookSink
from vigil_alerting.metrics import AlertingMetrics
from vigil_alerting.notify.config import load_config
from vigil_alerting.notify.errors import NotifyConfigError
from vigil_alerting.notify.notifier import Notifier
from vigil_alerting.projects import Alerting
from vigil_alerting.rules.builtin import drift_rules, self_monitoring_rules
from vigil_alerting.service import AlertingService
from vigil_alerting.triage.runner import Triage
from vigil_auth import registry
from vigil_auth.authenticator import Authenticator
from vigil_proto.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from vigil_query.reader import Reader
from vigil_server.alerting_split import StandbyGate, WorkerApiServer
from vigil_server.settings import VigilSettings
from vigil_server.worker import Worker, WorkerJob
from vigil_server.worker_lease import new_holder

log = logging.getLogger(__name__)


def start_alerting(alerting: Alerting) -> None:
    """The alert rules' tables, rules and instances, then their loop. A bad rules file
    stops the start (RuleError): a server should not run without the rules it was given."""
    try:
        alerting.open()
    except (RuleError, NotifyConfigError):
        raise
    except Exception as exc:  # storage trouble: the server runs, its rules do not
        log.error("alert rules not started (retried at the next start): %s", exc)
        return
    alerting.start()


def alerting_job(alerting: Alerting) -> WorkerJob:
    """The rules' loop as a worker job: it runs while this worker holds the lease."""

    async def run(stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, start_alerting, alerting)
        try:
            await stop.wait()
        finally:
            await loop.run_in_executor(None, alerting.stop)

    return WorkerJob("rules", run)


def make_worker_api(
    s: VigilSettings,
    reader: Reader,
    auth: Authenticator,
    alerting: Alerting,
    worker: Callable[[], Worker | None],
) -> WorkerApiServer:
    """The worker role's alerting API (on VIGIL_QUERY_PORT): answered while this worker holds
    the lease and its rules run, UNAVAILABLE with the reason otherwise (alerting_split.py)."""
    descriptor = alerting_pb2.DESCRIPTOR.services_by_name["AlertingService"]
    service = AlertingService(reader, auth, alerting, s.rules_backtest_max_steps)
    gate = StandbyGate(
        descriptor, service, lambda: standby_reason(worker(), alerting), recheck_s=s.worker_lease_renew_s
    )
    return WorkerApiServer(
        descriptor,
        gate,
        alerting_pb2_grpc.add_AlertingServiceServicer_to_server,
        max_concurrent_rpcs=s.query_max_concurrent_rpcs,
    )


def standby_reason(worker: Worker | None, alerting: Alerting) -> str | None:
    """Why this worker may not answer the alerting API now; None while it is the active one
    and its rules run (the API reads their memory)."""
    if worker is not None and worker.active and alerting.running:
        return None
    if worker is None:
        return "this worker is starting"
    lease = worker.lease
    if lease.claiming:
        return f"this worker ({lease.holder}) is taking over the worker lease; it answers within a renewal interval"
    if worker.active:
        return f"this worker ({lease.holder}) holds the lease but its rules are not running (see its log)"
    row = lease.seen
    if row is not None and row.holder != lease.holder and row.expires_ns > time.time_ns():
        where = f" at {row.address}" if row.address else ""
        return f"this worker is a standby; the active worker is {row.holder}{where}"
    return "this worker is a standby; no worker holds the lease now (one takes it within the lease's TTL)"


def make_alerting(s: VigilSettings, metrics_registry: Any) -> Alerting:
    """Every project's alert rules, evaluated by one loop (started by ``VigilApp``)."""

    def projects(client: Client) -> list[tuple[str, str]]:
        return [
            (p.slug, p.database) for p in registry.list_projects(client, s.system_database, main=s.database)
        ]

    alerting: Alerting
    metrics = AlertingMetrics(metrics_registry, lambda: alerting.snapshot())
    alerting = Alerting(
        s.connect_storage,
        projects,
        system_database=s.system_database,
        rules_file=s.rules_file,
        default_interval_s=s.rules_interval_s,
        on_evaluation=metrics.observe,
        builtin_rules=(
            self_monitoring_rules(
                disabled=frozenset(s.self_monitor_rules_disabled),
                auth_failures=s.self_monitor_auth_failures,
                slow_query_s=s.self_monitor_slow_query_s,
            )
            if s.self_monitor_interval_s > 0
            else []
        )
        + (
            drift_rules(
                measures=tuple(s.drift_metrics),
                group_by=tuple(s.drift_group_by),
                current_s=s.drift_current_s,
                baseline_s=s.drift_baseline_s,
                bins=s.drift_bins,
                min_samples=s.drift_min_samples,
                medium=s.drift_medium,
                high=s.drift_high,
                interval_s=s.drift_interval_s,
            )
            if s.drift_interval_s > 0
            else []
        ),
        incidents=make_incidents(s),
        notifier=make_notifier(s, metrics_registry) if s.alertmanager_config or s.alertmanager_url else None,
    )
    if s.remediator_url or s.remediator_endpoints:  # actions (docs/actions.md)
        alerting.actions = make_actions(s, incidents=alerting.incidents, metrics_registry=metrics_registry)
    if s.triage_enabled and alerting.incidents is not None:  # triage (docs/incidents.md)
        alerting.triage = Triage(
            alerting.incidents,
            s.connect_storage,
            s.triage_config(),
            system_database=s.system_database,
            holder=new_holder(s.collector_id),
            registry=metrics_registry,
            cluster=s.cluster() is not None,
        )
    return alerting


def make_actions(
    s: VigilSettings, *, incidents: IncidentManager | None = None, metrics_registry: Any = None
) -> ActionQueue:
    """The action queue and its worker (docs/actions.md), from the settings (bench/actions.py
    builds it here too, so it measures the queue the server runs)."""
    return ActionQueue(
        s.connect_storage,
        system_database=s.system_database,
        remediator_url=s.remediator_url,
        endpoints=s.remediator_endpoints,
        secret=s.remediator_secret.get_secret_value(),
        concurrency=s.remediator_concurrency,
        timeout_s=s.actions_timeout_s,
        max_attempts=s.actions_max_attempts,
        retry_base_s=s.actions_retry_base_s,
        retry_max_s=s.actions_retry_max_s,
        poll_s=s.actions_poll_s,
        incidents=incidents,
        registry=metrics_registry,
    )


def make_notifier(s: VigilSettings, metrics_registry: Any) -> Callable[[], Notifier]:
    """The notifier of the alerts, made where the rules run (one process sends: the one that
    evaluates, see docs/notifications.md), over a ClickHouse client of its own."""

    def make() -> Notifier:
        client = s.connect_storage()
        return Notifier.from_settings(client, s, registry=metrics_registry)

    return make


def make_incidents(s: VigilSettings) -> IncidentManager:
    """Incidents from the alerts (a bad VIGIL_INCIDENTS_FILE stops the start, as a bad rules file)."""
    # Steps may name the alertmanager configuration's receivers (sent through its outbox).
    external = list(load_config(s.alertmanager_config).receivers) if s.alertmanager_config else []
    config = incident_config.load(
        s.incidents_file,
        correlate_by=tuple(s.incidents_correlate_by),
        auto_resolve=s.incidents_auto_resolve,
        reopen_window_s=s.incidents_reopen_window_s,
        external_receivers=external,
    )
    sink = WebhookSink(config.receivers, s.incidents_notify_timeout_s)
    return IncidentManager(
        config,
        sink,
        system_database=s.system_database,
        connect=s.connect_storage,
        tick_s=s.incidents_tick_s,
    )
