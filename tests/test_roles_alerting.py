"""The alerting API in a split deployment: the worker that holds the lease serves
vigil.alerting.v1.AlertingService, and a query process forwards every call of it (gRPC on its
query port, Connect on its web port) with the caller's credentials, which the worker checks.
Real role apps (collector, query, workers) on loopback over the session's chDB, auth on."""

from __future__ import annotations

import http.client
import json
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from alert_support import Gauges
from clickhouse_connect.driver.client import Client
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vigil import QueryClient
from vigil.query_client import QueryError
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_proto.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from vigil_server.worker_lease import WorkerLease
from vigil_storage import connect

import support
from support import RunningApp, credentials_changed, http_request, make_settings

SECRET = "split-alerting-test-secret-0123456789-abcdef"
SESSION_SECRET = "split-alerting-session-secret-0123456789-abcdef"
MAIN = "split_alerting"
SYS = f"vigil_system_{MAIN}"
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
POLICY = {
    "name": "split-cpu",
    "severity": "critical",
    "target": "web-*",
    "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80},
}
# Generous for a loaded CI machine: every wait below polls its condition until then.
DEADLINE_S = 120


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = DEADLINE_S) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.1)


def settings(chdb_dir: Path, role: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "database": MAIN,
        "auth": "on",
        "auth_secret": SECRET,
        "session_secret": SESSION_SECRET,
        "rules_interval_s": 1.0,
        # A takeover well within the test's deadline; a renewal far inside the TTL, so that a
        # loaded machine's late renewal does not hand the lease over.
        "worker_lease_ttl_s": 6.0,
        "worker_lease_renew_s": 0.3,
    }
    values.update(overrides)
    return make_settings(chdb_dir, role=role, **values)


@pytest.fixture(scope="module")
def keys(ch: Client) -> Iterator[dict[str, str]]:
    registry.ensure(ch, SYS)
    hasher = KeyHasher(SECRET.encode())
    registry.create_user(ch, SYS, "ana", hash_password("ana's password 123"), is_admin=True)
    made = {
        scopes: registry.create_key(ch, SYS, hasher, "default", scopes.split(","), name=scopes)[1]
        for scopes in ("read", "read,write", "ingest")
    }
    credentials_changed()
    yield made
    ch.command(f"DROP DATABASE IF EXISTS {MAIN}")
    ch.command(f"DROP DATABASE IF EXISTS {SYS}")


def answering(call: Callable[[], Any]) -> Callable[[], bool]:
    """A condition: ``call`` answers (UNAVAILABLE meanwhile: a worker not active yet)."""

    def answers() -> bool:
        try:
            call()
        except QueryError as exc:
            assert exc.code == UNAVAILABLE, exc
            return False
        return True

    return answers


def code_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(QueryError) as refused:
        call()
    return refused.value.code, refused.value.message


