"""The durable action queue and its worker (docs/actions.md).

Every step of an action is a new version in ``vigil_actions`` before it happens in memory, so a
restart (or kill -9) resumes what was pending or running: a running action is tried again, and
the remediator sees the same ``Idempotency-Key`` (the action id) on every try — at least once
always, exactly once without a crash. One dispatcher thread claims due actions (in memory, under
the lock, so none is claimed twice) while its remediator has a free slot, and each claimed task is
sent on a thread of its own; the HTTP call is made outside every lock.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import SecretStr

from vigil_alerting.actions.remediator import SIGNATURE_HEADER, Remediator, resolve, sign
from vigil_alerting.actions.store import UNFINISHED, ActionRecord, ActionStore
from vigil_alerting.background import LoopThread
from vigil_alerting.errors import AlertingError
from vigil_alerting.incidents.manager import IncidentManager
from vigil_alerting.rules.model import Rule

log = logging.getLogger(__name__)


class ActionError(AlertingError):
    """An action that cannot be created or changed (the reason says why)."""


class ActionNotFound(ActionError):
    pass


class ActionRefused(ActionError):
    """A valid request the action's state does not allow (cancelling one already sent)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no HTTP answer (timeout, refused connection); -1: cannot be sent at all
    body: str

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(slots=True)
class _Unwritten:
    record: ActionRecord
    done: bool = False  # set under ``_db`` by the thread that wrote it (or failed to)
    error: BaseException | None = None


