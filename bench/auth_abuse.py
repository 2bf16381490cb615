"""What unauthenticated callers cost a running `vigil serve` (VIGIL_AUTH=on, a fresh embedded
ClickHouse): OTLP ack latency before and during a flood of failing credentials from many
distinct addresses, and Login timing for an unknown user against a known one with a wrong
password (docs/security/abuse-limits.md).

    python bench/auth_abuse.py
    python bench/auth_abuse.py --addresses 20000 --logins 200

1. A probe exports reference OTLP/gRPC requests (512 spans, a valid key), one at a time, for
   ``--probe-s`` seconds: ack latency p50/p99 before the flood.
2. ``--flooders`` threads send OTLP/HTTP exports with a wrong key, each from a distinct
   source address of 127.0.0.0/8 (loopback holds all of it: a client can bind 127.x.y.z),
   ``--addresses`` of them, while the probe goes on: its p50/p99 during the flood, and the
   flood's rate.
3. ``--logins`` logins of an unknown user and as many of a known user with a wrong password,
   alternating, over Connect on the web port, each from a distinct source address (so that
   the failure throttle, which would slow both alike, stays out of the figures): medians and
   p90s of both.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

import grpc

from load import server_env, serving
from reference_payload import SPANS_PER_REQUEST, build_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SECRET = "bench-auth-abuse-secret-0123456789abcdef"
PASSWORD = "bench password 1"


def _address(first: int, i: int) -> str:
    """The ``i``-th loopback address from 127.``first``.0.1 on (no .0 or .255 host part)."""
    return f"127.{first + i // (254 * 256)}.{i // 254 % 256}.{i % 254 + 1}"


def _post(port: int, source: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a connection of its own from ``source``: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


class Probe(threading.Thread):
    """Valid OTLP/gRPC exports one at a time; the ack latency of each, by phase."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__(daemon=True)
        self.port, self.key = port, key
        self.phase = "before"
        self.latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.failures: dict[str, int] = {"before": 0, "during": 0, "after": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(3)
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            while not self.stop.is_set():
                body = build_request(rng).SerializeToString()
                phase = self.phase
                started = time.perf_counter()
                try:
                    export(body, timeout=30, metadata=(("authorization", f"Bearer {self.key}"),))
                except grpc.RpcError:
                    self.failures[phase] += 1
                    continue
                self.latencies[phase].append((time.perf_counter() - started) * 1000)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def flood(port: int, addresses: int, threads: int) -> tuple[float, dict[int, int]]:
    """``addresses`` failing exports, each from its own address; (seconds, statuses)."""
    body = b"\x0a\x00"  # one empty ResourceSpans: refused before it is read in any case
    headers = {"Content-Type": "application/x-protobuf", "Authorization": "Bearer vgl_not-a-key"}
    numbers = iter(range(addresses))
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def worker() -> None:
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            status, _ = _post(port, _address(10, i), "/v1/traces", headers, body)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, statuses


def login_timing(web_port: int, logins: int) -> dict[str, list[float]]:
    path = "/vigil.query.v1.QueryService/Login"
    took: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
    for i in range(2 * logins):
        kind = "unknown user" if i % 2 == 0 else "wrong password"
        username = f"nobody{i}" if i % 2 == 0 else "ada"
        body = json.dumps({"username": username, "password": f"guess {i}"}).encode()
        started = time.perf_counter()
        status, _ = _post(web_port, _address(200, i), path, {"Content-Type": "application/json"}, body)
        took[kind].append((time.perf_counter() - started) * 1000)
        if status != 401:
            raise SystemExit(f"login {i} answered {status}, expected 401")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--addresses", type=int, default=20_000, help="distinct failing addresses")
    parser.add_argument("--flooders", type=int, default=8, help="threads sending the flood")
    parser.add_argument("--probe-s", type=float, default=10.0, help="seconds of probing before the flood")
    parser.add_argument("--logins", type=int, default=200, help="logins of each kind")
    args = parser.parse_args()

    server = server_env("vigil-bench-abuse-", VIGIL_AUTH="on", VIGIL_AUTH_SECRET=SECRET)
    made = subprocess.run(
        [sys.executable, "-m", "vigil_server.cli", "keys", "create", "--scopes", "ingest"],
        env=server.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    subprocess.run(
        [sys.executable, "-m", "vigil_server.cli", "users", "create", "ada"],
        env=server.env, input=PASSWORD + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    with serving(server):
        probe = Probe(server.grpc_port, key)
        probe.start()
        time.sleep(args.probe_s)  # a measuring window, not a wait for a condition
        probe.phase = "during"
        seconds, statuses = flood(server.http_port, args.addresses, args.flooders)
        probe.phase = "after"
        took = login_timing(server.web_port, args.logins)
        probe.stop.set()
        probe.join(60)

    print(f"\nflood: {args.addresses} failing OTLP/HTTP exports from as many addresses in {seconds:.1f} s"
          f" ({args.addresses / seconds:,.0f}/s), answers {statuses}")  # fmt: skip
    label = f"OTLP/gRPC ack ({SPANS_PER_REQUEST} spans)"
    print(f"{label:28}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for phase in ("before", "during"):
        values = probe.latencies[phase]
        print(f"{phase + ' the flood':28}{len(values):>6}{_pct(values, 0.5):>10.1f}"
              f"{_pct(values, 0.99):>10.1f}{probe.failures[phase]:>8}")  # fmt: skip
    print(f"\n{'Login (Connect, 401)':28}{'n':>6}{'median ms':>11}{'p90 ms':>9}")
    for kind, values in took.items():
        print(f"{kind:28}{len(values):>6}{statistics.median(values):>11.1f}{_pct(values, 0.9):>9.1f}")


if __name__ == "__main__":
    main()
