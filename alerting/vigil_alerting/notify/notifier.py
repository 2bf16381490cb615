"""The notification pipeline's entry point: ``Notifier``.

    runner evaluation ──observe(instances)──▶ Dispatcher (route → group → timing → dedup,
    silences, inhibition, time intervals) ──▶ Outbox (written before anything is sent)
    ──▶ delivery (one lane per group and integration, retries with backoff) ──▶ receivers
                                          └──▶ delivery log, metrics

Wiring: ``n = Notifier(client, system_database=..., config_path=...)``, ``n.open()`` (raises
NotifyConfigError on a bad file), ``n.start()``; after each evaluation
``n.observe(runner.alerts())`` from any thread; ``n.reload()`` (or ``n.apply_config(parsed)``)
on SIGHUP; ``n.stop()`` at shutdown. The notifier's thread (an asyncio loop) is the only user
of ``client``; silences and the delivery log are read and written by the API through its own
``SilenceStore``/``Outbox`` on its own client, and ``n.silences_changed()`` makes the notifier
see a new silence at once (else within ``silence_refresh_s``).

One sender (how two processes are kept from double-sending)
------------------------------------------------------------
By construction: the notifier runs in the process that runs the alert runner (the ``all``
server today, the ``worker`` role in a split deployment), which is one process per project —
with embedded ClickHouse the data directory admits one process. Two notifiers on one
ClickHouse server would each resume the same ``pending`` outbox rows; in ``--role worker`` the
worker lease (``vigil_worker_lease``, server/vigil_server/worker_lease.py) keeps a second one
off: the notifier runs in the rules' loop, a job started only while the lease is held. Not
done: stamping the lease's fencing token into the outbox rows it writes. The idempotency key
(the outbox row's id, the ``X-Vigil-Delivery-Id`` header, PagerDuty's ``dedup_key`` per group)
makes any copy sent across a hand-over recognisable to the receiver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from vigil_alerting.notify.alert import Alert, Notification, alert_key, from_instance
from vigil_alerting.notify.config import Config, load_config
from vigil_alerting.notify.dispatch import Dispatcher, LogEntry, Suppression, integrations
from vigil_alerting.notify.forward import Forwarder
from vigil_alerting.notify.metrics import NotifyMetrics
from vigil_alerting.notify.outbox import DeliveryLogEntry, Outbox, OutboxRow
from vigil_alerting.notify.receivers.base import Answer, Integration, build_integrations
from vigil_alerting.silence.store import Silence, SilenceStore
from vigil_alerting.state.machine import AlertInstance

log = logging.getLogger(__name__)
T = TypeVar("T")


def os_thread_name(name: str) -> None:
    """Name the calling thread for the OS too (``top -H``, ``/proc/<pid>/task/*/comm``; at most
    15 bytes), so the notifier's CPU can be told from the rest of the server's."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(Exception):  # a name is a convenience, never a reason to fail
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


class Notifier:
    def __init__(
        self,
        client: Client,
        *,
        system_database: str,
        config_path: Path | None = None,
        config: Config | None = None,
        alertmanager_url: str = "",
        alertmanager_resend_s: float = 60.0,
        external_url: str = "",
        registry: CollectorRegistry | None = None,
        retry_base_s: float = 1.0,
        retry_max_s: float = 300.0,
        max_attempts: int = 10,
        timeout_s: float = 10.0,
        write_interval_s: float = 0.1,
        silence_refresh_s: float = 5.0,
        max_in_flight: int = 64,
        retention_s: float = 30 * 86400.0,
        clock_ns: Callable[[], int] = time.time_ns,
        home_project: str = "",
    ) -> None:
        for name, value in (("retry_base_s", retry_base_s), ("retry_max_s", retry_max_s), ("timeout_s", timeout_s),
                            ("write_interval_s", write_interval_s), ("silence_refresh_s", silence_refresh_s),
                            ("max_attempts", max_attempts), ("max_in_flight", max_in_flight)):  # fmt: skip
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.client = client
        self.config_path = config_path
        self.config = config
        self.external_url = external_url
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.write_interval_s = write_interval_s
        self.silence_refresh_s = silence_refresh_s
        self.max_in_flight = max_in_flight
        self.clock_ns = clock_ns
        # The default project's database: its group keys name no project (dispatch.group_key).
        self.home_project = home_project
        self.outbox = Outbox(client, system_database, retention_s=retention_s)
        self.silence_store = SilenceStore(client, system_database, clock_ns=clock_ns)
        self.metrics = NotifyMetrics(registry)
        self.forwarder = (
            Forwarder(alertmanager_url, alertmanager_resend_s, self.metrics) if alertmanager_url else None
        )
        self.dispatcher: Dispatcher | None = None
        self._silences: list[Silence] = []
        self._acked: set[str] = set()  # keys (Alert.key) of alerts in acknowledged incidents (the loop's)
        self._integrations: dict[tuple[str, str, int], Integration] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._pending_rows: list[OutboxRow] = []
        self._pending_log: list[DeliveryLogEntry] = []
        self._unwritten: list[Notification] = []
        # One lock per lane and how many deliveries hold or wait for it (dropped at zero).
        self._lanes: dict[tuple[str, str, str, int], tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending: set[asyncio.Task[Any]] = set()  # attempts on the wire: let them finish at stop
        self._stop_grace_s = 5.0
        self._backlog = 0
        self._ready = threading.Event()

    @classmethod
    def from_settings(
        cls, client: Client, settings: Any, *, registry: CollectorRegistry | None = None
    ) -> Notifier:
        """From VigilSettings (the ``alertmanager_*`` and ``notify_*`` settings)."""
        return cls(
            client, system_database=settings.system_database, config_path=settings.alertmanager_config,
            alertmanager_url=settings.alertmanager_url, alertmanager_resend_s=settings.alertmanager_resend_s,
            external_url=settings.notify_external_url, registry=registry, retry_base_s=settings.notify_retry_base_s,
            retry_max_s=settings.notify_retry_max_s, max_attempts=settings.notify_max_attempts,
            timeout_s=settings.notify_timeout_s, silence_refresh_s=settings.notify_silence_refresh_s,
            max_in_flight=settings.notify_max_in_flight, retention_s=settings.notify_retention_days * 86400,
            home_project=settings.database,
        )  # fmt: skip

    # --- set-up ------------------------------------------------------------------------------
    def open(self) -> None:
        """Tables, configuration (NotifyConfigError if bad), and what each receiver was told."""
        self.outbox.ensure_schema()
        self.silence_store.ensure_schema()
        if self.config_path is not None:
            self.config = load_config(self.config_path)
        if self.config is not None:
            self.dispatcher = self._dispatcher(self.config, self.outbox.notification_log())
            self._integrations = self._build(self.config)
        self._silences = self.silence_store.active()

    @staticmethod
    def _build(config: Config) -> dict[tuple[str, str, int], Integration]:
        return {
            (r.name, i.kind, i.index): i for r in config.receivers.values() for i in build_integrations(r)
        }

    def _dispatcher(
        self, config: Config, told: dict[tuple[str, str, str, int], LogEntry] | None = None
    ) -> Dispatcher:
        """``told``: what each integration was last told (the notification log), at open."""
        return Dispatcher(
            config,
            silenced=self._silenced,
            acknowledged=self._acked.__contains__,
            home_project=self.home_project,
            external_url=self.external_url,
            log=told,
        )

    def reload(self) -> Config | None:
        """Re-read the file; on NotifyConfigError the configuration in force stays."""
        if self.config_path is None:
            return self.config
        config = load_config(self.config_path)  # raises before anything changes
        self.apply_config(config)
        return config

    def apply_config(self, config: Config) -> None:
        """Put a parsed (checked) configuration in force (any thread; applied on the notifier's)."""
        self._call(lambda: self._apply_config(config))
        log.info("alertmanager configuration reloaded from %s", self.config_path)

    def _apply_config(self, config: Config) -> None:
        self.config = config
        self._integrations = self._build(config)
        if self.dispatcher is None:
            self.dispatcher = self._dispatcher(config)
        else:
            self.dispatcher.set_config(config, self.clock_ns())

    # --- the API -----------------------------------------------------------------------------
    def observe(
        self,
        instances: Iterable[AlertInstance],
        annotations: Mapping[str, Mapping[str, str]] | None = None,
        project: str = "",
    ) -> None:
        """The alert instances after an evaluation (any thread). ``annotations`` by rule name
        (e.g. ``{"description": rule.description}``); ``project`` is theirs (only its silences
        apply to them)."""
        now = self.clock_ns()
        alerts = []
        for i in instances:
            a = from_instance(
                i,
                annotations=dict((annotations or {}).get(i.rule, {})),
                external_url=self.external_url,
                now_ns=now,
                project=project,
            )
            if a is not None:
                alerts.append(a)
            elif i.state in ("inactive", "nodata"):
                # No longer firing without passing through resolved (e.g. nodata): resolved for the receivers.
                labels = dict(i.labels)
                if "service.name" in labels:
                    labels.setdefault("service", labels["service.name"])
                alerts.append(
                    Alert(
                        i.fingerprint, dict(sorted(labels.items())), {}, i.fired_at_ns, now, project=project
                    )
                )
        self.observe_alerts(alerts)

    def observe_alerts(self, alerts: Iterable[Alert]) -> None:
        batch = list(alerts)
        self._call(lambda: self._on_alerts(batch))

    def set_acknowledged(self, fingerprints: Iterable[str], acknowledged: bool, project: str = "") -> None:
        """An incident (of ``project``) was acknowledged (its alerts' groups are not re-sent on
        their repeat interval) or is no longer (they are again); any thread."""
        chosen = [alert_key(project, fp) for fp in fingerprints]

        def apply() -> None:
            if acknowledged:
                self._acked.update(chosen)
            else:
                self._acked.difference_update(chosen)

        self._call(apply)

    def notify_receiver(
        self, receiver: str, group_key: str, group_labels: dict[str, str], alerts: list[Alert]
    ) -> list[str]:
        """Notifications to every integration of ``receiver`` (an escalation step's), through
        the outbox like the routes' own: durable, retried, in the delivery log. Their ids;
        ValueError if the configuration has no such receiver or there is nothing to say."""
        config = self.config
        if config is None or receiver not in config.receivers:
            raise ValueError(f"no receiver {receiver!r} in the alertmanager configuration")
        if not alerts:
            raise ValueError("no alert to notify about")
        now = self.clock_ns()
        owed = [
            Notification(
                id=uuid.uuid4().hex,
                created_ns=now,
                receiver=receiver,
                integration=kind,
                index=i,
                group_key=group_key,
                group_labels=dict(group_labels),
                alerts=tuple(alerts),
                external_url=self.external_url,
            )
            for kind, i, _ in integrations(config.receivers[receiver])
        ]
        if not owed:
            raise ValueError(f"receiver {receiver!r} has no integration")

        def queue() -> None:
            self._unwritten.extend(owed)
            if self._wake is not None:
                self._wake.set()

        self._call(queue)
        return [n.id for n in owed]

    def silences_changed(self) -> None:
        if self._loop is None:
            self._silences = self.silence_store.active()
        else:
            self._loop.call_soon_threadsafe(
                lambda: self._track(asyncio.ensure_future(self._refresh_silences()))
            )

    def _call(self, fn: Callable[[], None]) -> None:
        if self._loop is None:
            fn()  # not started: apply directly (tests, open-time)
        else:
            self._loop.call_soon_threadsafe(fn)

    # --- the loop ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="vigil-notifier", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops sending: attempts on the wire get half of ``timeout_s`` to finish (so a clean
        stop re-sends nothing), the rest is cancelled; what is still owed stays in the outbox
        for the next start."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stop_grace_s = timeout_s / 2
        loop.call_soon_threadsafe(self._begin_stop)
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning(
                "the notifier did not stop within %g s: delivery states not yet written are re-sent "
                "(with the same delivery ids) at the next start",
                timeout_s,
            )
        self._thread = None

    def _begin_stop(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            if t not in self._sending:
                t.cancel()
        if self._wake is not None:
            self._wake.set()

    def _run(self) -> None:
        os_thread_name("vigil-notifier")
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()
            self._loop = None

    async def _in_db(self, fn: Callable[..., T], *args: Any) -> T:
        """ClickHouse calls run on one thread of their own (the client's only user), so HTTP
        deliveries go on while a batch of delivery states is written."""
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._db = concurrent.futures.ThreadPoolExecutor(
            1,
            thread_name_prefix="vigil-notifier-db",
            initializer=os_thread_name,
            initargs=("vigil-notify-db",),
        )
        self._wake = asyncio.Event()
        self._in_flight = asyncio.Semaphore(self.max_in_flight)
        self._backlog = 0  # counted again from the outbox: a stop leaves cancelled deliveries pending
        self._loop = loop
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._session = session
        self._ready.set()
        try:
            for row in await self._in_db(self.outbox.pending):
                self._spawn(row)
            helpers = [loop.create_task(self._writer()), loop.create_task(self._silence_refresher())]
            while not self._stopping:
                await self._tick()
                wake = self.dispatcher.next_wake_ns() if self.dispatcher else None
                if self.forwarder is not None and self.forwarder.firing:
                    resend = self.forwarder.last_sent_ns + int(self.forwarder.resend_s * 1e9)
                    wake = resend if wake is None else min(wake, resend)
                timeout = max(0.0, (wake - self.clock_ns()) / 1e9) if wake is not None else 3600.0
                if self._unwritten:
                    timeout = min(timeout, 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
            for t in helpers:
                t.cancel()
            if self._sending:
                _, unfinished = await asyncio.wait(list(self._sending), timeout=self._stop_grace_s)
                if unfinished:
                    log.warning(
                        "%d notification attempts still on the wire after %g s are cancelled; "
                        "they are re-sent (with the same delivery ids) at the next start",
                        len(unfinished),
                        self._stop_grace_s,
                    )
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*helpers, *self._tasks, return_exceptions=True)
            await self._write_pending()
        finally:
            await session.close()
            self._db.shutdown(wait=True)

    def _on_alerts(self, alerts: list[Alert]) -> None:
        now = self.clock_ns()
        if self.dispatcher is not None:
            self.dispatcher.observe(alerts, now)
        if self.forwarder is not None and self._loop is not None:
            changed = self.forwarder.changed(alerts)
            if changed:
                self._track(self._loop.create_task(self.forwarder.send(self._session, changed, now)))
        if self._wake is not None:
            self._wake.set()

    async def _tick(self) -> None:
        now = self.clock_ns()
        if self.forwarder is not None and self.forwarder.due(now):
            self._track(
                asyncio.get_running_loop().create_task(
                    self.forwarder.send(self._session, list(self.forwarder.firing.values()), now, resend=True)
                )
            )
        owed, suppressed = self.dispatcher.flush_due(now) if self.dispatcher is not None else ([], [])
        # Taken now: escalations may queue more while the write is awaited.
        owed, self._unwritten = self._unwritten + owed, []
        self._queue_suppressions(suppressed, now)
        if not owed:
            return
        rows = [OutboxRow(n, "pending", 0, "", n.created_ns) for n in owed]
        started = time.perf_counter()
        try:
            await self._in_db(self.outbox.write, rows)  # durable before anything is sent
        except Exception as exc:
            log.error("notifications could not be written to the outbox (retrying): %s", exc)
            self._unwritten = owed + self._unwritten
            return
        log.debug("%d notifications owed, written in %.3f s", len(rows), time.perf_counter() - started)
        for row in rows:
            self._spawn(row)

    def _queue_suppressions(self, changes: list[Suppression], now: int) -> None:
        for s in changes:
            self._pending_log.append(
                DeliveryLogEntry(
                    now, "", "", "", "", (s.fingerprint,), 0, s.reason or "unsuppressed", "", 0.0, s.project
                )
            )

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, row: OutboxRow) -> None:
        self._backlog += 1
        self.metrics.backlog.set(self._backlog)
        self._track(asyncio.get_running_loop().create_task(self._deliver(row)))

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # cancelled by stop

    async def _deliver(self, row: OutboxRow) -> None:
        n = row.notification
        lane, users = self._lanes.get(n.lane, (asyncio.Lock(), 0))
        self._lanes[n.lane] = (lane, users + 1)
        attempts = row.attempts
        try:
            async with lane:
                while not self._stopping:
                    integration = self._integrations.get((n.receiver, n.integration, n.index))
                    if integration is None:
                        self._finish(row, "failed", attempts, "the receiver is no longer configured")
                        return
                    attempts += 1
                    timeout = integration.timeout_s or self.timeout_s
                    started = time.monotonic()  # reset once a slot is free: the attempt's own time
                    try:
                        async with self._in_flight:
                            if self._stopping:
                                return
                            me = asyncio.current_task()
                            assert me is not None
                            self._sending.add(me)
                            started = time.monotonic()
                            try:
                                answer = await asyncio.wait_for(integration.send(self._session, n), timeout)
                            finally:
                                self._sending.discard(me)
                    except TimeoutError:
                        answer = Answer("retry", f"timeout after {timeout:g} s")
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # an integration's bug must not lose the notification
                        log.exception("notification %s: %s failed", n.id, n.integration)
                        answer = Answer("retry", f"{type(exc).__name__}: {exc}")
                    seconds = time.monotonic() - started
                    now = self.clock_ns()
                    outcome = answer.outcome
                    if outcome == "retry" and attempts >= self.max_attempts:
                        outcome = "failed"
                    self._pending_log.append(
                        DeliveryLogEntry(now, n.id, n.receiver, n.integration, n.group_key,
                                         tuple(a.fingerprint for a in n.alerts), attempts, outcome, answer.detail, seconds,
                                         n.project)
                    )  # fmt: skip
                    if outcome != "retry":
                        self._finish(row, outcome, attempts, answer.detail)
                        return
                    self.metrics.notifications.labels(n.receiver, n.integration, "retried").inc()
                    self._pending_rows.append(
                        OutboxRow(n, "pending", attempts, answer.detail, self._version(row, now))
                    )
                    delay = answer.retry_after_s
                    if delay is None:
                        delay = min(self.retry_base_s * 2 ** (attempts - 1), self.retry_max_s)
                    await self._sleep(min(delay, 3600.0))
        finally:
            lane, users = self._lanes[n.lane]
            if users > 1:
                self._lanes[n.lane] = (lane, users - 1)
            else:
                del self._lanes[n.lane]

    def _version(self, row: OutboxRow, now: int) -> int:
        return max(now, row.updated_ns + 1, row.notification.created_ns + 1)

    def _finish(self, row: OutboxRow, state: str, attempts: int, answer: str) -> None:
        n = row.notification
        now = self.clock_ns()
        self._pending_rows.append(OutboxRow(n, state, attempts, answer, self._version(row, now) + attempts))
        self.metrics.notifications.labels(n.receiver, n.integration, state).inc()
        if state == "sent":
            self.metrics.latency.labels(n.receiver, n.integration).observe(
                max(0.0, (now - n.created_ns) / 1e9)
            )
        self._backlog -= 1
        self.metrics.backlog.set(self._backlog)

    async def _writer(self) -> None:
        while True:
            await asyncio.sleep(self.write_interval_s)
            await self._write_pending()

    async def _write_pending(self) -> None:
        rows, entries = self._pending_rows, self._pending_log
        if not rows and not entries:
            return
        self._pending_rows, self._pending_log = [], []
        # Shielded: a stop cancels the writer task, and a write queued behind another ClickHouse
        # call would be dropped with the rows it had taken, so a clean stop would re-send them.
        write = asyncio.ensure_future(self._in_db(self.outbox.write, rows, entries))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            await asyncio.wait([write])
            raise
        except Exception:
            pass  # looked at below, for both ways out
        finally:
            failed = write.exception() if write.done() and not write.cancelled() else None
            if failed is not None:  # kept for the next round; a crash meanwhile re-sends with the same key
                log.error("the delivery state could not be written (retrying): %s", failed)
                self._pending_rows = rows + self._pending_rows
                self._pending_log = entries + self._pending_log

    async def _silence_refresher(self) -> None:
        while True:
            await asyncio.sleep(self.silence_refresh_s)
            await self._refresh_silences()

    async def _refresh_silences(self) -> None:
        try:
            self._silences = await self._in_db(self.silence_store.active)
        except Exception as exc:
            log.error("silences could not be read (keeping the last ones): %s", exc)
        if self._wake is not None:
            self._wake.set()

    def _silenced(self, alert: Alert, now_ns: int) -> list[str]:
        return [s.id for s in self._silences if s.active(now_ns) and s.matches(alert.labels, alert.project)]
