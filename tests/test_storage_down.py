"""When ClickHouse is unreachable or failing, ingest answers 'retry' (never OK), /ready says
not ready, and once storage is back, ingest recovers without a restart."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import grpc
import pytest
from clickhouse_connect.driver.client import Client

from vigil import QueryClient, QueryError

from support import RunningApp, export_otlp, free_port, http_request, make_request, make_settings


@pytest.fixture
def app_without_clickhouse(tmp_path: Path):
    closed_port = free_port()  # nothing listens there: connections are refused
    running = RunningApp(
        make_settings(
            tmp_path,
            storage_dsn=f"http://default:@127.0.0.1:{closed_port}",
            storage_connect_timeout_s=1,
        )
    )
    yield running
    running.stop()


def test_unreachable_clickhouse_gives_retryable_errors(app_without_clickhouse: RunningApp) -> None:
    app = app_without_clickhouse
    body = make_request(4, "no-storage").SerializeToString()

    with pytest.raises(grpc.RpcError) as err:
        export_otlp(app.grpc_target, body)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "ClickHouse unavailable" in err.value.details()

    status, headers, answer = http_request(
        f"{app.http_base}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
    )
    assert status == 503
    assert headers["Retry-After"] == "1"

    status, _, answer = http_request(f"{app.http_base}/ready")
    assert status == 503
    assert "ClickHouse unavailable" in json.loads(answer)["reason"]
    status, _, _ = http_request(f"{app.http_base}/health")
    assert status == 200

    # Every query RPC, drift and replay included, answers UNAVAILABLE with the reason.
    calls = {
        "GetServices": lambda c: c.services(),
        "GetDrift": lambda c: c.drift(),
        "ListDriftAlerts": lambda c: c.drift_alerts(),
        "Replay": lambda c: c.replay(
            "ab" * 16, [{"span_name": "x", "patch": [{"op": "add", "path": "/a", "value": 1}]}]
        ),
        "ListReplays": lambda c: c.replays(),
    }
    with QueryClient(app.query_target) as client:
        for name, call in calls.items():
            with pytest.raises(QueryError) as query_err:
                call(client)
            assert query_err.value.code == grpc.StatusCode.UNAVAILABLE, name
            assert "ClickHouse unavailable" in query_err.value.message, name


def test_ingest_recovers_when_the_table_comes_back(chdb_dir: Path, app: RunningApp, ch: Client) -> None:
    """Embedded ClickHouse failing every insert (table detached) and then healing, while the
    collector keeps running: errors are retryable, and the next export after repair succeeds."""
    db = "recovery"
    other = RunningApp(make_settings(chdb_dir, database=db))
    try:
        request = make_request(5, "recovery", random.Random(9))
        body = request.SerializeToString()
        export_otlp(other.grpc_target, body)

        ch.command(f"DETACH TABLE {db}.otel_traces")
        try:
            with pytest.raises(grpc.RpcError) as err:
                export_otlp(other.grpc_target, body)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "spans not stored, retry" in err.value.details()
        finally:
            ch.command(f"ATTACH TABLE {db}.otel_traces")

        export_otlp(other.grpc_target, body)  # the client's retry
        count = ch.command(f"SELECT count() FROM {db}.otel_traces WHERE ServiceName = 'recovery'")
        assert int(count) == 10  # the first export and the retry; the failed one stored nothing
    finally:
        other.stop()


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.mark.docker
@pytest.mark.skipif(not _docker_available(), reason="no Docker engine: ClickHouse server test skipped")
def test_clickhouse_server_outage_and_recovery(tmp_path: Path) -> None:
    """A real ClickHouse server (container) paused and resumed under a running collector."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer("clickhouse/clickhouse-server:latest").with_exposed_ports(8123)
    container.with_env("CLICKHOUSE_SKIP_USER_SETUP", "1")
    with container:
        wait_for_logs(container, "Ready for connections", timeout=120)
        dsn = f"http://default:@{container.get_container_host_ip()}:{container.get_exposed_port(8123)}"
        running = RunningApp(
            make_settings(tmp_path, storage_dsn=dsn, storage_connect_timeout_s=2, insert_timeout_s=3)
        )
        try:
            body = make_request(3, "server").SerializeToString()
            export_otlp(running.grpc_target, body)
            container.get_wrapped_container().pause()
            with pytest.raises(grpc.RpcError) as err:
                export_otlp(running.grpc_target, body)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            container.get_wrapped_container().unpause()
            deadline = time.monotonic() + 30
            while True:
                try:
                    export_otlp(running.grpc_target, body)
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            running.stop()
