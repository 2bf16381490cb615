"""OTLP/gRPC: ``TraceService/Export`` and ``LogsService/Export`` (port 4317; services.py).

The request is taken as raw bytes and parsed by the pipeline, so that a malformed message
gets INVALID_ARGUMENT with the parser's reason instead of gRPC's generic INTERNAL. gzip
(``grpc-encoding``) is handled by gRPC itself; ``max_receive_message_length`` caps the
decompressed message.

The credential is checked before the message is read: ``Export`` is served as a
client-streaming method (on the wire a unary call is a stream of one message), so the
handler runs on the call's metadata alone and a refused caller's body is never taken in
beyond gRPC's flow-control window. (A server interceptor cannot do this: it cannot end a
call itself, and the unary handler it would hand on reads the whole message first.) At most
``max_concurrent_rpcs`` calls run at once; beyond, gRPC answers RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from vigil_auth.authenticator import Authenticator
from vigil_auth.errors import AuthError
from vigil_auth.grpc_calls import metadata_value
from vigil_auth.keys import INGEST
from vigil_collector.errors import IngestError, MalformedRequest
from vigil_collector.pipeline import Pipeline
from vigil_collector.receive.services import SERVICES, OtlpService
from vigil_collector.receive.status_map import grpc_status

log = logging.getLogger(__name__)


class OtlpGrpcReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        auth: Authenticator,
        *,
        max_message_bytes: int,
        max_concurrent_rpcs: int | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._auth = auth
        self._health = health.aio.HealthServicer()
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                service.grpc_service,
                {
                    "Export": grpc.stream_unary_rpc_method_handler(
                        functools.partial(self._export, service),
                        request_deserializer=None,  # raw bytes: we parse and report errors ourselves
                        response_serializer=service.response_type.SerializeToString,
                    )
                },
            )
            for service in SERVICES
        ]
        self._server.add_generic_rpc_handlers(handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self.port = 0

    async def start(self, host: str, port: int, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``host:port`` (with TLS when ``credentials`` are given); returns the port."""
        address = f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"could not bind OTLP gRPC on {host}:{port}")
        await self._server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Refuse new RPCs; in-flight ones have ``grace_s`` to get their commit."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(grace_s)

    async def _set_health(self, status: int) -> None:
        for service in ("", *(s.grpc_service for s in SERVICES)):
            await self._health.set(service, status)

    async def _export(
        self, service: OtlpService, messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> Message:
        try:
            principal = await self._auth.check(
                metadata_value(context, "authorization"), INGEST, peer=context.peer() or ""
            )
            body = await _the_message(messages)
            result = await self._pipeline.export_proto(body, "grpc", principal.project, service.signal)
        except (IngestError, AuthError) as exc:
            await context.abort(grpc_status(exc), exc.reason)
            raise  # unreachable: abort raises
        except Exception:  # a bug: the client gets a request id, the log the traceback
            request_id = uuid.uuid4().hex[:16]
            log.exception("OTLP/gRPC export failed (request id %s)", request_id)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
            raise  # unreachable: abort raises
        return service.response(result)


async def _the_message(messages: AsyncIterator[bytes]) -> bytes:
    """The one message of a unary call (read only once the caller is known)."""
    async for body in messages:
        return body
    raise MalformedRequest("the call carried no request message")
