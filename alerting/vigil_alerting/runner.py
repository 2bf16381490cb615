"""The evaluation loop: every rule at its interval → evaluate → state machine → history.

``Runner`` holds the rules in force (from ``VIGIL_RULES_FILE`` and, later, the API), the alert
instances (resumed from the system database at start), and per-rule counters. Each evaluation
has a deadline equal to the rule's interval: ClickHouse stops the query there
(``max_execution_time``), and an evaluation that still overran is discarded and recorded as an
error. A failing rule is recorded (``vigil_rule_evaluation_errors``), counted, and retried at
its next interval; it never stops the others. ``reload()`` parses the whole file first and
swaps the rules only if it is valid, so a bad file leaves the previous rules in force.

One evaluator per project (how a second process is kept from double-evaluating)
------------------------------------------------------------------------------
Layer 1 and the lease of layer 2 exist (``server/vigil_server/worker_lease.py``, the rules' loop
as a job of ``--role worker``); the fencing token in the rows below is not implemented. Two layers:

1. Only one process is meant to evaluate: the ``worker`` role (``all`` in the all-in-one
   server, where the single embedded chDB directory already excludes a second process).
   ``query`` and ``collector`` processes never start a Runner.
2. A lease row guards against two workers by mistake (a rolling deploy, a split brain): table
   ``vigil_worker_lease(Project, Holder, Token UInt64, ExpiresNs Int64)``,
   ReplacingMergeTree(Token) ORDER BY Project, read FINAL with
   ``select_sequential_consistency = 1`` on a cluster. To acquire, a worker reads the row;
   if it is expired (or its own), it inserts ``Token = old + 1, Holder = me``, reads back,
   and holds the lease only if the row read back is its own (a race resolves to the highest
   (Token, Holder); the loser sees the winner's row and backs off). It renews at a third of
   the lease time and stops evaluating as soon as a renewal fails or it sees another holder.
   The token is a fencing token: every instance and transition row carries it, and readers
   take per instance the row with the highest token, so a paused old holder that wakes up and
   writes late cannot overwrite the new holder's state; notifications (next issue) carry it in
   their idempotency key so a late duplicate is recognisable.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.client import Client

from vigil_alerting.background import LoopThread
from vigil_alerting.errors import EvaluationError
from vigil_alerting.evaluate.evaluator import RuleResult, evaluate_rule
from vigil_alerting.evaluate.sandbox import SandboxResult, evaluate_sample
from vigil_alerting.rules.load import load_file
from vigil_alerting.rules.model import Rule
from vigil_alerting.state.machine import AlertInstance, Observation, Transition, new_instance, step
from vigil_alerting.state.store import AlertStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RuleStatus:
    """What the runner knows about one rule (GetRunnerStatus shows these)."""

    interval_s: float
    next_due_ns: int = 0
    last_evaluation_ns: int = 0
    last_seconds: float = 0.0
    evaluations: int = 0
    failures: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    enabled: bool
    running: bool
    interval_s: float
    rules: int
    last_evaluation_ns: int
    evaluations: int
    failures: int
    per_rule: dict[str, RuleStatus] = field(default_factory=dict)


class Runner:
    """Evaluates rules at their intervals. Not thread-safe by itself: either call
    ``evaluate_due`` from one thread, or ``start`` the runner's own thread, which then is the
    only user of ``client``."""

    def __init__(
        self,
        client: Client,
        *,
        telemetry_database: str,
        system_database: str,
        rules_file: Path | None = None,
        default_interval_s: float = 30.0,
        clock_ns: Callable[[], int] = time.time_ns,
        project: str = "",
        on_evaluation: Callable[[str, float], None] | None = None,
        wake: threading.Event | None = None,
        on_change: Callable[[Rule, list[AlertInstance], list[Transition], int], None] | None = None,
    ) -> None:
        if default_interval_s <= 0:
            raise ValueError(f"default_interval_s must be positive, got {default_interval_s}")
        self.client = client
        self.telemetry_database = telemetry_database
        self.rules_file = rules_file
        self.default_interval_s = default_interval_s
        self.clock_ns = clock_ns
        self.project = project
        self.store = AlertStore(client, system_database, project)
        # (result "ok" | "error", seconds) of every evaluation: the /metrics counters.
        self.on_evaluation = on_evaluation or (lambda result, seconds: None)
        # After each evaluation's state is saved: the instances changed and the transitions
        # (incidents follow them).
        self.on_change = on_change
        self.rules: dict[str, Rule] = {}
        self.status_of: dict[str, RuleStatus] = {}
        self.instances: dict[tuple[str, str], AlertInstance] = {}
        self._resumed: set[tuple[str, str]] = set()  # loaded by open(), not yet reported
        self._lock = threading.Lock()  # rules and status, read by API threads
        # wake: set when the rules change; shared with a loop that drives several runners.
        self._worker = LoopThread("vigil-alert-runner", self._loop, wake)
        self._stop, self._wake = self._worker.stopping, self._worker.wake

    # --- rules ------------------------------------------------------------------------------
    def open(self) -> None:
        """Create the tables, resume the instances, load the rules file (raises RuleFileError
        if it is bad: a server should not start with rules it cannot read)."""
        self.store.ensure_schema()
        self.instances = self.store.load_instances()
        # Resumed pending/firing instances are reported once, at their rule's first evaluation:
        # an unchanged instance is otherwise never reported again, and the notifier, the
        # forwarder and incidents start empty (repeats, the resolved notification and the
        # forwarder's re-sends would be lost after a restart or a worker handover).
        self._resumed = {k for k, i in self.instances.items() if i.state in ("pending", "firing")}
        if self.rules_file is not None:
            self.set_rules(load_file(self.rules_file))

    def reload(self) -> list[Rule]:
        """Re-read the rules file; on RuleFileError the rules in force stay unchanged."""
        if self.rules_file is None:
            return list(self.rules.values())
        rules = load_file(self.rules_file)  # raises before anything changes
        api_rules = [r for r in self.rules.values() if r.source != "file"]
        self.set_rules([*rules, *api_rules])
        log.info("rules reloaded from %s: %d rules", self.rules_file, len(rules))
        return rules

    def set_rules(self, rules: Iterable[Rule]) -> None:
        now = self.clock_ns()
        with self._lock:
            self.rules = {r.name: r for r in rules}
            old = self.status_of
            self.status_of = {}
            for name, rule in self.rules.items():
                interval = self.interval_of(rule)
                status = old.get(name) or RuleStatus(interval, next_due_ns=now)
                status.interval_s = interval
                self.status_of[name] = status
        self._wake.set()

    def interval_of(self, rule: Rule) -> float:
        return rule.interval_s or self.default_interval_s

    # --- evaluation ------------------------------------------------------------------------
    def evaluate_due(self, now_ns: int | None = None) -> list[RuleResult]:
        """Evaluate every enabled rule whose time has come; the results that succeeded."""
        now_ns = now_ns or self.clock_ns()
        with self._lock:
            due = [
                r for r in self.rules.values() if r.enabled and self.status_of[r.name].next_due_ns <= now_ns
            ]
        results = []
        for rule in due:
            result = self.evaluate_rule(rule, now_ns)
            if result is not None:
                results.append(result)
        return results

    def evaluate_rule(self, rule: Rule, now_ns: int) -> RuleResult | None:
        status = self.status_of[rule.name]
        interval = self.interval_of(rule)
        status.next_due_ns = now_ns + int(interval * 1e9)
        # Counted when it starts, so a reader that sees its effects also sees it counted.
        status.evaluations += 1
        status.last_evaluation_ns = now_ns
        started = time.perf_counter()
        try:
            result = evaluate_rule(self.client, self.telemetry_database, rule, now_ns, deadline_s=interval)
            elapsed = time.perf_counter() - started
            if elapsed > interval:
                raise EvaluationError(f"deadline exceeded: took {elapsed:.3f} s, interval {interval:g} s")
            self._apply(rule, result, now_ns)
        except Exception as exc:  # one rule's failure is recorded; the others go on
            status.failures += 1
            status.last_error = str(exc)
            status.last_seconds = time.perf_counter() - started
            self.on_evaluation("error", status.last_seconds)
            log.warning("rule %r: evaluation failed: %s", rule.name, exc)
            try:
                self.store.record_error(rule.name, now_ns, str(exc))
            except Exception:
                log.exception("rule %r: the failure could not be recorded", rule.name)
            return None
        status.last_seconds = time.perf_counter() - started
        self.on_evaluation("ok", status.last_seconds)
        return result

    def _apply(self, rule: Rule, result: RuleResult, now_ns: int) -> list[Transition]:
        before = {k: i for k, i in self.instances.items() if k[0] == rule.name}
        changed, transitions = apply_result(rule, result, self.instances, now_ns)
        resumed = [k for k in self._resumed if k[0] == rule.name]
        if resumed:
            reported = {(i.rule, i.fingerprint) for i in changed}
            changed += [self.instances[k] for k in resumed if k not in reported and k in self.instances]
        if changed or transitions:
            try:
                self.store.save(changed, transitions)
            except Exception:
                # Unsaved means unreported: put the instances back, so that the next evaluation
                # derives the same transitions again instead of finding nothing new.
                for key in [k for k in self.instances if k[0] == rule.name]:
                    del self.instances[key]
                self.instances.update(before)
                raise
        self._resumed.difference_update(resumed)
        if self.on_change is not None and (changed or transitions):
            try:
                self.on_change(rule, changed, transitions, now_ns)
            except Exception:  # the alert state is saved; incidents catch up at the next change
                log.exception("rule %r: incidents not updated", rule.name)
        return transitions

    # --- the loop ----------------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._worker.stop(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_due()
            except Exception:  # the loop itself must survive anything
                log.exception("alert runner: evaluation round failed")
            with self._lock:
                due = [s.next_due_ns for n, s in self.status_of.items() if self.rules[n].enabled]
            wait_s = max(0.0, (min(due) - self.clock_ns()) / 1e9) if due else self.default_interval_s
            self._wake.wait(wait_s)
            self._wake.clear()

    # --- reading -------------------------------------------------------------------------
    def status(self) -> RunnerStatus:
        with self._lock:
            per_rule = {
                n: RuleStatus(**{f: getattr(s, f) for f in RuleStatus.__slots__})
                for n, s in self.status_of.items()
            }
        return RunnerStatus(
            enabled=True,
            running=self._worker.running,
            interval_s=self.default_interval_s,
            rules=len(per_rule),
            last_evaluation_ns=max((s.last_evaluation_ns for s in per_rule.values()), default=0),
            evaluations=sum(s.evaluations for s in per_rule.values()),
            failures=sum(s.failures for s in per_rule.values()),
            per_rule=per_rule,
        )

    def alerts(self, rule: str = "", state: str = "") -> list[AlertInstance]:
        return sorted(
            (
                i
                for i in list(self.instances.values())
                if (not rule or i.rule == rule) and (not state or i.state == state) and i.rule in self.rules
            ),
            key=lambda i: (i.rule, i.fingerprint),
        )

    def sandbox(
        self, metrics: Mapping[str, float], target: str, now: dt.datetime | None = None
    ) -> SandboxResult:
        """The seed design's ``evaluate``: nothing is queried or stored."""
        with self._lock:
            rules = list(self.rules.values())
        return evaluate_sample(rules, metrics, target, now)


