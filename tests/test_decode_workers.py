"""A decode worker killed under load: the pool is replaced, the requests it held get a
retryable error that says so (and is counted as such), and nothing acknowledged is lost."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import grpc
from clickhouse_connect.driver.client import Client

from support import EXPORT_METHOD, RunningApp, make_request, make_settings


def test_a_killed_decode_worker_is_replaced_and_its_requests_retried(chdb_dir: Path, ch: Client) -> None:
    db = "workers"
    running = RunningApp(make_settings(chdb_dir, database=db, decode_workers=2))
    acknowledged: set[str] = set()
    refusals: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with grpc.insecure_channel(running.grpc_target) as channel:
            export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
            while not stop.is_set():
                request = make_request(200, "workers", rng)
                ids = {s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans}
                try:
                    export(request.SerializeToString(), timeout=30)
                except grpc.RpcError as exc:
                    refusals.append(f"{exc.code().name}: {exc.details()}")
                    continue
                with lock:
                    acknowledged.update(ids)

    try:
        pool = running.app.decoder._pool
        assert pool is not None
        victims = list(pool._processes)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.kill(victims[0], signal.SIGKILL)
        time.sleep(3.0)
        stop.set()
        for t in threads:
            t.join(60)
        new_pool = running.app.decoder._pool
        assert new_pool is not None and new_pool is not pool
        assert len(new_pool._processes) == 2
        assert not set(new_pool._processes) & set(victims)
        assert refusals, "the request the worker held should have been refused"
        assert all(r.startswith("UNAVAILABLE: a decode worker died") for r in refusals), refusals[:3]
        outcome = running.app.metrics.requests.labels("grpc", "decoder_failed")._value.get()
        assert outcome == len(refusals)
        running.flush()
        rows, distinct = ch.query(
            f"SELECT count(), uniqExact(SpanId) FROM {db}.otel_traces WHERE ServiceName = 'workers'"
        ).result_rows[0]
        assert rows == distinct
        stored = {r[0] for r in ch.query(f"SELECT SpanId FROM {db}.otel_traces").result_rows}
        assert acknowledged <= stored and len(acknowledged) > 2000
    finally:
        stop.set()
        running.stop()
