"""Operational endpoints on the OTLP/HTTP port: /health (alive), /ready, /metrics (Prometheus),
and the port's ``Host`` check while authentication is off.

/ready answers 200 while the collector can take spans: its write-ahead log has room. That
holds with ClickHouse down too (acknowledged spans wait in the log), so the body says how
storage is doing; 503 once the log is full (or the log cannot be written), the state in
which ingest refuses. Anyone gets the status and a short code (orchestrators probe it
without credentials); the details — ClickHouse's error text, which can name hosts and
project databases, and the backlog — only a caller who could read the data anyway: with
auth on, a credential with ``read``; with auth off, a loopback caller using a loopback name.

/metrics needs a ``read`` credential when auth is on and ``VIGIL_METRICS_REQUIRE_KEY`` (the
default); with auth off it is open like everything else on the port.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil_auth.authenticator import Authenticator
from vigil_auth.errors import AuthError
from vigil_auth.host_guard import STATUS, HostGuard
from vigil_auth.keys import READ
from vigil_collector.receive.status_map import http_status
from vigil_storage.readiness import StorageGate

# Probes (kubelet, load balancers) send the pod's address as Host; they learn nothing more
# from these two than the short form anyone gets.
PROBE_PATHS = ("/health", "/ready")


def host_middleware(guard: HostGuard, exempt: Iterable[str] = PROBE_PATHS) -> Middleware:
    """Refuse (421) requests whose Host the guard does not allow, before any body is read."""
    exempt_paths = frozenset(exempt)

    @web.middleware
    async def check_host(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        header = request.headers.get("Host")
        if request.path in exempt_paths or guard.allows(header):
            return await handler(request)
        return web.json_response(
            {"code": "host_not_allowed", "message": guard.refusal(header)}, status=STATUS
        )

    return check_host


def add_ops_routes(
    app: web.Application,
    gate: StorageGate,
    registry: CollectorRegistry,
    ingest_status: Callable[[], tuple[bool, dict[str, object]]],
    auth: Authenticator,
    *,
    metrics_require_key: bool = True,
    host_guard: HostGuard | None = None,
) -> None:
    """``host_guard``: the port's Host check (auth off); /ready's details go only to requests
    it allows."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def may_see_details(request: web.Request) -> bool:
        if not auth.enabled:
            loopback_name = host_guard is None or host_guard.allows(request.headers.get("Host"))
            return loopback_name and _is_loopback_peer(request.remote)
        authorization = request.headers.get("Authorization")
        if not authorization:
            return False
        try:
            await auth.check(authorization, READ, peer=request.remote or "")
        except AuthError:
            return False
        return True

    async def ready(request: web.Request) -> web.Response:
        storage = await asyncio.get_running_loop().run_in_executor(None, gate.check)
        accepting, ingest = ingest_status()
        writer_error = str(ingest.get("writer_error") or "")
        if not accepting:
            code = "wal_full"
        elif not storage.ok:
            code = storage.code
        elif writer_error:
            code = "writer_failing"
        else:
            code = "ok"
        status = "ready" if accepting else "not ready"
        body: dict[str, object] = {"ready": accepting, "status": status, "code": code}
        if await may_see_details(request):
            problem = "" if storage.ok else storage.reason
            problem = problem or writer_error
            waiting = (
                f"{ingest['backlog_records']} records ({ingest['backlog_bytes']} bytes) wait in the "
                f"write-ahead log, the oldest for {ingest['oldest_unwritten_age_s']} s"
            )
            if not accepting:
                reason = f"write-ahead log full: {waiting}; {problem or 'storage is behind'}"
            elif problem:
                reason = f"storage behind: {waiting}; {problem}"
            else:
                reason = "ok"
            body.update(reason=reason, storage=storage.reason, ingest=ingest)
        return web.json_response(body, status=200 if accepting else 503)

    async def metrics(request: web.Request) -> web.Response:
        if auth.enabled and metrics_require_key:
            try:
                await auth.check(request.headers.get("Authorization"), READ, peer=request.remote or "")
            except AuthError as exc:
                return web.json_response({"message": exc.reason}, status=http_status(exc))
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)


def _is_loopback_peer(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
