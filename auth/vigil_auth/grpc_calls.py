"""Credentials as gRPC calls carry them: metadata ``authorization`` (and ``x-vigil-project``,
the project a user acts in), read the same way by the OTLP receiver and the query service."""

from __future__ import annotations

import grpc

from vigil_auth.authenticator import Authenticator, Principal


def metadata_value(context: grpc.aio.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


async def caller(auth: Authenticator, context: grpc.aio.ServicerContext, scope: str) -> Principal:
    """The caller of a query-port call, allowed ``scope`` in the project it names."""
    return await auth.check(
        metadata_value(context, "authorization"),
        scope,
        metadata_value(context, "x-vigil-project") or "",
        peer=context.peer() or "",
    )
