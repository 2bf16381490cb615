"""Every project's rules, evaluated by one thread: the alerting side of ``vigil serve``.

``Alerting`` keeps a ``Runner`` per project (keyed by the project's telemetry database, which
is also the ``Project`` column of the alert tables) and one loop that drives them all with one
ClickHouse client; it is the only user of that client. The API's threads change rules through
``put_rule`` / ``drop_rule`` (after writing them to the system database on their own clients)
and read alerts and status from the runners' in-memory state.

Rules come from two places: ``VIGIL_RULES_FILE`` (read-only through the API; a policy applies
to the default project unless it names a ``project``) and the API (``vigil_alert_rules``).
A name is one rule per project: an API rule may not take a file rule's name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_alerting.actions.queue import ActionQueue
from vigil_alerting.background import LoopThread
from vigil_alerting.errors import RuleError
from vigil_alerting.incidents.manager import IncidentManager, ReceiverSink
from vigil_alerting.incidents.model import Incident
from vigil_alerting.metrics import Snapshot
from vigil_alerting.notify.config import load_config
from vigil_alerting.notify.errors import NotifyConfigError
from vigil_alerting.notify.notifier import Notifier
from vigil_alerting.rules.load import load_file, parse_rule
from vigil_alerting.rules.model import Rule
from vigil_alerting.runner import Runner, RunnerStatus
from vigil_alerting.state import rules_store
from vigil_alerting.state.store import AlertStore
from vigil_alerting.triage.runner import Triage

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "default"
# (slug, telemetry database) of every live project, the default one first.
ProjectList = Callable[[Client], list[tuple[str, str]]]


@dataclass(frozen=True)
class Reloaded:
    """What ``Alerting.reload_files`` put in force."""

    rules: list[Rule] | None  # the rules file's policies; None without a rules file
    alertmanager_config: Path | None  # the Alertmanager configuration re-read; None without one


class Alerting:
    def __init__(
        self,
        connect: Callable[[], Client],
        projects: ProjectList,
        *,
        system_database: str,
        rules_file: Path | None,
        default_interval_s: float,
        on_evaluation: Callable[[str, float], None] | None = None,
        builtin_rules: list[Rule] | None = None,
        incidents: IncidentManager | None = None,
        notifier: Callable[[], Notifier] | None = None,
        actions: ActionQueue | None = None,
    ) -> None:
        self.actions = actions  # auto-remediation (docs/actions.md): opened, started, stopped here
        self.incidents = incidents  # fed by every runner; its escalations tick in this loop
        self.triage: Triage | None = None  # analyses of high/critical incidents (docs/incidents.md)
        # Made at open (it holds a client of its own): the alerts' changes go to it from
        # every runner, and it delivers them on its own thread.
        self._make_notifier = notifier
        self.notifier: Notifier | None = None
        self._connect = connect
        self.builtin_rules = builtin_rules or []  # every project's (rules/builtin.py)
        self._projects = projects
        self.system_database = system_database
        self.rules_file = rules_file
        self.default_interval_s = default_interval_s
        self._on_evaluation = on_evaluation
        self._client: Client | None = None
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()  # one reload of the files at a time (SIGHUP, RPC)
        self._worker = LoopThread("vigil-alerting", self._loop)
        self._stop, self._wake = self._worker.stopping, self._worker.wake
        self.runners: dict[str, Runner] = {}  # by project database
        self.slugs: dict[str, str] = {}  # project database → slug
        self.file_rules: list[Rule] = []
        self._projects_checked = 0.0

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Tables, the rules file (RuleFileError if bad: the server should not start with rules
        it cannot read), every project's runner with its instances resumed."""
        if self.rules_file is not None:
            self.file_rules = load_file(self.rules_file)
        self._client = self._connect()
        AlertStore(self._client, self.system_database).ensure_schema()
        rules_store.ensure(self._client, self.system_database)
        if self.incidents is not None:
            self.incidents.open(self._client)
        if self._make_notifier is not None and self.notifier is None:
            notifier = self._make_notifier()
            notifier.open()  # NotifyConfigError: as a bad rules file, the start stops
            self.notifier = notifier
            if self.incidents is not None:
                self._incidents_through(notifier, self.incidents)
        if self.actions is not None:
            self.actions.open()
        if self.triage is not None:
            self.triage.open()
        self._sync_projects()

    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        if self.actions is not None:
            self.actions.start()
        if self.triage is not None:
            self.triage.start()
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop (after the evaluation in progress), then close its client."""
        self._worker.stop(timeout_s)
        if self.triage is not None:
            self.triage.stop(timeout_s)
        if self.incidents is not None:
            self.incidents.close(timeout_s)
        if self.notifier is not None:
            self.notifier.stop(timeout_s)
            self.notifier = None
        if self.actions is not None:
            self.actions.stop(timeout_s)
        if self._client is not None:
            self._client.close()
            self._client = None

    @staticmethod
    def _incidents_through(notifier: Notifier, incidents: IncidentManager) -> None:
        """Escalation steps naming an alertmanager receiver go through the notifier's outbox;
        an acknowledged incident stops the repeats of its alerts' groups (docs/incidents.md)."""
        incidents.sink = ReceiverSink(notifier, incidents.sink, incidents.config.receivers)
        told: dict[tuple[str, str], frozenset[str]] = {}  # acknowledged incidents → their alerts, as told

        def acknowledged(incident: Incident) -> None:
            # Only changes are handed over: 1,000 incidents opened at once are not 1,000 calls.
            key, alerts = (incident.project, incident.id), frozenset(incident.alerts)
            if incident.status == "acknowledged":
                if told.get(key) != alerts:
                    told[key] = alerts
                    notifier.set_acknowledged(alerts, True, incident.project)
            elif key in told:
                del told[key]
                notifier.set_acknowledged(alerts, False, incident.project)

        incidents.subscribe(acknowledged)  # before the seeding: no acknowledgement is missed
        for incident in incidents.live_all():
            acknowledged(incident)

    @property
    def running(self) -> bool:
        return self._worker.running

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._projects_checked >= self.default_interval_s:
                    self._sync_projects()
                for runner in list(self.runners.values()):
                    if self._stop.is_set():
                        break
                    runner.evaluate_due()
                if self.incidents is not None and self._client is not None:
                    self.incidents.tick(self._client)
            except Exception:  # the loop itself must survive anything
                log.exception("alerting: evaluation round failed")
            self._wake.wait(self._wait_s())
            self._wake.clear()

    def _wait_s(self) -> float:
        now = time.time_ns()
        due = [
            s.next_due_ns
            for r in list(self.runners.values())
            for n, s in list(r.status_of.items())
            if n in r.rules and r.rules[n].enabled
        ]
        wait = min(due, default=now + int(self.default_interval_s * 1e9)) - now
        longest = self.default_interval_s
        if self.incidents is not None:
            longest = min(longest, self.incidents.tick_s)
        return max(0.0, min(wait / 1e9, longest))

    def _sync_projects(self) -> None:
        """A runner for every project not seen yet (a project made since the last check)."""
        assert self._client is not None
        self._projects_checked = time.monotonic()
        for slug, database in self._projects(self._client):
            if database in self.runners:
                continue
            runner = Runner(
                self._client,
                telemetry_database=database,
                system_database=self.system_database,
                default_interval_s=self.default_interval_s,
                project=database,
                on_evaluation=self._on_evaluation,
                wake=self._wake,
                on_change=self._on_change_of(database),
            )
            runner.open()
            api = rules_store.load(self._client, self.system_database, database).get(database, [])
            api_rules = []
            for policy in api:
                try:
                    api_rules.append(parse_rule(policy, source="api"))
                except RuleError as exc:  # stored by an older version that accepted it
                    log.error("project %s: stored rule not loaded: %s", slug, exc)
            with self._lock:
                self.slugs[database] = slug
                self.runners[database] = runner
                # A built-in rule naming a project (self-monitoring: the default one) is its only.
                builtin = [r for r in self.builtin_rules if (r.project or slug) == slug]
                taken = {r.name for r in [*self._file_rules_of(slug), *builtin]}
                runner.set_rules(
                    [
                        *self._file_rules_of(slug),
                        *builtin,
                        *(r for r in api_rules if r.name not in taken),
                    ]
                )
            log.info("alerting: project %s, %d rules", slug, len(runner.rules))

    def _on_change_of(self, database: str) -> Callable[..., None] | None:
        """What a runner calls with the instances an evaluation changed: the notifier first (an
        instance keeps firing in the notifier until it is seen resolved, so the changes are all
        it needs; it only queues them for its own thread, so the first delivery never waits for
        the incidents' writes), then incidents, then actions (which name the incident)."""
        if self.incidents is None and self.notifier is None and self.actions is None:
            return None

        def observe(rule: Rule, changed: list[Any], transitions: list[Any], now_ns: int) -> None:
            if self.notifier is not None:
                self.notifier.observe(changed, annotations={rule.name: _annotations(rule)}, project=database)
            if self.incidents is not None:
                assert self._client is not None
                self.incidents.observe(self._client, database, rule, changed, transitions, now_ns)
            # --- actions (docs/actions.md): auto_remediate rules enqueue their action ---
            if self.actions is not None:
                self.actions.observe(database, rule, transitions, lambda fp: self._incident_of(database, fp))

        return observe

    def _incident_of(self, database: str, fingerprint: str) -> str:
        """The open incident holding an alert ("" without one): an action's trigger."""
        if self.incidents is None:
            return ""
        live = [
            i for i in self.incidents.live(database) if i.status != "resolved" and fingerprint in i.alerts
        ]
        return live[0].id if live else ""

    def _file_rules_of(self, slug: str) -> list[Rule]:
        return [r for r in self.file_rules if (r.project or DEFAULT_PROJECT) == slug]

    # --- rules ---------------------------------------------------------------------------
    def _set_file_rules(self, rules: list[Rule]) -> None:
        """Put the rules file's (parsed) policies in force in every project."""
        with self._lock:
            self.file_rules = rules
            for database, runner in self.runners.items():
                api = [r for r in runner.rules.values() if r.source != "file"]
                taken = {r.name for r in self._file_rules_of(self.slugs[database])}
                for clash in [r.name for r in api if r.name in taken]:
                    log.warning("rules file: %r replaces the API rule of that name", clash)
                runner.set_rules(
                    [*self._file_rules_of(self.slugs[database]), *(r for r in api if r.name not in taken)]
                )
        log.info("rules reloaded from %s: %d policies", self.rules_file, len(rules))

    def reload_files(self) -> Reloaded:
        """SIGHUP and ReloadRules: the rules file and the Alertmanager configuration. Each file
        is read and parsed once, both before either is applied, and what was parsed is what is
        applied (a file changed meanwhile waits for the next reload), so a bad one
        (RuleFileError, NotifyConfigError: with its file and path) changes neither and everything
        in force stays. Reloads run one at a time (a SIGHUP and an RPC at once do not interleave)."""
        notifier = self.notifier
        am_config = notifier.config_path if notifier is not None else None
        if self.rules_file is None and am_config is None:
            raise RuleError(
                "nothing to reload: neither a rules file (VIGIL_RULES_FILE) nor an Alertmanager"
                " configuration (VIGIL_ALERTMANAGER_CONFIG) is configured"
            )
        with self._reload_lock:
            rules = load_file(self.rules_file) if self.rules_file is not None else None
            config = None
            if am_config is not None:
                config = load_config(am_config)
                self._check_escalation_receivers(am_config, config.receivers)
            if rules is not None:
                self._set_file_rules(rules)
            if notifier is not None and config is not None:
                notifier.apply_config(config)
        return Reloaded(rules, am_config)

    def _check_escalation_receivers(self, am_config: Path, receivers: Collection[str]) -> None:
        """As at the start: every Alertmanager receiver an escalation step names must stay."""
        if self.incidents is None:
            return
        config = self.incidents.config
        named = {s.notify for p in config.policies for s in p.steps if s.notify} - set(config.receivers)
        missing = sorted(named - set(receivers))
        if missing:
            raise NotifyConfigError(
                f"escalation steps of the incidents file name {', '.join(map(repr, missing))},"
                " which this configuration no longer has",
                file=str(am_config),
                path="receivers",
            )

    def runner(self, database: str) -> Runner:
        with self._lock:
            runner = self.runners.get(database)
        if runner is None:
            raise RuleError("this project's alert rules are not loaded yet; retry shortly")
        return runner

    def put_rule(self, database: str, rule: Rule) -> None:
        with self._lock:
            runner = self.runner(database)
            runner.set_rules([*(r for n, r in runner.rules.items() if n != rule.name), rule])

    def drop_rule(self, database: str, name: str) -> None:
        with self._lock:
            runner = self.runner(database)
            runner.set_rules([r for n, r in runner.rules.items() if n != name])

    # --- reading -------------------------------------------------------------------------
    def status(self, database: str) -> RunnerStatus:
        status = self.runner(database).status()
        return RunnerStatus(
            enabled=True,
            running=self.running,
            interval_s=status.interval_s,
            rules=status.rules,
            last_evaluation_ns=status.last_evaluation_ns,
            evaluations=status.evaluations,
            failures=status.failures,
            per_rule=status.per_rule,
        )

    def snapshot(self) -> Snapshot:
        """For ``vigil_alerts``: per project, its instances and its rules' severities."""
        with self._lock:
            runners = list(self.runners.items())
        return [
            (self.slugs.get(db, db), runner.alerts(), {n: r.severity for n, r in list(runner.rules.items())})
            for db, runner in runners
        ]


def _annotations(rule: Rule) -> dict[str, str]:
    """What a notification says about the rule beside the alert's labels."""
    found = {"description": rule.description} if rule.description else {}
    if rule.action:
        found["action"] = rule.action
    return found
