"""``vigil serve --role``: collector, query and worker processes over one storage (real
VigilApps on loopback over the session's chDB), and the collector's INSERT settings on a
cluster."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from vigil_server.app import VigilApp
from vigil_server.cli import main
from vigil_storage.client import CLUSTER_INSERT_SETTINGS

from support import RunningApp, http_request, make_settings, wait_for


def refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_collector_and_query_roles_split_one_deployment(app: RunningApp, ch: Client, chdb_dir: Path) -> None:
    collector = RunningApp(make_settings(chdb_dir, role="collector", database="roles_db"))
    query = RunningApp(make_settings(chdb_dir, role="query", database="roles_db"))
    try:
        # The collector ingests and has no query ports; the query role the reverse.
        assert collector.ports.otlp_grpc and not collector.ports.query and not collector.ports.web
        assert query.ports.query and query.ports.web and not query.ports.otlp_grpc
        for role in (collector, query):
            assert http_request(f"{role.http_base}/health")[0] == 200
        provider = TracerProvider(resource=Resource.create({"service.name": "roles-svc"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True))
        )
        with provider.get_tracer("roles").start_as_current_span("through-the-collector"):
            pass
        provider.shutdown()
        collector.flush()
        assert ch.command("SELECT count() FROM roles_db.otel_traces WHERE ServiceName = 'roles-svc'") == 1
        # The query process reads what the collector wrote.
        status, _, body = http_request(
            f"{query.web_base}/vigil.query.v1.QueryService/SearchSpans",
            json.dumps({"filter": {"serviceName": "roles-svc"}, "pageSize": 10}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200 and b"through-the-collector" in body
    finally:
        collector.stop()
        query.stop()
        ch.command("DROP DATABASE IF EXISTS roles_db")
        ch.command("DROP DATABASE IF EXISTS vigil_system_roles_db")


def test_two_worker_processes_one_active_the_other_takes_over(
    app: RunningApp, ch: Client, chdb_dir: Path
) -> None:
    def worker() -> RunningApp:
        return RunningApp(
            make_settings(
                chdb_dir,
                role="worker",
                database="roles_w",
                drift_interval_s=60,
                # Far beyond a renewal: a loaded machine's late renewal must not hand the lease
                # over (the standby takes over at once on a release, not at the expiry).
                worker_lease_ttl_s=6.0,
                worker_lease_renew_s=0.2,
            )
        )

    first, second = worker(), worker()
    try:
        for w in (first, second):
            assert not w.ports.otlp_grpc and w.ports.query and not w.ports.web  # the alerting API only
            assert http_request(f"{w.http_base}/ready")[0] == 200
            assert [job.name for job in w.app._worker.jobs] == ["rules", "drift"]  # type: ignore[union-attr]
        wait_for(lambda: first.app._worker.active or second.app._worker.active, 60, "an active worker")  # type: ignore[union-attr]
        one, other = (first, second) if first.app._worker.active else (second, first)  # type: ignore[union-attr]
        # Three renewals of the active one's lease, however slow the machine (both renew at
        # the same pace): the other stays a standby all along.
        lease = one.app._worker.lease  # type: ignore[union-attr]
        seen = [lease._valid_until_ns]

        def renewed_thrice() -> bool:
            assert not other.app._worker.active  # type: ignore[union-attr]
            if lease._valid_until_ns != seen[-1]:
                seen.append(lease._valid_until_ns)
            return len(seen) > 3

        wait_for(renewed_thrice, 60, "three renewals")
        assert not other.app._worker.active  # type: ignore[union-attr]
        one.stop()
        wait_for(lambda: other.app._worker.active, 60, "the standby taking over")  # type: ignore[union-attr]
    finally:
        for w in (first, second):
            if w._thread.is_alive():
                w.stop()
        ch.command("DROP DATABASE IF EXISTS roles_w")
        ch.command("DROP DATABASE IF EXISTS vigil_system_roles_w")


def test_on_a_cluster_the_writers_insert_in_the_foreground_with_deduplicated_views(
    app: RunningApp, tmp_path: Path
) -> None:
    clustered = VigilApp(make_settings(tmp_path, clickhouse_cluster="prod"))
    single = VigilApp(make_settings(tmp_path))
    for writer in (*clustered.traces_writers, *clustered.logs_writers, *clustered.metrics_writers):
        assert writer.connection.session_settings == CLUSTER_INSERT_SETTINGS
    for writer in (*single.traces_writers, *single.logs_writers, *single.metrics_writers):
        assert writer.connection.session_settings == {}
    assert CLUSTER_INSERT_SETTINGS == {
        "distributed_foreground_insert": 1,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
    }
    # The connection a writer opens carries them (on chDB, which knows both settings).
    writer = clustered.traces_writers[0]
    writer.connection.dsn = app.settings.dsn
    client = writer.connection.client()
    try:
        assert client.get_client_setting("distributed_foreground_insert") == "1"
        assert client.get_client_setting("deduplicate_blocks_in_dependent_materialized_views") == "1"
    finally:
        writer.close()


def test_an_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--role", "everything"])
    assert exit_.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err
