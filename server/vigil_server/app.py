"""The all-in-one Vigil process: OTLP receivers → pipeline → write-ahead log (ack) →
batcher → writers, plus the storage gate (migrations, readiness) and the ops endpoints.

Lifecycle: ``start`` opens the log (recovering what a previous run left), binds everything
and applies migrations (retrying in the background if ClickHouse is not there yet); ``stop``
shuts down in order within a deadline: health NOT_SERVING, stop accepting, let in-flight
requests get their fsync, write the log to ClickHouse for what is left of the deadline
(the rest stays in the log for the next start), close the clients.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from clickhouse_connect.driver.client import Client

from vigil.alerting.v1 import alerting_pb2, alerting_pb2_grpc
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
from vigil_auth.host_guard import HostGuard
from vigil_auth.keys import KeyHasher
from vigil_auth.secret import server_secret, session_secret
from vigil_auth.tokens import TokenSigner
from vigil_collector.batch import Batcher
from vigil_collector.decode import DecodeLimits
from vigil_collector.decode.pool import DecodePool
from vigil_collector.dedup import RecentRequests
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.pipeline import METRICS, Pipeline
from vigil_collector.receive.grpc_receiver import OtlpGrpcReceiver
from vigil_collector.receive.http_receiver import OtlpHttpReceiver
from vigil_collector.wal.log import Backlog, WriteAheadLog
from vigil_collector.wal.state import private_dir
from vigil_collector.write import LogsWriter, MetricsWriter, TracesWriter
from vigil_query.analytics.prices import store as price_book
from vigil_query.api.server import QueryServer, Servicer
from vigil_query.api.service import QueryService
from vigil_query.drift.detector import run_detector
from vigil_query.reader import Reader, Writer
from vigil_server import local_admin
from vigil_server.ops_routes import add_ops_routes, host_middleware
from vigil_server.schema_ddl import system_statements
from vigil_server.self_monitor import SelfMonitor
from vigil_server.settings import VigilSettings
from vigil_server.worker import Worker, WorkerJob
from vigil_server.worker_lease import WorkerLease, new_holder
from vigil_storage import StorageError, apply_migrations, connect
from vigil_storage.client import CLUSTER_INSERT_SETTINGS
from vigil_storage.migrate import move_tables
from vigil_storage.readiness import StorageGate

log = logging.getLogger(__name__)

_SCHEMA_RETRY_S = 2.0


@dataclass(frozen=True)
class BoundPorts:
    otlp_grpc: int
    otlp_http: int
    query: int
    web: int


class VigilApp:
    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.metrics = CollectorMetrics()
        self.gate = StorageGate(
            settings.dsn,
            settings.database,
            ttl_days=settings.traces_ttl_days,
            connect_timeout_s=settings.storage_connect_timeout_s,
            cluster=settings.cluster(),
        )
        self.limits = DecodeLimits(settings.max_attributes_per_span, settings.max_attribute_value_length)
        # One writer of each signal per lane: a lane writes whatever kinds its batch holds.
        self.traces_writers = [
            TracesWriter(
                settings.dsn,
                connect_timeout_s=settings.storage_connect_timeout_s,
                insert_timeout_s=settings.insert_timeout_s,
                limits=self.limits,
                native_min_spans=settings.native_decode_min_spans,
            )
            for _ in range(settings.insert_concurrency)
        ]
        self.logs_writers = [
            LogsWriter(
                settings.dsn,
                connect_timeout_s=settings.storage_connect_timeout_s,
                insert_timeout_s=settings.insert_timeout_s,
            )
            for _ in range(settings.insert_concurrency)
        ]
        self.metrics_writers = [
            MetricsWriter(
                settings.dsn,
                connect_timeout_s=settings.storage_connect_timeout_s,
                insert_timeout_s=settings.insert_timeout_s,
                limits=self.limits,
                native_min_points=settings.native_decode_min_points,
            )
            for _ in range(settings.insert_concurrency)
        ]
        if settings.cluster() is not None:
            for writer in (*self.traces_writers, *self.logs_writers, *self.metrics_writers):
                writer.connection.session_settings = CLUSTER_INSERT_SETTINGS
        # The admin commands' way in while this process holds the data directory (local_admin.py).
        self._admin_token = local_admin.new_token()
        self.auth = make_authenticator(settings, self.metrics.auth_failures.labels, self._admin_token)
        self.wal = WriteAheadLog(
            settings.resolved_wal_dir,
            max_bytes=settings.wal_max_bytes,
            metrics=self.metrics,
            dead_letter_max_bytes=settings.dead_letter_max_bytes,
            dedup_window_s=settings.ingest_dedup_window_s,
        )
        self._schema_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.batcher: Batcher | None = None
        self.decoder: DecodePool | None = None
        self.grpc: OtlpGrpcReceiver | None = None
        self.query: QueryServer | None = None
        self.ports: BoundPorts | None = None
        self._detector_stop = asyncio.Event()
        self._detector_task: asyncio.Task[None] | None = None
        self._jobs: list[asyncio.Task[None]] = []
        self._worker: Worker | None = None
        self._own_reader: Reader | None = None
        self.pipeline: Pipeline | None = None
        self._self_monitor_task: asyncio.Task[None] | None = None
        self.alerting = make_alerting(settings, self.metrics.registry)

    async def start(self) -> BoundPorts:
        s = self.settings
        loop = asyncio.get_running_loop()
        # The log first (roles that ingest): its lock keeps a second process off this data
        # (and its embedded ClickHouse) before anything is opened.
        ingest = s.role in ("all", "collector")
        recovered = await loop.run_in_executor(None, self.wal.open) if ingest else None
        if await loop.run_in_executor(None, self.gate.ensure_schema):
            await loop.run_in_executor(None, self._migrate_projects)
        else:
            log.warning("storage not ready at start-up, will keep trying: %s", self.gate.last_error)
            self._schema_task = loop.create_task(self._retry_schema(), name="vigil-schema")

        await self.auth.start()  # before the writers: they look up the projects' databases
        if s.role == "all" and self.gate.schema_ready:  # else once it is (_retry_schema); before /ready
            await loop.run_in_executor(None, self._start_alerting)
        grpc_port = await self._start_ingest(recovered) if recovered is not None else 0
        guard = host_guard(s)
        tls = s.tls()
        credentials = tls.grpc_credentials() if tls else None
        app = web.Application(
            client_max_size=s.max_body_bytes, middlewares=[host_middleware(guard)] if guard else []
        )
        if ingest:
            assert self.pipeline is not None
            OtlpHttpReceiver(
                self.pipeline,
                self.auth,
                max_body_bytes=s.max_body_bytes,
                retry_after_s=s.retry_after_s,
                max_concurrent=s.otlp_http_max_concurrent,
            ).add_routes(app)
        add_ops_routes(
            app,
            self.gate,
            self.metrics.registry,
            self.ingest_status,
            self.auth,
            metrics_require_key=s.metrics_require_key,
            host_guard=guard,
        )
        # auto_decompress off: bodies are inflated by our size-capped decoder.
        self._runner = web.AppRunner(
            app,
            auto_decompress=False,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=s.shutdown_timeout_s,
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, s.listen_host, s.otlp_http_port, ssl_context=tls.ssl_context() if tls else None
        )
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        query_port = web_port = 0
        if s.role in ("all", "query"):
            # The alerting API where the rules are evaluated in this process (role all).
            self.query = make_query_server(s, self.auth, self.alerting if s.role == "all" else None)
            query_port = await self.query.start(s.listen_host, s.query_port, credentials)
            web_port = await self.query.start_web(s.listen_host, s.web_port, tls, guard)
            self.query.reader.on_duration = self.metrics.query_seconds.observe
        if self.pipeline is not None and s.self_monitor_interval_s > 0:
            pipeline = self.pipeline  # through the pipeline: see self_monitor.py for why
            monitor = SelfMonitor(
                self.metrics.registry,
                lambda body: pipeline.export_proto(body, "self", 0, METRICS),
                s.self_monitor_interval_s,
                derived=lambda: {"vigil_wal_fill_ratio": self.wal.disk_bytes / self.wal.max_bytes},
            )
            self._self_monitor_task = loop.create_task(monitor.run(self._detector_stop), name="vigil-self")
        if s.role == "all":
            self._start_jobs_here(loop)
        elif s.role == "worker":
            self._worker = make_worker(s, self._worker_reader(), self.auth, self.alerting)
            await self._worker.start()
        if self.query is not None:  # the admin commands go through the query service
            local_admin.publish(
                s.data_dir,
                local_admin.LocalAdmin(
                    self._admin_token,
                    local_admin.loopback_target(s.listen_host, query_port),
                    tls is not None,
                    os.getpid(),
                ),
            )
        self.ports = BoundPorts(grpc_port, http_port, query_port, web_port)
        log.info(
            "vigil serving",
            extra={
                "otlp_grpc": f"{s.listen_host}:{grpc_port}",
                "otlp_http": f"{s.listen_host}:{http_port}",
                "query": f"{s.listen_host}:{query_port}",
                "web": f"{s.listen_host}:{web_port}",
                "storage": "embedded chDB" if s.embedded else "ClickHouse server",
                "database": s.database,
            },
        )
        return self.ports

    async def _start_ingest(self, recovered: Backlog) -> int:
        """The collector's part: the log's writers, the decoders, the OTLP gRPC receiver
        (the HTTP one joins the ops port); returns the gRPC port."""
        s = self.settings
        if recovered.records:
            log.info(
                "write-ahead log recovered: writing what the last run left",
                extra={"records": recovered.records, "items": recovered.items, "bytes": recovered.bytes},
            )
        self.wal.start()
        self.batcher = Batcher(
            self.wal,
            [
                list(lane)
                for lane in zip(self.traces_writers, self.logs_writers, self.metrics_writers, strict=True)
            ],
            max_items=s.batch_max_cost,
            max_bytes=s.batch_max_bytes,
            max_wait_s=s.batch_max_wait_s,
            metrics=self.metrics,
            databases=self.auth.database_of,
            storage_ready=lambda: self.gate.schema_ready,
            pace_s=s.wal_pace_s,
            identity=s.collector_id,
        )
        self.batcher.start()
        self.decoder = DecodePool(s.resolved_decode_workers, self.limits, native=s.native_decode)
        await self.decoder.start()
        self.pipeline = Pipeline(
            self.wal,
            self.decoder,
            self.metrics,
            max_pending_bytes=s.queue_max_bytes,
            max_pending_items=s.queue_max_cost,
            pace=self.batcher.admitted,
            recent=RecentRequests(s.ingest_dedup_window_s, self.wal.recent)
            if s.ingest_dedup_window_s
            else None,
        )
        self.wal.recent = []  # held by the pipeline's index from now on
        self.grpc = OtlpGrpcReceiver(
            self.pipeline,
            self.auth,
            max_message_bytes=s.max_body_bytes,
            max_concurrent_rpcs=s.otlp_grpc_max_concurrent_rpcs,
        )
        tls = s.tls()
        return await self.grpc.start(s.listen_host, s.otlp_grpc_port, tls.grpc_credentials() if tls else None)

    def _worker_reader(self) -> Reader:
        self._own_reader = make_reader(self.settings)
        return self._own_reader

    def _start_jobs_here(self, loop: asyncio.AbstractEventLoop) -> None:
        """Role all, as before roles: the jobs run in this process, without a lease."""
        assert self.query is not None
        for job in worker_jobs(self.settings, self.query.reader, self.auth):
            self._detector_task = loop.create_task(job.run(self._detector_stop), name=f"vigil-{job.name}")
            self._jobs.append(self._detector_task)

    async def flush(self) -> None:
        """Wait until every span acknowledged so far is in ClickHouse (read-your-writes)."""
        assert self.batcher is not None, "start() first"
        await self.batcher.flushed()

    def ingest_status(self) -> tuple[bool, dict[str, object]]:
        """(accepting, details) for /ready: the log's room and what waits for ClickHouse."""
        wal, batcher = self.wal, self.batcher
        if self.settings.role not in ("all", "collector"):
            worker = self._worker
            return True, {
                "role": self.settings.role,
                "worker_active": bool(worker and worker.active),
                **{
                    "writer_error": "",
                    "backlog_records": 0,
                    "backlog_bytes": 0,
                    "oldest_unwritten_age_s": 0.0,
                },
            }
        details: dict[str, object] = {
            "writer_error": batcher.last_error if batcher else "",
            "wal_bytes": wal.disk_bytes,
            "wal_max_bytes": wal.max_bytes,
            "backlog_records": batcher.backlog_records if batcher else 0,
            "backlog_bytes": batcher.backlog_bytes if batcher else 0,
            "oldest_unwritten_age_s": round(batcher.oldest_unwritten_age_s(), 3) if batcher else 0.0,
        }
        return not wal.full, details

    async def stop(self) -> None:
        deadline = self.settings.shutdown_timeout_s
        started = time.monotonic()
        log.info("vigil shutting down", extra={"deadline_s": deadline})
        local_admin.withdraw(self.settings.data_dir, self._admin_token)
        if self._schema_task is not None:
            self._schema_task.cancel()
        self._detector_stop.set()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._self_monitor_task is not None:
            await asyncio.gather(self._self_monitor_task, return_exceptions=True)
        if self._worker is not None:
            await self._worker.stop()
        if self._own_reader is not None:
            self._own_reader.close()
        if self.settings.role == "all":
            # The rules' loop before the servers: an evaluation in progress ends, nothing new starts.
            await asyncio.get_running_loop().run_in_executor(None, self.alerting.stop)
        stops = []
        if self.grpc is not None:
            stops.append(self.grpc.stop(grace_s=deadline))
        if self.query is not None:
            stops.append(self.query.stop(grace_s=deadline))
        if self._runner is not None:
            # Waits for running handlers (they wait for their fsync) before returning.
            stops.append(self._runner.cleanup())
        await asyncio.gather(*stops, return_exceptions=True)
        if self.settings.role not in ("all", "collector"):
            self.gate.close()
            await self.auth.stop()
            log.info("vigil stopped")
            return
        self.wal.stop_accepting()
        await self.wal.sync()
        if self.batcher is not None:
            await self.batcher.drain(max(1.0, deadline - (time.monotonic() - started)))
            self.batcher.close()  # closes the writers, after any INSERT still running
        if self.decoder is not None:
            self.decoder.close()
        self.wal.close()
        self.gate.close()
        await self.auth.stop()
        log.info("vigil stopped")

    async def _retry_schema(self) -> None:
        loop = asyncio.get_running_loop()
        while not await loop.run_in_executor(None, self.gate.ensure_schema):
            await asyncio.sleep(_SCHEMA_RETRY_S)
        await loop.run_in_executor(None, self._migrate_projects)
        if self.settings.role == "all":
            await loop.run_in_executor(None, self._start_alerting)
        log.info("storage ready: migrations applied")

    def _start_alerting(self) -> None:
        start_alerting(self.alerting)

    async def reload_rules(self) -> None:
        """SIGHUP: re-read the rules file and the Alertmanager configuration; a bad one is
        logged and what is in force stays."""
        loop = asyncio.get_running_loop()
        if self.settings.rules_file is not None:
            try:
                await loop.run_in_executor(None, self.alerting.reload)
            except Exception as exc:
                log.error("rules file not reloaded, the previous rules stay in force: %s", exc)
        notifier = self.alerting.notifier
        if notifier is not None:
            try:
                await loop.run_in_executor(None, notifier.reload)
            except Exception as exc:
                log.error("Alertmanager configuration not reloaded, the previous one stays in force: %s", exc)

    def _migrate_projects(self) -> None:
        """The registry, the price book and every project's migrations (the main database's
        are the gate's): a project made by an earlier version gets the tables added since."""
        s = self.settings
        try:
            client = connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s)
            try:
                migrate_all(client, s)
            finally:
                client.close()
        except StorageError as exc:
            log.warning(
                "could not migrate the projects' databases (retried at the next start): %s", exc.reason
            )


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


