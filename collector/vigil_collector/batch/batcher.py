"""Group commit: many export requests share one INSERT, and each is answered only after
the INSERT holding its spans has committed.

Requests wait in a bounded queue (counted in spans). A batch is cut when the waiting spans
reach ``max_spans`` or the oldest waiting request is ``max_wait_s`` old; one INSERT runs at a
time in a dedicated thread while the next batch collects. Under load the batches therefore
grow by themselves to what arrives during one INSERT, which keeps inserts few and large
(DESIGN.md: per-INSERT overhead is tens of ms) without a fixed delay on every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from vigil_collector.errors import Overloaded, ShuttingDown, StorageDown
from vigil_collector.metrics import CollectorMetrics
from vigil_storage import StorageError

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    table: pa.Table
    spans: int
    since: float
    done: asyncio.Future[None]


class Batcher:
    """Owns the queue between the receivers and the writer. Lifecycle: start, drain, close."""

    def __init__(
        self,
        write: Callable[[pa.Table], None],
        *,
        max_spans: int,
        max_wait_s: float,
        queue_max_spans: int,
        metrics: CollectorMetrics,
    ) -> None:
        if max_spans <= 0 or queue_max_spans < max_spans or max_wait_s < 0:
            raise ValueError("need max_spans > 0, queue_max_spans >= max_spans, max_wait_s >= 0")
        self._write = write
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
        # One thread: one INSERT at a time, and the clickhouse client never crosses threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-writer")

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vigil-batcher")

    async def submit(self, table: pa.Table) -> None:
        """Queue ``table`` and return once it is committed; raises a RetryableError otherwise."""
        spans = table.num_rows
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
        self._waiting.append(_Waiting(table, spans, time.monotonic(), done))
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
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                if self._draining:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._linger()
            batch = self._cut()
            spans = sum(w.spans for w in batch)
            table = batch[0].table if len(batch) == 1 else pa.concat_tables([w.table for w in batch])
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._write, table)
            except StorageError as exc:
                self._metrics.insert_failures.inc()
                log.warning("insert of %d spans failed: %s", spans, exc.reason)
                error = StorageDown(f"spans not stored, retry: {exc.reason}")
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(error)
            except Exception as exc:  # a bug, not an outage: still never acknowledge unstored spans
                self._metrics.insert_failures.inc()
                log.exception("insert of %d spans failed unexpectedly", spans)
                error = StorageDown(f"spans not stored, retry: internal error {type(exc).__name__}: {exc}")
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(error)
            else:
                self._metrics.insert_seconds.observe(time.perf_counter() - started)
                self._metrics.batch_spans.observe(spans)
                for w in batch:
                    if not w.done.done():
                        w.done.set_result(None)
            finally:
                self._queued_spans -= spans
                self._metrics.queue_spans.set(self._queued_spans)

    async def _linger(self) -> None:
        """Wait until a full batch is waiting, the oldest request is max_wait old, or draining."""
        deadline = self._waiting[0].since + self._max_wait_s
        while self._waiting_spans < self._max_spans and not self._draining:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return

    def _cut(self) -> list[_Waiting]:
        batch = [self._waiting.popleft()]
        spans = batch[0].spans
        while self._waiting and spans + self._waiting[0].spans <= self._max_spans:
            w = self._waiting.popleft()
            batch.append(w)
            spans += w.spans
        self._waiting_spans -= spans
        return batch
