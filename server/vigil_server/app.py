"""The all-in-one Vigil process: OTLP receivers → pipeline → write-ahead log (ack) →
batcher → writers, plus the storage gate (migrations, readiness) and the ops endpoints. The parts are built in wiring/ (by role and job); this module
starts and stops them in order, and holds the entry points of ``vigil serve``, ``vigil query``
and ``vigil drift-detect``.

Lifecycle: ``start`` opens the WAL (recovering what a previous run left), binds everything
and applies migrations (retrying in the background if ClickHouse is not there yet); ``stop``
shuts down in order within a deadline: health NOT_SERVING, stop accepting, let in-flight
requests get their fsync, write the WAL to ClickHouse for what is left of the deadline
(the rest stays in the WAL for the next start), close the clients.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass

from aiohttp import web

from vigil_alerting.errors import RuleFileError
from vigil_alerting.notify.errors import NotifyConfigError
from vigil_collector.batch import Batcher
from vigil_collector.decode import DecodeLimits
from vigil_collector.decode.pool import DecodePool
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.pipeline import METRICS, Pipeline
from vigil_collector.receive.grpc_receiver import OtlpGrpcReceiver
from vigil_collector.receive.http_receiver import OtlpHttpReceiver
from vigil_collector.wal.journal import WriteAheadLog
from vigil_query.api.server import QueryServer
from vigil_query.drift.detector import run_detector
from vigil_query.reader import Reader
from vigil_server import local_admin
from vigil_server.alerting_split import ActiveWorker, WorkerApiServer
from vigil_server.ops_routes import add_ops_routes, host_middleware
from vigil_server.self_monitor import SelfMonitor
from vigil_server.settings import VigilSettings
from vigil_server.wiring.alerting import make_alerting, make_worker_api, start_alerting
from vigil_server.wiring.auth import make_authenticator
from vigil_server.wiring.ingest import Ingest
from vigil_server.wiring.jobs import advertised_address, make_worker, worker_jobs
from vigil_server.wiring.query import host_guard, make_active_worker, make_query_server, make_reader
from vigil_server.wiring.schema import migrate_all
from vigil_server.worker import Worker
from vigil_storage import StorageError
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
        self._ingest = Ingest(settings, self.limits, self.metrics)
        ingest = self._ingest  # its writers, one of each signal per lane
        self.traces_writers, self.logs_writers = ingest.traces_writers, ingest.logs_writers
        self.metrics_writers = ingest.metrics_writers
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
        self.query: QueryServer | None = None
        self.ports: BoundPorts | None = None
        self._detector_stop = asyncio.Event()
        self._detector_task: asyncio.Task[None] | None = None
        self._jobs: list[asyncio.Task[None]] = []
        self._worker: Worker | None = None
        self._own_reader: Reader | None = None
        self._self_monitor_task: asyncio.Task[None] | None = None
        self.alerting = make_alerting(settings, self.metrics.registry)
        # The alerting API in a split deployment: the worker serves it, the query role forwards.
        self._worker_api: WorkerApiServer | None = None
        self._active_worker: ActiveWorker | None = None

    async def start(self) -> BoundPorts:
        s = self.settings
        loop = asyncio.get_running_loop()
        # The WAL first (roles that ingest): its lock keeps a second process off this data
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
        grpc_port = (
            await self._ingest.start(self.wal, recovered, self.auth, self.gate)
            if recovered is not None
            else 0
        )
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
            # The alerting API where the rules are evaluated in this process (role all), else
            # forwarded to the active worker (role query).
            self._active_worker = make_active_worker(s) if s.role == "query" else None
            self.query = make_query_server(
                s, self.auth, self.alerting if s.role == "all" else None, self._active_worker
            )
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
            reader = self._worker_reader()
            self._worker_api = make_worker_api(s, reader, self.auth, self.alerting, lambda: self._worker)
            query_port = await self._worker_api.start(s.listen_host, s.query_port, credentials)
            address = advertised_address(s, query_port)
            self._worker = make_worker(s, reader, self.auth, self.alerting, address)
            self._worker.on_active = self._worker_api.serving
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

    # The collector's parts, once started (roles all and collector).
    @property
    def batcher(self) -> Batcher | None:
        return self._ingest.batcher

    @property
    def decoder(self) -> DecodePool | None:
        return self._ingest.decoder

    @property
    def pipeline(self) -> Pipeline | None:
        return self._ingest.pipeline

    @property
    def grpc(self) -> OtlpGrpcReceiver | None:
        return self._ingest.grpc

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
        """(accepting, details) for /ready: the WAL's room and what waits for ClickHouse."""
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
        if self._worker_api is not None:
            stops.append(self._worker_api.stop(grace_s=deadline))
        if self._runner is not None:
            # Waits for running handlers (they wait for their fsync) before returning.
            stops.append(self._runner.cleanup())
        await asyncio.gather(*stops, return_exceptions=True)
        if self._active_worker is not None:
            await self._active_worker.close()
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
        """SIGHUP, as the ReloadRules RPC: re-read the rules file and the Alertmanager
        configuration; a bad one is logged, naming it, and what is in force stays (both)."""
        if self.settings.rules_file is None and self.settings.alertmanager_config is None:
            log.debug("SIGHUP: neither a rules file nor an Alertmanager configuration to reload")
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.alerting.reload_files)
        except Exception as exc:  # the errors name their file (and the key's path)
            which = "rules file and Alertmanager configuration"
            if isinstance(exc, NotifyConfigError):
                which = "Alertmanager configuration"
            elif isinstance(exc, RuleFileError):
                which = "rules file"
            log.error("%s not reloaded, neither file is applied and what is in force stays: %s", which, exc)

    def _migrate_projects(self) -> None:
        """The registry, the price book and every project's migrations (the main database's
        are the gate's): a project made by an earlier version gets the tables added since."""
        s = self.settings
        try:
            client = s.connect_storage()
            try:
                migrate_all(client, s)
            finally:
                client.close()
        except StorageError as exc:
            log.warning(
                "could not migrate the projects' databases (retried at the next start): %s", exc.reason
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
    active_worker = make_active_worker(settings)  # the alerting API: forwarded to the active worker
    server = make_query_server(settings, auth, active_worker=active_worker)
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
    await active_worker.close()
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
