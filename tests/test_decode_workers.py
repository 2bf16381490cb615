"""A decode worker killed under load: the pool is replaced, the requests it held get a
retryable error that says so (and is counted as such), and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import grpc
from clickhouse_connect.driver.client import Client

from support import Acknowledged, RunningApp, export_load, make_settings, wait_for


def test_a_killed_decode_worker_is_replaced_and_its_requests_retried(chdb_dir: Path, ch: Client) -> None:
    db = "workers"
    running = RunningApp(make_settings(chdb_dir, database=db, decode_workers=2))
    acked = Acknowledged()
    refusals: list[str] = []
    stop = threading.Event()

    def refused(exc: grpc.RpcError) -> bool:
        refusals.append(f"{exc.code().name}: {exc.details()}")
        return True  # the client retries

    try:
        pool = running.app.decoder._pool
        assert pool is not None
        victims = list(pool._processes)
        threads = [
            threading.Thread(
                target=export_load, args=(running.grpc_target, "workers", 200, i, stop, acked, refused)
            )
            for i in range(4)
        ]
        for t in threads:
            t.start()
        # Kill a worker while requests are flowing, then keep the load on until the pool has been
        # replaced and a refusal was seen (conditions, not a fixed time: CI machines are slow).
        wait_for(lambda: len(acked.ids) >= 1000, 120, "the load to be acknowledged")
        os.kill(victims[0], signal.SIGKILL)
        wait_for(
            lambda: running.app.decoder._pool is not pool and refusals and len(acked.ids) > 2000,
            120,
            "the pool to be replaced under load",
            every_s=0.2,
        )
        stop.set()
        for t in threads:
            t.join(60)
        new_pool = running.app.decoder._pool
        assert new_pool is not None and new_pool is not pool
        assert len(new_pool._processes) == 2
        assert not set(new_pool._processes) & set(victims)
        assert refusals, "the request the worker held should have been refused"
        assert all(r.startswith("UNAVAILABLE: a decode worker died") for r in refusals), refusals[:3]
        outcome = running.app.metrics.requests.labels("traces", "grpc", "decoder_failed")._value.get()
        assert outcome == len(refusals)
        running.flush()
        rows, distinct = ch.query(
            f"SELECT count(), uniqExact(SpanId) FROM {db}.otel_traces WHERE ServiceName = 'workers'"
        ).result_rows[0]
        assert rows == distinct
        stored = {r[0] for r in ch.query(f"SELECT SpanId FROM {db}.otel_traces").result_rows}
        assert acked.ids <= stored and len(acked.ids) > 2000
    finally:
        stop.set()
        running.stop()