class ActionQueue:
    def __init__(
        self,
        connect: Callable[[], Client],
        *,
        system_database: str,
        remediator_url: str,
        endpoints: dict[str, str | Remediator] | None = None,
        secret: str = "",
        concurrency: int = 4,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        retry_base_s: float = 1.0,
        retry_max_s: float = 60.0,
        poll_s: float = 1.0,
        incidents: IncidentManager | None = None,
        registry: CollectorRegistry | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._connect = connect
        self.system_database = system_database
        self.remediator_url = remediator_url
        self._default, self._remediators, self.limits = resolve(
            Remediator.model_construct(
                url=remediator_url, secret=SecretStr(secret), concurrency=None, timeout_s=None
            ),
            endpoints or {},
            concurrency=concurrency,
            timeout_s=timeout_s,
        )
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.poll_s = poll_s
        self.incidents = incidents
        self.clock_ns = clock_ns
        self._client: Client | None = None
        self._db = threading.Lock()  # the client: one thread at a time
        self._lock = threading.Lock()  # the in-memory queue and cooldowns
        self._queue: dict[str, ActionRecord] = {}  # unfinished actions by id
        self._sending: dict[str, threading.Thread] = {}  # action id → the thread sending its task
        self._in_flight: collections.Counter[str] = collections.Counter()  # remediator URL → tasks
        self._last: dict[tuple[str, str, str], int] = {}  # (project, rule, target) → enqueued at
        self._unwritten: list[_Unwritten] = []  # versions waiting for the next INSERT (_store)
        self.enqueued = 0  # since this process started (GetQueueStats)
        self.dequeued = 0
        self._listeners: list[Callable[[ActionRecord], None]] = []  # WatchActions
        self._worker = LoopThread("vigil-actions", self._loop)
        self._stop, self._wake = self._worker.stopping, self._worker.wake
        registry = registry if registry is not None else CollectorRegistry()
        self.total = Counter(
            "vigil_actions", "Actions entering each status.", ["action", "status"], registry=registry
        )
        self.latency = Histogram(
            "vigil_action_execution_seconds",
            "One task sent to the remediator, until its answer.",
            ["action"],
            registry=registry,
        )
        Gauge("vigil_action_queue_length", "Actions pending or running.", registry=registry).set_function(
            lambda: len(self._queue)
        )

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """The table, then every unfinished action back in the queue (a running one was cut
        short by a stop or a crash: it is tried again) and the cooldowns still counting."""
        self._client = self._connect()
        store = ActionStore(self._client, self.system_database)
        store.ensure_schema()
        with self._lock:
            self._queue = {a.id: a for a in store.unfinished()}
            self._last = store.last_triggered(0)  # any cooldown, however long
        if self._queue:
            log.info("actions: %d unfinished actions resumed", len(self._queue))

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        self._worker.stop(timeout_s)
        with self._lock:
            senders = list(self._sending.values())
        for sender in senders:  # tasks in flight get their answer stored, if it comes in time
            sender.join(max(0.0, deadline - time.monotonic()))
        with self._db:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- creating and reading ---------------------------------------------------------------
    def enqueue(
        self,
        project: str,
        action: str,
        target: str,
        *,
        severity: str = "",
        params: dict[str, Any] | None = None,
        details: str = "",
        rule: str = "",
        fingerprint: str = "",
        incident_id: str = "",
        requested_by: str = "",
    ) -> ActionRecord:
        if not action.strip() or not target.strip():
            raise ActionError("an action needs a non-empty action name and target")
        if not self._endpoint(action):
            raise ActionError(f"no remediator for action {action!r}: set VIGIL_REMEDIATOR_URL")
        now = self.clock_ns()
        record = ActionRecord(
            project=project, id=uuid.uuid4().hex, action=action, target=target, created_ns=now, updated_ns=now,
            severity=severity, params=dict(params or {}), details=details, rule=rule, fingerprint=fingerprint,
            incident_id=incident_id, requested_by=requested_by, next_attempt_ns=now,
        )  # fmt: skip
        self._save(record)
        with self._lock:
            self.enqueued += 1
        self._wake.set()
        return record

    def cancel(self, project: str, action_id: str, by: str) -> ActionRecord:
        """A pending action only: one already sent cannot be called back."""
        with self._lock:
            current = self._queue.get(action_id)
            if current is not None and current.project == project and current.status == "pending":
                done = current.next(self.clock_ns(), status="cancelled", answer=f"cancelled by {by}")
                self._queue.pop(action_id)
            else:
                done = None
        if done is None:
            status = current.status if current is not None else self.get(project, action_id).status
            raise ActionRefused(f"action {action_id} is {status}, only a pending one can be cancelled")
        self._save(done)
        return done

    def get(self, project: str, action_id: str) -> ActionRecord:
        with self._db:
            found = ActionStore(self._need_client(), self.system_database).get(project, action_id)
        if found is None:
            raise ActionNotFound(f"no action {action_id} in this project")
        return found

    def list(
        self, project: str, *, status: str = "", target: str = "", limit: int = 100
    ) -> list[ActionRecord]:
        if not 1 <= limit <= 500:
            raise ActionError(f"limit must be 1 to 500, got {limit}")
        with self._db:
            store = ActionStore(self._need_client(), self.system_database)
            return store.list(project, status=status, target=target, limit=limit)

    def history(self, project: str, action_id: str) -> list[ActionRecord]:
        with self._db:
            return ActionStore(self._need_client(), self.system_database).history(project, action_id)

    def unfinished(self, project: str) -> list[ActionRecord]:
        """The project's pending and running actions, oldest first (no storage read)."""
        with self._lock:
            return sorted(
                (a for a in self._queue.values() if a.project == project), key=lambda a: a.created_ns
            )

    def subscribe(self, listener: Callable[[ActionRecord], None]) -> Callable[[], None]:
        """``listener(version)`` after every version is stored (on the storing thread: keep it
        quick). Every version of an action is stored through this queue, so none is missed."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def queue_length(self) -> int:
        return len(self._queue)

    def running_count(self) -> int:
        with self._lock:
            return sum(1 for a in self._queue.values() if a.status == "running")

    def by_status(self, project: str) -> dict[str, int]:
        with self._db:
            return ActionStore(self._need_client(), self.system_database).count_by_status(project)

    # --- auto-remediation ---------------------------------------------------------------------
    def observe(
        self, project: str, rule: Rule, transitions: Iterable[Any], incident_of: Callable[[str], str]
    ) -> None:
        """A rule with ``auto_remediate`` enqueues its action for each target that started
        firing, at most once per rule and target per ``cooldown_s`` (counted across restarts)."""
        if not rule.auto_remediate or not rule.action:
            return
        for t in transitions:
            if t.to_state != "firing":
                continue
            target = t.labels.get("target") or t.fingerprint
            key = (project, rule.name, target)
            now = self.clock_ns()
            with self._lock:
                last = self._last.get(key)
                if last is not None and now - last < rule.cooldown_s * 1e9:
                    continue
                self._last[key] = now
            try:
                self.enqueue(
                    project, rule.action, target, severity=t.labels.get("severity", rule.severity),
                    params=rule.params, details=rule.description, rule=rule.name, fingerprint=t.fingerprint,
                    incident_id=incident_of(t.fingerprint),
                )  # fmt: skip
            except Exception:  # the evaluation goes on; the reason is in the log
                log.exception("actions: rule %s could not enqueue %s for %s", rule.name, rule.action, target)

    # --- the worker ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.poll_s
            try:
                for sender in self._claim():
                    sender.start()
                wait = self._wait_s()
            except Exception:  # the worker must survive anything (storage down: next poll)
                log.exception("actions: worker round failed")
            self._wake.wait(wait)

    def _claim(self) -> list[threading.Thread]:
        """Every due action whose remediator has a free slot, oldest first, marked running in
        memory: a cancel from now on finds it running, and the next round does not take it."""
        now = self.clock_ns()
        claimed = []
        with self._lock:
            due = [a for a in self._queue.values() if a.id not in self._sending and a.next_attempt_ns <= now]
            for action in sorted(due, key=lambda a: (a.next_attempt_ns, a.created_ns)):
                if not self._has_slot(action):
                    continue
                remediator = self._remediator(action.action)
                self._in_flight[remediator.url] += 1
                running = action.next(now, status="running", attempts=action.attempts + 1)
                self._queue[action.id] = running
                sender = threading.Thread(
                    target=self._send, args=(running, remediator), name="vigil-action", daemon=True
                )
                self._sending[action.id] = sender
                self.dequeued += 1
                claimed.append(sender)
        return claimed

    def _has_slot(self, action: ActionRecord) -> bool:
        url = self._remediator(action.action).url
        return self._in_flight[url] < self.limits.get(url, 1)

    def _wait_s(self) -> float:
        """Until the soonest action that could be sent: one waiting for a slot is woken by the
        task that frees it."""
        with self._lock:
            waiting = [a for a in self._queue.values() if a.id not in self._sending and self._has_slot(a)]
            soonest = min((a.next_attempt_ns for a in waiting), default=None)
        if soonest is None:
            return self.poll_s
        return max(0.0, min(self.poll_s, (soonest - self.clock_ns()) / 1e9))

    def _send(self, running: ActionRecord, remediator: Remediator) -> None:
        try:
            self._run(running, remediator)
        except Exception:  # storage down: the action stays in the queue and is tried again
            log.exception("actions: action %s could not be run", running.id)
        finally:
            with self._lock:
                self._sending.pop(running.id, None)
                self._in_flight[remediator.url] -= 1
            self._wake.set()

    def _run(self, running: ActionRecord, remediator: Remediator) -> None:
        self._save(running)
        started = time.monotonic()
        answer = self._post(running, remediator)
        self.latency.labels(running.action).observe(time.monotonic() - started)
        now = self.clock_ns()
        text = f"HTTP {answer.status}: {answer.body}" if answer.status > 0 else answer.body
        if 200 <= answer.status < 300:
            after = running.next(now, status="completed", answer=text)
        elif answer.retryable and running.attempts < self.max_attempts:
            delay = min(self.retry_base_s * 2 ** (running.attempts - 1), self.retry_max_s)
            after = running.next(now, status="pending", answer=text, next_attempt_ns=now + int(delay * 1e9))
        else:
            why = "" if not answer.retryable else f" (gave up after {running.attempts} attempts)"
            after = running.next(now, status="failed", answer=text + why)
        self._save(after)
        if after.status in ("completed", "failed"):
            self._on_timeline(after)

    def _remediator(self, action: str) -> Remediator:
        return self._remediators.get(action) or self._default

    def _endpoint(self, action: str) -> str:
        return self._remediator(action).url

    def _post(self, a: ActionRecord, remediator: Remediator) -> Answer:
        task = {
            "task_id": f"{a.id}.{a.attempts}",
            "action_id": a.id,
            "action": a.action,
            "target": a.target,
            "severity": a.severity,
            "params": a.params,
            "incident": {"id": a.incident_id, "rule": a.rule, "fingerprint": a.fingerprint}
            if a.incident_id or a.rule
            else None,
            "enqueued_at": a.created_ns / 1e9,
        }
        body = json.dumps(task).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": a.id}
        if secret := remediator.secret.get_secret_value():
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            request = urllib.request.Request(remediator.url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=remediator.timeout_s or self.timeout_s) as response:
                return Answer(response.status, response.read(4000).decode(errors="replace"))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.read(4000).decode(errors="replace"))
        except (urllib.error.URLError, OSError) as err:  # timeouts and refused connections: retry
            return Answer(0, f"no answer: {getattr(err, 'reason', err)}")
        except ValueError as err:  # no usable URL (an action whose endpoint was removed): fails at once
            return Answer(-1, f"cannot be sent to {remediator.url!r}: {err}")

    def _on_timeline(self, a: ActionRecord) -> None:
        if self.incidents is None or not a.incident_id:
            return
        try:
            with self._db:
                self.incidents.record_action(
                    self._need_client(), a.project, a.incident_id, "vigil", f"{a.action} {a.target}", a.status
                )
        except Exception:  # the action is recorded either way; the timeline is best effort
            log.exception("actions: action %s not added to incident %s's timeline", a.id, a.incident_id)

    # --- helpers ------------------------------------------------------------------------------
    def _store(self, record: ActionRecord) -> None:
        """Returns once ``record`` is stored (or raises why it is not). Group commit: versions
        saved while another INSERT holds the client wait in ``_unwritten``, and the next thread
        to get the client writes all of them in one INSERT — one write per round of the worker
        instead of one per version (each INSERT costs the same ~10+ ms whatever its size), and
        still nobody goes on before its own version is on disk."""
        mine = _Unwritten(record)
        with self._lock:
            self._unwritten.append(mine)
        with self._db:
            if not mine.done:  # nobody took it along: this thread writes what is waiting
                with self._lock:
                    batch, self._unwritten = self._unwritten, []
                error: BaseException | None = None
                try:
                    ActionStore(self._need_client(), self.system_database).save_many(
                        [u.record for u in batch]
                    )
                except BaseException as err:  # every version of the failed INSERT gets its error
                    error = err
                for u in batch:
                    u.error, u.done = error, True
        if mine.error is not None:
            raise mine.error

    def _need_client(self) -> Client:
        if self._client is None:
            raise ActionError("the action queue is not open")
        return self._client

    def _save(self, record: ActionRecord) -> None:
        """Stored first, then in memory: what the queue holds is always on disk."""
        self._store(record)
        with self._lock:
            if record.status in UNFINISHED:
                self._queue[record.id] = record
            else:
                self._queue.pop(record.id, None)
            listeners = list(self._listeners)
        self.total.labels(record.action, record.status).inc()
        for listener in listeners:
            try:
                listener(record)
            except Exception:  # a watcher's failure is its own
                log.exception("actions: a watcher failed")