def connect_call(app: RunningApp, method: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    status, _, answer = http_request(
        f"{app.web_base}/vigil.alerting.v1.AlertingService/{method}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    return status, json.loads(answer or b"{}")


def connect_stream_first(app: RunningApp, method: str, key: str) -> dict[str, Any]:
    """The first message of a Connect server stream (enveloped JSON, as the UI reads it)."""
    body = b"{}"
    conn = http.client.HTTPConnection("127.0.0.1", app.ports.web, timeout=DEADLINE_S)
    try:
        conn.request(
            "POST",
            f"/vigil.alerting.v1.AlertingService/{method}",
            struct.pack(">BI", 0, len(body)) + body,
            {"Content-Type": "application/connect+json", "Authorization": f"Bearer {key}"},
        )
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
        flags, size = struct.unpack(">BI", answer.read(5))
        message = json.loads(answer.read(size))
        assert flags == 0, message  # 2: the end of the stream (an error) before any message
        return message  # type: ignore[no-any-return]
    finally:
        conn.close()


def alerting_health(app: RunningApp) -> str:
    """The worker's gRPC health of the AlertingService (SERVING only on the active worker)."""
    with grpc.insecure_channel(app.query_target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="vigil.alerting.v1.AlertingService"), timeout=30
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def stop_all(*apps: RunningApp | None) -> None:
    for app in apps:
        if app is not None and app._thread.is_alive():
            app.stop()


def test_the_query_process_forwards_the_alerting_api_to_the_worker(
    chdb_dir: Path, ch: Client, keys: dict[str, str]
) -> None:
    worker = collector = query = None
    gauges: Gauges | None = None
    try:
        worker = RunningApp(settings(chdb_dir, "worker"))
        query = RunningApp(settings(chdb_dir, "query"))
        collector = RunningApp(settings(chdb_dir, "collector"))
        assert worker.ports.query and not worker.ports.web  # the worker's alerting API, no UI
        wait_for(lambda: worker.app._worker.active, "the worker holding the lease")  # type: ignore[union-attr]
        writer = QueryClient(query.query_target, api_key=keys["read,write"])
        reader = QueryClient(query.query_target, api_key=keys["read"])
        stranger = QueryClient(query.query_target, api_key="vgl_" + "0" * 40)
        # The worker answers once its rules run (the lease is held a moment before).
        wait_for(answering(writer.rules), "the forwarded ListRules answering")

        # A rule made through the query process is evaluated by the worker; its alert is listed.
        assert writer.create_rule(POLICY).name == "split-cpu"
        gauges = Gauges(
            collector,
            "cpu_percent",
            {"web-1": 95.0},
            every_s=0.5,
            headers={"authorization": f"Bearer {keys['ingest']}"},
        )
        gauges.export()

        def firing() -> bool:
            return any(a.state == "firing" for a in reader.alerts(rule="split-cpu", state="").alerts)

        wait_for(firing, "the rule's alert firing, listed through the query process")
        assert [r.name for r in reader.rules() if r.name == "split-cpu"] == ["split-cpu"]

        # Silences: created and expired through the query process, over gRPC.
        silence = writer.create_silence(['service="web-1"'], comment="split test", duration_s=600)
        assert silence.id in [s.id for s in reader.silences()]
        writer.expire_silence(silence.id)
        assert silence.id not in [s.id for s in reader.silences()]
        assert silence.id in [s.id for s in reader.silences(include_expired=True)]
        # Incidents: the critical alert opens one; listed through the query process.
        wait_for(lambda: reader.incidents(), "the alert's incident listed")

        # The incident watch stream (server streaming) through the query process.
        incidents = worker.app.alerting.incidents
        assert incidents is not None
        listeners = len(incidents._listeners)
        with reader.watch_incidents() as watch:
            first = next(iter(watch))
            assert first.incident.id in [i.id for i in reader.incidents()]
            assert len(incidents._listeners) == listeners + 1
        # Cancelled by its caller, the watch ends on the worker too (it must not go on reading
        # the context of a call that is gone).
        wait_for(lambda: len(incidents._listeners) == listeners, "the worker's watch ending with its call")

        # The same over Connect on the query process's web port (what the UI calls).
        status, body = connect_call(query, "ListRules", {}, keys["read"])
        assert status == 200 and "split-cpu" in [r["name"] for r in body["rules"]]
        status, body = connect_call(query, "ListIncidents", {}, keys["read"])
        assert status == 200 and body["incidents"]
        first_change = connect_stream_first(query, "WatchIncidents", keys["read"])
        assert first_change["incident"]["id"] in [i["id"] for i in body["incidents"]]
        status, body = connect_call(
            query,
            "CreateSilence",
            {"matchers": ['service="x"'], "comment": "c", "durationSeconds": 60},
            keys["read"],
        )
        assert status == 403 and body["code"] == "permission_denied", body
        status, body = connect_call(query, "ListRules", {}, "vgl_" + "1" * 40)
        assert status == 401 and body["code"] == "unauthenticated", body

        # The worker decides: a read key may not change anything, an unknown key is nobody.
        code, message = code_of(lambda: reader.create_rule({**POLICY, "name": "refused"}))
        assert code == grpc.StatusCode.PERMISSION_DENIED, message
        assert code_of(lambda: reader.delete_rule("split-cpu"))[0] == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(stranger.rules)[0] == grpc.StatusCode.UNAUTHENTICATED
        assert "refused" not in [r.name for r in writer.rules()]
        # A user's session (logged in on the query process) is honoured by the worker too.
        with QueryClient(query.query_target) as ana:
            ana.login("ana", "ana's password 123")
            assert "split-cpu" in [r.name for r in ana.rules()]
            ana.create_rule({**POLICY, "name": "by-ana"})
        # An error of the worker's keeps its code and message end to end.
        code, message = code_of(lambda: writer.rule("no-such-rule"))
        assert code == grpc.StatusCode.NOT_FOUND and "no-such-rule" in message
        for client in (writer, reader, stranger):
            client.close()
    finally:
        if gauges is not None:
            gauges.close()
        stop_all(collector, query, worker)


def test_without_an_active_worker_the_query_process_answers_unavailable(
    chdb_dir: Path, ch: Client, keys: dict[str, str]
) -> None:
    query = standby = None
    holder: WorkerLease | None = None
    try:
        query = RunningApp(settings(chdb_dir, "query"))
        client = QueryClient(query.query_target, api_key=keys["read"])
        # No worker has ever held the lease (its table may not even exist yet).
        ch.command(f"DROP TABLE IF EXISTS {SYS}.vigil_worker_lease")
        code, message = code_of(client.rules)
        assert code == UNAVAILABLE and "no active worker" in message, message
        status, body = connect_call(query, "ListRules", {}, keys["read"])
        assert status == 503 and "no active worker" in body["message"], body

        # Someone else holds the lease (as a worker whose rules do not run yet would), then a
        # worker starts: a standby; the lease names it (the test's doing), so the query process
        # forwards to the standby, which says so, and the query process passes that on.
        holder = WorkerLease(
            lambda: connect(query.settings.dsn),  # type: ignore[union-attr]
            SYS,
            "other-worker/1",
            ttl_s=600.0,
            renew_s=0.3,
        )
        holder.ensure_table()
        wait_for(holder.tick, "the test holding the lease")
        standby = RunningApp(settings(chdb_dir, "worker"))
        holder.address = f"127.0.0.1:{standby.ports.query}"
        assert holder.tick()  # a renewal: the row names the standby's address now
        wait_for(
            lambda: getattr(standby.app._worker.lease.seen, "holder", "") == "other-worker/1",  # type: ignore[union-attr]
            "the standby seeing the other holder",
        )
        assert not standby.app._worker.active  # type: ignore[union-attr]

        def standby_answer() -> str | None:
            code, message = code_of(client.rules)
            assert code == UNAVAILABLE, message
            return message if "standby" in message else None

        message = wait_for(standby_answer, "the standby's answer through the query process")
        assert "this worker is a standby; the active worker is other-worker/1" in message
        # Straight to the standby: the same answer.
        with QueryClient(standby.query_target, api_key=keys["read"]) as direct:
            code, message = code_of(direct.rules)
            assert code == UNAVAILABLE and "the active worker is other-worker/1" in message
        # The query process stays up: its own API answers.
        assert client.services() is not None
        assert support.http_request(f"{query.http_base}/ready")[0] == 200
        client.close()
    finally:
        if holder is not None:
            holder.release()
            holder.close()
        stop_all(standby, query)


def test_after_the_active_worker_stops_the_query_process_reaches_the_new_one(
    chdb_dir: Path, ch: Client, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    first = second = query = collector = None
    gauges: Gauges | None = None
    caplog.set_level(logging.INFO, logger="vigil_server.alerting_split")
    try:
        first = RunningApp(settings(chdb_dir, "worker"))
        second = RunningApp(settings(chdb_dir, "worker"))
        # The query process's lease lookups are cached for its renewal interval: an hour here, so
        # that only a worker's UNAVAILABLE makes it look again (the path under test).
        query = RunningApp(
            settings(chdb_dir, "query", worker_lease_ttl_s=7200.0, worker_lease_renew_s=3600.0)
        )
        collector = RunningApp(settings(chdb_dir, "collector"))
        workers = (first, second)
        wait_for(lambda: any(w.app._worker.active for w in workers), "an active worker")  # type: ignore[union-attr]
        one, other = (first, second) if first.app._worker.active else (second, first)  # type: ignore[union-attr]
        wait_for(lambda: alerting_health(one) == "SERVING", "the active worker's alerting API healthy")
        assert alerting_health(other) == "NOT_SERVING"  # a standby's calls answer UNAVAILABLE
        client = QueryClient(query.query_target, api_key=keys["read,write"])
        wait_for(answering(client.runner_status), "the forwarded API answering")
        client.create_rule({**POLICY, "name": "survives-takeover", "target": "api-*"})
        gauges = Gauges(
            collector,
            "cpu_percent",
            {"api-1": 99.0},
            every_s=0.5,
            headers={"authorization": f"Bearer {keys['ingest']}"},
        )
        gauges.export()

        def incident() -> str | None:
            found = [i.id for i in client.incidents() if "survives-takeover" in {a.rule for a in i.alerts}]
            return found[0] if found else None

        incident_id = wait_for(incident, "the new rule's incident")
        # A watch stream through the query process, open on the active worker.
        watch = client.watch_incidents()
        messages = iter(watch)
        assert next(messages).incident.id
        ended: list[BaseException | None] = []

        def drain() -> None:
            try:
                for _ in messages:
                    pass
                ended.append(None)
            except QueryError as exc:
                ended.append(exc)

        draining = threading.Thread(target=drain, daemon=True)
        draining.start()

        one.stop()
        wait_for(lambda: other.app._worker.active, "the standby taking over")  # type: ignore[union-attr]
        wait_for(lambda: alerting_health(other) == "SERVING", "the new active worker's alerting API healthy")
        # The stream on the deposed worker ends with UNAVAILABLE (the caller reconnects) ...
        wait_for(lambda: ended, "the watch stream on the deposed worker ending")
        assert isinstance(ended[0], QueryError) and ended[0].code == UNAVAILABLE, ended
        watch.cancel()

        def through_the_new_one() -> bool:
            try:
                return "survives-takeover" in [r.name for r in client.rules()]
            except QueryError as exc:
                assert exc.code == UNAVAILABLE, exc  # only while the lease changes hands
                return False

        # ... and the query process reaches the new active worker: calls and a new stream.
        wait_for(through_the_new_one, "the query process reaching the new active worker")
        assert "alerting API: the active worker changed" in caplog.text
        with client.watch_incidents() as again:
            seen = set()
            for change in again:
                seen.add(change.incident.id)
                if incident_id in seen:
                    break
        with grpc.insecure_channel(other.query_target) as channel:  # the new one's own port agrees
            stub = alerting_pb2_grpc.AlertingServiceStub(channel)
            answer = stub.ListRules(
                alerting_pb2.ListRulesRequest(),
                metadata=[("authorization", f"Bearer {keys['read']}")],
                timeout=30,
            )
            assert "survives-takeover" in [r.name for r in answer.rules]
        client.close()
    finally:
        if gauges is not None:
            gauges.close()
        stop_all(query, collector, first, second)
