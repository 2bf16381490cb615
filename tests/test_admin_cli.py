"""The admin commands (``vigil projects|keys|users|prices``) work while ``vigil serve`` holds
the data directory (through the endpoint it publishes there), and on a stopped one; a command
that can reach neither says so in one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from vigil import QueryClient
from vigil_server import local_admin

from support import REPO, ServerProcess, run_cli
from test_otlp_roundtrip import record_spans


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil_server.cli", *args],
        input=stdin,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_admin_commands_work_while_the_server_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, VIGIL_AUTH="on", VIGIL_AUTH_SECRET="s" * 40, VIGIL_DRIFT_INTERVAL_S="0")
    try:
        server.wait_ready()
        published = data / local_admin.FILE_NAME
        assert stat.S_IMODE(os.stat(published).st_mode) == 0o600
        env = {**server.env}

        created = cli("projects", "create", "checkout", env=env)
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["project"] == "checkout"

        key = cli("keys", "create", "--project", "checkout", "--scopes", "ingest,read", env=env)
        assert key.returncode == 0, key.stderr
        made = json.loads(key.stdout)
        assert made["project"] == "checkout" and made["scopes"] == ["ingest", "read"]

        root = cli("users", "create", "root", "--admin", env=env, stdin="a long enough password\n")
        assert root.returncode == 0, root.stderr
        assert json.loads(root.stdout)["admin"] is True

        # The running server took all three at once: the key sends and reads in its project,
        # the first admin logs in.
        exporter = OTLPSpanExporter(
            endpoint=server.grpc_target, insecure=True, headers={"authorization": f"Bearer {made['key']}"}
        )
        assert exporter.export(record_spans("checkout-svc")) == SpanExportResult.SUCCESS
        target = f"127.0.0.1:{server.query_port}"
        with QueryClient(target, api_key=made["key"]) as client:
            assert client.whoami().project == "checkout"
        with QueryClient(target) as client:
            assert client.login("root", "a long enough password").access_token

        listed = cli("keys", "list", env=env)
        assert [k["key_id"] for k in json.loads(listed.stdout)] == [made["key_id"]]
        revoked = cli("keys", "revoke", made["key_id"], env=env)
        assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked"], revoked.stderr
        prices = cli("prices", "list", env=env)
        assert prices.returncode == 0 and json.loads(prices.stdout), prices.stderr
    finally:
        server.terminate()
        assert server.wait() == 0
    assert not (data / local_admin.FILE_NAME).exists()  # withdrawn at a clean stop

    # Stopped: the same commands open the data directory themselves.
    env = {"VIGIL_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    users = run_cli("users", "list", env=env, timeout=120)
    assert users.returncode == 0, users.stderr
    assert [u["username"] for u in json.loads(users.stdout)] == ["root"]


def test_a_held_data_directory_without_an_endpoint_is_named_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, VIGIL_DRIFT_INTERVAL_S="0")
    try:
        server.wait_ready()
        (data / local_admin.FILE_NAME).unlink()  # as if a server of an older version held it
        out = cli("projects", "list", env={**server.env})
    finally:
        server.terminate()
        server.wait()
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(data) in lines[0] and "wait until it has started, or stop it" in lines[0]
