"""The batcher's contract, with a writer the test controls (the Batcher takes any object with
write_arrow and write_native): group commit, ack only after commit, backpressure, drain."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pyarrow as pa
import pytest

from vigil_collector.batch import Batcher
from vigil_collector.decode import DecodeLimits, decode_spans
from vigil_collector.errors import Overloaded, ShuttingDown, StorageDown
from vigil_collector.metrics import CollectorMetrics
from vigil_storage import StorageUnavailable

from support import make_request


def table(n: int) -> pa.Table:
    return decode_spans(make_request(n, "batcher", random.Random(n)), DecodeLimits()).table


class RecordingWriter:
    """Stores what it is given; can be held (to build a queue) or made to fail."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_with: Exception | None = None

    def write_arrow(self, t: pa.Table) -> None:
        self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(t.num_rows)

    def write_native(self, bodies: list[bytes], spans: int) -> str:
        raise AssertionError("these tests queue Arrow tables only")


def make_batcher(writer: RecordingWriter, **kw: float) -> Batcher:
    opts = {"max_spans": 1000, "max_wait_s": 0.05, "queue_max_spans": 2000} | kw
    return Batcher([writer], metrics=CollectorMetrics(), **opts)  # type: ignore[arg-type]


def test_concurrent_requests_share_one_insert() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        batcher = make_batcher(writer, max_wait_s=0.2)
        batcher.start()
        await asyncio.gather(*(batcher.submit(table(10)) for _ in range(20)))
        assert writer.batches == [200]
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_a_burst_is_cut_once_requests_stop_coming() -> None:
    """A twentieth of a full batch or more, then a pause of a tenth of max_wait: no need to wait
    for the rest of max_wait (clients waiting for acks send nothing more meanwhile)."""

    async def scenario() -> None:
        writer = RecordingWriter()
        batcher = make_batcher(writer, max_spans=1000, max_wait_s=20)
        batcher.start()
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(batcher.submit(table(50)) for _ in range(3))), 10)
        assert writer.batches == [150]
        assert time.monotonic() - started < 10  # quiet after 2 s, not max_wait's 20 s
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_free_writers_share_what_waits() -> None:
    async def scenario() -> None:
        writers = [RecordingWriter(), RecordingWriter()]
        batcher = Batcher(
            writers,  # type: ignore[arg-type]
            max_spans=1000,
            max_wait_s=0.1,
            queue_max_spans=2000,
            metrics=CollectorMetrics(),
        )
        batcher.start()
        await asyncio.gather(*(batcher.submit(table(50)) for _ in range(4)))
        assert [w.batches for w in writers] == [[100], [100]]
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_full_batch_is_cut_without_waiting() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        batcher = make_batcher(writer, max_spans=100, max_wait_s=30)
        batcher.start()
        await asyncio.wait_for(asyncio.gather(*(batcher.submit(table(50)) for _ in range(4))), 5)
        assert writer.batches == [100, 100]
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_ack_waits_for_commit_and_full_queue_refuses() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        writer.release.clear()
        batcher = make_batcher(writer, max_spans=500, queue_max_spans=1000, max_wait_s=0)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(table(500)))
        second = asyncio.ensure_future(batcher.submit(table(500)))
        await asyncio.sleep(0.1)
        assert not first.done() and not second.done()  # not committed: not acknowledged
        with pytest.raises(Overloaded, match="queue is full"):
            await batcher.submit(table(10))
        writer.release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert writer.batches == [500, 500]
        await batcher.submit(table(10))  # room again
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_storage_failure_fails_every_waiter_then_recovers() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        writer.fail_with = StorageUnavailable("inserting: ClickHouse unavailable: connection refused")
        batcher = make_batcher(writer)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(table(5)) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, StorageDown) and "connection refused" in r.reason for r in results)
        assert batcher.queued_spans == 0
        writer.fail_with = None
        await batcher.submit(table(5))
        assert writer.batches == [5]
        await batcher.drain()
        batcher.close()

    asyncio.run(scenario())


def test_drain_flushes_queued_work_and_refuses_new() -> None:
    async def scenario() -> None:
        writer = RecordingWriter()
        batcher = make_batcher(writer, max_wait_s=30)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(table(7))) for _ in range(3)]
        await asyncio.sleep(0.05)
        await asyncio.wait_for(batcher.drain(), 5)
        await asyncio.gather(*pending)
        assert writer.batches == [21]
        with pytest.raises(ShuttingDown):
            await batcher.submit(table(1))
        batcher.close()

    asyncio.run(scenario())
