"""Group commit: many export requests share one INSERT, and each is answered only after
the INSERT holding its spans has committed.

Requests wait in a bounded queue (counted in spans). A batch is cut when a writer is free
and the waiting spans reach ``max_spans`` or the oldest waiting request is ``max_wait_s``
old. Each writer runs its INSERTs in a thread of its own, so with several writers the next
batch is written while the last one still is: clients that wait for their ack before they
send more (every OTLP exporter) would otherwise leave ClickHouse idle while their next
requests arrive, and one INSERT uses about one core. Under load the batches grow by
themselves to what arrives during an INSERT, which keeps inserts few and large (DESIGN.md:
per-INSERT overhead is tens of ms) without a fixed delay on every request.

A batch holds two kinds of request: Arrow tables (decoded in Python) and protobuf bodies
for ClickHouse to decode (NativeSpans). Each kind goes into its own INSERT, and each
request is answered by the outcome of the INSERT that held it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from vigil_collector.decode.native import Decoder, NativeSpans
from vigil_collector.errors import Overloaded, ShuttingDown, StorageDown
from vigil_collector.metrics import CollectorMetrics
from vigil_storage import StorageError

log = logging.getLogger(__name__)


class SpanWriter(Protocol):
    """Inserts one batch; raises StorageError (or anything else, a bug) if it did not commit."""

    def write_arrow(self, table: pa.Table) -> None: ...

    def write_native(self, bodies: list[bytes], spans: int) -> Decoder:
        """Insert the spans of OTLP/protobuf bodies; returns who decoded them."""
        ...


@dataclass
class _Lane:
    """A writer and the one thread it runs on (a ClickHouse client never crosses threads)."""

    writer: SpanWriter
    thread: ThreadPoolExecutor


@dataclass
class _Waiting:
    item: pa.Table | NativeSpans
    spans: int
    since: float
    done: asyncio.Future[None]


class Batcher:
    """Owns the queue between the receivers and the writer. Lifecycle: start, drain, close."""

    def __init__(
        self,
        writers: list[SpanWriter],
        *,
        max_spans: int,
        max_wait_s: float,
        queue_max_spans: int,
        metrics: CollectorMetrics,
    ) -> None:
        if not writers or max_spans <= 0 or queue_max_spans < max_spans or max_wait_s < 0:
            raise ValueError("need writers, max_spans > 0, queue_max_spans >= max_spans, max_wait_s >= 0")
        self._lanes = [
            _Lane(w, ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vigil-writer-{i}"))
            for i, w in enumerate(writers)
        ]
        self._max_spans = max_spans
        self._max_wait_s = max_wait_s
        self._queue_max = queue_max_spans
        self._metrics = metrics
        self._waiting: deque[_Waiting] = deque()
        self._waiting_spans = 0
        self._queued_spans = 0  # waiting + being written
        self._wakeup = asyncio.Event()
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._free_lanes: asyncio.Queue[_Lane] | None = None  # made on the loop, in start()
        self._writing: set[asyncio.Task[None]] = set()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def start(self) -> None:
        self._free_lanes = asyncio.Queue()
        for lane in self._lanes:
            self._free_lanes.put_nowait(lane)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vigil-batcher")

    async def submit(self, item: pa.Table | NativeSpans) -> None:
        """Queue ``item`` and return once it is committed; raises a RetryableError otherwise."""
        spans = item.spans if isinstance(item, NativeSpans) else item.num_rows
        if spans == 0:
            return
        if self._draining:
            raise ShuttingDown("collector is shutting down; retry against another instance or later")
        # An oversize request is still taken when the queue is empty, so it cannot starve.
        if self._queued_spans and self._queued_spans + spans > self._queue_max:
            raise Overloaded(
                f"ingest queue is full ({self._queued_spans} spans queued, limit {self._queue_max}); retry later"
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # If the caller went away, nobody awaits `done`: mark its outcome as seen.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._waiting.append(_Waiting(item, spans, time.monotonic(), done))
        self._waiting_spans += spans
        self._queued_spans += spans
        self._metrics.queue_spans.set(self._queued_spans)
        self._wakeup.set()
        # The INSERT goes ahead even if this caller gives up (client cancelled): shield it.
        await asyncio.shield(done)

    async def drain(self) -> None:
        """Refuse new work, flush everything queued now, and stop the loop."""
        self._draining = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    def close(self) -> None:
        for lane in self._lanes:
            lane.thread.shutdown(wait=True)

    async def _run(self) -> None:
        assert self._free_lanes is not None, "start() first"
        while True:
            if not self._waiting:
                if self._draining:
                    break
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            lanes = [await self._free_lanes.get()]
            await self._linger()
            # What waits is shared among the free writers, so that one burst of requests is
            # written by all of them at once rather than by one while the others idle.
            while not self._free_lanes.empty():
                lanes.append(self._free_lanes.get_nowait())
            share = min(self._max_spans, -(-self._waiting_spans // len(lanes)))
            for lane in lanes:
                if not self._waiting:
                    self._free_lanes.put_nowait(lane)
                    continue
                task = asyncio.get_running_loop().create_task(self._write_batch(lane, self._cut(share)))
                self._writing.add(task)
                task.add_done_callback(self._writing.discard)
        if self._writing:
            await asyncio.gather(*self._writing)

    async def _write_batch(self, lane: _Lane, batch: list[_Waiting]) -> None:
        native = [w for w in batch if isinstance(w.item, NativeSpans)]
        arrow = [w for w in batch if not isinstance(w.item, NativeSpans)]
        try:
            if native:
                bodies = [w.item.body for w in native]  # type: ignore[union-attr]
                spans = sum(w.spans for w in native)
                await self._insert(lane, native, lambda: lane.writer.write_native(bodies, spans))
            if arrow:
                tables = [w.item for w in arrow]
                table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)  # type: ignore[arg-type]

                def write_arrow() -> Decoder:
                    lane.writer.write_arrow(table)
                    return "python"

                await self._insert(lane, arrow, write_arrow)
        finally:
            self._queued_spans -= sum(w.spans for w in batch)
            self._metrics.queue_spans.set(self._queued_spans)
            assert self._free_lanes is not None
            self._free_lanes.put_nowait(lane)

    async def _insert(self, lane: _Lane, waiting: list[_Waiting], write: Callable[[], Decoder]) -> None:
        """Run one INSERT on the lane's thread and answer every request it holds."""
        spans = sum(w.spans for w in waiting)
        started = time.perf_counter()
        try:
            decoder = await asyncio.get_running_loop().run_in_executor(lane.thread, write)
        except StorageError as exc:
            self._metrics.insert_failures.inc()
            log.warning("insert of %d spans failed: %s", spans, exc.reason)
            self._answer(waiting, StorageDown(f"spans not stored, retry: {exc.reason}"))
        except Exception as exc:  # a bug, not an outage: still never acknowledge unstored spans
            self._metrics.insert_failures.inc()
            log.exception("insert of %d spans failed unexpectedly", spans)
            self._answer(
                waiting,
                StorageDown(f"spans not stored, retry: internal error {type(exc).__name__}: {exc}"),
            )
        else:
            self._metrics.insert_seconds.observe(time.perf_counter() - started)
            self._metrics.batch_spans.observe(spans)
            self._metrics.decoded_spans.labels(decoder).inc(spans)
            self._answer(waiting, None)

    @staticmethod
    def _answer(waiting: list[_Waiting], error: Exception | None) -> None:
        for w in waiting:
            if w.done.done():
                continue
            if error is None:
                w.done.set_result(None)
            else:
                w.done.set_exception(error)

    async def _linger(self) -> None:
        """Wait until a full batch is waiting, the oldest request is max_wait old, or draining;
        or, once a twentieth of a full batch waits, until requests stop coming for a tenth of
        max_wait. The last: clients that wait for acks send in bursts, and after a burst
        nothing more comes until it is written, so waiting longer only adds latency."""
        deadline = self._waiting[0].since + self._max_wait_s
        quiet_s = self._max_wait_s / 10
        while self._waiting_spans < self._max_spans and not self._draining:
            now = time.monotonic()
            timeout = deadline - now
            if self._waiting_spans >= self._max_spans // 20:
                timeout = min(timeout, self._waiting[-1].since + quiet_s - now)
            if timeout <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return

    def _cut(self, share: int) -> list[_Waiting]:
        """The oldest waiting requests, up to ``share`` spans (at least one request)."""
        batch = [self._waiting.popleft()]
        spans = batch[0].spans
        while self._waiting and spans + self._waiting[0].spans <= share:
            w = self._waiting.popleft()
            batch.append(w)
            spans += w.spans
        self._waiting_spans -= spans
        return batch
