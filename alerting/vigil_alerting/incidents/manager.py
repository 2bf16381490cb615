"""Incidents from alert transitions: correlation, reopening, escalation, the timeline.

One ``IncidentManager`` serves every project. The alert loop calls ``observe`` after each
evaluation (with the instances it changed and the transitions) and ``tick`` every round
(escalations due, notifications owed); the API calls ``acknowledge``, ``resolve`` and
``add_note``. Each call passes the ClickHouse client of its own thread. The in-memory state
(open incidents, and resolved ones while they may still reopen) is guarded by one lock, and
every change is written before the lock is released: a timeline event, then a new version of
the incident, INSERT only.

Notifications go through an ``EscalationSink`` on a sender thread of their own: a slow receiver
delays other notifications, never rule evaluation, escalation or the API. ``tick`` records
their results on the timeline.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from clickhouse_connect.driver.client import Client

from vigil_alerting.errors import AlertingError
from vigil_alerting.incidents.config import IncidentConfig
from vigil_alerting.incidents.model import Incident, IncidentAlert, TimelineEvent
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.notify.alert import Alert
from vigil_alerting.notify.notifier import Notifier
from vigil_alerting.rules.model import Rule
from vigil_alerting.state.machine import AlertInstance, Transition

log = logging.getLogger(__name__)
MAX_NOTE = 4000


class IncidentError(AlertingError):
    """A request about an incident that cannot be done (unknown id, wrong status, bad note)."""


class IncidentNotFound(IncidentError):
    pass


class IncidentInputError(IncidentError, ValueError):
    """Bad input about an incident (an empty or too long note)."""


class EscalationSink(Protocol):
    """Where escalation and resolution notifications go. ``step`` is the escalation step's
    index (0-based), or -1 for the resolution notice (``incident.status == "resolved"``).
    Raise to report a failed delivery; the timeline records the error, or what was returned
    (else "ok")."""

    def notify(self, receiver: str, incident: Incident, step: int) -> str | None: ...


def incident_document(incident: Incident) -> dict[str, object]:
    return {
        "id": incident.id,
        "project": incident.project,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "opened_ns": incident.opened_ns,
        "acknowledged_by": incident.acknowledged_by,
        "resolved_by": incident.resolved_by,
        "alerts": [
            {"rule": a.rule, "labels": a.labels, "state": a.state, "value": a.value, "severity": a.severity,
             "example_trace_ids": list(a.example_trace_ids)}
            for a in incident.alerts.values()
        ],
    }  # fmt: skip


class WebhookSink:
    """The receivers of ``VIGIL_INCIDENTS_FILE``: a JSON POST of the incident to each one's URL
    (``{"receiver", "step", "incident": {...}}``); any answer but 2xx is a failure."""

    def __init__(self, urls: dict[str, str], timeout_s: float) -> None:
        self.urls = urls
        self.timeout_s = timeout_s

    def notify(self, receiver: str, incident: Incident, step: int) -> str | None:
        url = self.urls.get(receiver)
        if url is None:
            raise IncidentError(f"no receiver named {receiver!r}")
        body = json.dumps(
            {"receiver": receiver, "step": step, "incident": incident_document(incident)}
        ).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise IncidentError(f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise IncidentError(f"not delivered: {exc}") from None
        return None


class ReceiverSink:
    """Escalation steps naming a receiver of the alertmanager configuration: its integrations
    (webhook, Slack, Telegram, PagerDuty, email) through the notifier's outbox — durable,
    retried, in the delivery log — with the incident's alerts, one group per incident
    (``incident:<id>``: PagerDuty's dedup_key, so the resolution closes what the steps opened).
    A receiver of VIGIL_INCIDENTS_FILE keeps going to ``own`` (its webhook)."""

    def __init__(self, notifier: Notifier, own: EscalationSink, own_names: Collection[str]) -> None:
        self.notifier = notifier
        self.own = own
        self.own_names = frozenset(own_names)

    def notify(self, receiver: str, incident: Incident, step: int) -> str | None:
        if receiver in self.own_names:
            return self.own.notify(receiver, incident, step)
        try:
            ids = self.notifier.notify_receiver(
                receiver,
                f"incident:{incident.id}",
                {"incident": incident.id},
                incident_alerts(incident, step),
            )
        except ValueError as exc:
            raise IncidentError(str(exc)) from None
        return f"queued for delivery: {', '.join(ids)}"


def incident_alerts(incident: Incident, step: int) -> list[Alert]:
    """The incident's alerts as the notifier's receivers see them: the incident's (raised)
    severity, its id and title, the escalation step; all resolved for the resolution notice."""
    out = []
    for a in incident.alerts.values():
        labels = {**a.labels, "severity": incident.severity, "incident": incident.id}
        if "service.name" in labels:
            labels.setdefault("service", labels["service.name"])
        ended = a.resolved_ns if a.state == "resolved" else 0
        if step < 0:
            ended = ended or incident.resolved_ns or incident.updated_ns
        notes = {"summary": incident.title, "incident_status": incident.status,
                 "escalation": f"step {step + 1}" if step >= 0 else "resolved"}  # fmt: skip
        out.append(
            Alert(
                a.fingerprint,
                dict(sorted(labels.items())),
                notes,
                a.joined_ns,
                ended,
                value=a.value,
                threshold=a.threshold,
                example_trace_ids=a.example_trace_ids,
                project=incident.project,
            )
        )
    out.sort(key=lambda x: (x.resolved, x.starts_at_ns, x.fingerprint))
    return out


class _Index:
    """One project's incidents by correlation key and by the fingerprints of their alerts,
    for one ``observe``; kept current as it opens incidents and alerts join them."""

    def __init__(self, incidents: Iterable[Incident]) -> None:
        self.by_key: dict[str, list[Incident]] = {}
        self.by_fp: dict[str, list[Incident]] = {}
        for incident in incidents:
            self.add(incident)

    def add(self, incident: Incident) -> None:
        self.by_key.setdefault(incident.key, []).append(incident)
        for fp in incident.alerts:
            self.joined(incident, fp)

    def joined(self, incident: Incident, fingerprint: str) -> None:
        holders = self.by_fp.setdefault(fingerprint, [])
        if not any(h is incident for h in holders):
            holders.append(incident)

    def holding(self, fingerprint: str) -> list[Incident]:
        return [i for i in self.by_fp.get(fingerprint, []) if i.status != "resolved"]


@dataclass(frozen=True, slots=True)
class _Owed:
    project: str
    incident_id: str
    receiver: str
    step: int
    incident: Incident  # as it was when the notification became owed


Listener = Callable[[Incident], None]


class IncidentManager:
    def __init__(
        self,
        config: IncidentConfig,
        sink: EscalationSink,
        *,
        system_database: str,
        connect: Callable[[], Client],
        tick_s: float = 5.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be positive, got {tick_s}")
        self.config = config
        self._connect = connect  # the sender thread's own client
        self.tick_s = tick_s  # how often the alert loop looks for escalations due
        self.sink = sink
        self.system_database = system_database
        self.clock_ns = clock_ns
        self._lock = threading.RLock()
        self._incidents: dict[tuple[str, str], Incident] = {}  # (project, id) → live incident
        # Owed notifications go to the sender thread, which records each delivery's result.
        self._outbox: queue.Queue[_Owed | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._listeners: list[Listener] = []
        # While observe runs (under the lock): the incidents it changed and their new events.
        self._batch: dict[int, tuple[Incident, list[TimelineEvent]]] | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self, client: Client) -> None:
        """Create the tables and resume the incidents that are open or may still reopen."""
        store = IncidentStore(client, self.system_database)
        store.ensure_schema()
        since = self.clock_ns() - int(self.config.reopen_window_s * 1e9)
        with self._lock:
            self._incidents = {(i.project, i.id): i for i in store.load_live(since)}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener(incident)`` after every change (on the changing thread; keep it quick)."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # --- reading -----------------------------------------------------------------------------
    def live(self, project: str) -> list[Incident]:
        with self._lock:
            return [i.snapshot() for (p, _), i in self._incidents.items() if p == project]

    def live_all(self) -> list[Incident]:
        """Every project's live incidents (triage looks for the high and critical ones)."""
        with self._lock:
            return [i.snapshot() for i in self._incidents.values()]

    def live_one(self, project: str, incident_id: str) -> Incident | None:
        with self._lock:
            found = self._incidents.get((project, incident_id))
            return found.snapshot() if found else None

    # --- from the alert loop -----------------------------------------------------------------
    def key_of(self, labels: dict[str, str], fingerprint: str) -> str:
        keys = self.config.correlate_by
        if keys and all(k in labels for k in keys):
            return "by:" + json.dumps([[k, labels[k]] for k in keys], separators=(",", ":"))
        return f"alert:{fingerprint}"

    def observe(
        self,
        client: Client,
        project: str,
        rule: Rule,
        changed: list[AlertInstance],
        transitions: list[Transition],
        now_ns: int,
    ) -> None:
        """One evaluation of ``rule``: firing alerts open, join or reopen incidents; alerts that
        stop firing leave them (and may resolve them); firing alerts' values are kept current."""
        store = IncidentStore(client, self.system_database)
        with self._lock:
            # One evaluation's changes are written together (see _save): 1,000 alerts firing
            # at once are 2 INSERTs, not 2,000.
            self._batch = {}
            try:
                by_fp = {i.fingerprint: i for i in changed}
                # Looked up once per evaluation, not by a scan of every incident per alert:
                # 1,000 alerts firing at once were 1,000 x 1,000 scans.
                index = _Index(i for (p, _), i in self._incidents.items() if p == project)
                for t in transitions:
                    if t.to_state == "firing":
                        self._fire(store, project, rule, t, by_fp.get(t.fingerprint), now_ns, index)
                    elif t.from_state == "firing":
                        self._stop_firing(store, t, now_ns, index)
                for instance in changed:
                    if instance.state != "firing":
                        continue
                    for incident in index.holding(instance.fingerprint):
                        alert = incident.alerts[instance.fingerprint]
                        alert.value = instance.value
                        if instance.example_trace_ids:
                            alert.example_trace_ids = instance.example_trace_ids
            finally:
                batch, self._batch = self._batch, None
                self._write(store, list(batch.values()), now_ns)

    def _fire(
        self,
        store: IncidentStore,
        project: str,
        rule: Rule,
        t: Transition,
        instance: AlertInstance | None,
        now_ns: int,
        index: _Index,
    ) -> None:
        key = self.key_of(t.labels, t.fingerprint)
        mine = index.by_key.get(key, [])
        current = next((i for i in mine if i.status != "resolved"), None)
        events: list[TimelineEvent] = []
        if current is None:
            window_ns = int(self.config.reopen_window_s * 1e9)
            recent = [i for i in mine if i.status == "resolved" and now_ns - i.resolved_ns <= window_ns]
            if recent:
                current = max(recent, key=lambda i: i.resolved_ns)
                current.status = "triggered"
                current.acknowledged_ns, current.acknowledged_by = 0, ""
                current.resolved_ns, current.resolved_by = 0, ""
                current.raised = 0
                current.notified = []
                events.append(self._event(current, now_ns, "reopened", rule=t.rule, message="fired again"))
            else:
                current = Incident(
                    id=uuid.uuid4().hex, project=project, key=key, title=self._title(t), status="triggered",
                    opened_ns=now_ns, updated_ns=now_ns,
                )  # fmt: skip
                self._incidents[(project, current.id)] = current
                index.add(current)
                events.append(self._event(current, now_ns, "opened", rule=t.rule, message=current.title))
            self._start_escalation(current, t.labels, now_ns)
        current.alerts[t.fingerprint] = IncidentAlert(
            rule=t.rule,
            fingerprint=t.fingerprint,
            labels=dict(t.labels),
            severity=t.labels.get("severity", rule.severity),
            state="firing",
            value=t.value,
            threshold=t.threshold,
            joined_ns=now_ns,
            example_trace_ids=tuple(instance.example_trace_ids if instance else t.example_trace_ids),
        )
        index.joined(current, t.fingerprint)
        current.refresh_severity()
        events.append(
            self._event(
                current, now_ns, "alert_joined", rule=t.rule, fingerprint=t.fingerprint,
                severity=current.severity, message=_alert_text(t),
            )
        )  # fmt: skip
        self._save(store, current, events, now_ns)

    def _stop_firing(self, store: IncidentStore, t: Transition, now_ns: int, index: _Index) -> None:
        # Resolved incidents too: one resolved by hand while this alert fired must not keep it
        # "firing" (were it reopened, it could then never resolve by itself).
        for incident in list(index.by_fp.get(t.fingerprint, [])):
            alert = incident.alerts[t.fingerprint]
            if alert.state != "firing":
                continue
            alert.state, alert.resolved_ns, alert.value = "resolved", now_ns, t.value
            events = [
                self._event(
                    incident, now_ns, "alert_resolved", rule=t.rule, fingerprint=t.fingerprint,
                    message=f"{t.rule}: {t.to_state}",
                )
            ]  # fmt: skip
            if (
                self.config.auto_resolve
                and incident.status != "resolved"
                and all(a.state != "firing" for a in incident.alerts.values())
            ):
                events.append(self._resolve(incident, now_ns, "auto", "every alert resolved"))
            self._save(store, incident, events, now_ns)

    def _start_escalation(self, incident: Incident, labels: dict[str, str], now_ns: int) -> None:
        policy = self.config.policy_for(labels)
        incident.policy = policy.name if policy else ""
        incident.step, incident.round = 0, 0
        incident.next_escalation_ns = now_ns + int(policy.steps[0].after_s * 1e9) if policy else 0

    def tick(self, client: Client, now_ns: int | None = None) -> None:
        """Run the escalation steps due (their notifications go to the sender thread)."""
        now_ns = now_ns or self.clock_ns()
        store = IncidentStore(client, self.system_database)
        with self._lock:
            for incident in list(self._incidents.values()):
                due = incident.next_escalation_ns
                if incident.status != "triggered" or not due or due > now_ns:
                    continue
                self._escalate(store, incident, now_ns)
            self._forget_old(now_ns)

    def _owe(self, incident: Incident, receiver: str, step: int) -> None:
        """Queue a notification for the sender thread (started on first use)."""
        if self._sender is None or not self._sender.is_alive():
            self._sender = threading.Thread(target=self._send_loop, name="vigil-incident-sender", daemon=True)
            self._sender.start()
        self._outbox.put(_Owed(incident.project, incident.id, receiver, step, incident.snapshot()))

    def _send_loop(self) -> None:
        """Deliver owed notifications one by one, off the alert loop: a slow or hanging
        receiver delays other notifications, never rule evaluation or the API. Each result
        goes on the timeline at once, with this thread's own client."""
        client: Client | None = None
        while True:
            item = self._outbox.get()
            if item is None:
                break
            try:
                result = self.sink.notify(item.receiver, item.incident, item.step) or "ok"
            except Exception as exc:  # the timeline says why; escalation goes on
                result = f"failed: {exc}"
                log.warning("incident %s: notifying %s failed: %s", item.incident_id, item.receiver, exc)
            try:
                client = client or self._connect()
                self._record_delivery(client, item, result)
            except Exception:  # storage trouble: the delivery happened; only its record is lost
                log.exception(
                    "incident %s: the notification to %s was not recorded", item.incident_id, item.receiver
                )
                client = None
        if client is not None:
            client.close()

    def _record_delivery(self, client: Client, item: _Owed, result: str) -> None:
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, item.project, item.incident_id)
            at = self.clock_ns()
            what = "resolved" if item.step < 0 else f"step {item.step + 1}"
            event = self._event(
                incident, at, "notified", receiver=item.receiver, result=result, severity=item.incident.severity,
                message=what,
            )  # fmt: skip
            self._save(store, incident, [event], at)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the sender thread after what is queued (called when the alert loop stops)."""
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(timeout_s)
            self._sender = None

    def _escalate(self, store: IncidentStore, incident: Incident, now_ns: int) -> None:
        policy = next((p for p in self.config.policies if p.name == incident.policy), None)
        if policy is None or incident.step >= len(policy.steps):
            incident.next_escalation_ns = 0
            self._save(store, incident, [], now_ns)
            return
        step = policy.steps[incident.step]
        events = []
        before = incident.severity
        if step.raise_severity:
            incident.raised += 1
            incident.refresh_severity()
        events.append(
            self._event(
                incident, now_ns, "escalated", severity=incident.severity,
                message=f"policy {policy.name}, step {incident.step + 1} of {len(policy.steps)}"
                f" (round {incident.round + 1}): severity {before} → {incident.severity}"
                + (f", notifying {step.notify}" if step.notify else ""),
            )
        )  # fmt: skip
        if step.notify:
            self._owe(incident, step.notify, incident.step)
            if step.notify not in incident.notified:
                incident.notified.append(step.notify)
        incident.step += 1
        if incident.step >= len(policy.steps) and incident.round < policy.repeat:
            incident.step, incident.round = 0, incident.round + 1
        if incident.step < len(policy.steps):
            # From when this step was due, so a late tick does not push the schedule back.
            incident.next_escalation_ns = incident.next_escalation_ns + int(
                policy.steps[incident.step].after_s * 1e9
            )
        else:
            incident.next_escalation_ns = 0
        self._save(store, incident, events, now_ns)

    def _forget_old(self, now_ns: int) -> None:
        """Resolved incidents leave memory once they can no longer reopen (the store keeps them)."""
        window_ns = int(self.config.reopen_window_s * 1e9)
        for key, incident in list(self._incidents.items()):
            if incident.status == "resolved" and now_ns - incident.resolved_ns > window_ns:
                del self._incidents[key]

    # --- from the API ------------------------------------------------------------------------
    def _get_live(self, store: IncidentStore, project: str, incident_id: str) -> Incident:
        incident = self._incidents.get((project, incident_id))
        if incident is None:
            stored = store.get(project, incident_id)
            if stored is None:
                raise IncidentNotFound(f"no incident {incident_id!r} in this project")
            incident = stored  # resolved long ago: notes still go on its timeline
            incident.seq = max([incident.seq, *(e.seq for e in store.timeline(project, incident_id))])
        return incident

    def acknowledge(self, client: Client, project: str, incident_id: str, by: str) -> Incident:
        """Stops escalation; a resolved incident cannot be acknowledged."""
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, project, incident_id)
            if incident.status == "resolved":
                raise IncidentError(f"incident {incident_id} is resolved; it cannot be acknowledged")
            if incident.status == "acknowledged":
                return incident.snapshot()
            now = self.clock_ns()
            incident.status = "acknowledged"
            incident.acknowledged_ns, incident.acknowledged_by = now, by
            incident.next_escalation_ns = 0
            self._save(store, incident, [self._event(incident, now, "acknowledged", actor=by)], now)
            return incident.snapshot()

    def resolve(self, client: Client, project: str, incident_id: str, by: str) -> Incident:
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, project, incident_id)
            if incident.status == "resolved":
                return incident.snapshot()
            now = self.clock_ns()
            event = self._resolve(incident, now, by, "resolved by hand")
            self._save(store, incident, [event], now)
            if (project, incident_id) not in self._incidents:
                self._incidents[(project, incident_id)] = incident
            return incident.snapshot()

    def add_note(self, client: Client, project: str, incident_id: str, by: str, text: str) -> Incident:
        text = text.strip()
        if not text or len(text) > MAX_NOTE:
            raise IncidentInputError(f"a note must have 1 to {MAX_NOTE} characters, got {len(text)}")
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, project, incident_id)
            now = self.clock_ns()
            self._save(store, incident, [self._event(incident, now, "note", actor=by, message=text)], now)
            return incident.snapshot()

    def record_action(
        self, client: Client, project: str, incident_id: str, by: str, action: str, result: str
    ) -> Incident:
        """For the response issue: an action run on the incident's behalf, on its timeline."""
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, project, incident_id)
            now = self.clock_ns()
            event = self._event(incident, now, "action_run", actor=by, result=result, message=action)
            self._save(store, incident, [event], now)
            return incident.snapshot()

    def record_triage(
        self,
        client: Client,
        project: str,
        incident_id: str,
        *,
        by: str,
        model: str,
        result: str,
        severity: str,
        text: str,
    ) -> Incident:
        """A triage analysis or summary (vigil_alerting.triage), on the timeline: ``receiver`` is
        the model (or ``summary``), ``result`` its outcome with tokens and cost."""
        store = IncidentStore(client, self.system_database)
        with self._lock:
            incident = self._get_live(store, project, incident_id)
            now = self.clock_ns()
            event = self._event(
                incident,
                now,
                "triage",
                actor=by,
                receiver=model,
                result=result,
                severity=severity,
                message=text,
            )
            self._save(store, incident, [event], now)
            return incident.snapshot()

    # --- helpers -----------------------------------------------------------------------------
    def _resolve(self, incident: Incident, now_ns: int, by: str, why: str) -> TimelineEvent:
        incident.status = "resolved"
        incident.resolved_ns, incident.resolved_by = now_ns, by
        incident.next_escalation_ns = 0
        policy = next((p for p in self.config.policies if p.name == incident.policy), None)
        if policy is not None and policy.send_resolved:
            for receiver in incident.notified:
                self._owe(incident, receiver, -1)
        return self._event(incident, now_ns, "resolved", actor=by, message=why)

    def _event(self, incident: Incident, at_ns: int, kind: str, **fields: str) -> TimelineEvent:
        incident.seq += 1
        return TimelineEvent(incident.id, incident.seq, uuid.uuid4().hex, at_ns, kind, **fields)

    def _save(
        self, store: IncidentStore, incident: Incident, events: list[TimelineEvent], now_ns: int
    ) -> None:
        if self._batch is not None:  # inside observe: written once, at its end
            _, owed = self._batch.setdefault(id(incident), (incident, []))
            owed.extend(events)
            return
        self._write(store, [(incident, events)], now_ns)

    def _write(
        self, store: IncidentStore, changes: list[tuple[Incident, list[TimelineEvent]]], now_ns: int
    ) -> None:
        """A new version of each changed incident (one per incident, however many of its
        alerts changed in the evaluation), then its listeners."""
        for incident, _ in changes:
            incident.version += 1
            incident.updated_ns = now_ns
        store.save_many(changes)
        for incident, _ in changes:
            snapshot = incident.snapshot()
            for listener in list(self._listeners):
                try:
                    listener(snapshot)
                except Exception:  # one broken watcher must not stop the others
                    log.exception("incident listener failed")

    @staticmethod
    def _title(t: Transition) -> str:
        shown = {k: v for k, v in t.labels.items() if k not in ("alertname", "severity")}
        if list(shown.values()).count(shown.get("target")) > 1:
            del shown["target"]  # the target attribute's value, already shown under its own name
        group = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        return f"{t.rule}: {group}" if group else t.rule


def _alert_text(t: Transition) -> str:
    value = "no value" if t.value is None else f"{t.value:g}"
    return f"{t.rule} firing: {value} (threshold {t.threshold})"