def worker_jobs(
    s: VigilSettings, reader: Reader, auth: Authenticator, alerting: Alerting | None = None
) -> list[WorkerJob]:
    """The jobs of which one copy runs per deployment: in role all, in this process; in role
    worker, while it holds the worker lease (worker.py). Notifications, actions and triage
    join here as they are built. (In role all the rules start with the query service instead,
    since the alerting API it serves reads their loop: ``alerting`` is then not given.)"""
    jobs = [alerting_job(alerting)] if alerting is not None else []
    if s.drift_interval_s > 0:
        config = s.drift_detector_config()
        jobs.append(WorkerJob("drift", lambda stop: run_detector(reader, config, stop, auth.databases)))
    return jobs


def make_worker(
    s: VigilSettings, reader: Reader, auth: Authenticator, alerting: Alerting | None = None
) -> Worker:
    lease = WorkerLease(
        lambda: connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s),
        s.system_database,
        new_holder(s.collector_id),
        ttl_s=s.worker_lease_ttl_s,
        renew_s=s.worker_lease_renew_s,
        cluster=s.cluster() is not None,
    )
    return Worker(lease, worker_jobs(s, reader, auth, alerting), renew_s=s.worker_lease_renew_s)


def host_guard(s: VigilSettings) -> HostGuard | None:
    """The HTTP ports' Host check, only while auth is off: with auth on, credentials protect
    the ports and the server may be reached by any name."""
    return None if s.auth_enabled else HostGuard(s.allowed_hosts)


