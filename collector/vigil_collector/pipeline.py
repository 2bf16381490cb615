"""The trace pipeline shared by both receivers: decode → validate → write-ahead log (ack).

A request is acknowledged once its validated spans are a record fsynced in the log
(wal/log.py): its protobuf bytes as they came, when ClickHouse may decode them (NativeSpans,
see decode/native.py), or else the spans decoded in Python as Arrow. The batcher writes the
log to ClickHouse behind the acknowledgements (batch/batcher.py).

When ClickHouse is healthy but slower than the clients, requests wait before their append
(``pace``, Batcher.admit) so that the log stays short and spans stay fresh.

What a request holds in memory between arriving and being fsynced is bounded, in bytes and
in spans, whatever the span size: past either bound requests are refused with a retryable
error (``max_pending_bytes``, ``max_pending_spans``).

Receivers hand it raw bytes and get back an ExportResult or a typed IngestError; they only
translate those to their protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vigil_collector.decode.native import NativeSpans
from vigil_collector.decode.pool import DecodePool
from vigil_collector.errors import DecoderFailed, IngestError, Overloaded, RetryableError
from vigil_collector.metrics import CollectorMetrics
from vigil_collector.wal.log import WriteAheadLog
from vigil_collector.wal.records import RecordKind


@dataclass(frozen=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str


class TracePipeline:
    def __init__(
        self,
        wal: WriteAheadLog,
        decoder: DecodePool,
        metrics: CollectorMetrics,
        *,
        max_pending_bytes: int,
        max_pending_spans: int,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._wal = wal
        self._decoder = decoder
        self._metrics = metrics
        self._max_pending_bytes = max_pending_bytes
        self._max_pending_spans = max_pending_spans
        self._pace = pace
        self._pending_bytes = 0
        self._pending_spans = 0

    async def export_proto(self, body: bytes, transport: str, project: int = 0) -> ExportResult:
        return await self._export(body, False, transport, project)

    async def export_json(self, body: bytes, transport: str, project: int = 0) -> ExportResult:
        return await self._export(body, True, transport, project)

    async def _export(self, body: bytes, is_json: bool, transport: str, project: int) -> ExportResult:
        m = self._metrics
        # One request alone is always taken, so a large one cannot starve.
        if self._pending_bytes and self._pending_bytes + len(body) > self._max_pending_bytes:
            m.requests.labels(transport, "retryable_error").inc()
            raise Overloaded(
                f"ingest is busy ({self._pending_bytes} bytes of requests being decoded or written, "
                f"limit {self._max_pending_bytes}); retry later"
            )
        self._pending_bytes += len(body)
        m.pending_bytes.set(self._pending_bytes)
        try:
            return await self._decode_and_append(body, is_json, transport, project)
        finally:
            self._pending_bytes -= len(body)
            m.pending_bytes.set(self._pending_bytes)

    async def _decode_and_append(
        self, body: bytes, is_json: bool, transport: str, project: int
    ) -> ExportResult:
        m = self._metrics
        try:
            decoded = await self._decoder.decode(body, is_json)
        except DecoderFailed:
            m.requests.labels(transport, "decoder_failed").inc()
            raise
        except IngestError:
            m.requests.labels(transport, "malformed").inc()
            raise
        if isinstance(decoded, NativeSpans):
            accepted, rejected, message = decoded.spans, 0, ""
            kind, payload = RecordKind.TRACES_OTLP, decoded.body
        else:
            accepted, rejected, message = decoded.accepted, decoded.rejected, decoded.message
            kind, payload = RecordKind.TRACES_ARROW, decoded.ipc
        m.spans_received.labels(transport).inc(accepted + rejected)
        m.spans_rejected.labels(transport).inc(rejected)
        if accepted:
            try:
                if self._pending_spans and self._pending_spans + accepted > self._max_pending_spans:
                    raise Overloaded(
                        f"ingest is busy ({self._pending_spans} spans waiting for the write-ahead log, "
                        f"limit {self._max_pending_spans}); retry later"
                    )
                self._pending_spans += accepted
                try:
                    if self._pace is not None:
                        await self._pace()
                    await self._wal.append(kind, accepted, payload, project)
                finally:
                    self._pending_spans -= accepted
            except RetryableError as exc:
                m.spans_refused.labels(transport, type(exc).__name__).inc(accepted)
                m.requests.labels(transport, "retryable_error").inc()
                raise
        m.spans_accepted.labels(transport).inc(accepted)
        m.requests.labels(transport, "partial" if rejected else "ok").inc()
        return ExportResult(accepted, rejected, message)
