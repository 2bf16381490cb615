"""Actions (issue 35): the durable queue and worker against a fake remediator (a real HTTP
server on loopback) — retries on 5xx, a 4xx failing at once, pending actions resumed after a
restart — and auto-remediation from a rule firing on data from the stock metrics SDK."""

from __future__ import annotations

import collections
import hashlib
import hmac
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from alert_support import Gauges
from pydantic import SecretStr, ValidationError

from vigil import QueryClient
from vigil.alerting.v1 import alerting_pb2 as pb
from vigil.alerting.v1 import alerting_pb2_grpc
from vigil.query_client import QueryError
from vigil_alerting.actions.queue import ActionError, ActionQueue
from vigil_alerting.actions.remediator import Remediator
from vigil_alerting.actions.store import ActionRecord, ActionStore
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.rules.load import parse_rule
from vigil_alerting.state.machine import Transition
from vigil_simulator.sink import make_server
from vigil_storage import connect

import support
from support import RunningApp, make_settings


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.05)


@dataclass(frozen=True)
class Task:
    path: str
    key: str
    body: dict[str, Any]
    raw: bytes = b""
    signature: str = ""


class FakeRemediator:
    """Records every task; answers from ``script`` (status, body) in order, then 200."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.script: list[tuple[int, str]] = []
        # Answers for one target only, before ``script``: immune to other tasks (a rule of the
        # same app firing on another test's data) taking the scripted answers.
        self.script_for: dict[str, list[tuple[int, str]]] = {}
        self.delay_s = 0.0  # a slow remediator: each answer this late
        self.in_flight = 0
        self.most_in_flight = 0  # the most tasks it was handling at once
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key, signature = (
                    self.headers.get("Idempotency-Key", ""),
                    self.headers.get("X-Vigil-Signature", ""),
                )
                with fake._lock:
                    fake.tasks.append(Task(self.path, key, json.loads(raw), raw, signature))
                    delay = fake.delay_s
                    own = fake.script_for.get(json.loads(raw).get("target", ""))
                    status, text = own.pop(0) if own else fake.script.pop(0) if fake.script else (200, "done")
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    if delay:
                        time.sleep(delay)  # the fake's own slowness, not a test's wait
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text.encode())
                except (BrokenPipeError, ConnectionResetError):  # the sender was killed meanwhile
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> list[Task]:
        with self._lock:
            return list(self.tasks)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def remediator() -> Iterator[FakeRemediator]:
    fake = FakeRemediator()
    yield fake
    fake.close()


def make_queue(chdb_dir: Path, system_database: str, url: str, **overrides: Any) -> ActionQueue:
    dsn = make_settings(chdb_dir).dsn
    values: dict[str, Any] = {"timeout_s": 5.0, "max_attempts": 5, "retry_base_s": 0.05, "poll_s": 0.1}
    values.update(overrides)
    return ActionQueue(lambda: connect(dsn), system_database=system_database, remediator_url=url, **values)


def finished(queue: ActionQueue, action: ActionRecord) -> Callable[[], ActionRecord | None]:
    def check() -> ActionRecord | None:
        found = queue.get(action.project, action.id)
        return found if found.status in ("completed", "failed", "cancelled") else None

    return check


def test_503_twice_then_200_completes_after_three_attempts(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    remediator.script = [(503, "busy"), (503, "busy")]
    queue = make_queue(chdb_dir, f"vigil_actions_{uuid.uuid4().hex[:8]}", remediator.url)
    queue.open()
    queue.start()
    try:
        action = queue.enqueue("p", "restart", "checkout", severity="critical", params={"grace_s": 5})
        done = wait_for(finished(queue, action), 30, "the action to finish")
        assert (done.status, done.attempts) == ("completed", 3)
        assert done.answer == "HTTP 200: done"
        tasks = remediator.received()
        assert len(tasks) == 3 and {t.key for t in tasks} == {action.id}
        assert tasks[0].body["action"] == "restart" and tasks[0].body["target"] == "checkout"
        assert tasks[0].body["params"] == {"grace_s": 5} and tasks[0].body["action_id"] == action.id
        assert set(tasks[0].body) == {
            "task_id", "action_id", "action", "target", "severity", "params", "incident", "enqueued_at"
        }  # fmt: skip
        history = [(a.status, a.attempts) for a in queue.history("p", action.id)]
        assert history == [
            ("pending", 0), ("running", 1), ("pending", 1), ("running", 2), ("pending", 2), ("running", 3),
            ("completed", 3),
        ]  # fmt: skip
        assert queue.total.labels("restart", "completed")._value.get() == 1
        assert queue.queue_length() == 0
        assert queue.latency.labels("restart")._sum.get() > 0  # vigil_action_execution_seconds
    finally:
        queue.stop()


def test_400_fails_at_once_with_the_body(chdb_dir: Path, remediator: FakeRemediator) -> None:
    remediator.script = [(400, "unknown target checkout")]
    queue = make_queue(chdb_dir, f"vigil_actions_{uuid.uuid4().hex[:8]}", remediator.url)
    queue.open()
    queue.start()
    try:
        action = queue.enqueue("p", "restart", "checkout")
        done = wait_for(finished(queue, action), 30, "the action to finish")
        assert (done.status, done.attempts) == ("failed", 1)
        assert "HTTP 400" in done.answer and "unknown target checkout" in done.answer
        assert len(remediator.received()) == 1
    finally:
        queue.stop()


def test_retries_stop_at_the_limit_and_a_pending_action_can_be_cancelled(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    remediator.script = [(502, "down")] * 3
    queue = make_queue(chdb_dir, f"vigil_actions_{uuid.uuid4().hex[:8]}", remediator.url, max_attempts=2)
    queue.open()
    try:
        waiting = queue.enqueue("p", "drain-pod", "pod-1")
        assert queue.cancel("p", waiting.id, "ann").status == "cancelled"
        with pytest.raises(ActionError, match="only a pending one"):
            queue.cancel("p", waiting.id, "ann")
        with pytest.raises(ActionError, match="non-empty"):
            queue.enqueue("p", "", "pod-1")
        queue.start()
        action = queue.enqueue("p", "restart", "checkout")
        done = wait_for(finished(queue, action), 30, "the action to finish")
        assert (done.status, done.attempts) == ("failed", 2)
        assert "HTTP 502" in done.answer and "gave up after 2 attempts" in done.answer
        assert all(t.key == action.id for t in remediator.received())
    finally:
        queue.stop()


def test_pending_and_running_actions_complete_after_a_restart(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    database = f"vigil_actions_{uuid.uuid4().hex[:8]}"
    before = make_queue(chdb_dir, database, remediator.url)
    before.open()  # never started: the process "dies" with its queue full
    queued = [before.enqueue("p", "restart", f"svc-{n}") for n in range(5)]
    # One was being sent when the process died: stored as running.
    cut = queued[0].next(time.time_ns(), status="running", attempts=1)
    with before._db:
        ActionStore(before._need_client(), database).save(cut)
    before.stop()
    assert remediator.received() == []

    after = make_queue(chdb_dir, database, remediator.url)
    after.open()
    assert after.queue_length() == 5
    after.start()
    try:
        done = [wait_for(finished(after, a), 30, "a resumed action") for a in queued]
        assert all(d.status == "completed" for d in done)
        assert done[0].attempts == 2  # the cut-short try counts
        keys = [t.key for t in remediator.received()]
        assert sorted(keys) == sorted(a.id for a in queued)
    finally:
        after.stop()


def test_each_remediator_gets_at_most_its_concurrency_limit_of_tasks_at_once(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    other = FakeRemediator()
    remediator.delay_s = other.delay_s = 0.2
    endpoints: dict[str, Any] = {
        "scale-up": Remediator(url=other.url, concurrency=1),
        "drain-pod": remediator.url,
    }
    queue = make_queue(
        chdb_dir, f"vigil_actions_{uuid.uuid4().hex[:8]}", remediator.url, endpoints=endpoints, concurrency=3
    )
    assert queue.limits == {remediator.url: 3, other.url: 1}
    queue.open()
    try:
        made = [queue.enqueue("p", ("restart", "drain-pod")[n % 2], f"svc-{n}") for n in range(12)]
        made += [queue.enqueue("p", "scale-up", f"svc-{n}") for n in range(4)]
        queue.start()
        done = [wait_for(finished(queue, a), 60, "every action") for a in made]
        assert {d.status for d in done} == {"completed"}
        # restart and drain-pod share one remediator (one URL), so one limit of 3 between them.
        assert remediator.most_in_flight == 3, remediator.most_in_flight
        assert other.most_in_flight == 1
        assert len(remediator.received()) == 12 and len(other.received()) == 4
    finally:
        queue.stop()
        other.close()


def test_tasks_are_signed_with_hmac_sha256_of_the_exact_body(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    other = FakeRemediator()
    endpoints: dict[str, Any] = {
        "scale-up": Remediator(url=other.url, secret=SecretStr("other-key")),
        "drain-pod": other.url,  # a plain URL of another service: never the default's secret
        "restart": remediator.url,  # the default's URL: its secret
    }
    queue = make_queue(
        chdb_dir,
        f"vigil_actions_{uuid.uuid4().hex[:8]}",
        remediator.url,
        endpoints=endpoints,
        secret="s3cret",
    )
    queue.open()
    queue.start()
    try:
        made = [queue.enqueue("p", a, "checkout", params={"é": "ü"}) for a in ("restart", "cache-flush")]
        made += [queue.enqueue("p", a, "checkout") for a in ("scale-up", "drain-pod")]
        for a in made:
            wait_for(finished(queue, a), 30, "every action")
        for task in remediator.received():  # what a remediator does to check (docs/actions.md)
            expected = "sha256=" + hmac.new(b"s3cret", task.raw, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(task.signature, expected), task
        assert len(remediator.received()) == 2
        by_action = {t.body["action"]: t for t in other.received()}
        scaled = by_action["scale-up"]
        assert scaled.signature == "sha256=" + hmac.new(b"other-key", scaled.raw, hashlib.sha256).hexdigest()
        assert by_action["drain-pod"].signature == ""
    finally:
        queue.stop()
        other.close()


def test_bad_remediator_settings_are_refused_with_the_reason(chdb_dir: Path) -> None:
    for bad, reason in [
        ('{"restart": {"url": "http://127.0.0.1:1", "concurrency": 0}}', "concurrency"),
        ('{"restart": {"url": "http://127.0.0.1:1", "secrett": "x"}}', "secrett"),
        ('{"restart": {"secret": "x"}}', "url"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            make_settings(chdb_dir, remediator_url="http://127.0.0.1:1", remediator_endpoints=json.loads(bad))
    fine = make_settings(
        chdb_dir, remediator_url="http://127.0.0.1:1", remediator_secret="default-key",
        remediator_endpoints={"restart": {"url": "http://127.0.0.1:2", "secret": "restart-key", "concurrency": 2}},
    )  # fmt: skip
    assert {"default-key", "restart-key"} <= set(fine.secrets())  # never in a log line
    assert "restart-key" not in repr(fine.remediator_endpoints)
    with pytest.raises(ValidationError, match="remediator_concurrency"):
        make_settings(chdb_dir, remediator_url="http://127.0.0.1:1", remediator_concurrency=0)


def _firing(rule: str, target: str, at_ns: int) -> Transition:
    labels = {"alertname": rule, "target": target, "severity": "critical"}
    return Transition(at_ns, rule, f"fp-{target}", labels, "pending", "firing", 95.0, "> 80", "critical")


def test_one_action_per_rule_and_target_per_cooldown_also_across_a_restart(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    database = f"vigil_actions_{uuid.uuid4().hex[:8]}"
    rule = parse_rule(
        {"name": "cpu", "target": "*", "auto_remediate": True, "action": "restart",
         "params": {"cooldown_seconds": 3600}, "condition": {"type": "metric_exceeds", "metric": "cpu", "threshold": 80}},
        source="api",
    )  # fmt: skip
    no_action = parse_rule({**rule.policy, "name": "quiet", "auto_remediate": False}, source="api")
    queue = make_queue(chdb_dir, database, remediator.url)
    queue.open()
    now = time.time_ns()
    queue.observe("p", rule, [_firing("cpu", "a", now), _firing("cpu", "b", now)], lambda fp: "")
    queue.observe("p", rule, [_firing("cpu", "a", now + 10**9)], lambda fp: "")
    queue.observe("p", no_action, [_firing("quiet", "a", now)], lambda fp: "")
    assert sorted(a.target for a in queue.list("p")) == ["a", "b"]
    queue.stop()
    again = make_queue(chdb_dir, database, remediator.url)
    again.open()
    again.observe("p", rule, [_firing("cpu", "a", now + 2 * 10**9)], lambda fp: "")
    assert len(again.list("p")) == 2
    again.stop()


@pytest.fixture
def remediating(chdb_dir: Path, tmp_path: Path, remediator: FakeRemediator) -> Iterator[RunningApp]:
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "policies": [
                    {"name": "cpu-high", "severity": "critical", "target": "*", "interval": "1s", "window": "30s",
                     "auto_remediate": True, "action": "restart", "params": {"cooldown_seconds": 3600, "grace_s": 1},
                     "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}},
                ]
            }
        )
    )  # fmt: skip
    app = RunningApp(
        make_settings(
            chdb_dir, database="actions_auto", rules_file=rules, remediator_url=f"{remediator.url}/tasks",
            actions_retry_base_s=0.05, actions_poll_s=0.1, incidents_tick_s=0.25,
        )
    )  # fmt: skip
    yield app
    app.stop()


def test_an_auto_remediate_rule_sends_one_task_per_target_per_cooldown(
    remediating: RunningApp, remediator: FakeRemediator
) -> None:
    app = remediating
    gauges = Gauges(app, "cpu_percent", {"checkout": 97.0, "payments": 95.0, "search": 10.0}, every_s=0.5)
    try:
        tasks = wait_for(lambda: len(remediator.received()) >= 2 and remediator.received(), 60, "two tasks")
        queue = app.app.alerting.actions
        assert queue is not None

        def completed() -> list[ActionRecord] | None:
            found = [a for a in queue.list("actions_auto") if a.status == "completed"]
            return found if len(found) >= 2 else None

        actions = wait_for(completed, 30, "two completed actions")
        # Still firing, evaluated again and again: no second task within the cooldown.
        runner = app.app.alerting.runner("actions_auto")
        seen = runner.status().evaluations
        wait_for(lambda: runner.status().evaluations >= seen + 3, 30, "three more evaluations")
        tasks = remediator.received()
        assert sorted(t.body["target"] for t in tasks) == ["checkout", "payments"]
        assert all(t.path == "/tasks" and t.key == t.body["action_id"] for t in tasks)
        assert {t.body["action"] for t in tasks} == {"restart"}
        assert all(t.body["params"]["grace_s"] == 1 and t.body["severity"] == "critical" for t in tasks)
        assert all(a.rule == "cpu-high" and a.incident_id for a in actions)
        # On the incident's timeline.
        system = app.settings.system_database
        client = connect(app.settings.dsn)
        try:
            for a in actions:
                kinds = wait_for(
                    lambda a=a: [
                        e
                        for e in IncidentStore(client, system).timeline("actions_auto", a.incident_id)
                        if e.kind == "action_run"
                    ],
                    30,
                    "the action on the incident's timeline",
                )
                assert kinds[0].message == f"restart {a.target}" and kinds[0].result == "completed"
        finally:
            client.close()
        registry = app.app.metrics.registry
        assert (
            registry.get_sample_value("vigil_actions_total", {"action": "restart", "status": "completed"})
            == 2
        )
        assert registry.get_sample_value("vigil_action_queue_length") == 0
    finally:
        gauges.close()


def test_the_actions_api_over_grpc(remediating: RunningApp, remediator: FakeRemediator) -> None:
    remediator.script_for = {"pod-7": [(400, "no such pod")]}
    with grpc.insecure_channel(remediating.query_target) as channel:
        stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        made = stub.CreateAction(
            pb.CreateActionRequest(
                action="drain-pod", target="pod-7", params_json='{"force": true}', details="by hand"
            )
        ).action
        assert made.status == "pending" and made.requested_by == "local"

        def done() -> Any:
            action = stub.GetAction(pb.GetActionRequest(id=made.id)).action
            return action if action.status in ("completed", "failed") else None

        failed = wait_for(done, 30, "the action to fail")
        assert failed.status == "failed" and "no such pod" in failed.answer
        history = stub.GetAction(pb.GetActionRequest(id=made.id)).history
        assert [h.status for h in history] == ["pending", "running", "failed"]
        assert [t.body["params"] for t in remediator.received() if t.key == made.id] == [{"force": True}]
        listed = stub.ListActions(pb.ListActionsRequest(status="failed", target="pod-7"))
        assert listed.count == 1 and listed.actions[0].id == made.id
        assert stub.ListActions(pb.ListActionsRequest(target="nobody")).count == 0
        stats = stub.GetQueueStats(pb.GetQueueStatsRequest())
        assert stats.enqueued >= 1 and stats.dequeued >= 1 and stats.by_status["failed"] >= 1
        for call, request, code in [
            (stub.CancelAction, pb.CancelActionRequest(id=made.id), grpc.StatusCode.FAILED_PRECONDITION),
            (stub.GetAction, pb.GetActionRequest(id="nope"), grpc.StatusCode.NOT_FOUND),
            (stub.ListActions, pb.ListActionsRequest(limit=501), grpc.StatusCode.INVALID_ARGUMENT),
            (stub.ListActions, pb.ListActionsRequest(status="done"), grpc.StatusCode.INVALID_ARGUMENT),
            (stub.CreateAction, pb.CreateActionRequest(action="", target="x"), grpc.StatusCode.INVALID_ARGUMENT),
            (stub.CreateAction, pb.CreateActionRequest(action="a", target="x", params_json="[1]"),
             grpc.StatusCode.INVALID_ARGUMENT),
        ]:  # fmt: skip
            with pytest.raises(grpc.RpcError) as err:
                call(request)
            assert err.value.code() == code, (request, err.value.details())


WORKER = Path(__file__).with_name("actions_crash_worker.py")
COUNT = 100


def _start(data_dir: Path, url: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), url, str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"worker did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc


def test_kill_9_with_100_actions_queued_then_every_action_completes(
    tmp_path: Path, remediator: FakeRemediator
) -> None:
    data_dir = tmp_path / "chdb"
    remediator.delay_s = 0.1
    first = _start(data_dir, remediator.url, COUNT)
    try:
        wait_for(lambda: len(remediator.received()) >= 10, 60, "10 tasks at the slow remediator")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    before = len(remediator.received())
    assert before < COUNT, "everything was sent before the kill: the test proves nothing"
    remediator.delay_s = 0.0
    second = _start(data_dir, remediator.url, 0)
    try:
        wait_for(lambda: len({t.key for t in remediator.received()}) == COUNT, 120, "all 100 actions")
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["statuses"] == {"completed": COUNT}, (summary, err[-2000:])
    targets_by_key: dict[str, set[str]] = collections.defaultdict(set)
    for t in remediator.received():
        targets_by_key[t.key].add(t.body["target"])
    assert all(len(targets) == 1 for targets in targets_by_key.values())  # a duplicate: the same key
    duplicates = len(remediator.received()) - COUNT
    print(f"kill -9: {before} tasks before, {duplicates} duplicates (same key) after the restart")


def test_the_sdk_query_client_creates_lists_gets_and_cancels_actions(
    remediating: RunningApp, remediator: FakeRemediator
) -> None:
    remediator.script_for = {"sdk-checkout": [(503, "busy")], "sdk-pod-1": [(503, "busy")]}
    with QueryClient(remediating.query_target) as client:
        app_queue = remediating.app.alerting.actions
        assert app_queue is not None
        made = client.create_action("restart", "sdk-checkout", params={"grace_s": 2}, details="from the SDK")
        assert made.status == "pending" and json.loads(made.params_json) == {"grace_s": 2}

        def completed() -> Any:
            found = client.action(made.id)
            return found if found.action.status == "completed" else None

        done = wait_for(completed, 30, "the action to complete")
        assert done.action.attempts == 2 and done.action.details == "from the SDK"
        assert [h.status for h in done.history] == ["pending", "running", "pending", "running", "completed"]
        assert [a.id for a in client.actions(status="completed", target="sdk-checkout")] == [made.id]
        assert client.actions(target="nobody") == []
        stats = client.action_queue_stats()
        assert stats.by_status["completed"] >= 1 and stats.dequeued >= 2
        # A pending one can be cancelled: the worker is held back by a long retry delay.
        app_queue.retry_base_s = 3600
        later = client.create_action("drain-pod", "sdk-pod-1")
        wait_for(
            lambda: (
                client.action(later.id).action.attempts == 1
                and client.action(later.id).action.status == "pending"
            ),
            30,
            "a retry to wait",
        )
        assert client.cancel_action(later.id).status == "cancelled"
        with pytest.raises(QueryError) as err:
            client.cancel_action(made.id)
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(QueryError) as err:
            client.create_action("", "x")
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_actions_streams_the_unfinished_ones_then_each_new_version(
    remediating: RunningApp, remediator: FakeRemediator
) -> None:
    queue = remediating.app.alerting.actions
    assert queue is not None
    queue.retry_base_s = 3600  # a refused try leaves its action pending for the whole test
    remediator.script_for = {"watch-pod-1": [(503, "busy")]}
    with grpc.insecure_channel(remediating.query_target) as channel:
        stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        waiting = stub.CreateAction(pb.CreateActionRequest(action="drain-pod", target="watch-pod-1")).action
        wait_for(
            lambda: (lambda a: a.attempts == 1 and a.status == "pending")(
                queue.get("actions_auto", waiting.id)
            ),
            30,
            "the first try refused",
        )
        seen: list[Any] = []
        call = stub.WatchActions(pb.WatchActionsRequest())

        def read() -> None:
            try:
                for change in call:
                    seen.append(change.action)
            except grpc.RpcError:
                pass  # cancelled at the end

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            first = wait_for(lambda: next((a for a in seen if a.id == waiting.id), None), 30, "the snapshot")
            assert (first.status, first.attempts) == ("pending", 1)
            made = stub.CreateAction(pb.CreateActionRequest(action="restart", target="watch-checkout")).action
            wait_for(
                lambda: any(a.id == made.id and a.status == "completed" for a in seen),
                30,
                "the new one completed",
            )
            stub.CancelAction(pb.CancelActionRequest(id=waiting.id))
            wait_for(
                lambda: any(a.id == waiting.id and a.status == "cancelled" for a in seen), 30, "the cancel"
            )
            versions = [a.version for a in seen if a.id == made.id]
            assert versions == sorted(versions)  # never an older version after a newer one
        finally:
            call.cancel()
            reader.join(30)


def test_the_walkthrough_sink_accepts_signed_tasks_and_refuses_others(chdb_dir: Path) -> None:
    """`vigil sink --secret` checks signatures as docs/actions.md tells a remediator to."""
    lines = io.StringIO()
    server = make_server(0, "walkthrough-key", lines)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remediate"
    queues = [
        make_queue(chdb_dir, f"vigil_actions_{uuid.uuid4().hex[:8]}", url, secret=key)
        for key in ("walkthrough-key", "another-key")
    ]
    try:
        results = []
        for queue in queues:
            queue.open()
            queue.start()
            action = queue.enqueue("p", "restart", "agent-api")
            results.append(wait_for(finished(queue, action), 30, "the action to finish"))
        assert [r.status for r in results] == ["completed", "failed"]
        assert "HTTP 401" in results[1].answer and results[1].attempts == 1
        printed = [json.loads(line) for line in lines.getvalue().splitlines()]
        assert [p["verified"] for p in printed] == [True, False]
        assert printed[0]["body"]["target"] == "agent-api" and printed[0]["idempotency_key"] == results[0].id
    finally:
        for queue in queues:
            queue.stop()
        server.shutdown()
        server.server_close()


def test_an_action_resumed_without_a_remediator_fails_at_once_with_the_reason(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    database = f"vigil_actions_{uuid.uuid4().hex[:8]}"
    before = make_queue(chdb_dir, database, remediator.url, endpoints={"flush": f"{remediator.url}/flush"})
    before.open()
    orphan = before.enqueue("p", "flush", "cache")
    before.stop()
    # Restarted with only a per-action endpoint for another action: "flush" has nowhere to go.
    after = make_queue(chdb_dir, database, "", endpoints={"restart": remediator.url})
    after.open()
    after.start()
    try:
        done = wait_for(finished(after, orphan), 30, "the orphan to finish")
        assert (done.status, done.attempts) == ("failed", 1) and "cannot be sent" in done.answer
        assert remediator.received() == []
    finally:
        after.stop()


def test_versions_saved_at_once_share_an_insert_and_each_is_stored_before_its_save_returns(
    chdb_dir: Path, remediator: FakeRemediator
) -> None:
    """Group commit (ActionQueue._store): enqueues and the worker's status changes made while an
    INSERT is under way wait for it and go together in the next one, so a burst is not capped at
    one action version per INSERT. Merges are stopped, so each INSERT stays one part to count."""
    database = f"vigil_actions_{uuid.uuid4().hex[:8]}"
    queue = make_queue(chdb_dir, database, remediator.url, concurrency=8)
    queue.open()
    try:
        client = connect(make_settings(chdb_dir).dsn)
        client.command(f"SYSTEM STOP MERGES {database}.vigil_actions")
        stored_on_return: list[bool] = []

        def enqueue_some(thread: int) -> None:
            for n in range(20):
                made = queue.enqueue("p", "restart", f"svc-{thread}-{n}")
                stored_on_return.append(queue.get("p", made.id).status in ("pending", "running", "completed"))

        threads = [threading.Thread(target=enqueue_some, args=(t,)) for t in range(8)]
        queue.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(stored_on_return) == 160 and all(stored_on_return)
        wait_for(lambda: queue.by_status("p").get("completed") == 160, 120, "every action completed")
        rows, parts = client.query(
            f"SELECT count(), uniqExact(_part) FROM {database}.vigil_actions"
        ).result_rows[0]
        client.close()
        assert rows == 3 * 160  # pending, running, completed: every version of every action
        assert parts < rows * 0.8, f"{rows} versions in {parts} INSERTs: not grouped"
        print(f"group commit: {rows} versions in {parts} INSERTs")
        assert len({t.key for t in remediator.received()}) == 160
    finally:
        queue.stop()


def test_the_action_benchmark_builds_its_queue_with_the_servers_wiring(chdb_dir: Path) -> None:
    """bench/actions.py measures the queue the server runs: it calls the wiring's
    ``make_actions`` instead of copying ``ActionQueue``'s arguments."""
    import importlib.util

    path = support.REPO / "bench" / "actions.py"
    assert "ActionQueue(" not in path.read_text(), "the benchmark builds its queue by itself"
    spec = importlib.util.spec_from_file_location("bench_actions", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    s = make_settings(chdb_dir, remediator_url="http://127.0.0.1:9/task", actions_max_attempts=7)
    queue = bench.make_queue(s, "bench_actions_x", 3)
    assert (queue.system_database, queue.remediator_url, queue.max_attempts) == (
        "bench_actions_x", "http://127.0.0.1:9/task", 7,
    )  # fmt: skip
    assert queue.limits == {"http://127.0.0.1:9/task": 3}
    assert s.system_database != "bench_actions_x", "the server's settings are left as they were"


def test_the_watch_streams_share_one_loop() -> None:
    """WatchIncidents and WatchActions are served by one loop (``AlertingService._watch``), as
    TailSpans and TailLogs are by ``QueryService._tail``: no copy of it to drift apart."""
    import ast

    tree = ast.parse((support.REPO / "alerting/vigil_alerting/service.py").read_text())
    methods = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)}
    loops = [
        name
        for name, node in methods.items()
        if any(isinstance(n, ast.Name) and n.id == "RECHECK_S" for n in ast.walk(node))
    ]
    assert loops == ["_watch"], f"the watch loop is written in {loops}"
    for stream in ("WatchIncidents", "WatchActions"):
        calls = [
            n.func.attr
            for n in ast.walk(methods[stream])
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        ]
        assert "_watch" in calls, f"{stream} does not use the shared loop"
