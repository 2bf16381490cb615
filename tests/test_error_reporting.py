"""What clients and logs are told when something fails: a short reason and a request id for
the client, the detail in the log under that id, and never a password or API key anywhere
(the storage DSN's password, the replay providers' keys)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import grpc
import pytest

from vigil import QueryClient, QueryError

from support import (
    RunningApp,
    ServerProcess,
    export_otlp,
    free_port,
    http_request,
    make_request,
    make_settings,
    run_cli,
)

PASSWORD = "s3cret-pw-4317"
API_KEY = "sk-test-never-logged-0001"


def test_no_secret_in_ready_logs_or_errors_and_errors_carry_a_request_id(tmp_path: Path) -> None:
    dsn = f"http://vigil:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    server = ServerProcess(
        tmp_path / "data",
        VIGIL_STORAGE_DSN=dsn,
        VIGIL_REPLAY_OPENAI_API_KEY=API_KEY,
        VIGIL_DRIFT_INTERVAL_S="0",
        VIGIL_LOG_LEVEL="DEBUG",
    )
    try:
        server.wait_ready()  # ready: the write-ahead log has room while storage is down
        _, _, body = http_request(f"{server.http_base}/ready")
        with QueryClient(f"127.0.0.1:{server.query_port}") as client, pytest.raises(QueryError) as failed:
            client.services()
    finally:
        server.terminate()
        server.wait()
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    match = re.fullmatch(
        r"storage is unavailable; retry later \(request id ([0-9a-f]{16})\)", failed.value.message
    )
    assert match, failed.value.message
    log = server.log()
    (line,) = [json.loads(x) for x in log.splitlines() if match.group(1) in x]
    assert "ClickHouse unavailable" in line["msg"] and "GetServices" in line["msg"]
    for text in (body.decode(), log, failed.value.message):
        assert PASSWORD not in text and API_KEY not in text
    assert "vigil:***@" in body.decode()


def test_invalid_settings_are_named_without_their_values(tmp_path: Path) -> None:
    out = run_cli(
        "migrate",
        env={"VIGIL_STORAGE_DSN": f"clickhouse://vigil:{PASSWORD}@db:9000", "VIGIL_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert out.returncode == 2
    assert "VIGIL_STORAGE_DSN" in out.stderr and "'clickhouse'" in out.stderr
    assert PASSWORD not in out.stderr + out.stdout


def test_a_query_over_its_memory_limit_is_refused_with_the_reason(chdb_dir: Path) -> None:
    limited = RunningApp(
        make_settings(chdb_dir, database="memlimit", query_max_memory_bytes=1_000_000, drift_interval_s=0)
    )
    try:
        for i in range(10):  # 50,000 traces: grouping them takes a few MB
            export_otlp(limited.grpc_target, make_request(5_000, f"mem-{i}").SerializeToString())
        limited.flush()
        with QueryClient(limited.query_target) as client:
            with pytest.raises(QueryError) as refused:
                client.search_traces(page_size=10)
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "VIGIL_QUERY_MAX_MEMORY_BYTES" in refused.value.message
            assert client.services()  # small queries still answer
    finally:
        limited.stop()
