"""The QueryService RPCs. Each validates, runs its SQL on a reader thread, and maps errors to
gRPC status codes here, once."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from vigil.query.v1 import query_pb2, query_pb2_grpc
from vigil_query.alerts_sql import list_alerts, resolve_alert
from vigil_query.catalog_sql import get_operations, get_services
from vigil_query.drift_sql import get_drift
from vigil_query.errors import Busy, InvalidQuery, NotFound, QueryError
from vigil_query.psi import Thresholds
from vigil_query.reader import Reader
from vigil_query.replay.history_sql import get_replay, list_replays
from vigil_query.replay.providers import ProviderConfig, ProviderEndpoint
from vigil_query.replay.service import replay
from vigil_query.spans_sql import search_spans, search_traces
from vigil_query.trace_sql import get_trace
from vigil_storage import StorageError, StorageUnavailable

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


def status_for(error: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(error, InvalidQuery):
        return grpc.StatusCode.INVALID_ARGUMENT, error.reason
    if isinstance(error, NotFound):
        return grpc.StatusCode.NOT_FOUND, error.reason
    if isinstance(error, Busy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, error.reason
    if isinstance(error, StorageUnavailable):
        return grpc.StatusCode.UNAVAILABLE, error.reason
    if isinstance(error, StorageError):
        name = error.name or ""
        if name == "TIMEOUT_EXCEEDED":
            return grpc.StatusCode.DEADLINE_EXCEEDED, f"query time limit reached: {error.reason}"
        if name.startswith("TOO_MANY_ROWS"):
            return (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"query row limit reached, narrow the filter: {error.reason}",
            )
        return grpc.StatusCode.INTERNAL, error.reason
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"


async def _respond(name: str, work: Awaitable[Resp], context: grpc.aio.ServicerContext) -> Resp:
    """Await ``work`` and turn a failure into the gRPC status for it (one place for all RPCs)."""
    try:
        return await work
    except (QueryError, StorageError) as exc:
        code, message = status_for(exc)
    except Exception as exc:
        log.exception("%s failed", name)
        code, message = status_for(exc)
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


async def _call(
    name: str,
    reader: Reader,
    fn: Callable[[Reader, Any], Resp],
    request: Any,
    context: grpc.aio.ServicerContext,
) -> Resp:
    return await _respond(name, reader.run(lambda r: fn(r, request)), context)


def _rpc(
    fn: Callable[[Reader, Any], Resp],
) -> Callable[[QueryService, Any, grpc.aio.ServicerContext], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def handler(self: QueryService, request: Any, context: grpc.aio.ServicerContext) -> Resp:
        return await _call(fn.__name__, self.reader, fn, request, context)

    return handler


class QueryService(query_pb2_grpc.QueryServiceServicer):
    def __init__(
        self, reader: Reader, thresholds: Thresholds | None = None, providers: ProviderConfig | None = None
    ) -> None:
        self.reader = reader
        self.thresholds = thresholds or Thresholds()
        self.providers = providers or ProviderConfig(ProviderEndpoint("", ""), ProviderEndpoint("", ""))

    GetTrace = _rpc(get_trace)
    SearchSpans = _rpc(search_spans)
    SearchTraces = _rpc(search_traces)
    GetServices = _rpc(get_services)
    GetOperations = _rpc(get_operations)
    ListDriftAlerts = _rpc(list_alerts)
    ResolveDriftAlert = _rpc(resolve_alert)
    ListReplays = _rpc(list_replays)
    GetReplay = _rpc(get_replay)

    async def Replay(
        self, request: query_pb2.ReplayRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ReplayResponse:
        return await _respond("Replay", replay(self.reader, self.providers, request), context)

    async def GetDrift(
        self, request: query_pb2.GetDriftRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetDriftResponse:
        drift = functools.partial(get_drift, thresholds=self.thresholds)
        return await _call("get_drift", self.reader, drift, request, context)


__all__ = ["QueryService", "query_pb2", "status_for"]
