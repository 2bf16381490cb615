"""A small typed client for Vigil's query service (gRPC, port 4319).

    from vigil import QueryClient

    with QueryClient("localhost:4319") as client:
        trace = client.get_trace("5b8efff798038103d269b633813fc60c")
        for span in client.iter_spans(service="checkout", attributes={"gen_ai.request.model": "gpt-4o"}):
            print(span.name, span.duration_nano)

Times are Unix nanoseconds (int) or timezone-aware ``datetime``; results are the protobuf
messages of ``vigil.query.v1`` (documented in proto/vigil/query/v1/query.proto).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import struct_pb2

from vigil.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from vigil.query.v1 import query_pb2, query_pb2_grpc
from vigil_proto import MAX_MESSAGE_BYTES  # the server's limit too: vigil_proto/__init__.py

TimeLike = int | datetime | None


class QueryError(Exception):
    """The query service refused or failed a call; ``code`` is the gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def _ns(value: TimeLike) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime values must be timezone-aware")
        return int(value.timestamp()) * 10**9 + value.microsecond * 1000
    return int(value)


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(json.loads(json.dumps(dict(value))))
    return message


def _window(bounds: tuple[TimeLike, TimeLike] | None) -> query_pb2.TimeWindow | None:
    if bounds is None:
        return None
    return query_pb2.TimeWindow(start_time_unix_nano=_ns(bounds[0]), end_time_unix_nano=_ns(bounds[1]))


