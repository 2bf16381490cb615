"""When ClickHouse is unreachable or failing, ingest keeps acknowledging into the write-ahead
log (until it is full: then 'retry'), /ready says storage is behind and how much waits, and
once storage is back every acknowledged span arrives without a restart, exactly once."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import grpc
import pytest
from clickhouse_connect.driver.client import Client

from vigil import QueryClient, QueryError
from vigil_collector.wal.records import RecordKind

from support import RunningApp, export_otlp, free_port, http_request, make_request, make_settings, wait_for


@pytest.fixture
def app_without_clickhouse(tmp_path: Path):
    closed_port = free_port()  # nothing listens there: connections are refused
    running = RunningApp(
        make_settings(
            tmp_path,
            storage_dsn=f"http://default:@127.0.0.1:{closed_port}",
            storage_connect_timeout_s=1,
            shutdown_timeout_s=2,
        )
    )
    yield running
    running.stop()


def test_unreachable_clickhouse_still_acknowledges_into_the_log(app_without_clickhouse: RunningApp) -> None:
    app = app_without_clickhouse
    body = make_request(4, "no-storage").SerializeToString()

    response = export_otlp(app.grpc_target, body)
    assert not response.HasField("partial_success")
    # Another request (the same one again would be a retry, acknowledged once: ingest.md).
    other = make_request(4, "no-storage").SerializeToString()
    status, _, _ = http_request(
        f"{app.http_base}/v1/traces", other, {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200

    status, _, answer = http_request(f"{app.http_base}/ready")
    ready = json.loads(answer)
    assert status == 200, ready
    assert "storage behind" in ready["reason"] and "ClickHouse unavailable" in ready["reason"]
    assert ready["ingest"]["backlog_records"] == 2
    assert ready["ingest"]["oldest_unwritten_age_s"] > 0
    status, _, _ = http_request(f"{app.http_base}/health")
    assert status == 200
    _, _, metrics = http_request(f"{app.http_base}/metrics")
    assert b"vigil_wal_backlog_records 2.0" in metrics

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
            # A short reason and a request id; the driver's text stays in the server log.
            assert query_err.value.message.startswith("storage is unavailable; retry later (request id "), (
                name
            )


def count(ch: Client, db: str, service: str) -> tuple[int, int]:
    rows, distinct = ch.query(
        f"SELECT count(), uniqExact(SpanId) FROM {db}.otel_traces WHERE ServiceName = {{s:String}}",
        parameters={"s": service},
    ).result_rows[0]
    return int(rows), int(distinct)


def test_an_outage_is_absorbed_and_drains_by_itself(chdb_dir: Path, ch: Client) -> None:
    """Embedded ClickHouse failing every insert (table detached) and then healing, while the
    collector keeps running and acknowledging."""
    db = "recovery"
    other = RunningApp(make_settings(chdb_dir, database=db))
    try:
        rng = random.Random(9)
        export_otlp(other.grpc_target, make_request(5, "recovery", rng).SerializeToString())
        other.flush()
        ch.command(f"DETACH TABLE {db}.otel_traces")
        try:
            for _ in range(10):  # all acknowledged during the outage
                export_otlp(other.grpc_target, make_request(5, "recovery", rng).SerializeToString())

            # Until an INSERT has failed and /ready says so; it stays ready (200) all along.
            def behind() -> bool:
                status, _, answer = http_request(f"{other.http_base}/ready")
                assert status == 200, answer
                failed = other.app.metrics.insert_failures._value.get() >= 1
                return failed and "storage behind" in json.loads(answer)["reason"]

            wait_for(behind, 90, "an insert failure reported by /ready")
        finally:
            ch.command(f"ATTACH TABLE {db}.otel_traces")
        other.flush()  # no restart: the writers retry until the table is back
        assert count(ch, db, "recovery") == (55, 55)
    finally:
        other.stop()


def test_a_full_log_refuses_with_retry_and_recovers_when_it_drains(chdb_dir: Path, ch: Client) -> None:
    db = "fulllog"
    other = RunningApp(make_settings(chdb_dir, database=db, wal_max_bytes=2 * 1024 * 1024))
    try:
        rng = random.Random(4)
        export_otlp(other.grpc_target, make_request(5, "full", rng).SerializeToString())
        other.flush()
        ch.command(f"DETACH TABLE {db}.otel_traces")
        acked = 5
        try:
            with pytest.raises(grpc.RpcError) as err:
                for _ in range(1000):
                    export_otlp(other.grpc_target, make_request(200, "full", rng).SerializeToString())
                    acked += 200
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "write-ahead log is full" in err.value.details()
            body = make_request(200, "full", rng).SerializeToString()
            status, headers, _ = http_request(
                f"{other.http_base}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
            )
            assert status == 503 and headers["Retry-After"] == "1"
            status, _, answer = http_request(f"{other.http_base}/ready")
            assert status == 503 and "write-ahead log full" in json.loads(answer)["reason"]
        finally:
            ch.command(f"ATTACH TABLE {db}.otel_traces")
        other.flush()
        export_otlp(other.grpc_target, make_request(5, "full", rng).SerializeToString())  # room again
        acked += 5
        other.flush()
        assert count(ch, db, "full") == (acked, acked)
        assert acked > 1000
    finally:
        other.stop()


def test_a_batch_clickhouse_refuses_goes_to_dead_letters(app: RunningApp, ch: Client) -> None:
    """A record ClickHouse cannot read (bytes that passed no check of ours: appended to the log
    directly) is set aside with the reason; the spans around it are stored."""
    before = app.app.metrics.dead_letter_records._value.get()
    wal = app.app.wal

    async def append_garbage_between_spans() -> None:
        good = make_request(3, "dead-letter-neighbours").SerializeToString()
        await asyncio.gather(
            wal.append(RecordKind.TRACES_OTLP, 3, good),
            wal.append(RecordKind.TRACES_OTLP, 1, b"\x0a\x05\x01\xff\xff"),
            wal.append(
                RecordKind.TRACES_OTLP, 3, make_request(3, "dead-letter-neighbours").SerializeToString()
            ),
        )

    app.run(append_garbage_between_spans())
    app.flush()
    assert count(ch, "otel", "dead-letter-neighbours") == (6, 6)
    assert app.app.metrics.dead_letter_records._value.get() == before + 1
    entry = wal.dead_letters.entries()[-1]
    assert "ATTEMPT_TO_READ_AFTER_EOF" in str(entry["reason"])
    assert (wal.dead_letters.directory / str(entry["file"])).read_bytes() == b"\x0a\x05\x01\xff\xff"
    export_otlp(app.grpc_target, make_request(2, "dead-letter-after").SerializeToString())
    app.flush()
    assert count(ch, "otel", "dead-letter-after") == (2, 2)


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
    import clickhouse_connect
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
            export_otlp(running.grpc_target, make_request(3, "server").SerializeToString())
            container.get_wrapped_container().pause()
            export_otlp(running.grpc_target, make_request(3, "server").SerializeToString())  # into the log
            container.get_wrapped_container().unpause()
            running.flush()
            client = clickhouse_connect.get_client(dsn=dsn)
            assert client.command("SELECT count() FROM otel.otel_traces WHERE ServiceName = 'server'") == 6
        finally:
            running.stop()
