"""``vigil serve`` as users run it: started by ``make run``, fed by the stock exporters,
and stopped by SIGTERM in the middle of a load run without losing an acknowledged span."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from vigil import QueryClient, QueryError

from support import EXPORT_METHOD, REPO, ServerProcess, make_request, query_stopped_storage, run_cli
from test_otlp_roundtrip import record_spans


def _wait_group_gone(pgid: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise TimeoutError("server processes still running")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_serves_both_stock_exporters(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data", command=["make", "--no-print-directory", "-C", str(REPO), "run"]
    )
    try:
        server.wait_ready()
        grpc_spans = record_spans("make-run-grpc")
        http_spans = record_spans("make-run-http")
        grpc_exporter = GrpcExporter(endpoint=server.grpc_target, insecure=True)
        http_exporter = HttpExporter(endpoint=f"{server.http_base}/v1/traces")
        assert grpc_exporter.export(grpc_spans) == SpanExportResult.SUCCESS
        assert http_exporter.export(http_spans) == SpanExportResult.SUCCESS
        grpc_exporter.shutdown()
        http_exporter.shutdown()
    finally:
        server.terminate(whole_group=True)
        server.wait()
        _wait_group_gone(server.proc.pid)
    rows = query_stopped_storage(
        server.data_dir,
        "SELECT ServiceName, count() FROM otel.otel_traces GROUP BY ServiceName ORDER BY ServiceName",
    )
    assert rows == [["make-run-grpc", 5], ["make-run-http", 5]]
    assert "vigil stopped" in server.log()


def test_sigterm_during_load_loses_no_acknowledged_span(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.wait_ready()
    acknowledged: list[str] = []
    failures: list[str] = []
    terminated = threading.Event()
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with grpc.insecure_channel(server.grpc_target) as channel:
            export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
            for _ in range(10_000):
                request = make_request(200, "sigterm", rng)
                ids = [s.trace_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
                try:
                    export(request.SerializeToString(), timeout=60)
                except grpc.RpcError as exc:
                    if not terminated.is_set():
                        failures.append(f"{exc.code()}: {exc.details()}")
                    return
                with lock:
                    acknowledged.extend(ids)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 5_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    terminated.set()
    server.terminate()
    for t in threads:
        t.join(120)
    assert server.wait() == 0, server.log()[-3000:]
    assert not failures, failures[:3]

    stored = {
        row[0] for row in query_stopped_storage(server.data_dir, "SELECT TraceId FROM otel.otel_traces")
    }
    assert len(acknowledged) >= 5_000
    lost = set(acknowledged) - stored
    assert not lost, f"{len(lost)} acknowledged spans lost of {len(acknowledged)}"


def test_migrate_then_query_service_alone(tmp_path: Path) -> None:
    """`vigil migrate` creates the schema; `vigil query` serves it without the collector."""
    data_dir = tmp_path / "data"
    env = dict(os.environ, VIGIL_DATA_DIR=str(data_dir), VIGIL_LOG_FORMAT="text")
    migrate = run_cli("migrate", env=env, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    assert "migrations applied" in migrate.stderr

    server = ServerProcess(data_dir, command=[sys.executable, "-m", "vigil_server.cli", "query"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with QueryClient(f"127.0.0.1:{server.query_port}", timeout_s=5) as client:
                    assert client.services() == []
                break
            except QueryError:
                if time.monotonic() > deadline or server.proc.poll() is not None:
                    raise AssertionError(server.log()) from None
                time.sleep(0.3)
        with QueryClient(f"127.0.0.1:{server.query_port}") as client, pytest.raises(QueryError) as err:
            client.get_trace("ab" * 16)
        assert err.value.code == grpc.StatusCode.NOT_FOUND
        # The alerting API is the worker's: forwarded, and with no worker running, UNAVAILABLE.
        with QueryClient(f"127.0.0.1:{server.query_port}") as client, pytest.raises(QueryError) as err:
            client.rules()
        assert err.value.code == grpc.StatusCode.UNAVAILABLE and "no active worker" in err.value.message
    finally:
        server.terminate()
    assert server.wait() == 0, server.log()

    # The drift detector alone: one pass over the (empty) store, a JSON report on stdout.
    once = run_cli("drift-detect", "--once", env=env, timeout=120)
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout) == {"evaluated_groups": 0, "opened": 0, "updated": 0, "resolved": 0}
    # ... and as a loop that stops on SIGTERM.
    detector = ServerProcess(data_dir, command=[sys.executable, "-m", "vigil_server.cli", "drift-detect"])
    deadline = time.monotonic() + 60
    while "drift evaluated" not in detector.log() and time.monotonic() < deadline:
        time.sleep(0.3)
    detector.terminate()
    assert detector.wait() == 0 and "drift evaluated" in detector.log(), detector.log()


def test_invalid_settings_are_reported(tmp_path: Path) -> None:
    env = dict(os.environ, VIGIL_STORAGE_DSN="mysql://nope", VIGIL_DATA_DIR=str(tmp_path))
    out = run_cli("serve", env=env, timeout=60)
    assert out.returncode == 2
    assert "storage_dsn must start with chdb:, http:// or https://" in out.stderr
