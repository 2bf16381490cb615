"""`vigil serve` killed with SIGKILL under load, a log cut in the middle of its last record, and
a stock OpenTelemetry SDK app exporting faster than ClickHouse could commit one request at a
time: every acknowledged span is stored, and none twice."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from support import (
    EXPORT_METHOD,
    Acknowledged,
    ServerProcess,
    export_load,
    free_port,
    http_request,
    make_request,
    query_stopped_storage,
)


def wait_written(server: ServerProcess, timeout_s: float = 120) -> None:
    """Until the server's write-ahead log has nothing left for ClickHouse."""
    deadline = time.monotonic() + timeout_s
    while True:
        _, _, body = http_request(f"{server.http_base}/ready")
        ingest = json.loads(body)["ingest"]
        if ingest["backlog_records"] == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"backlog not written: {ingest}\n{server.log()[-3000:]}")
        time.sleep(0.2)


def kill_hard(server: ServerProcess) -> None:
    os.killpg(server.proc.pid, signal.SIGKILL)  # the server and its decode workers
    server.wait()


def stored_span_ids(data_dir: Path, service: str) -> tuple[int, set[str]]:
    rows = query_stopped_storage(
        data_dir, f"SELECT SpanId FROM otel.otel_traces WHERE ServiceName = '{service}'"
    )
    return len(rows), {r[0] for r in rows}


def test_sigkill_at_five_moments_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acked = Acknowledged()

    def gone(_: grpc.RpcError) -> bool:
        return False  # the server is gone: an unacknowledged request may be stored or not

    for round_, load_s in enumerate((0.3, 0.9, 1.6, 2.3, 3.1)):
        server = ServerProcess(data_dir, VIGIL_BATCH_MAX_WAIT_S="0.02", VIGIL_BATCH_MAX_COST="3000")
        server.wait_ready()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=export_load,
                args=(server.grpc_target, "crash", 100, round_ * 100 + i, stop, acked, gone, 10),
            )
            for i in range(8)
        ]
        for t in threads:
            t.start()
        time.sleep(load_s)  # the load's length before the crash (its shape, not a wait for a condition)
        kill_hard(server)
        stop.set()
        for t in threads:
            t.join(30)

    server = ServerProcess(data_dir)  # the last start writes what the log still holds
    server.wait_ready()
    wait_written(server)
    server.terminate()
    assert server.wait() == 0, server.log()[-3000:]
    rows, stored = stored_span_ids(data_dir, "crash")
    assert len(acked.ids) > 5_000
    lost = acked.ids - stored
    assert not lost, f"{len(lost)} of {len(acked.ids)} acknowledged spans lost"
    assert rows == len(stored), f"{rows - len(stored)} spans stored twice"


def test_a_log_cut_in_its_last_record_starts_and_stores_the_rest(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    # First run: ClickHouse unreachable, so everything acknowledged stays in the log.
    offline = ServerProcess(
        tmp_path / "offline",
        VIGIL_WAL_DIR=str(wal_dir),
        VIGIL_STORAGE_DSN=f"http://default:@127.0.0.1:{free_port()}",
        VIGIL_STORAGE_CONNECT_TIMEOUT_S="1",
    )
    offline.wait_ready()
    requests = [make_request(10, f"torn-{i}", random.Random(i)) for i in range(3)]
    with grpc.insecure_channel(offline.grpc_target) as channel:
        export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        for request in requests:
            export(request.SerializeToString(), timeout=10)
    kill_hard(offline)
    (segment,) = sorted(wal_dir.glob("*.wal"))
    with open(segment, "r+b") as f:  # as if the machine died while the last record was written
        f.truncate(segment.stat().st_size - 25)

    server = ServerProcess(tmp_path / "data", VIGIL_WAL_DIR=str(wal_dir))
    server.wait_ready()
    wait_written(server)
    server.terminate()
    assert server.wait() == 0
    assert "dropping the torn tail" in server.log()
    rows = query_stopped_storage(
        server.data_dir, "SELECT ServiceName, count() FROM otel.otel_traces GROUP BY 1 ORDER BY 1"
    )
    assert rows == [["torn-0", 10], ["torn-1", 10]]


def test_a_stock_sdk_app_at_3000_spans_per_second_loses_nothing(tmp_path: Path) -> None:
    """The shape real clients have: BatchSpanProcessor's defaults (queue of 2048, batches of
    512, one export in flight). With ack-after-commit it dropped most spans above ~1,800/s.

    Every span the SDK sent is stored. The SDK's own drops (its queue full while an export is in
    flight) are counted from its log: a loaded CI machine can starve this process's exporter
    thread, so they are bounded loosely here, and measured in bench/stock_sdk.py."""
    drops = _SdkDrops()
    logging.getLogger("opentelemetry.sdk._shared_internal").addHandler(drops)
    server = ServerProcess(tmp_path / "data")
    server.wait_ready()
    provider = TracerProvider(resource=Resource.create({"service.name": "stock-sdk"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=server.grpc_target, insecure=True))
    )
    tracer = provider.get_tracer("load")
    rate, seconds, tick = 3000, 5, 0.01
    started = time.monotonic()
    for step in range(int(seconds / tick)):
        for _ in range(int(rate * tick)):
            with tracer.start_as_current_span("work") as span:
                span.set_attribute("step", step)
        delay = started + (step + 1) * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # paces the load at `rate` spans/s (its shape)
    provider.shutdown()  # exports what is queued
    wait_written(server)
    server.terminate()
    assert server.wait() == 0
    logging.getLogger("opentelemetry.sdk._shared_internal").removeHandler(drops)
    rows, stored = stored_span_ids(server.data_dir, "stock-sdk")
    assert rows == len(stored) == rate * seconds - drops.count, (rows, len(stored), drops.count)
    assert drops.count <= rate * seconds // 4, f"the SDK dropped {drops.count} of {rate * seconds} spans"


class _SdkDrops(logging.Handler):
    """Counts the BatchSpanProcessor's "Queue full, dropping span" warnings (one per span)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Queue full, dropping"):
            self.count += 1


def test_a_second_server_on_the_same_log_refuses_to_start(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path / "data")
    first.wait_ready()
    try:
        second = ServerProcess(tmp_path / "data")
        assert second.wait(60) == 1
        assert "cannot start: another Vigil process is using the write-ahead log" in second.log()
    finally:
        first.terminate()
        assert first.wait() == 0
