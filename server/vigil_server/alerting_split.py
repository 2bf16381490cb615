"""The alerting API in a split deployment (docs/deploy.md): the worker that holds the lease
serves ``vigil.alerting.v1.AlertingService`` (the API reads its rules' memory), and the query
role forwards every call of that service to it.

Both sides are made from the service's descriptor, method by method, so that a new RPC needs
no code here: ``StandbyGate`` puts the worker's servicer behind "is this worker the active
one?", and ``Forwarder`` sends each call on to the worker the lease names (``ActiveWorker``)
with the caller's credentials, answering the worker's status and message unchanged. The
worker checks the credentials and the scopes itself (every process shares VIGIL_AUTH_SECRET
and VIGIL_SESSION_SECRET), so the query process grants nothing of its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigil_proto import MAX_MESSAGE_BYTES
from vigil_server.worker_lease import LeaseRow, WorkerLease
from vigil_storage import StorageError

log = logging.getLogger(__name__)

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
# What a call carries of its caller (grpc_calls.py reads the same two): nothing else of the
# incoming call crosses, so Connect's HTTP headers never become gRPC metadata.
FORWARDED_METADATA = ("authorization", "x-vigil-project")
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]

Refusal = Callable[[], str | None]  # why this worker may not answer now; None: it may


def _methods(descriptor: ServiceDescriptor) -> list[MethodDescriptor]:
    return [m for m in descriptor.methods if not m.client_streaming]  # none is, nor is served so


# --- the worker's side ------------------------------------------------------------------------


class StandbyGate:
    """The worker's servicer while ``refusal()`` is None; UNAVAILABLE with its reason
    otherwise. A stream open when the worker stops being the active one ends with
    UNAVAILABLE at the next check (every ``recheck_s``), so its caller reconnects to the new
    active worker instead of waiting on a loop that no longer runs."""

    def __init__(
        self, descriptor: ServiceDescriptor, servicer: Any, refusal: Refusal, recheck_s: float
    ) -> None:
        self._refusal = refusal
        self._recheck_s = recheck_s
        for method in _methods(descriptor):
            handler = getattr(servicer, method.name)
            setattr(
                self, method.name, self._stream(handler) if method.server_streaming else self._unary(handler)
            )

    async def _admit(self, context: grpc.aio.ServicerContext) -> None:
        reason = self._refusal()
        if reason is not None:
            await context.abort(UNAVAILABLE, reason)

    def _unary(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._admit(context)
            return await handler(request, context)

        return unary

    def _stream(self, handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await self._admit(context)
            messages = aiter(handler(request, context))
            following: asyncio.Future[Any] | None = None
            try:
                while True:
                    # The servicer's next message in a task of its own, so that the lease can be
                    # checked while it waits (a watch may wait long for its next change).
                    following = asyncio.ensure_future(anext(messages))
                    while not (await asyncio.wait({following}, timeout=self._recheck_s))[0]:
                        reason = self._refusal()
                        if reason is not None:
                            await context.abort(UNAVAILABLE, reason)
                    try:
                        message = following.result()
                    except StopAsyncIteration:
                        return
                    following = None
                    yield message
            finally:
                # However the call ends (the caller went away, an abort), the servicer's stream
                # ends with it: left running, it would read the context of a call that is gone.
                if following is not None and not following.done():
                    following.cancel()
                    await asyncio.gather(following, return_exceptions=True)
                await messages.aclose()  # type: ignore[attr-defined]

        return stream


class WorkerApiServer:
    """The worker's gRPC port: the alerting API, health and reflection (grpcurl lists it)."""

    def __init__(
        self,
        descriptor: ServiceDescriptor,
        servicer: Any,
        add_to_server: Callable[[Any, grpc.aio.Server], None],
        *,
        max_concurrent_rpcs: int | None = None,
    ) -> None:
        self._health = health.aio.HealthServicer()
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        add_to_server(servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._names = ("", descriptor.full_name)
        reflection.enable_server_reflection(
            (
                descriptor.full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        self.port = 0

    async def start(self, host: str, port: int, credentials: grpc.ServerCredentials | None = None) -> int:
        address = f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"could not bind the worker's alerting API on {host}:{port}")
        await self._server.start()
        # The process serves; the alerting API only once this worker is the active one.
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.serving(False)
        return self.port

    async def serving(self, active: bool) -> None:
        """The AlertingService's health: SERVING on the active worker, NOT_SERVING on a standby
        (whose calls answer UNAVAILABLE with the reason)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if active else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._health.set(self._names[1], status)

    async def stop(self, grace_s: float) -> None:
        for name in self._names:
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(grace_s)


# --- the query role's side --------------------------------------------------------------------


class NoActiveWorker(Exception):
    """No worker answers the alerting API now (the reason says which situation)."""


class ActiveWorker:
    """Where the active worker serves the alerting API: the lease's row, read again once it is
    ``cache_s`` old or when a call finds the worker gone, with one channel per address."""

    def __init__(
        self,
        lease: WorkerLease,
        cache_s: float,
        credentials: grpc.ChannelCredentials | None = None,
        *,
        close_grace_s: float = 5.0,
    ) -> None:
        self._lease = lease  # read only: holder and token are never written from here
        self._cache_s = cache_s
        self._credentials = credentials
        self._close_grace_s = close_grace_s
        self._lock = asyncio.Lock()
        self._row: LeaseRow | None = None
        self._read_at = -math.inf
        self._table_ready = False
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _read(self) -> LeaseRow | None:
        if not self._table_ready:  # a query process may start before any worker made it
            self._lease.ensure_table()
            self._table_ready = True
        return self._lease.read()

    async def find(self, *, fresh: bool = False) -> tuple[LeaseRow, grpc.aio.Channel]:
        """The active worker's lease row and a channel to it. NoActiveWorker if there is none;
        StorageError if the lease cannot be read."""
        async with self._lock:
            if fresh or time.monotonic() - self._read_at >= self._cache_s:
                try:
                    self._row = await asyncio.get_running_loop().run_in_executor(None, self._read)
                except StorageError:
                    self._lease.close()  # a new connection at the next look
                    raise
                self._read_at = time.monotonic()
            row = self._row
            if row is None:
                raise NoActiveWorker(
                    "no active worker: no worker has held the worker lease yet (start `vigil serve --role worker`)"
                )
            ago_s = (time.time_ns() - row.expires_ns) / 1e9
            if ago_s >= 0:
                raise NoActiveWorker(
                    f"no active worker: the worker lease of {row.holder} expired {ago_s:.0f} s ago and no "
                    "standby has taken it over yet (is a worker running?)"
                )
            if not row.address:
                raise NoActiveWorker(
                    f"the active worker {row.holder} gave no address for its alerting API (a version "
                    "that did not serve it?)"
                )
            return row, self._channel(row.address)

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            for old, stale in list(self._channels.items()):  # the previous worker's: its calls end soon
                del self._channels[old]
                task = asyncio.get_running_loop().create_task(stale.close(self._close_grace_s))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(address, self._credentials, options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(c.close(None) for c in channels), *self._closing, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self._lease.close)


def _metadata(context: grpc.aio.ServicerContext) -> list[tuple[str, str]]:
    return [(key, value) for key, value in context.invocation_metadata() or () if key in FORWARDED_METADATA]


def _timeout(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline, passed on (a Connect request's from its timeout header)."""
    remaining = getattr(context, "time_remaining", None)
    left = remaining() if remaining is not None else None
    return max(0.0, left) if left is not None else None


class Forwarder:
    """Every RPC of ``descriptor`` forwarded to the active worker: the request and the
    caller's credentials go on, the worker's answer or status (code and message) comes back.
    A call that finds the worker UNAVAILABLE looks the lease up again once and, if another
    worker holds it now, goes there (a stream only before its first message)."""

    def __init__(self, descriptor: ServiceDescriptor, worker: ActiveWorker) -> None:
        self._worker = worker
        for method in _methods(descriptor):
            path = f"/{descriptor.full_name}/{method.name}"
            output = message_factory.GetMessageClass(method.output_type)
            make = self._stream if method.server_streaming else self._unary
            setattr(self, method.name, make(path, output.FromString))

    async def _target(
        self, context: grpc.aio.ServicerContext, fresh: bool = False
    ) -> tuple[LeaseRow, grpc.aio.Channel]:
        try:
            return await self._worker.find(fresh=fresh)
        except NoActiveWorker as exc:
            await context.abort(UNAVAILABLE, str(exc))
        except StorageError as exc:
            await context.abort(
                UNAVAILABLE,
                f"the active worker is not known: the worker lease could not be read ({exc.reason})",
            )
        raise AssertionError("unreachable: abort raises")

    async def _moved(self, context: grpc.aio.ServicerContext, row: LeaseRow) -> grpc.aio.Channel | None:
        """After UNAVAILABLE from ``row``'s worker: a channel to another holder, if one has it now."""
        again, channel = await self._target(context, fresh=True)
        if (again.holder, again.token, again.address) == (row.holder, row.token, row.address):
            return None
        log.info("alerting API: the active worker changed", extra={"was": row.holder, "now": again.holder})
        return channel

    def _unary(self, path: str, parse: Callable[[bytes], Any]) -> Callable[..., Any]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata, timeout = _metadata(context), _timeout(context)
            row, channel = await self._target(context)
            for attempt in (1, 2):
                call = channel.unary_unary(path, request_serializer=_serialize, response_deserializer=parse)
                try:
                    return await call(request, metadata=metadata, timeout=timeout)
                except grpc.aio.AioRpcError as exc:
                    moved = (
                        await self._moved(context, row)
                        if attempt == 1 and exc.code() == UNAVAILABLE
                        else None
                    )
                    if moved is None:
                        await context.abort(exc.code(), exc.details() or "")
                    channel = moved
            raise AssertionError("unreachable: the second attempt returns or aborts")

        return unary

    def _stream(self, path: str, parse: Callable[[bytes], Any]) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            metadata, timeout = _metadata(context), _timeout(context)
            row, channel = await self._target(context)
            for attempt in (1, 2):
                call = channel.unary_stream(path, request_serializer=_serialize, response_deserializer=parse)(
                    request, metadata=metadata, timeout=timeout
                )
                sent = False
                try:
                    async for message in call:
                        sent = True
                        yield message
                    return
                except grpc.aio.AioRpcError as exc:
                    retry = attempt == 1 and not sent and exc.code() == UNAVAILABLE
                    moved = await self._moved(context, row) if retry else None
                    if moved is None:
                        await context.abort(exc.code(), exc.details() or "")
                    channel = moved
                finally:
                    call.cancel()  # the caller went away (or we are done): end the worker's stream too

        return stream


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]
