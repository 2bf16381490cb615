"""Operational endpoints on the OTLP/HTTP port: /health (alive), /ready, /metrics (Prometheus),
answered without credentials (orchestrators probe them; /metrics can require one).

/ready answers 200 while the collector can take spans: its write-ahead log has room. That
holds with ClickHouse down too (acknowledged spans wait in the log), so the body says how
storage is doing and how much waits for it; 503 once the log is full (or the log cannot
be written), the state in which ingest refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil_auth.authenticator import Authenticator
from vigil_auth.errors import AuthError
from vigil_auth.keys import READ
from vigil_collector.receive.status_map import http_status
from vigil_storage.readiness import StorageGate


def add_ops_routes(
    app: web.Application,
    gate: StorageGate,
    registry: CollectorRegistry,
    ingest_status: Callable[[], tuple[bool, dict[str, object]]],
    metrics_auth: Authenticator | None = None,
) -> None:
    """``metrics_auth``: require a credential with the read scope for /metrics (it holds no
    user data, so by default it needs none, like /health and /ready)."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        storage_ok, storage_reason = await asyncio.get_running_loop().run_in_executor(None, gate.check)
        accepting, ingest = ingest_status()
        problem = "" if storage_ok else storage_reason
        problem = problem or str(ingest.get("writer_error") or "")
        waiting = (
            f"{ingest['backlog_records']} records ({ingest['backlog_bytes']} bytes) wait in the "
            f"write-ahead log, the oldest for {ingest['oldest_unwritten_age_s']} s"
        )
        if not accepting:
            status, reason = "not ready", f"write-ahead log full: {waiting}; {problem or 'storage is behind'}"
        elif problem:
            status, reason = "ready", f"storage behind: {waiting}; {problem}"
        else:
            status, reason = "ready", "ok"
        body = {"status": status, "reason": reason, "storage": storage_reason, "ingest": ingest}
        return web.json_response(body, status=200 if accepting else 503)

    async def metrics(request: web.Request) -> web.Response:
        if metrics_auth is not None:
            try:
                await metrics_auth.check(
                    request.headers.get("Authorization"), READ, peer=request.remote or ""
                )
            except AuthError as exc:
                return web.json_response({"message": exc.reason}, status=http_status(exc))
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
