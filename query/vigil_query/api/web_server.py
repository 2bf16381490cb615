"""The web port (4320): an ASGI application (the Connect API and the UI) served by uvicorn
inside the process's event loop, on a socket bound here (so a port in use is our OSError,
not uvicorn's exit), with the process's own signal handling left alone.

TLS uses the SSLContext every other listener uses (vigil_server.tls.Tls), not uvicorn's
own; every answer carries the security headers, and while auth is off a Host check stands
in front of the application (vigil_auth.host_guard)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn

from vigil_auth.host_guard import HostGuard
from vigil_query.api.web_app import security_headers

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGTERM and SIGINT belong to `vigil serve`, which stops every port in order.
        yield


class WebServer:
    def __init__(self, app: Any, max_concurrent: int | None = None) -> None:
        self._app = app
        self._max_concurrent = max_concurrent  # connections and requests; beyond, 503
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        host_guard: HostGuard | None = None,
    ) -> int:
        """Serve on ``host:port`` (HTTPS with ``ssl_context``; only the Host names
        ``host_guard`` allows, when given); returns the port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"could not bind the web port on {host}:{port}: {exc.strerror}") from exc
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        app = host_guard.asgi(self._app) if host_guard is not None else self._app
        config = uvicorn.Config(
            security_headers(app, tls=ssl_context is not None),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_context_factory=(lambda _config, _default: ssl_context) if ssl_context is not None else None,
            timeout_graceful_shutdown=5,
            limit_concurrency=self._max_concurrent,
        )
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[sock]), name="vigil-web"
        )
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its exception
                raise OSError(f"the web server on {host}:{self.port} stopped at start")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=10)