def make_reader(s: VigilSettings) -> Reader:
    """The query service's reads on VIGIL_QUERY_DSN (a read-only user's, where one is set),
    its writes on the storage DSN, each with its own threads and clients."""
    writer = Writer(
        s.dsn,
        s.database,
        system_database=s.system_database,
        timeout_s=s.query_timeout_s,
        threads=max(1, s.query_threads // 2),
        connect_timeout_s=s.storage_connect_timeout_s,
        max_inflight=s.query_max_inflight,
    )
    return Reader(
        s.reader_dsn,
        s.database,
        writer=writer,
        system_database=s.system_database,
        timeout_s=s.query_timeout_s,
        max_rows=s.query_max_rows,
        threads=s.query_threads,
        connect_timeout_s=s.storage_connect_timeout_s,
        max_inflight=s.query_max_inflight,
        max_memory_bytes=s.query_max_memory_bytes,
    )


def make_alerting(s: VigilSettings, metrics_registry: Any) -> Alerting:
    """Every project's alert rules, evaluated by one loop (started by ``VigilApp``)."""

    def projects(client: Client) -> list[tuple[str, str]]:
        return [
            (p.slug, p.database) for p in registry.list_projects(client, s.system_database, main=s.database)
        ]

    alerting: Alerting
    metrics = AlertingMetrics(metrics_registry, lambda: alerting.snapshot())
    alerting = Alerting(
        lambda: connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s),
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
        alerting.actions = ActionQueue(
            lambda: connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s),
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
            incidents=alerting.incidents,
            registry=metrics_registry,
        )
    if s.triage_enabled and alerting.incidents is not None:  # triage (docs/incidents.md)
        alerting.triage = Triage(
            alerting.incidents,
            lambda: connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s),
            s.triage_config(),
            system_database=s.system_database,
            holder=new_holder(s.collector_id),
            registry=metrics_registry,
            cluster=s.cluster() is not None,
        )
    return alerting


