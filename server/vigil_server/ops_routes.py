"""Operational endpoints on the OTLP/HTTP port: /health (alive), /ready (storage reachable
and migrated), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil_storage.readiness import StorageGate


def add_ops_routes(app: web.Application, gate: StorageGate, registry: CollectorRegistry) -> None:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        ok, reason = await asyncio.get_running_loop().run_in_executor(None, gate.check)
        return web.json_response(
            {"status": "ready" if ok else "not ready", "reason": reason}, status=200 if ok else 503
        )

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