class _Credentials(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <credential>`` (and ``x-vigil-project``) to every call."""

    def __init__(self, credential: str, project: str) -> None:
        self.credential = credential
        self.project = project

    def _with_header(self, details: Any) -> Any:
        metadata = list(details.metadata or ())
        if self.credential:
            metadata.append(("authorization", f"Bearer {self.credential}"))
        if self.project:
            metadata.append(("x-vigil-project", self.project))
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._with_header(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._with_header(client_call_details), request)


class QueryClient:
    """With a server running VIGIL_AUTH=on, calls need a credential: ``api_key`` (a key with
    the ``read`` scope, ``replay`` for executed replays; default ``$VIGIL_API_KEY``), or a
    user's session after ``login``; ``project`` picks the project a user acts in. ``tls`` (or
    ``tls_ca_file``, the CA of a self-signed certificate) for a server with TLS."""

    def __init__(
        self,
        target: str = "localhost:4319",
        *,
        timeout_s: float = 30.0,
        api_key: str | None = None,
        project: str = "",
        tls: bool = False,
        tls_ca_file: str | None = None,
    ) -> None:
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        if tls or tls_ca_file:  # a server with VIGIL_TLS_CERT_FILE; the CA file for self-signed ones
            roots = open(tls_ca_file, "rb").read() if tls_ca_file else None  # noqa: SIM115
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        key = os.environ.get("VIGIL_API_KEY", "") if api_key is None else api_key
        self._credentials = _Credentials(key, project)
        channel = grpc.intercept_channel(self._channel, self._credentials)
        self._stub = query_pb2_grpc.QueryServiceStub(channel)
        self._alerting = alerting_pb2_grpc.AlertingServiceStub(channel)
        self._timeout_s = timeout_s

    def __enter__(self) -> QueryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def login(self, username: str, password: str) -> query_pb2.LoginResponse:
        """Log in as a user; later calls carry the session's access token."""
        session = self._call(self._stub.Login, query_pb2.LoginRequest(username=username, password=password))
        self._credentials.credential = session.access_token
        return session

    def get_trace(
        self, trace_id: str, *, start: TimeLike = None, end: TimeLike = None
    ) -> query_pb2.GetTraceResponse:
        """The whole trace in one message, however many pages the server sends it in."""
        trace = query_pb2.GetTraceResponse(trace_id=trace_id)
        for page in self.iter_trace_pages(trace_id, start=start, end=end):
            trace.trace_id = page.trace_id
            trace.span_count = page.span_count
            trace.root_span_ids[:] = page.root_span_ids
            trace.spans.extend(page.spans)
            trace.logs.extend(page.logs)
        return trace

    def search_logs(
        self, *, page_size: int = 100, page_token: str = "", **filters: object
    ) -> query_pb2.SearchLogsResponse:
        """One page of log records, newest first. Filters: see ``log_filter``."""
        request = query_pb2.SearchLogsRequest(
            filter=log_filter(**filters),
            page_size=page_size,
            page_token=page_token,  # type: ignore[arg-type]
        )
        return self._call(self._stub.SearchLogs, request)

    def iter_logs(self, *, page_size: int = 500, **filters: object) -> Iterator[query_pb2.LogRecord]:
        """Every matching log record, newest first, following the pages."""
        token = ""
        while True:
            page = self.search_logs(page_size=page_size, page_token=token, **filters)
            yield from page.logs
            token = page.next_page_token
            if not token:
                return

    def list_metrics(
        self, *, service: str = "", name_prefix: str = "", start: TimeLike = None, end: TimeLike = None
    ) -> list[query_pb2.MetricDescriptor]:
        """Metrics seen in the time range (default: the last 24 hours), per service."""
        request = query_pb2.ListMetricsRequest(
            service_name=service,
            name_prefix=name_prefix,
            start_time_min_unix_nano=_ns(start),
            start_time_max_unix_nano=_ns(end),
        )
        return list(self._call(self._stub.ListMetrics, request).metrics)

    def query_metrics(
        self,
        name: str,
        aggregation: str,
        *,
        service: str = "",
        attributes: Mapping[str, str] | None = None,
        group_by: Sequence[str] = (),
        start: TimeLike = None,
        end: TimeLike = None,
        step_s: float = 0,
        metric_type: str = "",
        max_series: int = 0,
    ) -> query_pb2.QueryMetricsResponse:
        """One metric in time buckets (default: the last hour, 60 buckets), one series per
        group. ``aggregation``: avg, min, max, sum, last, rate, increase, p50, p90, p95, p99 or
        mean; ``metric_type`` (gauge, sum, histogram, exponential_histogram) only when the name
        is stored with several types; ``max_series``: the largest series only."""
        return self._call(
            self._stub.QueryMetrics,
            metrics_request(name, aggregation, service=service, attributes=attributes, group_by=group_by,
                            start=start, end=end, step_s=step_s, metric_type=metric_type, max_series=max_series),
        )  # fmt: skip

    def stream_metrics(self, name: str, aggregation: str, **options: Any) -> LiveStream:
        """Live metrics (StreamMetrics): the first response's ``metrics`` is ``query_metrics`` up
        to now (same options; ``end`` is ignored), then about once a second the latest buckets again with
        what arrived since. ``cancel()`` or the end of a ``with`` block ends it."""
        request = query_pb2.StreamMetricsRequest(query=metrics_request(name, aggregation, **options))
        return LiveStream(self._stub.StreamMetrics(request))

    def overview(
        self,
        *,
        group_by: str = "",
        start: TimeLike = None,
        end: TimeLike = None,
        step_s: float = 0,
        service: str = "",
        top: int = 0,
    ) -> query_pb2.GetOverviewResponse:
        """The UI's overview (GetOverview): requests (root spans), errors, latency, and the LLM
        calls' tokens and cost in time buckets (default: the last 24 hours), grouped by
        ``group_by`` ("", "model", "service" or "user"); the top sessions, users, models and
        operations by cost and by errors."""
        try:
            grouping = query_pb2.OverviewGroupBy.Value(
                f"OVERVIEW_GROUP_BY_{(group_by or 'unspecified').upper()}"
            )
        except ValueError as exc:
            raise ValueError(f"group_by must be model, service or user, got {group_by!r}") from exc
        request = query_pb2.GetOverviewRequest(
            start_time_min_unix_nano=_ns(start),
            start_time_max_unix_nano=_ns(end),
            step_nano=int(step_s * 10**9),
            group_by=grouping,  # type: ignore[arg-type]
            service_name=service,
            top=top,
        )
        return self._call(self._stub.GetOverview, request)

    def log_volume(self, *, step_s: float = 0, **filters: object) -> query_pb2.GetLogVolumeResponse:
        """Log records per time bucket and severity. Filters: see ``log_filter``."""
        request = query_pb2.GetLogVolumeRequest(filter=log_filter(**filters), step_nano=int(step_s * 10**9))
        return self._call(self._stub.GetLogVolume, request)

    def tail_logs(self, **filters: object) -> LiveStream:
        """Live tail of logs (TailLogs), as ``tail_spans``. Filters: see ``log_filter``
        (without start/end)."""
        return LiveStream(self._stub.TailLogs(query_pb2.TailLogsRequest(filter=log_filter(**filters))))

    def iter_trace_pages(
        self, trace_id: str, *, start: TimeLike = None, end: TimeLike = None, page_size: int = 0
    ) -> Iterator[query_pb2.StreamTraceResponse]:
        """The trace's pages in depth-first order (StreamTrace: one consistent view of the
        trace), for traces too large to hold at once; ``page_size`` 0 = the server's default."""
        request = query_pb2.StreamTraceRequest(
            trace_id=trace_id,
            start_time_min_unix_nano=_ns(start),
            start_time_max_unix_nano=_ns(end),
            page_size=page_size,
        )
        try:
            yield from self._stub.StreamTrace(request, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            raise QueryError(exc.code(), exc.details() or "") from None

    def search_spans(
        self, *, page_size: int = 100, page_token: str = "", **filters: object
    ) -> query_pb2.SearchSpansResponse:
        """One page of spans, newest first. Filters: see ``span_filter``."""
        request = query_pb2.SearchSpansRequest(
            filter=span_filter(**filters),
            page_size=page_size,
            page_token=page_token,  # type: ignore[arg-type]
        )
        return self._call(self._stub.SearchSpans, request)

    def iter_spans(self, *, page_size: int = 500, **filters: object) -> Iterator[query_pb2.Span]:
        """Every matching span, newest first, following the pages."""
        token = ""
        while True:
            page = self.search_spans(page_size=page_size, page_token=token, **filters)
            yield from page.spans
            token = page.next_page_token
            if not token:
                return

    def tail_spans(self, **filters: object) -> SpanTail:
        """Live tail (TailSpans): iterate it for an empty response at once (the tail is
        live), then the new spans about once a second; ``cancel()`` (from any thread) or the
        end of a ``with`` block ends it. Filters: see ``span_filter`` (without start/end)."""
        return SpanTail(self._stub.TailSpans(query_pb2.TailSpansRequest(filter=span_filter(**filters))))

    def whoami(self) -> query_pb2.WhoAmIResponse:
        """The caller and the projects it may act in."""
        return self._call(self._stub.WhoAmI, query_pb2.WhoAmIRequest())

    def search_traces(
        self, *, page_size: int = 100, page_token: str = "", **filters: object
    ) -> query_pb2.SearchTracesResponse:
        request = query_pb2.SearchTracesRequest(
            filter=span_filter(**filters),
            page_size=page_size,
            page_token=page_token,  # type: ignore[arg-type]
        )
        return self._call(self._stub.SearchTraces, request)

    def services(self, *, start: TimeLike = None, end: TimeLike = None) -> list[str]:
        request = query_pb2.GetServicesRequest(
            start_time_min_unix_nano=_ns(start), start_time_max_unix_nano=_ns(end)
        )
        return list(self._call(self._stub.GetServices, request).services)

    def operations(
        self, service: str, *, start: TimeLike = None, end: TimeLike = None
    ) -> list[query_pb2.Operation]:
        request = query_pb2.GetOperationsRequest(
            service_name=service, start_time_min_unix_nano=_ns(start), start_time_max_unix_nano=_ns(end)
        )
        return list(self._call(self._stub.GetOperations, request).operations)

    def drift(
        self,
        metric: str = "duration",
        *,
        group_by: Sequence[str] = (),
        current: tuple[TimeLike, TimeLike] | None = None,
        baseline: tuple[TimeLike, TimeLike] | None = None,
        bins: int = 0,
        min_samples: int = 0,
        service: str = "",
        span_name: str = "",
    ) -> query_pb2.GetDriftResponse:
        """PSI per group of ``metric`` ("duration", "input_tokens" or "output_tokens").

        Default windows: the last hour against the 24 hours before it.
        """
        request = query_pb2.GetDriftRequest(
            metric=metric,
            group_by=list(group_by),
            current=_window(current),
            baseline=_window(baseline),
            bins=bins,
            min_samples=min_samples,
            service_name=service,
            span_name=span_name,
        )
        return self._call(self._stub.GetDrift, request)

    def usage(
        self,
        *,
        group_by: str = "",
        start: TimeLike = None,
        end: TimeLike = None,
        step_s: float = 0,
        service: str = "",
        model: str = "",
        provider: str = "",
        user: str = "",
        session: str = "",
        max_groups: int = 0,
    ) -> query_pb2.GetUsageResponse:
        """LLM calls, tokens, cost (USD), errors and latency, in time buckets (default: the
        last 24 hours in 24), grouped by ``group_by``: "", "model", "provider", "service",
        "user", "session" or "project". Calls whose model has no price are in ``unpriced_calls``."""
        try:
            grouping = query_pb2.UsageGroupBy.Value(f"USAGE_GROUP_BY_{(group_by or 'unspecified').upper()}")
        except ValueError as exc:
            raise ValueError(
                f"group_by must be model, provider, service, user or session, got {group_by!r}"
            ) from exc
        request = query_pb2.GetUsageRequest(
            start_time_min_unix_nano=_ns(start),
            start_time_max_unix_nano=_ns(end),
            step_nano=int(step_s * 10**9),
            group_by=grouping,  # type: ignore[arg-type]
            service_name=service,
            model=model,
            provider=provider,
            user_id=user,
            session_id=session,
            max_groups=max_groups,
        )
        return self._call(self._stub.GetUsage, request)

    def sessions(
        self,
        *,
        start: TimeLike = None,
        end: TimeLike = None,
        service: str = "",
        user: str = "",
        page_size: int = 50,
        page_token: str = "",
    ) -> query_pb2.SearchSessionsResponse:
        """One page of sessions (conversations), most recently active first."""
        request = query_pb2.SearchSessionsRequest(
            start_time_min_unix_nano=_ns(start),
            start_time_max_unix_nano=_ns(end),
            service_name=service,
            user_id=user,
            page_size=page_size,
            page_token=page_token,
        )
        return self._call(self._stub.SearchSessions, request)

    def session(
        self, session_id: str, *, start: TimeLike = None, end: TimeLike = None
    ) -> query_pb2.GetSessionResponse:
        """One session's summary and its traces in order (default: the last 30 days)."""
        request = query_pb2.GetSessionRequest(
            session_id=session_id, start_time_min_unix_nano=_ns(start), start_time_max_unix_nano=_ns(end)
        )
        return self._call(self._stub.GetSession, request)

    def model_prices(self) -> list[query_pb2.ModelPrice]:
        """The price book: Vigil's default prices and the ones users added."""
        return list(self._call(self._stub.ListModelPrices, query_pb2.ListModelPricesRequest()).prices)

    def drift_alerts(
        self,
        *,
        severity: str = "",
        metric: str = "",
        resolved: bool | None = False,
        page_size: int = 100,
        page_token: str = "",
    ) -> query_pb2.ListDriftAlertsResponse:
        """One page of drift alerts, most recently updated first.

        ``resolved``: False (default) open alerts only, True resolved only, None all.
        """
        which = query_pb2.ListDriftAlertsRequest
        request = which(
            severity=severity,
            metric=metric,
            resolved={
                False: which.RESOLVED_FILTER_UNRESOLVED_ONLY,
                True: which.RESOLVED_FILTER_RESOLVED_ONLY,
                None: which.RESOLVED_FILTER_ALL,
            }[resolved],
            page_size=page_size,
            page_token=page_token,
        )
        return self._call(self._stub.ListDriftAlerts, request)

    def resolve_drift_alert(self, alert_id: str) -> query_pb2.DriftAlert:
        request = query_pb2.ResolveDriftAlertRequest(alert_id=alert_id)
        return self._call(self._stub.ResolveDriftAlert, request).alert

    def replay(
        self,
        trace_id: str,
        mutations: Sequence[query_pb2.Mutation | Mapping[str, Any]],
        *,
        execute: bool = False,
        requested_by: str = "",
    ) -> query_pb2.ReplayResponse:
        """What if the trace's inputs had been different (see ``mutation`` for the mutations).

        With ``execute=True`` the mutated GenAI calls are sent again by the server and recorded
        as a new trace linked to this one.
        """
        request = query_pb2.ReplayRequest(
            trace_id=trace_id,
            mutations=[m if isinstance(m, query_pb2.Mutation) else mutation(**m) for m in mutations],
            execute=execute,
            requested_by=requested_by,
        )
        return self._call(self._stub.Replay, request)

    def replays(
        self, *, source_trace_id: str = "", page_size: int = 50, page_token: str = ""
    ) -> query_pb2.ListReplaysResponse:
        request = query_pb2.ListReplaysRequest(
            source_trace_id=source_trace_id, page_size=page_size, page_token=page_token
        )
        return self._call(self._stub.ListReplays, request)

    def get_replay(self, replay_id: str) -> query_pb2.GetReplayResponse:
        return self._call(self._stub.GetReplay, query_pb2.GetReplayRequest(replay_id=replay_id))

    # --- alert rules (vigil.alerting.v1; policies are dicts in the rules-as-code format) -----

    def rules(self) -> list[alerting_pb2.Rule]:
        return list(self._call(self._alerting.ListRules, alerting_pb2.ListRulesRequest()).rules)

    def rule(self, name: str) -> alerting_pb2.Rule:
        return self._call(self._alerting.GetRule, alerting_pb2.GetRuleRequest(name=name)).rule

    def create_rule(self, policy: Mapping[str, Any]) -> alerting_pb2.Rule:
        """A new rule of the project, e.g. ``{"name": "cpu", "target": "web-*", "condition":
        {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}}`` (needs ``write``)."""
        request = alerting_pb2.CreateRuleRequest(policy=_struct(policy))
        return self._call(self._alerting.CreateRule, request).rule

    def update_rule(self, name: str, **changes: Any) -> alerting_pb2.Rule:
        """Change some fields of a rule's policy, e.g. ``update_rule("cpu", severity="critical")``."""
        request = alerting_pb2.UpdateRuleRequest(name=name, patch=_struct(changes))
        return self._call(self._alerting.UpdateRule, request).rule

    def delete_rule(self, name: str) -> None:
        self._call(self._alerting.DeleteRule, alerting_pb2.DeleteRuleRequest(name=name))

    def enable_rule(self, name: str) -> alerting_pb2.Rule:
        return self._call(self._alerting.EnableRule, alerting_pb2.EnableRuleRequest(name=name)).rule

    def disable_rule(self, name: str) -> alerting_pb2.Rule:
        return self._call(self._alerting.DisableRule, alerting_pb2.DisableRuleRequest(name=name)).rule

    def reload_rules(self) -> alerting_pb2.ReloadRulesResponse:
        """Re-read the server's rules file and Alertmanager configuration; a bad file is
        refused (INVALID_ARGUMENT) and what is in force stays."""
        return self._call(self._alerting.ReloadRules, alerting_pb2.ReloadRulesRequest())

    def export_rules(self, format: str = "json") -> str:
        """The project's API rules as a rules file (``json`` or ``yaml``)."""
        return self._call(self._alerting.ExportRules, alerting_pb2.ExportRulesRequest(format=format)).text

    def alerts(
        self,
        *,
        state: str = "",
        severity: str = "",
        rule: str = "",
        page_size: int = 100,
        page_token: str = "",
    ) -> alerting_pb2.ListAlertsResponse:
        """One page of alert instances (every state but inactive unless ``state`` is given)."""
        request = alerting_pb2.ListAlertsRequest(
            state=state, severity=severity, rule=rule, page_size=page_size, page_token=page_token
        )
        return self._call(self._alerting.ListAlerts, request)

    def alert_history(
        self, *, rule: str = "", fingerprint: str = "", limit: int = 1000
    ) -> list[alerting_pb2.AlertTransition]:
        request = alerting_pb2.GetAlertHistoryRequest(rule=rule, fingerprint=fingerprint, limit=limit)
        return list(self._call(self._alerting.GetAlertHistory, request).transitions)

    def runner_status(self) -> alerting_pb2.GetRunnerStatusResponse:
        return self._call(self._alerting.GetRunnerStatus, alerting_pb2.GetRunnerStatusRequest())

    def evaluate_rules(
        self,
        metrics: Mapping[str, float] | None = None,
        target: str = "",
        *,
        rule: Mapping[str, Any] | None = None,
    ) -> alerting_pb2.EvaluateRulesResponse:
        """The sandbox: ``evaluate_rules({"cpu_percent": 95}, "web-1")`` → violations and
        actions_triggered; or ``evaluate_rules(rule=draft)`` → the draft's values per group now."""
        request = alerting_pb2.EvaluateRulesRequest(metrics=dict(metrics or {}), target=target)
        if rule is not None:
            request.rule.CopyFrom(_struct(rule))
        return self._call(self._alerting.EvaluateRules, request)

    def backtest_rule(
        self, *, start: TimeLike, end: TimeLike = None, name: str = "", rule: Mapping[str, Any] | None = None
    ) -> alerting_pb2.BacktestRuleResponse:
        """The alert intervals a stored (``name``) or draft (``rule``) rule would have produced."""
        request = alerting_pb2.BacktestRuleRequest(
            name=name, start_time_unix_nano=_ns(start), end_time_unix_nano=_ns(end)
        )
        if rule is not None:
            request.rule.CopyFrom(_struct(rule))
        return self._call(self._alerting.BacktestRule, request)

    # --- incidents (vigil.alerting.v1) --------------------------------------------------------
    def incidents(
        self,
        *,
        status: str = "",
        severity: str = "",
        service: str = "",
        start: TimeLike = None,
        end: TimeLike = None,
        limit: int = 100,
    ) -> list[alerting_pb2.Incident]:
        """Incidents, most recently opened first (status: triggered, acknowledged, resolved)."""
        request = alerting_pb2.ListIncidentsRequest(
            status=status, severity=severity, service=service, start_time_unix_nano=_ns(start),
            end_time_unix_nano=_ns(end), limit=limit,
        )  # fmt: skip
        return list(self._call(self._alerting.ListIncidents, request).incidents)

    def incident(self, incident_id: str) -> alerting_pb2.GetIncidentResponse:
        """One incident with its alerts, timeline (oldest first) and example traces' logs."""
        return self._call(self._alerting.GetIncident, alerting_pb2.GetIncidentRequest(id=incident_id))

    def acknowledge_incident(self, incident_id: str) -> alerting_pb2.Incident:
        request = alerting_pb2.AcknowledgeIncidentRequest(id=incident_id)
        return self._call(self._alerting.AcknowledgeIncident, request).incident

    def resolve_incident(self, incident_id: str) -> alerting_pb2.Incident:
        return self._call(
            self._alerting.ResolveIncident, alerting_pb2.ResolveIncidentRequest(id=incident_id)
        ).incident

    def add_incident_note(self, incident_id: str, text: str) -> alerting_pb2.Incident:
        request = alerting_pb2.AddIncidentNoteRequest(id=incident_id, text=text)
        return self._call(self._alerting.AddIncidentNote, request).incident

    def analyze_incident(self, incident_id: str) -> alerting_pb2.AnalyzeIncidentResponse:
        """AnalyzeIncident: triage now, whatever the severity; the result is also on the timeline."""
        return self._call(self._alerting.AnalyzeIncident, alerting_pb2.AnalyzeIncidentRequest(id=incident_id))

    def watch_incidents(self) -> SpanTail:
        """WatchIncidents: iterate it for the live incidents, then every change as it happens;
        ``cancel()`` (from any thread) or the end of a ``with`` block ends it."""
        return SpanTail(self._alerting.WatchIncidents(alerting_pb2.WatchIncidentsRequest()))

    # --- actions (vigil.alerting.v1, docs/actions.md) ------------------------------------------
    def create_action(
        self,
        action: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        details: str = "",
        incident_id: str = "",
        severity: str = "",
    ) -> alerting_pb2.Action:
        """A pending action requested by the caller; ``incident_id`` puts its result on that
        incident's timeline (the "Run" button of an incident does exactly this)."""
        request = alerting_pb2.CreateActionRequest(
            action=action, target=target, params_json=json.dumps(dict(params)) if params else "",
            details=details, incident_id=incident_id, severity=severity,
        )  # fmt: skip
        return self._call(self._alerting.CreateAction, request).action

    def actions(self, *, status: str = "", target: str = "", limit: int = 100) -> list[alerting_pb2.Action]:
        """Actions, most recently created first (status: pending, running, completed, failed,
        cancelled)."""
        request = alerting_pb2.ListActionsRequest(status=status, target=target, limit=limit)
        return list(self._call(self._alerting.ListActions, request).actions)

    def action(self, action_id: str) -> alerting_pb2.GetActionResponse:
        """One action (``.action``) and every stored version of it (``.history``, oldest first)."""
        return self._call(self._alerting.GetAction, alerting_pb2.GetActionRequest(id=action_id))

    def cancel_action(self, action_id: str) -> alerting_pb2.Action:
        """Cancels a pending action; one already sent is ``FAILED_PRECONDITION``."""
        return self._call(self._alerting.CancelAction, alerting_pb2.CancelActionRequest(id=action_id)).action

    def action_queue_stats(self) -> alerting_pb2.GetQueueStatsResponse:
        return self._call(self._alerting.GetQueueStats, alerting_pb2.GetQueueStatsRequest())

    # --- silences and the delivery log (vigil.alerting.v1) ----------------------------------
    def create_silence(
        self,
        matchers: Sequence[str],
        *,
        comment: str,
        duration_s: float = 0.0,
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> alerting_pb2.Silence:
        """A silence of the alerts all ``matchers`` match (``'service="checkout"'``, ``=~``,
        ``!=``, ``!~``), from ``start`` (now) for ``duration_s`` or until ``end``."""
        request = alerting_pb2.CreateSilenceRequest(
            matchers=list(matchers), comment=comment, duration_seconds=duration_s,
            start_time_unix_nano=_ns(start), end_time_unix_nano=_ns(end),
        )  # fmt: skip
        return self._call(self._alerting.CreateSilence, request).silence

    def silences(self, *, include_expired: bool = False) -> list[alerting_pb2.Silence]:
        """Most recently created first."""
        request = alerting_pb2.ListSilencesRequest(include_expired=include_expired)
        return list(self._call(self._alerting.ListSilences, request).silences)

    def expire_silence(self, silence_id: str) -> alerting_pb2.Silence:
        request = alerting_pb2.ExpireSilenceRequest(id=silence_id)
        return self._call(self._alerting.ExpireSilence, request).silence

    def deliveries(
        self,
        *,
        fingerprint: str = "",
        incident_id: str = "",
        rule: str = "",
        receiver: str = "",
        limit: int = 200,
    ) -> list[alerting_pb2.Delivery]:
        """The delivery log of one alert, an incident's alerts or a rule's alerts (one of the
        three), oldest first: each attempt and each suppression."""
        request = alerting_pb2.ListDeliveriesRequest(
            fingerprint=fingerprint, incident_id=incident_id, rule=rule, receiver=receiver, limit=limit
        )
        return list(self._call(self._alerting.ListDeliveries, request).deliveries)

    def _call(self, method, request):
        try:
            return method(request, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            raise QueryError(exc.code(), exc.details() or "") from None


class SpanTail:
    """A running server stream: TailSpans and WatchIncidents (and, as LiveStream, TailLogs or StreamMetrics)."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[query_pb2.TailSpansResponse]:
        try:
            yield from self._call
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise QueryError(exc.code(), exc.details() or "") from None

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> SpanTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class LiveStream(SpanTail):
    """A running TailLogs or StreamMetrics call: iterate it for its responses."""

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        yield from super().__iter__()


def mutation(
    *,
    patch: Sequence[Mapping[str, Any]] | str,
    span_name: str = "",
    span_id: str = "",
    attributes: Mapping[str, str] | None = None,
    target: str = "",
) -> query_pb2.Mutation:
    """One replay mutation: which spans (by id, or by name and attribute values), and the
    RFC 6902 JSON Patch applied to their captured input (``target``: ``input.value``, or
    ``gen_ai.input.messages`` for LLM calls; by default whichever the span has)."""
    return query_pb2.Mutation(
        select=query_pb2.SpanSelector(
            span_id=span_id, span_name=span_name, attributes=dict(attributes or {})
        ),
        target=target,
        patch=patch if isinstance(patch, str) else json.dumps(list(patch)),
    )


def metrics_request(
    name: str,
    aggregation: str,
    *,
    service: str = "",
    attributes: Mapping[str, str] | None = None,
    group_by: Sequence[str] = (),
    start: TimeLike = None,
    end: TimeLike = None,
    step_s: float = 0,
    metric_type: str = "",
    max_series: int = 0,
) -> query_pb2.QueryMetricsRequest:
    """Build a QueryMetricsRequest (see ``QueryClient.query_metrics``)."""
    try:
        agg = query_pb2.Aggregation.Value(f"AGGREGATION_{aggregation.upper()}")
        kind = query_pb2.MetricType.Value(f"METRIC_TYPE_{metric_type.upper()}") if metric_type else 0
    except ValueError as exc:
        raise ValueError(f"unknown aggregation {aggregation!r} or metric type {metric_type!r}") from exc
    return query_pb2.QueryMetricsRequest(
        metric_name=name,
        type=kind,  # type: ignore[arg-type]
        service_name=service,
        attributes=dict(attributes or {}),
        group_by=list(group_by),
        start_time_min_unix_nano=_ns(start),
        start_time_max_unix_nano=_ns(end),
        step_nano=int(step_s * 10**9),
        aggregation=agg,  # type: ignore[arg-type]
        max_series=max_series,
    )


def log_filter(
    *,
    service: str = "",
    min_severity: int = 0,
    trace_id: str = "",
    span_id: str = "",
    body_contains: str = "",
    attributes: Mapping[str, str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> query_pb2.LogFilter:
    """Build a LogFilter; empty values do not filter. Without start/end: the last 24 hours.
    ``min_severity``: a severity number (9 INFO, 13 WARN, 17 ERROR, 21 FATAL)."""
    return query_pb2.LogFilter(
        service_name=service,
        min_severity_number=min_severity,
        trace_id=trace_id,
        span_id=span_id,
        body_contains=body_contains,
        attributes=dict(attributes or {}),
        start_time_min_unix_nano=_ns(start),
        start_time_max_unix_nano=_ns(end),
    )


def span_filter(
    *,
    service: str = "",
    span_name: str = "",
    kind: str = "",
    status: str = "",
    attributes: Mapping[str, str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    min_duration_ns: int = 0,
    max_duration_ns: int = 0,
    trace_id: str = "",
) -> query_pb2.SpanFilter:
    """Build a SpanFilter; empty values do not filter. Without start/end: the last 24 hours."""
    return query_pb2.SpanFilter(
        service_name=service,
        span_name=span_name,
        span_kind=kind,
        status_code=status,
        attributes=dict(attributes or {}),
        start_time_min_unix_nano=_ns(start),
        start_time_max_unix_nano=_ns(end),
        duration_min_nano=min_duration_ns,
        duration_max_nano=max_duration_ns,
        trace_id=trace_id,
    )
