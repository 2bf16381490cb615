"""The query and admin APIs over the Connect protocol (browsers; curl with JSON): an ASGI
application whose endpoints are made from the services' descriptors, each calling the very
servicer method the gRPC server calls — no second copy of any RPC.

The servicers are written against grpc.aio's ServicerContext and use three things of it:
the call's metadata (credentials), the peer's address (the failure throttle) and
``abort``. ``_Context`` gives those from a Connect request: its HTTP headers, its client
address, and a ConnectError with the same code and message, so that errors read the same on
both transports (``service.status_for`` stays the one place that maps them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, NoReturn

import grpc
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_codecs
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

# Connect spells one code differently from gRPC; the others share their names.
_CODE_NAMES = {"CANCELLED": "CANCELED", "OK": "UNKNOWN"}
MAX_REQUEST_BYTES = 64 * 1024 * 1024


def connect_code(code: grpc.StatusCode) -> Code:
    return Code[_CODE_NAMES.get(code.name, code.name)]


class _Context:
    """What the servicers use of a gRPC ServicerContext, for a Connect request."""

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [(key.lower(), value) for key, value in self._ctx.request_headers.allitems()]

    def peer(self) -> str:
        """In gRPC's form (``ipv4:IP:PORT``, ``ipv6:[IP]:PORT``): Connect gives ``IP:PORT``
        with an IPv6 address unbracketed, which only the last colon splits unambiguously."""
        host, _, port = (self._ctx.client_address or "").rpartition(":")
        if not host:
            return ""
        return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"

    def time_remaining(self) -> float | None:
        """Seconds left of the caller's timeout (Connect-Timeout-Ms), None without one."""
        left_ms = self._ctx.timeout_ms
        return None if left_ms is None else left_ms / 1000.0

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise ConnectError(connect_code(code), details)


def _endpoint(service: ServiceDescriptor, method: Any, servicer: Any) -> Endpoint:
    info = MethodInfo(
        name=method.name,
        service_name=service.full_name,
        input=message_factory.GetMessageClass(method.input_type),
        output=message_factory.GetMessageClass(method.output_type),
        idempotency_level=IdempotencyLevel.UNKNOWN,
        stream_type=StreamType.SERVER_STREAM if method.server_streaming else StreamType.UNARY,
    )
    handler: Callable[..., Any] = getattr(servicer, method.name)
    if method.server_streaming:

        async def stream(request: Any, ctx: RequestContext) -> AsyncIterator[Any]:
            async for message in handler(request, _Context(ctx)):
                yield message

        return Endpoint.server_stream(method=info, function=stream)

    async def unary(request: Any, ctx: RequestContext) -> Any:
        return await handler(request, _Context(ctx))

    return Endpoint.unary(method=info, function=unary)


class _Services(ConnectASGIApplication):
    """Several services in one application (endpoints are looked up by their full path)."""

    @property
    def path(self) -> str:
        return "/"


def connect_app(services: Mapping[ServiceDescriptor, Any]) -> ConnectASGIApplication:
    """One ASGI application serving every method of each ``{descriptor: servicer}`` at
    ``/<package>.<Service>/<Method>``, JSON or binary protobuf, unary and server streaming."""
    endpoints = {
        f"/{service.full_name}/{method.name}": _endpoint(service, method, servicer)
        for service, servicer in services.items()
        for method in service.methods
        if not method.client_streaming
    }
    return _Services(
        service=object(),
        endpoints=lambda _: endpoints,
        read_max_bytes=MAX_REQUEST_BYTES,
        codecs=google_protobuf_codecs(),
    )
