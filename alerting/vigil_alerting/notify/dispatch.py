"""Routing, grouping and timing, as Alertmanager defines them; free of I/O and of clocks.

Each alert is routed down the tree (the first matching child, more with ``continue``) to one or
more routes; per route, the values of its ``group_by`` labels make the group. A group is
flushed ``group_wait`` after it was created, then (when its alerts change) no sooner than
``group_interval`` after its previous flush, and, while it fires unchanged, again every
``repeat_interval`` after the last notification (Vigil schedules the repeat itself rather than
on the next group_interval tick, so a 3 s repeat is 3 s). A flush asks each integration of
the route's receiver whether it needs a notification (Alertmanager's DedupStage): a firing alert
it was not told about, all alerts resolved, a newly resolved alert when it sends resolved,
or the repeat interval passed. Muted routes (time intervals), silenced and inhibited alerts
are filtered at flush time. A group whose firing alerts all belong to acknowledged incidents is
not re-sent on its repeat interval (someone is on it); a new alert or a resolution still goes
out. The notification log (what each integration was last told) is
seeded from the outbox at start, so a restart does not repeat what was already sent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vigil_alerting.notify.alert import Alert, Notification
from vigil_alerting.notify.config import Config, Receiver, Route
from vigil_alerting.notify.inhibit import Inhibitor
from vigil_alerting.notify.matchers import matches_all

KINDS = ("webhook", "slack", "telegram", "pagerduty", "email")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What one integration was last told about one group (Alertmanager's nflog entry)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at_ns: int


@dataclass(slots=True)
class Group:
    route: Route
    key: str
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    created_ns: int = 0
    flushed_ns: int | None = None  # None = never
    next_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    fingerprint: str
    labels: dict[str, str]
    reason: str  # "silenced by <ids>", "inhibited", "muted by <interval>", "" = no longer
    project: str = ""  # the alert's (the delivery log is per project)


def integrations(receiver: Receiver) -> list[tuple[str, int, bool]]:
    out = []
    for kind in KINDS:
        for i, cfg in enumerate(getattr(receiver, f"{kind}_configs")):
            out.append((kind, i, cfg.send_resolved))
    return out


def route_alert(route: Route, labels: dict[str, str]) -> list[Route]:
    """The routes an alert goes to (Alertmanager's Route.Match)."""
    if not matches_all(route.matchers, labels):
        return []
    out: list[Route] = []
    for child in route.routes:
        hits = route_alert(child, labels)
        out.extend(hits)
        if hits and not child.continue_:
            break
    return out or [route]


def group_labels(route: Route, labels: dict[str, str]) -> dict[str, str]:
    if route.group_by_all:
        return dict(sorted(labels.items()))
    return {k: labels[k] for k in sorted(route.group_by) if k in labels}


def group_key(route: Route, glabels: dict[str, str], project: str = "") -> str:
    """Alertmanager's key, and the project when it is not the home one: two projects' alerts
    with the same labels are two groups (notified, and PagerDuty-deduplicated, apart). The
    home project's keys stay as they were before projects, so an upgraded server neither
    re-sends its firing groups nor orphans their PagerDuty incidents."""
    inner = ",".join(f"{k}={v!r}" for k, v in glabels.items())
    return f"{route.key}:{{{inner}}}" + (f"@{project}" if project else "")


class Dispatcher:
    """Not thread-safe: the notifier's loop is its only user."""

    def __init__(
        self,
        config: Config,
        *,
        silenced: Callable[[Alert, int], list[str]] = lambda alert, now: [],
        acknowledged: Callable[[str], bool] = lambda fingerprint: False,
        external_url: str = "",
        log: dict[tuple[str, str, str, int], LogEntry] | None = None,
        home_project: str = "",
    ) -> None:
        # Alerts are known by Alert.key (project and fingerprint) in the maps below; a group's
        # alerts, all of one project, by their fingerprints (as the notification log has them).
        self.config = config
        self.silenced = silenced
        self.acknowledged = acknowledged  # alert key → in an acknowledged incident
        self.quiet: set[str] = set()  # keys of alerts whose repeats an acknowledgement stopped (for the log)
        self.external_url = external_url
        self.home_project = home_project  # its group keys name no project (see group_key)
        self.alerts: dict[str, Alert] = {}
        self.groups: dict[str, Group] = {}
        self.placed: dict[str, set[str]] = {}  # alert key → the keys of the groups holding it
        self.nflog: dict[tuple[str, str, str, int], LogEntry] = dict(log or {})
        self.inhibitor = Inhibitor(config.inhibit_rules)
        self.suppressed: dict[str, str] = {}  # alert key → reason, for the delivery log

    def set_config(self, config: Config, now_ns: int) -> None:
        """A reloaded configuration: regroup the alerts in force; groups that still exist keep
        their timing (their keys are the same)."""
        self.config = config
        self.inhibitor = Inhibitor(config.inhibit_rules)
        old = self.groups
        self.groups = {}
        self.placed = {}
        for alert in self.alerts.values():
            self._place(alert, now_ns, reschedule=False)
        for key, group in self.groups.items():
            if key in old:
                group.created_ns, group.flushed_ns, group.next_ns = (
                    old[key].created_ns,
                    old[key].flushed_ns,
                    old[key].next_ns,
                )

    def observe(self, alerts: Iterable[Alert], now_ns: int) -> None:
        """Alerts as they are now (firing or resolved); others are left as they were."""
        for alert in alerts:
            prev = self.alerts.get(alert.key)
            if prev is None and alert.resolved:
                continue  # resolved before anyone was told it fired
            if prev is not None and prev.resolved == alert.resolved and prev.labels == alert.labels:
                self.alerts[alert.key] = alert  # value, traces: carried, no reschedule
                for key in self.placed.get(alert.key, ()):
                    self.groups[key].alerts[alert.fingerprint] = alert
                continue
            self.alerts[alert.key] = alert
            self._place(alert, now_ns)

    def _place(self, alert: Alert, now_ns: int, *, reschedule: bool = True) -> None:
        for route in route_alert(self.config.route, alert.labels):
            glabels = group_labels(route, alert.labels)
            key = group_key(route, glabels, "" if alert.project == self.home_project else alert.project)
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = Group(route, key, glabels, created_ns=now_ns)
                group.next_ns = now_ns + int(route.group_wait_s * 1e9)
            group.alerts[alert.fingerprint] = alert
            self.placed.setdefault(alert.key, set()).add(key)
            if reschedule and group.flushed_ns is not None:
                # A changed group waits for group_interval after its last flush.
                due = max(now_ns, group.flushed_ns + int(route.group_interval_s * 1e9))
                group.next_ns = min(group.next_ns, due) if group.next_ns is not None else due

    def next_wake_ns(self) -> int | None:
        return min((g.next_ns for g in self.groups.values() if g.next_ns is not None), default=None)

    def flush_due(self, now_ns: int) -> tuple[list[Notification], list[Suppression]]:
        """The notifications owed now, and the alerts whose suppression changed."""
        due = [g for g in self.groups.values() if g.next_ns is not None and g.next_ns <= now_ns]
        if not due:
            return [], []
        index = self.inhibitor.index(self.alerts.values())
        out: list[Notification] = []
        changes: list[Suppression] = []
        for group in due:
            out.extend(self._flush(group, now_ns, index, changes))
        return out, changes

    def _muted(self, route: Route, now_ns: int) -> str:
        when = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
        ti = self.config.time_intervals
        for name in route.mute_time_intervals:
            if ti[name].contains(when):
                return f"muted by time interval {name}"
        if route.active_time_intervals and not any(ti[n].contains(when) for n in route.active_time_intervals):
            return "outside the route's active time intervals"
        return ""

    def _flush(
        self,
        group: Group,
        now_ns: int,
        index: list[dict[tuple[str, ...], set[str]]],
        changes: list[Suppression],
    ) -> list[Notification]:
        route = group.route
        muted = self._muted(route, now_ns)
        send: list[Alert] = []
        for alert in group.alerts.values():
            reason = muted
            if not reason and not alert.resolved:
                ids = self.silenced(alert, now_ns)
                reason = f"silenced by {', '.join(ids)}" if ids else ""
                if not reason and self.inhibitor.inhibited(alert, index):
                    reason = "inhibited"
            if reason != self.suppressed.get(alert.key, ""):
                changes.append(Suppression(alert.fingerprint, alert.labels, reason, alert.project))
                if reason:
                    self.suppressed[alert.key] = reason
                else:
                    self.suppressed.pop(alert.key, None)
            if not reason:
                send.append(alert)
        send.sort(key=lambda a: (a.resolved, a.starts_at_ns, a.fingerprint))
        firing = frozenset(a.fingerprint for a in send if not a.resolved)
        resolved = frozenset(a.fingerprint for a in send if a.resolved)
        receiver = self.config.receivers[route.receiver]
        out: list[Notification] = []
        repeat_ns = int(route.repeat_interval_s * 1e9)
        acked = bool(firing) and all(self.acknowledged(group.alerts[fp].key) for fp in firing)
        self._note_quiet(group, firing, acked, changes)
        for kind, i, send_resolved in integrations(receiver):
            lkey = (group.key, route.receiver, kind, i)
            entry = self.nflog.get(lkey)
            if not _needs_update(entry, firing, resolved, send_resolved, repeat_ns, now_ns, acked):
                continue
            self.nflog[lkey] = LogEntry(firing, resolved, now_ns)
            alerts = tuple(send if send_resolved else [a for a in send if not a.resolved])
            if not alerts:
                continue  # all resolved, not sent to this integration: only the log is cleared
            out.append(
                Notification(
                    id=uuid.uuid4().hex,
                    created_ns=now_ns,
                    receiver=route.receiver,
                    integration=kind,
                    index=i,
                    group_key=group.key,
                    group_labels=group.labels,
                    alerts=alerts,
                    external_url=self.external_url,
                )
            )
        group.flushed_ns = now_ns
        # Resolved alerts leave the group once flushed; an empty group is gone.
        for a in [a for a in group.alerts.values() if a.resolved]:
            del group.alerts[a.fingerprint]
            holders = self.placed.get(a.key, set())
            holders.discard(group.key)
            if not holders:
                self.placed.pop(a.key, None)
                self.alerts.pop(a.key, None)
                self.suppressed.pop(a.key, None)
        if not group.alerts:
            del self.groups[group.key]
            return out
        if firing and not muted:
            told = [self.nflog.get((group.key, route.receiver, k, i)) for k, i, _ in integrations(receiver)]
            repeats = [e.at_ns + repeat_ns for e in told if e is not None and e.firing]
            group.next_ns = max(min(repeats, default=now_ns + repeat_ns), now_ns + 1)
            if acked:  # the repeat stays owed (and unsent) while acknowledged: not a busy loop
                group.next_ns = max(group.next_ns, now_ns + int(route.group_interval_s * 1e9))
            if any(a.key in self.suppressed for a in group.alerts.values()):
                # Some alerts are silenced or inhibited: look again every group_interval, as
                # Alertmanager's ticks do, so they go out soon after that ends.
                group.next_ns = min(group.next_ns, now_ns + int(route.group_interval_s * 1e9))
        else:
            # Everything here is muted, silenced or inhibited: look again every group_interval.
            group.next_ns = now_ns + int(route.group_interval_s * 1e9)
        return out

    def _note_quiet(
        self, group: Group, firing: frozenset[str], acked: bool, changes: list[Suppression]
    ) -> None:
        """The delivery log says when an acknowledgement stopped a group's repeats, and when they resumed."""
        for fp in firing:
            key = group.alerts[fp].key
            if acked and key not in self.quiet:
                self.quiet.add(key)
                changes.append(
                    Suppression(
                        fp, group.alerts[fp].labels, "acknowledged: repeats stopped", group.alerts[fp].project
                    )
                )
            elif not acked and key in self.quiet:
                self.quiet.discard(key)
                changes.append(
                    Suppression(fp, group.alerts[fp].labels, "repeats resumed", group.alerts[fp].project)
                )
        for key in [k for k in self.quiet if k not in self.alerts or self.alerts[k].resolved]:
            self.quiet.discard(key)


def _needs_update(
    entry: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    send_resolved: bool,
    repeat_ns: int,
    now_ns: int,
    acknowledged: bool = False,
) -> bool:
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return not acknowledged and entry.at_ns + repeat_ns <= now_ns