def apply_result(
    rule: Rule, result: RuleResult, instances: dict[tuple[str, str], AlertInstance], now_ns: int
) -> tuple[list[AlertInstance], list[Transition]]:
    """Step every instance of ``rule`` by one evaluation's result (``instances`` is updated):
    the instances to save and the transitions. The live runner and the backtest share it, so a
    backtest moves states exactly as the live evaluator does."""
    changed, transitions = [], []
    seen: set[tuple[str, str]] = set()
    for group in result.groups:
        fresh = new_instance(rule, group.labels)
        key = (rule.name, fresh.fingerprint)
        seen.add(key)
        instance = instances.get(key, fresh)
        observed = "breach" if group.breaching else ("ok" if group.value is not None else "nodata")
        obs = Observation(observed, group.value, group.example_trace_ids)
        if key not in instances and observed == "ok":
            continue  # groups that never breached have no instance
        after, transition = step(rule, instance, obs, result.threshold, now_ns)
        instances[key] = after
        if transition or _news(rule, instance, after):
            changed.append(after)
        if transition:
            transitions.append(transition)
    # Instances whose group returned no rows: no data for them.
    for key, instance in list(instances.items()):
        if key[0] != rule.name or key in seen or instance.state in ("inactive", "resolved", "nodata"):
            continue
        after, transition = step(rule, instance, Observation("nodata"), result.threshold, now_ns)
        instances[key] = after
        if transition or _news(rule, instance, after):
            changed.append(after)
        if transition:
            transitions.append(transition)
    return changed, transitions


def _news(rule: Rule, before: AlertInstance, after: AlertInstance) -> bool:
    """Whether an instance whose state did not change is still worth saving and reporting.

    Only what a reader of the saved row or of the report would otherwise miss: the value, the
    threshold and the example trace ids (shown by incidents and notifications), and the last
    breach when the rule has ``keep_firing_for`` (a restarted runner counts from it). An
    unchanged firing instance is not re-reported each evaluation (1,000 firing alerts were
    1,000 rows saved and 1,000 alerts re-observed every interval): the notifier keeps an alert
    firing until it sees it resolved and schedules its own repeats, the forwarder re-sends its
    firing alerts on its own timer, and ``ListAlerts`` reads the in-memory instance, which
    always has this evaluation's ``updated_ns``."""
    if after.state not in ("pending", "firing"):
        return False
    return (
        not _same_value(before.value, after.value)
        or before.threshold != after.threshold
        or before.example_trace_ids != after.example_trace_ids
        or (rule.keep_firing_for_s > 0 and before.last_breach_ns != after.last_breach_ns)
    )


def _same_value(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))
