"""The pipeline every signal and both receivers share: decode → validate → write-ahead log (ack).

A request is acknowledged once its validated spans are a record fsynced in the write-ahead log
(wal/journal.py): its protobuf bytes as they came, when ClickHouse may decode them (NativeRequest,
see decode/native.py), or else the spans decoded in Python as Arrow. The batcher writes the
WAL to ClickHouse behind the acknowledgements (batch/batcher.py).

When ClickHouse is healthy but slower than the clients, requests wait before their append
(``pace``, Batcher.admitted; batch/pacing.py) so that the WAL stays short and spans stay
fresh.

What a request holds in memory between arriving and being fsynced is bounded, in bytes and
in items (spans, log records), whatever their size: past either bound requests are refused
with a retryable error (``max_pending_bytes``, ``max_pending_items``).

With ``recent`` (idempotent ingest, dedup.py), a request whose identical copy was
acknowledged within the window is answered without being appended again.

Receivers hand it raw bytes and get back an ExportResult or a typed IngestError; they only
translate those to their protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from vigil_collector.decode.native import NativeRequest
from vigil_collector.decode.pool import DecodePool
from vigil_collector.dedup import RecentRequests, digest_of
from vigil_collector.errors import DecoderFailed, IngestError, Overloaded, RetryableError
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.journal import WriteAheadLog
from vigil_collector.wal.records import RecordKind, cost


@dataclass(frozen=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str


@dataclass(frozen=True)
class Signal:
    """What differs between the signals on their way to the WAL: the decoder the workers run,
    the record kind of what they decode, the metrics' unit."""

    name: str  # the decoder's signal (decode/pool.py) and the requests metric's label
    unit: str  # spans, log_records
    arrow_kind: RecordKind
    native_kind: RecordKind | None = None  # protobuf bodies ClickHouse decodes


TRACES = Signal("traces", "spans", RecordKind.TRACES_ARROW, RecordKind.TRACES_OTLP)
LOGS = Signal("logs", "log_records", RecordKind.LOGS_ARROW)
METRICS = Signal("metrics", "metric_points", RecordKind.METRICS_ARROW, RecordKind.METRICS_OTLP)


class Pipeline:
    def __init__(
        self,
        wal: WriteAheadLog,
        decoder: DecodePool,
        metrics: CollectorMetrics,
        *,
        max_pending_bytes: int,
        max_pending_items: int,
        pace: Callable[[int], AbstractAsyncContextManager[None]] | None = None,
        recent: RecentRequests | None = None,
    ) -> None:
        self._wal = wal
        self._decoder = decoder
        self._metrics = metrics
        self._max_pending_bytes = max_pending_bytes
        self._max_pending_items = max_pending_items
        self._pace = pace
        self._recent = recent
        self._pending_bytes = 0
        self._pending_items = 0

    async def export_proto(
        self, body: bytes, transport: str, project: int = 0, signal: Signal | None = None
    ) -> ExportResult:
        return await self._export(signal or TRACES, body, False, transport, project)

    async def export_json(
        self, body: bytes, transport: str, project: int = 0, signal: Signal | None = None
    ) -> ExportResult:
        return await self._export(signal or TRACES, body, True, transport, project)

    async def _export(
        self, signal: Signal, body: bytes, is_json: bool, transport: str, project: int
    ) -> ExportResult:
        m = self._metrics
        # One request alone is always taken, so a large one cannot starve.
        if self._pending_bytes and self._pending_bytes + len(body) > self._max_pending_bytes:
            m.requests.labels(signal.name, transport, "retryable_error").inc()
            raise Overloaded(
                f"ingest is busy ({self._pending_bytes} bytes of requests being decoded or written, "
                f"limit {self._max_pending_bytes}); retry later"
            )
        self._pending_bytes += len(body)
        m.pending_bytes.set(self._pending_bytes)
        try:
            return await self._decode_and_append(signal, body, is_json, transport, project)
        finally:
            self._pending_bytes -= len(body)
            m.pending_bytes.set(self._pending_bytes)

    async def _decode_and_append(
        self, signal: Signal, body: bytes, is_json: bool, transport: str, project: int
    ) -> ExportResult:
        m = self._metrics
        counts = m.signals[signal.unit]
        digesting = None
        if self._recent is not None:  # in parallel with the decode (large bodies: on a thread)
            digesting = asyncio.ensure_future(digest_of(signal.name, project, is_json, body))
        try:
            decoded = await self._decoder.decode(body, is_json, signal.name)
        except DecoderFailed:
            m.requests.labels(signal.name, transport, "decoder_failed").inc()
            raise
        except IngestError:
            m.requests.labels(signal.name, transport, "malformed").inc()
            raise
        if isinstance(decoded, NativeRequest) and signal.native_kind is not None:
            accepted, rejected, message = decoded.items, 0, ""
            kind, payload = signal.native_kind, decoded.payload
        else:
            accepted, rejected, message = decoded.accepted, decoded.rejected, decoded.message
            kind, payload = signal.arrow_kind, decoded.ipc
        counts.received.labels(transport).inc(accepted + rejected)
        counts.rejected.labels(transport).inc(rejected)
        digest = await digesting if digesting is not None else b""
        if accepted and self._recent is not None and await self._recent.claim(digest):
            m.duplicate_requests.labels(signal.name).inc()
            m.requests.labels(signal.name, transport, "duplicate").inc()
            return ExportResult(accepted, rejected, message)
        if accepted:
            queued = None
            try:
                if self._pending_items and self._pending_items + accepted > self._max_pending_items:
                    raise Overloaded(
                        f"ingest is busy ({self._pending_items} items waiting for the write-ahead log, "
                        f"limit {self._max_pending_items}); retry later"
                    )
                self._pending_items += accepted
                try:
                    paced = self._pace(cost(kind, accepted)) if self._pace else nullcontext()
                    async with paced:
                        queued = self._wal.enqueue(kind, accepted, payload, project, digest)
                        if self._recent is not None:  # the claim follows the record, not this call
                            self._recent.follow(digest, queued)
                        await asyncio.shield(queued)
                finally:
                    self._pending_items -= accepted
            except RetryableError as exc:
                counts.refused.labels(transport, type(exc).__name__).inc(accepted)
                m.requests.labels(signal.name, transport, "retryable_error").inc()
                raise
            finally:
                if queued is None and self._recent is not None:
                    self._recent.abandon(digest)
        counts.accepted.labels(transport).inc(accepted)
        m.requests.labels(signal.name, transport, "partial" if rejected else "ok").inc()
        return ExportResult(accepted, rejected, message)
