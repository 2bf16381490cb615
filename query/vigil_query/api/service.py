"""The QueryService RPCs. Each validates, runs its SQL on a reader thread, and maps errors to
gRPC status codes here, once."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message

from vigil_auth import registry
from vigil_auth.authenticator import Authenticator
from vigil_auth.errors import AuthBusy, CredentialsUnavailable, PermissionDenied, Unauthenticated
from vigil_auth.grpc_calls import caller
from vigil_auth.keys import ANY, READ, REPLAY, WRITE
from vigil_proto.query.v1 import query_pb2, query_pb2_grpc
from vigil_query.analytics.overview import overview_parts
from vigil_query.analytics.prices.rpc import list_model_prices
from vigil_query.analytics.sessions import get_session, search_sessions
from vigil_query.analytics.usage import get_usage
from vigil_query.drift.alerts import list_alerts, resolve_alert
from vigil_query.drift.psi import Thresholds
from vigil_query.drift.query import get_drift
from vigil_query.errors import Busy, FailedPrecondition, InvalidQuery, NotFound, TimedOut
from vigil_query.logs.search import log_volume, search_logs
from vigil_query.metrics.query import HOUR_NS, list_metrics, query_metrics
from vigil_query.reader import Reader
from vigil_query.replay.caps import AUTH_OFF
from vigil_query.replay.history import get_replay, list_replays
from vigil_query.replay.providers import ProviderConfig, ProviderEndpoint
from vigil_query.replay.service import ReplayLimits, Replays
from vigil_query.traces.catalog import get_operations, get_services
from vigil_query.traces.search import search_spans, search_traces
from vigil_query.traces.tail import POLL_S, LogTail, Tail
from vigil_query.traces.trace import get_trace, outline, page, page_size
from vigil_storage import StorageError, StorageUnavailable

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


def status_for(error: Exception) -> tuple[grpc.StatusCode, str]:
    """The status and the message a client gets. Messages are short reasons written for the
    caller; an internal failure's own text (driver messages, SQL, paths) stays in the log."""
    if isinstance(error, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, error.reason
    if isinstance(error, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, error.reason
    if isinstance(error, CredentialsUnavailable):
        return grpc.StatusCode.UNAVAILABLE, error.reason
    if isinstance(error, InvalidQuery):
        return grpc.StatusCode.INVALID_ARGUMENT, error.reason
    if isinstance(error, NotFound):
        return grpc.StatusCode.NOT_FOUND, error.reason
    if isinstance(error, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, error.reason
    if isinstance(error, Busy | AuthBusy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, error.reason
    if isinstance(error, TimedOut):
        return grpc.StatusCode.DEADLINE_EXCEEDED, error.reason
    if isinstance(error, StorageError):
        name = error.name or ""
        if name == "TIMEOUT_EXCEEDED":
            return (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the query reached its time limit (VIGIL_QUERY_TIMEOUT_S); narrow the filter or the time range",
            )
        if name.startswith("TOO_MANY_ROWS"):
            return (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "the query reached its row limit (VIGIL_QUERY_MAX_ROWS); narrow the filter or the time range",
            )
        if name == "MEMORY_LIMIT_EXCEEDED":
            return (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "the query reached its memory limit (VIGIL_QUERY_MAX_MEMORY_BYTES); narrow the filter or the time range",
            )
        if isinstance(error, StorageUnavailable):
            return grpc.StatusCode.UNAVAILABLE, "storage is unavailable; retry later"
        return grpc.StatusCode.INTERNAL, f"storage error {name or type(error).__name__}"
    return grpc.StatusCode.INTERNAL, "internal error"


async def _abort(name: str, error: Exception, context: grpc.aio.ServicerContext) -> NoReturn:
    """End the RPC with the status for ``error`` (one place for all RPCs). The detail of a
    failure that is not the caller's goes to the log under a request id the caller is given."""
    code, message = status_for(error)
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        request_id = uuid.uuid4().hex[:16]
        log.error(
            "%s failed (request id %s): %s",
            name,
            request_id,
            error,
            exc_info=not isinstance(error, StorageError),  # a bug: its traceback
        )
        message = f"{message} (request id {request_id})"
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


async def respond(name: str, work: Awaitable[Resp], context: grpc.aio.ServicerContext) -> Resp:
    try:
        return await work
    except Exception as exc:
        await _abort(name, exc, context)


class _Unary:
    """A unary RPC that runs ``fn(reader, request)`` on a query thread; its name (for the log)
    is the attribute it is assigned to."""

    def __init__(self, fn: Callable[..., Resp], scope: str = READ, method: bool = False) -> None:
        self._fn = fn
        self._scope = scope
        self._method = method  # fn(service, reader, request)
        self._name = fn.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(
        self, service: QueryService, owner: type
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        fn = functools.partial(self._fn, service) if self._method else self._fn

        async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async def work() -> Any:
                reader = await service.reader_for(context, self._scope)
                return await reader.run(lambda r: fn(r, request))

            return await respond(self._name, work(), context)

        return handler


class QueryService(query_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        reader: Reader,
        auth: Authenticator,
        thresholds: Thresholds | None = None,
        providers: ProviderConfig | None = None,
        replay_limits: ReplayLimits | None = None,
    ) -> None:
        self.reader = reader
        self.auth = auth
        self.thresholds = thresholds or Thresholds()
        self.providers = providers or ProviderConfig(ProviderEndpoint("", ""), ProviderEndpoint("", ""))
        self.replays = Replays(self.providers, replay_limits or ReplayLimits())

    async def reader_for(self, context: grpc.aio.ServicerContext, scope: str) -> Reader:
        """The reader over the caller's project, once the caller may do ``scope`` there."""
        principal = await caller(self.auth, context, scope)
        return self.reader.scoped(principal.database)

    async def Login(
        self, request: query_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.LoginResponse:
        async def work() -> query_pb2.LoginResponse:
            session = await self.auth.login(request.username, request.password, context.peer() or "")
            return query_pb2.LoginResponse(
                access_token=session.access_token,
                refresh_token=session.refresh_token,
                expires_in_s=session.expires_in_s,
            )

        return await respond("Login", work(), context)

    async def RefreshSession(
        self, request: query_pb2.RefreshSessionRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.RefreshSessionResponse:
        async def work() -> query_pb2.RefreshSessionResponse:
            session = await self.auth.refresh(request.refresh_token)
            return query_pb2.RefreshSessionResponse(
                access_token=session.access_token,
                refresh_token=session.refresh_token,
                expires_in_s=session.expires_in_s,
            )

        return await respond("RefreshSession", work(), context)

    async def WhoAmI(
        self, request: query_pb2.WhoAmIRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.WhoAmIResponse:
        async def work() -> query_pb2.WhoAmIResponse:
            principal = await caller(self.auth, context, ANY)
            return query_pb2.WhoAmIResponse(
                auth_enabled=self.auth.enabled,
                username=principal.username,
                key_id="" if principal.username else principal.key_id,
                server_admin=principal.server_admin,
                project=self.auth.slug_of(principal.project),
                projects=[
                    query_pb2.ProjectAccess(slug=a.slug, name=a.name, role=a.role, scopes=a.scopes)
                    for a in self.auth.access(principal)
                ],
            )

        return await respond("WhoAmI", work(), context)

    GetTrace = _Unary(get_trace)
    SearchSpans = _Unary(search_spans)
    SearchLogs = _Unary(search_logs)
    ListMetrics = _Unary(list_metrics)
    QueryMetrics = _Unary(query_metrics)
    SearchTraces = _Unary(search_traces)
    SearchSessions = _Unary(search_sessions)
    GetSession = _Unary(get_session)
    ListModelPrices = _Unary(list_model_prices)
    GetServices = _Unary(get_services)
    GetOperations = _Unary(get_operations)
    ListDriftAlerts = _Unary(list_alerts)
    ResolveDriftAlert = _Unary(resolve_alert, scope=WRITE)  # a state change
    ListReplays = _Unary(list_replays)
    GetReplay = _Unary(get_replay)
    GetLogVolume = _Unary(log_volume)

    async def StreamTrace(
        self, request: query_pb2.StreamTraceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.StreamTraceResponse]:
        """Every page of GetTrace from one outline; gRPC flow control paces the pages, so the
        server holds one page at a time however slowly the client reads."""
        try:
            size = page_size(request)
            reader = await self.reader_for(context, READ)
            trace = await reader.run(lambda r: outline(r, request))
            offset = 0
            while offset < trace.span_count:
                message, offset = await reader.run(
                    lambda r, at=offset: page(r, trace, at, size, message=query_pb2.StreamTraceResponse)
                )
                yield message
        except Exception as exc:
            await _abort("StreamTrace", exc, context)

    async def TailSpans(
        self, request: query_pb2.TailSpansRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.TailSpansResponse]:
        """Polls until the caller cancels (gRPC and Connect cancel this generator). The caller
        is checked again at every poll (a revoked key ends its tail). A poll refused because
        the service is busy is skipped, not fatal: the next one catches up."""
        # The first (empty) answer says it is live: what ends from now on is sent.
        async for found in self._tail(
            "TailSpans",
            context,
            lambda: Tail(request.filter).poll,
            query_pb2.TailSpansResponse(),
            lambda f: f.spans or f.skipped,
        ):
            yield found

    async def _tail(
        self,
        name: str,
        context: grpc.aio.ServicerContext,
        start: Callable[[], Callable[[Reader], Resp]],
        live: Resp,
        news: Callable[[Resp], object],
    ) -> AsyncIterator[Resp]:
        """The live tails' one loop: the caller checked, the tail made from its filter (a bad
        one refused before anything is sent), ``live`` sent, then every POLL_S what the poll
        found, if ``news`` says it holds any; the caller is checked again at every poll, and a
        poll refused because the service is busy is skipped."""
        try:
            await self.reader_for(context, READ)
            poll = start()
            yield live
            while True:
                await asyncio.sleep(POLL_S)
                reader = await self.reader_for(context, READ)
                try:
                    found = await reader.run(poll)
                except Busy:
                    continue
                if news(found):
                    yield found
        except Exception as exc:
            await _abort(name, exc, context)

    async def GetOverview(
        self, request: query_pb2.GetOverviewRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetOverviewResponse:
        """Its three independent parts at once, each on a query thread (a dashboard's first
        paint waits for the slowest, not the sum)."""

        async def work() -> query_pb2.GetOverviewResponse:
            reader = await self.reader_for(context, READ)
            response, parts = overview_parts(request)
            *independent, assemble = parts
            await asyncio.gather(*(reader.run(part) for part in independent))
            assemble(reader)
            return response

        return await respond("GetOverview", work(), context)

    async def TailLogs(
        self, request: query_pb2.TailLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.TailLogsResponse]:
        """As TailSpans, over log records."""
        # Live from the first (empty) answer on: what is stamped from now on is sent.
        async for found in self._tail(
            "TailLogs",
            context,
            lambda: LogTail(request.filter).poll,
            query_pb2.TailLogsResponse(),
            lambda f: f.logs or f.skipped,
        ):
            yield found

    async def StreamMetrics(
        self, request: query_pb2.StreamMetricsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.StreamMetricsResponse]:
        """QueryMetrics up to now, then at every poll the buckets from the one before the last
        poll's on, on the first answer's grid (its start and step): a bucket still filling is
        sent again with its new value. A poll with no points in its window sends nothing."""
        try:
            reader = await self.reader_for(context, READ)
            live = query_pb2.QueryMetricsRequest()
            live.CopyFrom(request.query)
            origin = live.start_time_min_unix_nano or time.time_ns() - HOUR_NS
            live.start_time_min_unix_nano, live.start_time_max_unix_nano = origin, 0
            polled = time.time_ns()
            first = await reader.run(lambda r: query_metrics(r, live))
            live.step_nano = step = first.step_nano
            yield query_pb2.StreamMetricsResponse(metrics=first)
            while True:
                await asyncio.sleep(POLL_S)
                reader = await self.reader_for(context, READ)
                live.start_time_min_unix_nano = origin + max(0, (polled - origin) // step - 1) * step
                polled = time.time_ns()
                try:
                    found = await reader.run(lambda r: query_metrics(r, live))
                except (Busy, InvalidQuery):
                    continue  # busy, or no points in this window yet: the next poll catches up
                if found.series:
                    yield query_pb2.StreamMetricsResponse(metrics=found)
        except Exception as exc:
            await _abort("StreamMetrics", exc, context)

    async def Replay(
        self, request: query_pb2.ReplayRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ReplayResponse:
        async def work() -> query_pb2.ReplayResponse:
            # `replay`, what-if too: every replay is written to the history (an audit record
            # of who asked), so a read-only credential may not run one.
            principal = await caller(self.auth, context, REPLAY)
            reader = self.reader.scoped(principal.database)
            if not self.auth.enabled:
                who, databases = AUTH_OFF, [principal.database]
            elif principal.username:  # a user's replays are in every project it acts in
                who, databases = principal.key_id, self.auth.databases()
            else:
                who, databases = principal.key_id, [principal.database]
            return await self.replays.run(reader, request, who, databases)

        return await respond("Replay", work(), context)

    async def GetUsage(
        self, request: query_pb2.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetUsageResponse:
        async def work() -> query_pb2.GetUsageResponse:
            principal = await caller(self.auth, context, READ)
            reader = self.reader.scoped(principal.database)

            def usage(r: Reader) -> query_pb2.GetUsageResponse:
                projects: list[tuple[str, str]] = []
                if request.group_by == query_pb2.USAGE_GROUP_BY_PROJECT:
                    # A server admin sees every project; anyone else the one they act in.
                    every = registry.list_projects(r.client(), r.system_database, main=r.main_database)
                    projects = [
                        (p.slug, p.database)
                        for p in every
                        if principal.server_admin or p.database == principal.database
                    ]
                return get_usage(r, request, projects)

            return await reader.run(usage)

        return await respond("GetUsage", work(), context)

    def _drift(self, reader: Reader, request: query_pb2.GetDriftRequest) -> query_pb2.GetDriftResponse:
        return get_drift(reader, request, thresholds=self.thresholds)

    GetDrift = _Unary(_drift, method=True)


__all__ = ["QueryService", "query_pb2", "status_for"]
