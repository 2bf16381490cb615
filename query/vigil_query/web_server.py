"""The web port (4320): an ASGI application (the Connect API, later the UI) served by uvicorn
inside the process's event loop, on a socket bound here (so a port in use is our OSError,
not uvicorn's exit), with the process's own signal handling left alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

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
        self, host: str, port: int, tls_cert_file: Path | None = None, tls_key_file: Path | None = None
    ) -> int:
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
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(tls_cert_file) if tls_cert_file else None,
            ssl_keyfile=str(tls_key_file) if tls_key_file else None,
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