def make_notifier(s: VigilSettings, metrics_registry: Any) -> Callable[[], Notifier]:
    """The notifier of the alerts, made where the rules run (one process sends: the one that
    evaluates, see docs/notifications.md), over a ClickHouse client of its own."""

    def make() -> Notifier:
        client = connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s)
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
        connect=lambda: connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s),
        tick_s=s.incidents_tick_s,
    )


def make_query_service(s: VigilSettings, auth: Authenticator) -> QueryService:
    return QueryService(make_reader(s), auth, s.drift_thresholds(), s.replay_providers(), s.replay_limits())


def make_query_server(s: VigilSettings, auth: Authenticator, alerting: Alerting | None = None) -> QueryServer:
    """The query and admin APIs, and the alerting API where the rules are evaluated."""
    service = make_query_service(s, auth)
    servicers = []
    if alerting is not None:
        alerts = AlertingService(service.reader, auth, alerting, s.rules_backtest_max_steps)
        descriptor = alerting_pb2.DESCRIPTOR.services_by_name["AlertingService"]
        servicers.append(
            Servicer(descriptor, alerts, alerting_pb2_grpc.add_AlertingServiceServicer_to_server)
        )
    return QueryServer(
        service,
        s.traces_ttl_days,
        s.ui_dir,
        max_concurrent_rpcs=s.query_max_concurrent_rpcs,
        web_max_concurrent=s.web_max_concurrent,
        servicers=servicers,
    )


