"""Test helpers: run the app in a thread or as a process, build OTLP requests, read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil_server.app import BoundPorts, VigilApp
from vigil_server.settings import VigilSettings

from reference_payload import kv

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
REPO = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    """``condition()``'s first true value, polled every ``every_s`` until ``timeout_s``; an
    AssertionError naming ``what`` after that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_otlp(
    target: str, body: bytes, *, compression: grpc.Compression | None = None, timeout: float = 30
) -> ExportTraceServiceResponse:
    """One raw OTLP/gRPC Export call (the body is sent as given, parsed or not)."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        return call(body, timeout=timeout, compression=compression)


def run_cli(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the ``vigil`` command line (as ``python -m vigil_server.cli``) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "vigil_server.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_settings(data_dir: Path, **overrides: Any) -> VigilSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "otlp_grpc_port": 0,
        "otlp_http_port": 0,
        "query_port": 0,
        "web_port": 0,
        "batch_max_wait_s": 0.02,
        "decode_workers": 0,
        # Tests send few spans at a time: let ClickHouse decode them all the same.
        "native_decode_min_spans": 0,
        "native_decode_min_points": 0,
        "log_format": "text",
        # Tests that want the drift detector turn it on; elsewhere it would write alerts
        # into the shared session database.
        "drift_interval_s": 0,
        # Likewise self-monitoring (its metrics and rules in the default project): tests turn it on.
        "self_monitor_interval_s": 0,
        # Likewise triage (a timeline entry on every high incident): its tests turn it on.
        "triage_enabled": False,
    }
    values.update(overrides)
    # Apps over another main database (other tests' installs in the shared chDB directory)
    # get a system database of their own.
    if values.get("database", "otel") != "otel":
        values.setdefault("system_database", f"vigil_system_{values['database']}")
    # Each app its own write-ahead log (apps in one test process share the chDB directory).
    values.setdefault("wal_dir", Path(data_dir) / f"wal-{uuid.uuid4().hex[:8]}")
    return VigilSettings(_env_file=None, **values)


_RUNNING: list[RunningApp] = []


def credentials_changed() -> None:
    """Make every running app of this process know the registry rows a test wrote straight
    into storage (as another process would): a server learns of them at its next refresh
    (2 s) and refuses an unknown credential at once meanwhile."""
    for app in list(_RUNNING):
        app.run(app.app.auth.reload())


class RunningApp:
    """A VigilApp on its own event loop thread, as a real server on loopback."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vigil-app", daemon=True)
        self._thread.start()
        self.app = VigilApp(settings)
        self.ports: BoundPorts = self.run(self.app.start())
        _RUNNING.append(self)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports.otlp_grpc}"

    @property
    def query_target(self) -> str:
        return f"127.0.0.1:{self.ports.query}"

    @property
    def web_base(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.ports.otlp_http}"

    def flush(self) -> None:
        """Wait until every span acknowledged so far is in ClickHouse."""
        self.run(self.app.flush(), timeout=60)

    def stop(self) -> None:
        if self in _RUNNING:
            _RUNNING.remove(self)
        self.run(self.app.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def http_request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def make_request(
    n_spans: int, service: str, rng: random.Random | None = None, start_ns: int | None = None
) -> ExportTraceServiceRequest:
    """A request of ``n_spans`` valid spans (one trace per span) from ``service``."""
    rng = rng or random.Random()
    start_ns = start_ns or time.time_ns()
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for i in range(n_spans):
        ss.spans.append(
            Span(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name=f"op-{i % 3}",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start_ns + i,
                end_time_unix_nano=start_ns + i + 1000,
                attributes=[kv("i", i)],
            )
        )
    return request


class Acknowledged:
    """Span ids of acknowledged requests, added from several client threads."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, ids: set[str]) -> None:
        with self._lock:
            self.ids.update(ids)


def export_load(
    target: str,
    service: str,
    spans: int,
    seed: int,
    stop: threading.Event,
    acknowledged: Acknowledged,
    on_error: Callable[[grpc.RpcError], bool],
    timeout: float = 30,
) -> None:
    """One client: requests of ``spans`` new spans, one at a time, until ``stop``; the span ids
    of each acknowledged one go to ``acknowledged``; a failed one to ``on_error``, which says
    whether to go on."""
    rng = random.Random(seed)
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        while not stop.is_set():
            request = make_request(spans, service, rng)
            ids = {s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans}
            try:
                export(request.SerializeToString(), timeout=timeout)
            except grpc.RpcError as exc:
                if on_error(exc):
                    continue
                return
            acknowledged.add(ids)


def wait_ready(http_base: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status, _, _ = http_request(f"{http_base}/ready")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{http_base} not ready after {timeout_s}s")


class ServerProcess:
    """``vigil serve`` (or any command running it) as a child process in its own session."""

    def __init__(self, data_dir: Path, command: list[str] | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.query_port = free_port()
        self.env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(data_dir),
            "VIGIL_OTLP_GRPC_PORT": str(self.grpc_port),
            "VIGIL_OTLP_HTTP_PORT": str(self.http_port),
            "VIGIL_QUERY_PORT": str(self.query_port),
            "VIGIL_WEB_PORT": "0",
            "VIGIL_BATCH_MAX_WAIT_S": "0.05",
            "VIGIL_DECODE_WORKERS": "1",
            "VIGIL_SELF_MONITOR_INTERVAL_S": "0",
            **env,
        }
        self.command = command or [sys.executable, "-m", "vigil_server.cli", "serve"]
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.http_base = f"http://127.0.0.1:{self.http_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"

    def wait_ready(self) -> None:
        try:
            wait_ready(self.http_base)
        except TimeoutError:
            self.terminate()
            raise AssertionError(f"server not ready; log:\n{self.log_path.read_text()[-4000:]}") from None

    def terminate(self, whole_group: bool = False) -> None:
        if self.proc.poll() is None:
            if whole_group:
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()


def query_stopped_storage(data_dir: Path, sql: str) -> list[list[Any]]:
    """Run ``sql`` on the chDB directory of a stopped server, in a fresh process (one chDB
    directory per process)."""
    code = (
        "import json, sys; from vigil_storage import connect; "
        "c = connect('chdb://' + sys.argv[1]); print(json.dumps(c.query(sys.argv[2]).result_rows, default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str((data_dir / "clickhouse").resolve()), sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def scratch_databases(ch: Any, *names: str) -> Iterator[tuple[str, ...]]:
    """Fresh databases with Vigil's tables (dropped again after), beside the session app's."""
    from vigil_storage.migrate import apply_migrations

    for name in names:
        ch.command(f"DROP DATABASE IF EXISTS {name}")
        apply_migrations(ch, name)
    try:
        yield names
    finally:
        for name in names:
            ch.command(f"DROP DATABASE IF EXISTS {name}")
