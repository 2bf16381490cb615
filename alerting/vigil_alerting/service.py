"""AlertingService: alert rules, alerts, history, the sandbox and the backtest (issue 33) as
RPCs. Each call acts in the caller's project (its telemetry database keys the project's
runner); reads need ``read``, changes ``write``. Storage work runs on the query service's
threads with their clients (rule writes on the writing side), never on the runner's; errors
are answered through the query service's one mapping (``respond``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol, TypeVar

import grpc
import yaml
from google.protobuf import json_format, struct_pb2

from vigil_alerting.actions.queue import ActionNotFound, ActionQueue, ActionRefused
from vigil_alerting.actions.store import STATUSES as ACTION_STATUSES
from vigil_alerting.actions.store import ActionRecord
from vigil_alerting.errors import AlertingError, RuleError
from vigil_alerting.evaluate.backtest import backtest
from vigil_alerting.evaluate.evaluator import evaluate_rule
from vigil_alerting.incidents.manager import (
    IncidentError,
    IncidentInputError,
    IncidentManager,
    IncidentNotFound,
)
from vigil_alerting.incidents.model import STATUSES, Incident, TimelineEvent
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.notify.errors import SilenceError
from vigil_alerting.notify.outbox import DeliveryLogEntry, Outbox
from vigil_alerting.projects import DEFAULT_PROJECT, Alerting
from vigil_alerting.rules.load import parse_rule
from vigil_alerting.rules.model import SEVERITY_RANK, Rule
from vigil_alerting.silence.store import Silence, SilenceStore
from vigil_alerting.state import rules_store
from vigil_alerting.state.machine import STATES, AlertInstance
from vigil_alerting.state.store import AlertStore
from vigil_auth.authenticator import Authenticator, Principal
from vigil_auth.grpc_calls import caller
from vigil_auth.keys import READ, WRITE
from vigil_proto.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from vigil_query.api.service import _abort, respond
from vigil_query.errors import FailedPrecondition, InvalidQuery, NotFound
from vigil_query.page_token import decode_parts, encode_parts, fingerprint, page_size
from vigil_query.reader import Reader, Writer

pb = alerting_pb2
DEFAULT_PAGE = 100
RECHECK_S = 5.0  # a watch stream re-checks its caller this often while nothing changes


class _Versioned(Protocol):
    """What a watch stream sends: an item of a project, a new version at each change."""

    @property
    def id(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=_Versioned)
Subscribe = Callable[[Callable[[V], None]], Callable[[], None]]


def _policy(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(value, default=str)))
    return s


def _parse(policy: dict[str, Any]) -> Rule:
    try:
        return parse_rule(policy, source="api")
    except RuleError as exc:
        raise InvalidQuery(str(exc)) from exc


def _alert(i: AlertInstance, severity: str) -> pb.Alert:
    return pb.Alert(
        rule=i.rule, fingerprint=i.fingerprint, labels=i.labels, state=i.state, value=i.value,
        threshold=i.threshold, severity=i.labels.get("severity", severity),
        active_since_time_unix_nano=i.active_since_ns, fired_time_unix_nano=i.fired_at_ns,
        resolved_time_unix_nano=i.resolved_at_ns, updated_time_unix_nano=i.updated_ns,
        example_trace_ids=list(i.example_trace_ids),
    )  # fmt: skip


def _incident(i: Incident) -> pb.Incident:
    return pb.Incident(
        id=i.id, title=i.title, status=i.status, severity=i.severity, opened_time_unix_nano=i.opened_ns,
        updated_time_unix_nano=i.updated_ns, acknowledged_time_unix_nano=i.acknowledged_ns,
        acknowledged_by=i.acknowledged_by, resolved_time_unix_nano=i.resolved_ns, resolved_by=i.resolved_by,
        escalation_policy=i.policy, next_escalation_time_unix_nano=max(i.next_escalation_ns, 0), key=i.key,
        example_trace_ids=i.example_trace_ids(),
        alerts=[
            pb.IncidentAlert(
                rule=a.rule, fingerprint=a.fingerprint, labels=a.labels, severity=a.severity, state=a.state,
                value=a.value, threshold=a.threshold, joined_time_unix_nano=a.joined_ns,
                resolved_time_unix_nano=a.resolved_ns, example_trace_ids=list(a.example_trace_ids),
            )
            for a in i.alerts.values()
        ],
    )  # fmt: skip


def _event(e: TimelineEvent) -> pb.IncidentEvent:
    return pb.IncidentEvent(
        seq=e.seq, time_unix_nano=e.at_ns, kind=e.kind, actor=e.actor, receiver=e.receiver, result=e.result,
        rule=e.rule, fingerprint=e.fingerprint, severity=e.severity, message=e.message,
    )  # fmt: skip


def _actor(p: Principal) -> str:
    return p.username or p.key_id or "local"


def _serves(incident: Incident, service: str) -> bool:
    return any(
        service in (a.labels.get("service.name"), a.labels.get("target")) for a in incident.alerts.values()
    )


class AlertingService(alerting_pb2_grpc.AlertingServiceServicer):
    def __init__(
        self, reader: Reader, auth: Authenticator, alerting: Alerting, backtest_max_steps: int
    ) -> None:
        self._reader = reader
        self._auth = auth
        self._alerting = alerting
        self._max_steps = backtest_max_steps
        self._silences_table = False

    # --- helpers -------------------------------------------------------------------------
    def _rule_message(self, database: str, rule: Rule) -> pb.Rule:
        runner = self._alerting.runner(database)
        states = dict.fromkeys(STATES, 0)
        for i in runner.alerts(rule=rule.name):
            states[i.state] += 1
        return pb.Rule(
            name=rule.name, source=rule.source, enabled=rule.enabled, severity=rule.severity,
            description=rule.description, target=rule.target, interval_seconds=runner.interval_of(rule),
            policy=_struct(rule.policy), states=states,
        )  # fmt: skip

    def _find(self, database: str, name: str) -> Rule:
        rule = self._alerting.runner(database).rules.get(name)
        if rule is None:
            raise NotFound(f"no alert rule {name!r} in this project")
        return rule

    def _writable(self, database: str, name: str) -> Rule:
        rule = self._find(database, name)
        if rule.source == "file":
            raise FailedPrecondition(
                f"rule {name!r} comes from the rules file (VIGIL_RULES_FILE) and is read-only here:"
                " change the file and reload it"
            )
        if rule.source != "api":
            raise FailedPrecondition(f"rule {name!r} is built in and read-only (VIGIL_DRIFT_* configure it)")
        return rule

    async def _call(
        self, name: str, context: grpc.aio.ServicerContext, scope: str, fn: Callable[[Principal], Any]
    ) -> Any:
        """``fn(caller)`` after the scope check; alerting's own errors become INVALID_ARGUMENT."""

        async def work() -> Any:
            principal = await caller(self._auth, context, scope)
            try:
                return await fn(principal)
            except AlertingError as exc:
                raise InvalidQuery(str(exc)) from exc

        return await respond(name, work(), context)

    async def _store(self, database: str, name: str, policy: dict[str, Any] | None) -> None:
        def write(w: Writer) -> None:
            rules_store.put(w.client(), w.system_database, database, name, policy)

        await self._reader.writer.run(write)

    # --- rules -----------------------------------------------------------------------------
    async def ListRules(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def list_rules(p: Principal) -> Any:
            rules = self._alerting.runner(p.database).rules
            return pb.ListRulesResponse(
                rules=[self._rule_message(p.database, r) for _, r in sorted(list(rules.items()))]
            )

        return await self._call("ListRules", context, READ, list_rules)

    async def GetRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def get(p: Principal) -> Any:
            return pb.GetRuleResponse(
                rule=self._rule_message(p.database, self._find(p.database, request.name))
            )

        return await self._call("GetRule", context, READ, get)

    async def CreateRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def create(p: Principal) -> Any:
            rule = _parse(_policy(request.policy))
            if rule.project:
                raise InvalidQuery("field project: an API rule belongs to the caller's project; leave it out")
            if rule.name in self._alerting.runner(p.database).rules:
                raise InvalidQuery(f"field name: a rule named {rule.name!r} exists in this project")
            await self._store(p.database, rule.name, rule.policy)
            self._alerting.put_rule(p.database, rule)
            return pb.CreateRuleResponse(rule=self._rule_message(p.database, rule))

        return await self._call("CreateRule", context, WRITE, create)

    async def _replace(self, database: str, old: Rule, policy: dict[str, Any]) -> Rule:
        rule = _parse(policy)
        if rule.name != old.name:
            raise InvalidQuery("field name: a rule cannot be renamed; create a new one and delete this one")
        await self._store(database, rule.name, rule.policy)
        self._alerting.put_rule(database, rule)
        return rule

    async def UpdateRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def update(p: Principal) -> Any:
            old = self._writable(p.database, request.name)
            rule = await self._replace(p.database, old, {**old.policy, **_policy(request.patch)})
            return pb.UpdateRuleResponse(rule=self._rule_message(p.database, rule))

        return await self._call("UpdateRule", context, WRITE, update)

    async def DeleteRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def delete(p: Principal) -> Any:
            self._writable(p.database, request.name)
            await self._store(p.database, request.name, None)
            self._alerting.drop_rule(p.database, request.name)
            return pb.DeleteRuleResponse()

        return await self._call("DeleteRule", context, WRITE, delete)

    async def _set_enabled(self, request: Any, context: grpc.aio.ServicerContext, enabled: bool) -> Any:
        async def toggle(p: Principal) -> Any:
            old = self._writable(p.database, request.name)
            rule = await self._replace(p.database, old, {**old.policy, "enabled": enabled})
            return self._rule_message(p.database, rule)

        name = "EnableRule" if enabled else "DisableRule"
        return await self._call(name, context, WRITE, toggle)

    async def EnableRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.EnableRuleResponse(rule=await self._set_enabled(request, context, True))

    async def DisableRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.DisableRuleResponse(rule=await self._set_enabled(request, context, False))

    async def ReloadRules(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def reload(p: Principal) -> Any:
            done = await self._reader.run(lambda _: self._alerting.reload_files())
            return pb.ReloadRulesResponse(
                file=str(self._alerting.rules_file or ""),
                rules=len(done.rules or []),
                alertmanager_config=str(done.alertmanager_config or ""),
            )

        return await self._call("ReloadRules", context, WRITE, reload)

    async def ExportRules(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def export(p: Principal) -> Any:
            if request.format not in ("", "json", "yaml"):
                raise InvalidQuery(f"format must be json or yaml, got {request.format!r}")
            rules = self._alerting.runner(p.database).rules
            policies = [r.policy for _, r in sorted(list(rules.items())) if r.source != "file"]
            document = {"policies": policies}
            if request.format == "yaml":
                text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            else:
                text = json.dumps(document, indent=2, ensure_ascii=False)
            return pb.ExportRulesResponse(text=text, rules=len(policies))

        return await self._call("ExportRules", context, READ, export)

    # --- alerts ----------------------------------------------------------------------------
    async def ListAlerts(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def list_alerts(p: Principal) -> Any:
            if request.state and request.state not in STATES:
                raise InvalidQuery(f"state must be one of {', '.join(STATES)}, got {request.state!r}")
            if request.severity and request.severity not in SEVERITY_RANK:
                raise InvalidQuery(
                    f"severity must be one of {', '.join(SEVERITY_RANK)}, got {request.severity!r}"
                )
            size = page_size(request.page_size, DEFAULT_PAGE)
            key = pb.ListAlertsRequest(state=request.state, severity=request.severity, rule=request.rule)
            fp = fingerprint(key)
            after = tuple(decode_parts(request.page_token, fp, str, str)) if request.page_token else None
            runner = self._alerting.runner(p.database)
            severities = {n: r.severity for n, r in list(runner.rules.items())}
            least = SEVERITY_RANK[request.severity] if request.severity else -1
            found = [
                i
                for i in runner.alerts(rule=request.rule, state=request.state)
                if (request.state or i.state != "inactive")
                and SEVERITY_RANK.get(i.labels.get("severity", ""), 0) >= least
                and (after is None or (i.rule, i.fingerprint) > after)
            ]
            page = found[:size]
            token = encode_parts([page[-1].rule, page[-1].fingerprint], fp) if len(found) > size else ""
            return pb.ListAlertsResponse(
                alerts=[_alert(i, severities.get(i.rule, "")) for i in page], next_page_token=token
            )

        return await self._call("ListAlerts", context, READ, list_alerts)

    async def GetAlertHistory(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def history(p: Principal) -> Any:
            limit = request.limit or 1000
            if not 1 <= limit <= 10000:
                raise InvalidQuery(f"limit must be between 1 and 10000, got {request.limit}")

            def read(r: Reader) -> Any:
                store = AlertStore(r.client(), r.system_database, p.database)
                return store.history(request.rule, limit=limit, fingerprint=request.fingerprint)

            found = await self._reader.run(read)
            return pb.GetAlertHistoryResponse(
                transitions=[
                    pb.AlertTransition(
                        time_unix_nano=t.at_ns,
                        rule=t.rule,
                        fingerprint=t.fingerprint,
                        labels=t.labels,
                        from_state=t.from_state,
                        to_state=t.to_state,
                        value=t.value,
                        threshold=t.threshold,
                        severity=t.severity,
                        example_trace_ids=list(t.example_trace_ids),
                    )
                    for t in found
                ]
            )

        return await self._call("GetAlertHistory", context, READ, history)

    async def GetRunnerStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def status(p: Principal) -> Any:
            s = self._alerting.status(p.database)
            return pb.GetRunnerStatusResponse(
                enabled=s.enabled, running=s.running, interval_seconds=s.interval_s, rules=s.rules,
                last_evaluation_time_unix_nano=s.last_evaluation_ns, evaluations=s.evaluations,
                failures=s.failures,
                per_rule=[
                    pb.RuleStatus(
                        name=n, interval_seconds=r.interval_s, last_evaluation_time_unix_nano=r.last_evaluation_ns,
                        last_seconds=r.last_seconds, evaluations=r.evaluations, failures=r.failures,
                        last_error=r.last_error,
                    )
                    for n, r in sorted(s.per_rule.items())
                ],
            )  # fmt: skip

        return await self._call("GetRunnerStatus", context, READ, status)

    # --- sandbox and backtest -----------------------------------------------------------------
    async def EvaluateRules(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def evaluate(p: Principal) -> Any:
            runner = self._alerting.runner(p.database)
            if request.HasField("rule"):
                if request.metrics or request.target:
                    raise InvalidQuery("send either a draft rule or metrics and a target, not both")
                rule = _parse(_policy(request.rule))
                interval = runner.interval_of(rule)

                def run(r: Reader) -> Any:
                    return evaluate_rule(r.client(), p.database, rule, time.time_ns(), deadline_s=interval)

                result = await self._reader.run(run)
                return pb.EvaluateRulesResponse(
                    threshold=result.threshold,
                    groups=[
                        pb.GroupValue(
                            labels=g.labels,
                            value=g.value,
                            breaching=g.breaching,
                            example_trace_ids=list(g.example_trace_ids),
                        )
                        for g in result.groups
                    ],
                )
            if not request.target:
                raise InvalidQuery("field target: required with metrics (or send a draft rule)")
            try:
                sample = runner.sandbox(dict(request.metrics), request.target)
            except ValueError as exc:
                raise InvalidQuery(str(exc)) from exc
            return pb.EvaluateRulesResponse(
                violations=[pb.Violation(**v) for v in sample.violations],
                actions_triggered=[
                    pb.ActionTriggered(
                        action=a["action"],
                        target=a["target"],
                        status=a["status"],
                        params=_struct(a["params"]),
                    )
                    for a in sample.actions_triggered
                ],
            )

        return await self._call("EvaluateRules", context, READ, evaluate)

    async def BacktestRule(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def run(p: Principal) -> Any:
            runner = self._alerting.runner(p.database)
            if request.HasField("rule") == bool(request.name):
                raise InvalidQuery("send either the name of a stored rule or a draft rule")
            rule = (
                _parse(_policy(request.rule))
                if request.HasField("rule")
                else self._find(p.database, request.name)
            )
            interval = runner.interval_of(rule)
            end = request.end_time_unix_nano or time.time_ns()

            def replay(r: Reader) -> Any:
                return backtest(
                    r.client(), p.database, rule, request.start_time_unix_nano, end, interval,
                    max_steps=self._max_steps, deadline_s=interval,
                )  # fmt: skip

            found = await self._reader.run(replay)
            return pb.BacktestRuleResponse(
                evaluations=found.evaluations,
                interval_seconds=found.interval_s,
                intervals=[
                    pb.AlertInterval(
                        labels=i.labels,
                        fingerprint=i.fingerprint,
                        pending_time_unix_nano=i.pending_ns,
                        firing_time_unix_nano=i.firing_ns,
                        resolved_time_unix_nano=i.resolved_ns,
                        peak_value=i.peak_value,
                    )
                    for i in found.intervals
                ],
                series=[
                    pb.GroupSeries(labels=g.labels, times_unix_nano=g.times_ns, values=g.values)
                    for g in found.series
                ],
                threshold=found.threshold,
                threshold_values=list(found.threshold_values),
            )

        return await self._call("BacktestRule", context, READ, run)

    # --- incidents -----------------------------------------------------------------------------
    def _incidents(self) -> IncidentManager:
        if self._alerting.incidents is None:
            raise FailedPrecondition("incidents are not enabled on this server")
        return self._alerting.incidents

    async def _incident_call(
        self, name: str, context: grpc.aio.ServicerContext, scope: str, fn: Callable[[Principal], Any]
    ) -> Any:
        """Like ``_call``; an unknown incident is NOT_FOUND, an action it refuses FAILED_PRECONDITION."""

        async def guarded(p: Principal) -> Any:
            try:
                return await fn(p)
            except IncidentNotFound as exc:
                raise NotFound(str(exc)) from exc
            except IncidentInputError as exc:
                raise InvalidQuery(str(exc)) from exc
            except IncidentError as exc:
                raise FailedPrecondition(str(exc)) from exc

        return await self._call(name, context, scope, guarded)

    async def ListIncidents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def list_incidents(p: Principal) -> Any:
            manager = self._incidents()
            if request.status and request.status not in STATUSES:
                raise InvalidQuery(f"status must be one of {', '.join(STATUSES)}, got {request.status!r}")
            if request.severity and request.severity not in SEVERITY_RANK:
                raise InvalidQuery(
                    f"severity must be one of {', '.join(SEVERITY_RANK)}, got {request.severity!r}"
                )
            limit = request.limit or DEFAULT_PAGE
            if not 1 <= limit <= 1000:
                raise InvalidQuery(f"limit must be between 1 and 1000, got {request.limit}")
            # Filters on the stored columns run in ClickHouse; severity and service on the alerts here,
            # so read more than asked when they are set.
            wanted = limit * 10 if request.severity or request.service else limit

            def read(r: Reader) -> list[Incident]:
                return IncidentStore(r.client(), r.system_database).list(
                    p.database, status=request.status, limit=min(wanted, 10000),
                    since_ns=request.start_time_unix_nano, until_ns=request.end_time_unix_nano,
                )  # fmt: skip

            stored = {i.id: i for i in await self._reader.run(read)}
            for live in manager.live(p.database):  # current values of firing alerts
                if live.id in stored:
                    stored[live.id] = live
            least = SEVERITY_RANK[request.severity] if request.severity else -1
            found = [
                i
                for i in stored.values()
                if SEVERITY_RANK.get(i.severity, 0) >= least
                and (not request.service or _serves(i, request.service))
            ]
            found.sort(key=lambda i: (-i.opened_ns, i.id))
            return pb.ListIncidentsResponse(incidents=[_incident(i) for i in found[:limit]])

        return await self._incident_call("ListIncidents", context, READ, list_incidents)

    async def GetIncident(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def get(p: Principal) -> Any:
            manager = self._incidents()
            live = manager.live_one(p.database, request.id)

            def read(r: Reader) -> Any:
                store = IncidentStore(r.client(), r.system_database)
                incident = live or store.get(p.database, request.id)
                if incident is None:
                    raise NotFound(f"no incident {request.id!r} in this project")
                timeline = store.timeline(p.database, request.id)
                logs = store.trace_logs(p.database, incident.example_trace_ids())
                return incident, timeline, logs

            incident, timeline, logs = await self._reader.run(read)
            return pb.GetIncidentResponse(
                incident=_incident(incident),
                timeline=[_event(e) for e in timeline],
                logs=[
                    pb.IncidentLog(time_unix_nano=t, trace_id=tid, severity=sev, service=svc, body=body)
                    for t, tid, sev, svc, body in logs
                ],
            )

        return await self._incident_call("GetIncident", context, READ, get)

    async def _act(self, name: str, context: grpc.aio.ServicerContext, act: Callable[..., Incident]) -> Any:
        async def run(p: Principal) -> Any:
            manager = self._incidents()
            return _incident(await self._reader.writer.run(lambda w: act(manager, w.client(), p)))

        return await self._incident_call(name, context, WRITE, run)

    async def AcknowledgeIncident(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def act(m: IncidentManager, client: Any, p: Principal) -> Incident:
            return m.acknowledge(client, p.database, request.id, _actor(p))

        return pb.AcknowledgeIncidentResponse(incident=await self._act("AcknowledgeIncident", context, act))

    async def ResolveIncident(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def act(m: IncidentManager, client: Any, p: Principal) -> Incident:
            return m.resolve(client, p.database, request.id, _actor(p))

        return pb.ResolveIncidentResponse(incident=await self._act("ResolveIncident", context, act))

    async def AddIncidentNote(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def act(m: IncidentManager, client: Any, p: Principal) -> Incident:
            return m.add_note(client, p.database, request.id, _actor(p), request.text)

        return pb.AddIncidentNoteResponse(incident=await self._act("AddIncidentNote", context, act))

    async def AnalyzeIncident(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Triage on request (docs/incidents.md, "Triage"): any severity, on the API's thread pool."""

        async def analyze(p: Principal) -> Any:
            triage = self._alerting.triage
            if triage is None:
                raise FailedPrecondition("triage is off on this server (VIGIL_TRIAGE_ENABLED)")
            if not request.id:
                raise InvalidQuery("id: the incident to analyse is required")
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, triage.analyze, p.database, request.id, _actor(p)
            )
            return pb.AnalyzeIncidentResponse(
                result=outcome.result, model=outcome.model, text=outcome.text, tokens=outcome.tokens,
                cost_usd=outcome.cost_usd, detail=outcome.detail,
            )  # fmt: skip

        return await self._incident_call("AnalyzeIncident", context, WRITE, analyze)

    async def _watch(
        self,
        name: str,
        context: grpc.aio.ServicerContext,
        source: Callable[[Principal], tuple[Subscribe[V], Callable[[], Iterable[V]]]],
        message: Callable[[V], Any],
    ) -> AsyncIterator[Any]:
        """The watch streams' one loop: the caller checked, ``source`` gives the way to
        subscribe to changes and the snapshot; the snapshot is sent, then each change in the
        caller's project, until the caller cancels. The caller is checked again before each
        batch and at least every RECHECK_S, so a revoked key's watch ends."""
        unsubscribe: Callable[[], None] | None = None
        try:
            p = await caller(self._auth, context, READ)
            subscribe, snapshot = source(p)
            loop = asyncio.get_running_loop()
            # The latest version of each changed item, not every version: a slow watcher holds
            # at most one per item.
            pending: dict[str, V] = {}
            ready = asyncio.Event()

            def put(item: V) -> None:
                held = pending.get(item.id)
                if held is None or held.version < item.version:
                    pending[item.id] = item
                ready.set()

            def changed(item: V) -> None:
                if item.project == p.database:
                    loop.call_soon_threadsafe(put, item)

            unsubscribe = subscribe(changed)  # before the snapshot: no change is missed
            for item in snapshot():
                yield message(item)
            while True:
                try:
                    await asyncio.wait_for(ready.wait(), RECHECK_S)
                except TimeoutError:
                    await caller(self._auth, context, READ)
                    continue
                await caller(self._auth, context, READ)
                ready.clear()
                batch = list(pending.values())
                pending.clear()
                for item in batch:
                    yield message(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await _abort(name, exc, context)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def WatchIncidents(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        """The live incidents, then each change, until the caller cancels."""

        def source(p: Principal) -> tuple[Subscribe[Incident], Callable[[], Iterable[Incident]]]:
            manager = self._incidents()
            return manager.subscribe, lambda: sorted(manager.live(p.database), key=lambda i: i.opened_ns)

        async for message in self._watch(
            "WatchIncidents", context, source, lambda i: pb.WatchIncidentsResponse(incident=_incident(i))
        ):
            yield message

    # --- silences and the delivery log (docs/notifications.md) -----------------------------
    async def _silence_store_ready(self) -> None:
        """The silences table is the notifier's; a server without one (no alertmanager.yml
        yet, or the API role) still keeps silences for when it has one."""
        if not self._silences_table:
            await self._reader.writer.run(
                lambda w: SilenceStore(w.client(), w.system_database).ensure_schema()
            )
            self._silences_table = True

    def _silences_changed(self) -> None:
        """The notifier in this process sees the change at once; one in another process
        (a worker) re-reads silences every VIGIL_NOTIFY_SILENCE_REFRESH_S."""
        notifier = self._alerting.notifier
        if notifier is not None:
            notifier.silences_changed()

    async def CreateSilence(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def create(p: Principal) -> Any:
            await self._silence_store_ready()
            if request.end_time_unix_nano and request.duration_seconds:
                raise InvalidQuery("send either end_time_unix_nano or duration_seconds, not both")
            if request.duration_seconds < 0:
                raise InvalidQuery(f"duration_seconds must be positive, got {request.duration_seconds:g}")
            starts = request.start_time_unix_nano or None
            ends = request.end_time_unix_nano
            if request.duration_seconds:
                ends = (starts or time.time_ns()) + int(request.duration_seconds * 1e9)
            if not ends:
                raise InvalidQuery("a silence needs its end: end_time_unix_nano or duration_seconds")

            def write(w: Writer) -> Silence:
                try:
                    return SilenceStore(w.client(), w.system_database).create(
                        list(request.matchers), ends_ns=ends, starts_ns=starts, created_by=_actor(p),
                        comment=request.comment, project=p.database,
                    )  # fmt: skip
                except SilenceError as exc:
                    raise InvalidQuery(str(exc)) from exc

            silence = await self._reader.writer.run(write)
            self._silences_changed()
            return pb.CreateSilenceResponse(silence=_silence(silence, time.time_ns()))

        return await self._call("CreateSilence", context, WRITE, create)

    async def ListSilences(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def list_silences(p: Principal) -> Any:
            await self._silence_store_ready()

            def read(r: Reader) -> list[Silence]:
                return SilenceStore(r.client(), r.system_database).list(
                    include_expired=request.include_expired, project=p.database
                )

            now = time.time_ns()
            found = await self._reader.run(read)
            return pb.ListSilencesResponse(silences=[_silence(s, now) for s in found])

        return await self._call("ListSilences", context, READ, list_silences)

    async def ExpireSilence(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def expire(p: Principal) -> Any:
            await self._silence_store_ready()

            def write(w: Writer) -> Silence:
                try:
                    store = SilenceStore(w.client(), w.system_database)
                    if store.get(request.id, project=p.database) is None:
                        raise NotFound(f"no silence {request.id!r} in this project")
                    return store.expire(request.id, project=p.database)
                except SilenceError as exc:
                    raise InvalidQuery(str(exc)) from exc

            silence = await self._reader.writer.run(write)
            self._silences_changed()
            return pb.ExpireSilenceResponse(silence=_silence(silence, time.time_ns()))

        return await self._call("ExpireSilence", context, WRITE, expire)

    async def ListDeliveries(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def list_deliveries(p: Principal) -> Any:
            limit = request.limit or 200
            if not 1 <= limit <= 5000:
                raise InvalidQuery(f"limit must be between 1 and 5000, got {request.limit}")
            chosen = [f for f in ("fingerprint", "incident_id", "rule") if getattr(request, f)]
            if len(chosen) != 1:
                raise InvalidQuery("send exactly one of fingerprint, incident_id or rule")
            # The delivery log is the deployment's: the caller sees its own project's entries
            # (a fingerprint is only unique within a project), of alerts looked up in it first.
            if request.fingerprint:
                known = {i.fingerprint for i in self._alerting.runner(p.database).alerts()}
                if request.fingerprint not in known:
                    raise NotFound(f"no alert with fingerprint {request.fingerprint!r} in this project")
                fingerprints = [request.fingerprint]
            elif request.rule:
                self._find(p.database, request.rule)
                fingerprints = [
                    i.fingerprint for i in self._alerting.runner(p.database).alerts(rule=request.rule)
                ]
            else:
                incident = self._incidents().live_one(p.database, request.incident_id)
                if incident is None:
                    incident = await self._reader.run(
                        lambda r: IncidentStore(r.client(), r.system_database).get(
                            p.database, request.incident_id
                        )
                    )
                if incident is None:
                    raise NotFound(f"no incident {request.incident_id!r} in this project")
                fingerprints = list(incident.alerts)
            if not fingerprints:
                return pb.ListDeliveriesResponse()

            # Entries from before the log had projects ('') are the default project's.
            default = self._alerting.slugs.get(p.database) == DEFAULT_PROJECT
            projects = [p.database, ""] if default else [p.database]

            def read(r: Reader) -> list[DeliveryLogEntry]:
                outbox = Outbox(r.client(), r.system_database)
                if not r.client().command(f"EXISTS TABLE {outbox.db}.vigil_notification_log"):
                    return []  # no notifier has run here yet
                return outbox.delivery_log(
                    fingerprints=fingerprints, receiver=request.receiver, projects=projects, limit=limit
                )

            found = await self._reader.run(read)
            return pb.ListDeliveriesResponse(deliveries=[_delivery(e) for e in found])

        return await self._call("ListDeliveries", context, READ, list_deliveries)

    # --- actions (docs/actions.md) ---------------------------------------------------------
    async def _action_call(
        self,
        name: str,
        context: grpc.aio.ServicerContext,
        scope: str,
        fn: Callable[[ActionQueue, Principal], Any],
    ) -> Any:
        """``fn(queue, caller)`` on a thread (the queue reads storage on its own client)."""

        async def guarded(p: Principal) -> Any:
            queue = self._alerting.actions
            if queue is None:
                raise FailedPrecondition("actions are off: set VIGIL_REMEDIATOR_URL")
            try:
                return await asyncio.get_running_loop().run_in_executor(None, fn, queue, p)
            except ActionNotFound as exc:
                raise NotFound(str(exc)) from exc
            except ActionRefused as exc:
                raise FailedPrecondition(str(exc)) from exc

        return await self._call(name, context, scope, guarded)

    async def CreateAction(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def create(queue: ActionQueue, p: Principal) -> Any:
            try:
                params = json.loads(request.params_json) if request.params_json else {}
            except ValueError as exc:
                raise InvalidQuery(f"params_json is not JSON: {exc}") from exc
            if not isinstance(params, dict):
                raise InvalidQuery("params_json must be a JSON object")
            if request.severity and request.severity not in SEVERITY_RANK:
                raise InvalidQuery(
                    f"severity must be one of {', '.join(SEVERITY_RANK)}, got {request.severity!r}"
                )
            action = queue.enqueue(
                p.database, request.action, request.target, severity=request.severity, params=params,
                details=request.details, incident_id=request.incident_id, requested_by=_actor(p),
            )  # fmt: skip
            return pb.CreateActionResponse(action=_action(action))

        return await self._action_call("CreateAction", context, WRITE, create)

    async def ListActions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def list_actions(queue: ActionQueue, p: Principal) -> Any:
            if request.status and request.status not in ACTION_STATUSES:
                raise InvalidQuery(
                    f"status must be one of {', '.join(ACTION_STATUSES)}, got {request.status!r}"
                )
            found = queue.list(
                p.database, status=request.status, target=request.target, limit=request.limit or 100
            )
            return pb.ListActionsResponse(count=len(found), actions=[_action(a) for a in found])

        return await self._action_call("ListActions", context, READ, list_actions)

    async def GetAction(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def get(queue: ActionQueue, p: Principal) -> Any:
            action = queue.get(p.database, request.id)
            history = queue.history(p.database, request.id)
            return pb.GetActionResponse(action=_action(action), history=[_action(a) for a in history])

        return await self._action_call("GetAction", context, READ, get)

    async def CancelAction(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def cancel(queue: ActionQueue, p: Principal) -> Any:
            return pb.CancelActionResponse(action=_action(queue.cancel(p.database, request.id, _actor(p))))

        return await self._action_call("CancelAction", context, WRITE, cancel)

    async def GetQueueStats(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def stats(queue: ActionQueue, p: Principal) -> Any:
            return pb.GetQueueStatsResponse(
                queue_length=queue.queue_length(), enqueued=queue.enqueued, dequeued=queue.dequeued,
                running=queue.running_count(), by_status=queue.by_status(p.database),
            )  # fmt: skip

        return await self._action_call("GetQueueStats", context, READ, stats)

    async def WatchActions(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        """The unfinished actions, then each new version, until the caller cancels."""

        def source(p: Principal) -> tuple[Subscribe[ActionRecord], Callable[[], Iterable[ActionRecord]]]:
            queue = self._alerting.actions
            if queue is None:
                raise FailedPrecondition("actions are off: set VIGIL_REMEDIATOR_URL")
            return queue.subscribe, lambda: queue.unfinished(p.database)

        async for message in self._watch(
            "WatchActions", context, source, lambda a: pb.WatchActionsResponse(action=_action(a))
        ):
            yield message


def _action(a: ActionRecord) -> Any:
    return pb.Action(
        id=a.id, action=a.action, target=a.target, severity=a.severity,
        params_json=json.dumps(a.params, separators=(",", ":")), details=a.details, rule=a.rule,
        fingerprint=a.fingerprint, incident_id=a.incident_id, requested_by=a.requested_by, status=a.status,
        attempts=a.attempts, created_time_unix_nano=a.created_ns, updated_time_unix_nano=a.updated_ns,
        answer=a.answer, version=a.version,
    )  # fmt: skip


def _silence(s: Silence, now_ns: int) -> Any:
    return pb.Silence(
        id=s.id, matchers=[str(m) for m in s.matchers], start_time_unix_nano=s.starts_ns,
        end_time_unix_nano=s.ends_ns, created_by=s.created_by, comment=s.comment,
        created_time_unix_nano=s.created_ns, updated_time_unix_nano=s.updated_ns, state=s.state(now_ns),
    )  # fmt: skip


def _delivery(e: DeliveryLogEntry) -> Any:
    return pb.Delivery(
        time_unix_nano=e.at_ns, notification_id=e.notification_id, receiver=e.receiver,
        integration=e.integration, group_key=e.group_key, fingerprints=list(e.fingerprints),
        attempt=e.attempt, result=e.result, answer=e.answer, seconds=e.seconds,
    )  # fmt: skip
