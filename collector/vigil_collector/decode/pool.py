"""Where decoding runs: in worker processes, so that it uses every core.

Decoding is Python work per span (the ingest's bottleneck, docs/benchmarks.md), and one process has
one GIL: with the decode in the event loop, one core is saturated while ClickHouse waits. A
pool of ``workers`` spawned processes decodes request bodies in parallel. For a protobuf body
that ClickHouse may decode itself (decode/native.py) a worker only checks it and sends back
the span count; otherwise it sends back the spans as an Arrow IPC stream (no per-span cost),
which is what the write-ahead log stores. The same holds for metrics requests. ``workers = 0`` decodes inline in the event loop
(tests, tiny deployments).

A worker that dies (killed, out of memory) breaks the whole pool: the pool is replaced, and
every request it held gets a retryable DecoderFailed, counted under its own label.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.ipc

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.logs import decode_logs, parse_json_logs, parse_proto_logs
from vigil_collector.decode.metrics import decode_metrics, pack
from vigil_collector.decode.metrics_parse import parse_json_metrics, parse_proto_metrics
from vigil_collector.decode.native import NativeCheck, NativeRequest, check_native, check_native_metrics
from vigil_collector.decode.otlp_json import parse_json_traces
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import decode_spans
from vigil_collector.errors import DecoderFailed

log = logging.getLogger(__name__)

TRACES, LOGS, METRICS = "traces", "logs", "metrics"


@dataclass(frozen=True)
class ArrowRecords:
    """The valid items (spans, log records) of a request decoded in Python, as an Arrow IPC
    stream of their table's rows (SPAN_SCHEMA, LOG_SCHEMA), and what was dropped or truncated."""

    ipc: bytes
    accepted: int
    rejected: int
    message: str


def decode_request(
    body: bytes, is_json: bool, limits: DecodeLimits, native: bool, signal: str = TRACES
) -> ArrowRecords | NativeCheck:
    """Decode one OTLP request body of ``signal`` (runs in a worker): for traces and metrics,
    its item count if ClickHouse may decode it (``native``, protobuf only); else its items
    flattened in Python."""
    if signal == METRICS:
        if native and not is_json:
            checked = check_native_metrics(body, limits.max_attribute_value_length)
            if checked is not None:
                return checked
        request = parse_json_metrics(body) if is_json else parse_proto_metrics(body)
        metrics = decode_metrics(request, limits)
        return ArrowRecords(pack(metrics.tables), metrics.accepted, metrics.rejected, metrics.message)
    if signal == LOGS:
        logs = decode_logs(parse_json_logs(body) if is_json else parse_proto_logs(body), limits)
        return ArrowRecords(ipc_stream(logs.table), logs.accepted, logs.rejected, logs.message)
    if native and not is_json:
        spans = check_native(body, limits.max_attributes_per_span, limits.max_attribute_value_length)
        if spans is not None:
            return NativeCheck(spans)
    request = parse_json_traces(body) if is_json else parse_proto_traces(body)
    decoded = decode_spans(request, limits)
    return ArrowRecords(ipc_stream(decoded.table), decoded.accepted, decoded.rejected, decoded.message)


def ipc_stream(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream: what a record of Arrow rows holds."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _start_worker() -> None:
    """A worker's initializer: leave with the server, then warm up."""
    _exit_with_parent()
    _warm_up()


def _exit_with_parent() -> None:
    """A server killed with SIGKILL cannot stop its pool: without this its workers (and the
    resource tracker, which waits for them) would live on as orphans, each holding its memory.
    The parent's sentinel becomes ready when the parent is gone, however it ended."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="vigil-exit-with-parent", daemon=True).start()


def _warm_up() -> None:
    """Decode a tiny request once, so that first-call costs (pyarrow initialises lazily, over a
    second of CPU) are paid at start-up rather than by the first client."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x01" * 8
    decode_spans(request, DecodeLimits())


def _noop() -> None:
    pass


class DecodePool:
    def __init__(self, workers: int, limits: DecodeLimits, *, native: bool = True) -> None:
        self._workers = workers
        self._limits = limits
        self._native = native
        self._pool: ProcessPoolExecutor | None = None
        self._replacing = asyncio.Lock()

    async def start(self) -> None:
        """Start the workers and wait until each has warmed up."""
        _warm_up()  # the parent too: it concatenates and serialises the tables it receives
        if self._workers == 0:
            return
        # spawn, never fork: the parent holds an embedded ClickHouse engine and threads.
        self._pool = ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
        )
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _noop) for _ in range(self._workers)))

    async def decode(self, body: bytes, is_json: bool, signal: str = TRACES) -> ArrowRecords | NativeRequest:
        args = (body, is_json, self._limits, self._native, signal)
        if self._workers == 0:
            result = decode_request(*args)
        else:
            if self._pool is None:  # being replaced
                async with self._replacing:
                    pass
            pool = self._pool
            if pool is None:
                raise DecoderFailed("the decode workers are not running; retry later")
            try:
                result = await asyncio.get_running_loop().run_in_executor(pool, decode_request, *args)
            except BrokenProcessPool:
                await self._replace(pool)
                raise DecoderFailed("a decode worker died while decoding this request; retry it") from None
        # The body stays here: a worker answers with the count, not a copy of the bytes.
        if isinstance(result, NativeCheck):
            return NativeRequest(result.header + body if result.header else body, result.items)
        return result

    async def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Replace a broken pool, once, however many requests saw it break."""
        async with self._replacing:
            if self._pool is not broken:
                return  # another request already replaced it
            log.error("a decode worker died; replacing the pool of %d workers", self._workers)
            self._pool = None
            broken.shutdown(wait=False, cancel_futures=True)
            await self.start()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
