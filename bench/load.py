"""What the signal benchmarks share (bench/logs.py, metrics.py, auth.py): a `vigil serve` in a
fresh embedded ClickHouse on free loopback ports, and OTLP/gRPC load of prepared bodies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from ingest import free_port, wait_ready, wait_written


@dataclass(frozen=True)
class Server:
    work: Path  # its VIGIL_DATA_DIR
    env: dict[str, str]  # what it runs with (the `vigil` commands on its data take the same)
    grpc_port: int
    http_port: int
    query_port: int
    web_port: int


def server_env(prefix: str, **settings: str) -> Server:
    """Settings for a server in a fresh directory, not started yet."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    grpc_port, http_port, query_port, web_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(work),
        "VIGIL_OTLP_GRPC_PORT": str(grpc_port),
        "VIGIL_OTLP_HTTP_PORT": str(http_port),
        "VIGIL_QUERY_PORT": str(query_port),
        "VIGIL_WEB_PORT": str(web_port),
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_DRIFT_INTERVAL_S": "0",
        **settings,
    }
    return Server(work, env, grpc_port, http_port, query_port, web_port)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """`vigil serve` with ``server``'s settings, ready, then stopped with SIGTERM (it must exit 0)."""
    process = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=server.env)
    try:
        wait_ready(server.http_port)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"vigil serve exited with {code}")


async def send_all(
    port: int, bodies: list[bytes], clients: int, inflight: int, method: str, metadata: tuple | None = None
) -> float:
    """Send every body with ``clients`` channels of ``inflight`` calls each (each waits for its
    ack; what is refused as retryable is sent again); the seconds until the last ack."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def caller(export: grpc.aio.UnaryUnaryMultiCallable) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                try:
                    await export(body, timeout=60, metadata=metadata)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    await asyncio.sleep(0.05)

    async def client() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            await asyncio.gather(*(caller(export) for _ in range(inflight)))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


def ack_and_end_to_end(
    server: Server, bodies: list[bytes], clients: int, inflight: int, method: str
) -> tuple[float, float]:
    """Seconds until the last ack, and until the write-ahead log has nothing left for ClickHouse."""
    started = time.perf_counter()
    ack_s = asyncio.run(send_all(server.grpc_port, bodies, clients, inflight, method))
    wait_written(server.http_port)
    return ack_s, time.perf_counter() - started
