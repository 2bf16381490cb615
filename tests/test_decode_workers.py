"""A decode worker killed under load: the pool is replaced, the requests it held get a
retryable error that says so (and is counted as such), and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import grpc
from clickhouse_connect.driver.client import Client

from support import Acknowledged, RunningApp, ServerProcess, export_load, make_settings, wait_for


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


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (the decode workers and the resource tracker)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_decode_workers_leave_with_a_server_killed_by_sigkill(tmp_path: Path) -> None:
    """kill -9 of `vigil serve` alone (not its process group, as a supervisor or an OOM kill
    does): its decode workers and their resource tracker exit instead of living on as orphans."""
    server = ServerProcess(tmp_path / "data", VIGIL_DECODE_WORKERS="2")
    try:
        server.wait_ready()
        children = wait_for(
            lambda: (c := _children(server.proc.pid)) and len(c) >= 3 and c, 60, "the workers and the tracker"
        )
        os.kill(server.proc.pid, signal.SIGKILL)
        server.wait()
        wait_for(lambda: not any(_alive(p) for p in children), 60, "the workers to leave", every_s=0.2)
    finally:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.wait()
