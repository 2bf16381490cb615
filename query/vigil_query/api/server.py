"""The query API's servers: gRPC (port 4319: QueryService and AdminService with server
reflection and grpc.health.v1, so that ``grpcurl -plaintext localhost:4319 list`` works
without any .proto file), and the same servicers over Connect on the web port (4320).

Each listener takes a bounded number of calls at once (``max_concurrent_rpcs`` on gRPC, beyond
which gRPC answers RESOURCE_EXHAUSTED; ``web_max_concurrent`` on the web port, 503 beyond),
so that a flood of calls, authenticated or not, cannot pile up without end."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigil_auth.host_guard import HostGuard
from vigil_proto import MAX_MESSAGE_BYTES
from vigil_proto.admin.v1 import admin_pb2, admin_pb2_grpc
from vigil_proto.query.v1 import query_pb2, query_pb2_grpc
from vigil_query.api.admin_service import AdminService
from vigil_query.api.connect_app import connect_app
from vigil_query.api.service import QueryService
from vigil_query.api.web_app import web_app
from vigil_query.api.web_server import WebServer


class TlsConfig(Protocol):
    def ssl_context(self) -> ssl.SSLContext: ...


SERVICE_NAME = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
ADMIN_SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


@dataclass(frozen=True)
class Servicer:
    """Another API served beside the query and admin APIs (gRPC, reflection and Connect), by
    whoever assembles the process: the query service does not depend on the packages above it."""

    descriptor: ServiceDescriptor
    implementation: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


class QueryServer:
    def __init__(
        self,
        service: QueryService,
        traces_ttl_days: int = 0,
        ui_dir: Path | None = None,
        *,
        max_concurrent_rpcs: int | None = None,
        web_max_concurrent: int | None = None,
        servicers: Sequence[Servicer] = (),
    ) -> None:
        self.reader = service.reader
        self._health = health.aio.HealthServicer()
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        admin = AdminService(service.reader, service.auth, traces_ttl_days)
        query_pb2_grpc.add_QueryServiceServicer_to_server(service, self._server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, self._server)
        services = {
            query_pb2.DESCRIPTOR.services_by_name["QueryService"]: service,
            admin_pb2.DESCRIPTOR.services_by_name["AdminService"]: admin,
        }
        names = [SERVICE_NAME, ADMIN_SERVICE_NAME]
        for extra in servicers:
            extra.add_to_server(extra.implementation, self._server)
            services[extra.descriptor] = extra.implementation
            names.append(extra.descriptor.full_name)
        api = connect_app(services)
        self._web = WebServer(web_app(api, ui_dir), max_concurrent=web_max_concurrent)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        self.port = 0
        self.web_port = 0

    async def start_web(
        self, host: str, port: int, tls: TlsConfig | None = None, host_guard: HostGuard | None = None
    ) -> int:
        """Serve the Connect API and the UI on ``host:port`` (HTTPS with ``tls``; only the Host
        names ``host_guard`` allows, when given: auth off); returns the port."""
        context = tls.ssl_context() if tls is not None else None
        self.web_port = await self._web.start(host, port, context, host_guard)
        return self.web_port

    async def start(self, host: str, port: int, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``host:port`` (with TLS when ``credentials`` are given); returns the port."""
        address = f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"could not bind the query service on {host}:{port}")
        await self._server.start()
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace_s: float) -> None:
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        await asyncio.gather(self._server.stop(grace_s), self._web.stop())
        self.reader.close()
