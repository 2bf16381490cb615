"""What triage knows about an incident, read from the project's telemetry: the alerts and their
values, the example traces' error spans and logs, the affected services, operations, models
and users, and the change against the hour before. Also the deterministic summary written when
no provider is configured (or a cap or the provider stops the analysis)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from vigil_alerting.incidents.model import Incident
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

_ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"
HOUR_NS = 3600 * 10**9
MAX_TRACES = 5
MAX_SPANS = 40
MAX_LOGS = 50
TOP = 5


@dataclass(frozen=True, slots=True)
class ErrorSpan:
    trace_id: str
    span_id: str
    service: str
    operation: str
    message: str
    exception_type: str
    exception_message: str
    model: str
    user: str


@dataclass(frozen=True, slots=True)
class LogLine:
    time_ns: int
    trace_id: str
    severity: str
    service: str
    body: str


@dataclass(slots=True)
class Context:
    incident: Incident
    services: list[str]
    trace_ids: list[str]
    error_spans: list[ErrorSpan] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    # (service, operation, model, user, message, exception type, count) of the last hour's errors
    failing: list[tuple[str, str, str, str, str, str, int]] = field(default_factory=list)
    # service → (spans, errors) in the last hour and in the hour before
    change: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    def document(self, *, spans: int = MAX_SPANS, logs: int = MAX_LOGS, failing: int = 20) -> dict[str, Any]:
        """The context as the prompt carries it (lists cut to the given lengths)."""
        i = self.incident
        return {
            "incident": {"id": i.id, "title": i.title, "severity": i.severity, "status": i.status},
            "alerts": [
                {"rule": a.rule, "labels": a.labels, "severity": a.severity, "state": a.state, "value": a.value,
                 "threshold": a.threshold}
                for a in i.alerts.values()
            ],
            "error_spans": [
                {"trace_id": s.trace_id, "span_id": s.span_id, "service": s.service, "operation": s.operation,
                 "status_message": s.message, "exception_type": s.exception_type,
                 "exception_message": s.exception_message, "model": s.model}
                for s in self.error_spans[:spans]
            ],
            "logs": [
                {"trace_id": g.trace_id, "severity": g.severity, "service": g.service, "body": g.body[:500]}
                for g in self.logs[:logs]
            ],
            "failing_last_hour": [
                {"service": s, "operation": o, "model": m, "user": u, "message": msg[:200], "exception_type": t,
                 "count": n}
                for s, o, m, u, msg, t, n in self.failing[:failing]
            ],
            "change_vs_hour_before": {
                svc: {"spans": a, "errors": b, "spans_hour_before": c, "errors_hour_before": d}
                for svc, (a, b, c, d) in self.change.items()
            },
        }  # fmt: skip


def services_of(incident: Incident) -> list[str]:
    found: dict[str, None] = {}
    for alert in incident.alerts.values():
        name = alert.labels.get("service.name") or alert.labels.get("target")
        if name:
            found.setdefault(name, None)
    return list(found)


def gather(client: Client, incident: Incident, now_ns: int) -> Context:
    """Read the incident's context from its project's telemetry database (bounded queries)."""
    db = quote_identifier(incident.project)
    services = services_of(incident)
    context = Context(incident, services, incident.example_trace_ids(MAX_TRACES))
    exception = "Events.Attributes[indexOf(Events.Name, 'exception')]"
    with translate_errors("reading the incident's telemetry for triage"):
        if context.trace_ids:
            rows = client.query(
                f"SELECT TraceId, SpanId, ServiceName, SpanName, StatusMessage, {exception}['exception.type'],"
                f" {exception}['exception.message'], GenAiModel, UserId FROM {db}.otel_traces"
                f" WHERE TraceId IN {{ids:Array(String)}} AND {_ERROR} ORDER BY Timestamp LIMIT {MAX_SPANS}",
                parameters={"ids": context.trace_ids},
            ).result_rows
            context.error_spans = [ErrorSpan(*map(str, r)) for r in rows]
            logs = client.query(
                "SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SeverityText, ServiceName, Body"
                f" FROM {db}.otel_logs WHERE TraceId IN {{ids:Array(String)}} ORDER BY Timestamp LIMIT {MAX_LOGS}",
                parameters={"ids": context.trace_ids},
            ).result_rows
            context.logs = [LogLine(int(r[0]), r[1], r[2], r[3], r[4]) for r in logs]
        where = "ServiceName IN {svc:Array(String)}" if services else "1"
        params: dict[str, Any] = {
            "svc": services,
            "now": now_ns,
            "hour": now_ns - HOUR_NS,
            "before": now_ns - 2 * HOUR_NS,
        }
        last_hour = "Timestamp >= fromUnixTimestamp64Nano({hour:Int64})"
        failing = client.query(
            f"SELECT ServiceName, SpanName, GenAiModel, UserId, if(StatusMessage != '', StatusMessage,"
            f" {exception}['exception.message']) AS msg, {exception}['exception.type'], count() AS n"
            f" FROM {db}.otel_traces WHERE {where} AND {_ERROR} AND {last_hour}"
            " AND Timestamp <= fromUnixTimestamp64Nano({now:Int64})"
            " GROUP BY ServiceName, SpanName, GenAiModel, UserId, msg, 6 ORDER BY n DESC LIMIT 50",
            parameters=params,
        ).result_rows
        context.failing = [
            (str(a), str(b), str(c), str(d), str(e), str(f), int(n)) for a, b, c, d, e, f, n in failing
        ]
        change = client.query(
            f"SELECT ServiceName, countIf({last_hour}), countIf({last_hour} AND {_ERROR}),"
            f" countIf(NOT {last_hour}), countIf(NOT {last_hour} AND {_ERROR}) FROM {db}.otel_traces"
            f" WHERE {where} AND Timestamp >= fromUnixTimestamp64Nano({{before:Int64}})"
            " AND Timestamp <= fromUnixTimestamp64Nano({now:Int64}) GROUP BY ServiceName ORDER BY ServiceName LIMIT 20",
            parameters=params,
        ).result_rows
        context.change = {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in change}
    return context


def _top(counter: Counter[str], n: int = TOP) -> str:
    shown = [(k, c) for k, c in counter.most_common() if k][:n]
    return ", ".join(f"{k} ({c})" for k, c in shown) or "none"


def summary(context: Context) -> str:
    """The deterministic summary: no model, the same text for the same data (tested exactly)."""
    messages: Counter[str] = Counter()
    types: Counter[str] = Counter()
    operations: Counter[str] = Counter()
    models: Counter[str] = Counter()
    users: Counter[str] = Counter()
    for service, operation, model, user, message, kind, n in context.failing:
        messages[message[:200]] += n
        types[kind] += n
        operations[f"{service}/{operation}"] += n
        models[model] += n
        users[user] += n
    for span in context.error_spans:  # the example traces count even when older than the hour
        if not context.failing:
            messages[span.message or span.exception_message] += 1
            types[span.exception_type] += 1
            operations[f"{span.service}/{span.operation}"] += 1
            models[span.model] += 1
            users[span.user] += 1
    errors = sum(n for *_, n in context.failing)
    i = context.incident
    lines = [
        f"Summary (no model): incident {i.title!r}, severity {i.severity}; "
        f"{errors} error spans in the last hour on {', '.join(context.services) or 'every service'}.",
        f"Top error messages: {_top(messages)}.",
        f"Exception types: {_top(types)}.",
        f"Failing operations: {_top(operations)}.",
        f"Models affected: {_top(models)}.",
        f"Users affected: {_top(users)}.",
    ]
    for service, (spans, errs, spans_before, errs_before) in context.change.items():
        lines.append(
            f"{service}: {errs}/{spans} errors this hour, {errs_before}/{spans_before} the hour before."
        )
    lines.append(f"Example traces: {', '.join(context.trace_ids) or 'none'}.")
    return "\n".join(lines)


SYSTEM = (
    "You are an SRE triaging an incident of an LLM application from its telemetry. Answer in at most 200 "
    "words with three parts: 'Suspected cause:' one or two sentences; 'Evidence:' bullet points citing "
    "trace and span ids from the data; 'Next checks:' up to three concrete checks. Use only the data given."
)


def prompt(document: dict[str, Any]) -> str:
    return "Incident context (JSON):\n" + json.dumps(document, ensure_ascii=False, separators=(",", ":"))
