"""The trace pipeline shared by both receivers: decode → validate → batch → (writer).

A request reaches the batcher either as an Arrow table (decoded in Python) or as its
protobuf bytes for ClickHouse to decode (NativeSpans, see decode/native.py).

Receivers hand it raw bytes and get back an ExportResult or a typed IngestError; they only
translate those to their protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vigil_collector.batch import Batcher
from vigil_collector.decode.native import NativeSpans
from vigil_collector.decode.pool import DecodePool
from vigil_collector.errors import IngestError, RetryableError, StorageDown
from vigil_collector.metrics import CollectorMetrics


@dataclass(frozen=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str


class TracePipeline:
    def __init__(
        self,
        batcher: Batcher,
        decoder: DecodePool,
        metrics: CollectorMetrics,
        storage_ready: Callable[[], tuple[bool, str]],
    ) -> None:
        self._batcher = batcher
        self._decoder = decoder
        self._metrics = metrics
        self._storage_ready = storage_ready

    async def export_proto(self, body: bytes, transport: str) -> ExportResult:
        return await self._export(body, False, transport)

    async def export_json(self, body: bytes, transport: str) -> ExportResult:
        return await self._export(body, True, transport)

    async def _export(self, body: bytes, is_json: bool, transport: str) -> ExportResult:
        m = self._metrics
        try:
            decoded = await self._decoder.decode(body, is_json)
        except IngestError:
            m.requests.labels(transport, "malformed").inc()
            raise
        if isinstance(decoded, NativeSpans):
            accepted, rejected, message, item = decoded.spans, 0, "", decoded
        else:
            accepted, rejected, message, item = (
                decoded.accepted,
                decoded.rejected,
                decoded.message,
                decoded.table,
            )
        m.spans_received.labels(transport).inc(accepted + rejected)
        m.spans_rejected.labels(transport).inc(rejected)
        try:
            if accepted:
                ready, reason = self._storage_ready()
                if not ready:
                    raise StorageDown(f"storage not ready, retry later: {reason}")
                await self._batcher.submit(item)
        except RetryableError as exc:
            m.spans_refused.labels(transport, type(exc).__name__).inc(accepted)
            m.requests.labels(transport, "retryable_error").inc()
            raise
        m.spans_accepted.labels(transport).inc(accepted)
        m.requests.labels(transport, "partial" if rejected else "ok").inc()
        return ExportResult(accepted, rejected, message)