def make_authenticator(
    s: VigilSettings, failure_counter: Callable[[str], Any] | None = None, local_admin_token: str = ""
) -> Authenticator:
    def connect_registry() -> Client:
        return connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s)

    private_dir(s.data_dir)  # the secrets, the log and the embedded ClickHouse live there
    # Two secrets: ending every session (a new session secret) voids no API key.
    return Authenticator(
        enabled=s.auth_enabled,
        hasher=KeyHasher(server_secret(s.auth_secret.get_secret_value(), s.data_dir)),
        signer=TokenSigner(
            session_secret(s.session_secret.get_secret_value(), s.data_dir), access_ttl_s=s.auth_token_ttl_s
        ),
        link=registry.Link(
            connect_registry, s.system_database, main=s.database, ended_window_s=s.auth_token_ttl_s + 60
        ),
        local_admin_token=local_admin_token,
        default_database=s.database,
        limits=s.abuse_limits(),
        on_failure=(lambda reason: failure_counter(reason).inc())
        if failure_counter
        else (lambda reason: None),
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_query(settings: VigilSettings) -> None:
    """The query service alone (``vigil query``), against a ClickHouse server's DSN."""
    auth = make_authenticator(settings)
    await auth.start()
    server = make_query_server(settings, auth)
    stop = stop_on_signals()
    tls = settings.tls()
    port = await server.start(
        settings.listen_host, settings.query_port, tls.grpc_credentials() if tls else None
    )
    web_port = await server.start_web(settings.listen_host, settings.web_port, tls, host_guard(settings))
    log.info(
        "vigil query serving",
        extra={
            "query": f"{settings.listen_host}:{port}",
            "web": f"{settings.listen_host}:{web_port}",
            "database": settings.database,
        },
    )
    await stop.wait()
    await server.stop(grace_s=settings.shutdown_timeout_s)
    await auth.stop()


async def detect_drift(settings: VigilSettings) -> None:
    """The drift detector alone (``vigil drift-detect``), every ``drift_interval_s`` until a signal."""
    reader = make_reader(settings)
    stop = stop_on_signals()
    try:
        await run_detector(reader, settings.drift_detector_config(), stop)
    finally:
        reader.close()


async def serve(settings: VigilSettings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    app = VigilApp(settings)
    stop = stop_on_signals()
    await app.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(app.reload_rules()))
    await stop.wait()
    await app.stop()
