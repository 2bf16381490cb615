"""The collector's part of the process: one writer of each signal per lane, the batcher that
feeds them from the write-ahead log, the decoders, the pipeline, the OTLP gRPC receiver (the
HTTP one joins the ops port, in app.py)."""

from __future__ import annotations

import logging

from vigil_auth.authenticator import Authenticator
from vigil_collector.batch import Batcher
from vigil_collector.decode import DecodeLimits
from vigil_collector.decode.pool import DecodePool
from vigil_collector.dedup import RecentRequests
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.pipeline import Pipeline
from vigil_collector.receive.grpc_receiver import OtlpGrpcReceiver
from vigil_collector.wal.journal import Backlog, WriteAheadLog
from vigil_collector.write import LogsWriter, MetricsWriter, TracesWriter
from vigil_server.settings import VigilSettings
from vigil_storage.client import CLUSTER_INSERT_SETTINGS
from vigil_storage.readiness import StorageGate

log = logging.getLogger(__name__)


class Ingest:
    """Built with the process (the writers connect lazily), started once the WAL is open."""

    def __init__(self, settings: VigilSettings, limits: DecodeLimits, metrics: CollectorMetrics) -> None:
        self.settings = settings
        self.limits = limits
        self.metrics = metrics
        # One writer of each signal per lane: a lane writes whatever kinds its batch holds.
        lanes = [_lane(settings, limits) for _ in range(settings.insert_concurrency)]
        self.traces_writers = [traces for traces, _, _ in lanes]
        self.logs_writers = [logs for _, logs, _ in lanes]
        self.metrics_writers = [metrics for _, _, metrics in lanes]
        self.batcher: Batcher | None = None
        self.decoder: DecodePool | None = None
        self.pipeline: Pipeline | None = None
        self.grpc: OtlpGrpcReceiver | None = None

    async def start(
        self, wal: WriteAheadLog, recovered: Backlog, auth: Authenticator, gate: StorageGate
    ) -> int:
        """The WAL's writers, the decoders, the OTLP gRPC receiver; returns the gRPC port."""
        s = self.settings
        if recovered.records:
            log.info(
                "write-ahead log recovered: writing what the last run left",
                extra={"records": recovered.records, "items": recovered.items, "bytes": recovered.bytes},
            )
        wal.start()
        self.batcher = Batcher(
            wal,
            [
                list(lane)
                for lane in zip(self.traces_writers, self.logs_writers, self.metrics_writers, strict=True)
            ],
            max_items=s.batch_max_cost,
            max_bytes=s.batch_max_bytes,
            max_wait_s=s.batch_max_wait_s,
            metrics=self.metrics,
            databases=auth.database_of,
            storage_ready=lambda: gate.schema_ready,
            pace_s=s.wal_pace_s,
            identity=s.collector_id,
        )
        self.batcher.start()
        self.decoder = DecodePool(s.resolved_decode_workers, self.limits, native=s.native_decode)
        await self.decoder.start()
        self.pipeline = Pipeline(
            wal,
            self.decoder,
            self.metrics,
            max_pending_bytes=s.queue_max_bytes,
            max_pending_items=s.queue_max_cost,
            pace=self.batcher.admitted,
            recent=RecentRequests(s.ingest_dedup_window_s, wal.recent) if s.ingest_dedup_window_s else None,
        )
        wal.recent = []  # held by the pipeline's index from now on
        self.grpc = OtlpGrpcReceiver(
            self.pipeline,
            auth,
            max_message_bytes=s.max_body_bytes,
            max_concurrent_rpcs=s.otlp_grpc_max_concurrent_rpcs,
        )
        tls = s.tls()
        return await self.grpc.start(s.listen_host, s.otlp_grpc_port, tls.grpc_credentials() if tls else None)


def _lane(s: VigilSettings, limits: DecodeLimits) -> tuple[TracesWriter, LogsWriter, MetricsWriter]:
    """A lane's writers, one per signal, each with a connection of its own (written with the
    cluster's insert settings when there is one)."""
    connection = {"connect_timeout_s": s.storage_connect_timeout_s, "insert_timeout_s": s.insert_timeout_s}
    lane = (
        TracesWriter(s.dsn, **connection, limits=limits, native_min_spans=s.native_decode_min_spans),
        LogsWriter(s.dsn, **connection),
        MetricsWriter(s.dsn, **connection, limits=limits, native_min_points=s.native_decode_min_points),
    )
    if s.cluster() is not None:
        for writer in lane:
            writer.connection.session_settings = CLUSTER_INSERT_SETTINGS
    return lane
