"""What unauthenticated callers may cost (issue 31, items 4-6; docs/security/abuse-limits.md):
failures are counted per address, not per connection, in a bounded table; a Login flood is
capped and hashes on a pool of its own, so /ready and ingest keep answering; an unknown key
is refused at once; an unknown user costs what a wrong password costs; each listener takes a
bounded number of calls at once; OTLP/gRPC checks the credential before taking the body."""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from vigil.query.v1 import query_pb2, query_pb2_grpc
from vigil_auth import registry
from vigil_auth.errors import Unauthenticated
from vigil_auth.keys import INGEST, KeyHasher
from vigil_auth.passwords import hash_password
from vigil_auth.throttle import FailureThrottle, caller_address

from support import EXPORT_METHOD, RunningApp, http_request, make_request, make_settings

SECRET = "abuse-test-secret-0123456789abcdef"
MAIN = "abusemain"
SYS = f"vigil_system_{MAIN}"  # its system database (support.make_settings)
PASSWORD = "the right password"


def _serve(chdb_dir: Path, **overrides: Any) -> RunningApp:
    settings = dict(database=MAIN, auth="on", auth_secret=SECRET, drift_interval_s=0)
    return RunningApp(make_settings(chdb_dir, **{**settings, **overrides}))


@pytest.fixture(scope="module")
def registry_ready(chdb_dir: Path, ch: Client) -> tuple[str, str]:
    """A user and an ingest key of the default project, made before the servers start."""
    registry.ensure(ch, SYS)
    registry.create_user(ch, SYS, "ada", hash_password(PASSWORD), is_admin=False)
    _, key = registry.create_key(ch, SYS, KeyHasher(SECRET.encode()), "default", ["ingest"], name="t")
    return "ada", key


@pytest.fixture(scope="module")
def secured(chdb_dir: Path, registry_ready: tuple[str, str]) -> Iterator[RunningApp]:
    # Failures are counted but never slowed here: these tests time other things.
    app = _serve(chdb_dir, auth_throttle_free=1_000_000, auth_throttle_max_addresses=5_000)
    yield app
    app.stop()


def _export(app: RunningApp, key: str, timeout: float = 10) -> float:
    """One acknowledged OTLP/gRPC export; its latency."""
    with grpc.insecure_channel(app.grpc_target) as channel:
        export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        started = time.perf_counter()
        export(
            make_request(5, "abuse-probe").SerializeToString(),
            metadata=[("authorization", f"Bearer {key}")],
            timeout=timeout,
        )
        return time.perf_counter() - started


def _login(channel: grpc.Channel, username: str, password: str, timeout: float = 60) -> grpc.StatusCode:
    try:
        query_pb2_grpc.QueryServiceStub(channel).Login(
            query_pb2.LoginRequest(username=username, password=password), timeout=timeout
        )
    except grpc.RpcError as refused:
        return refused.code()
    return grpc.StatusCode.OK


def _own_connection(target: str) -> grpc.Channel:
    # Without a local subchannel pool, channels to one target share one connection.
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def test_the_throttle_keys_by_address_and_stays_bounded() -> None:
    assert caller_address("ipv4:10.1.2.3:50123") == caller_address("ipv4:10.1.2.3:4") == "10.1.2.3"
    assert caller_address("ipv6:[2001:db8:1:2:aaaa::1]:443") == "2001:db8:1:2::/64"
    assert caller_address("ipv6:%5B2001:db8:1:2:bbbb::9%5D:80") == "2001:db8:1:2::/64"
    assert caller_address("ipv6:[2001:db8:1:3::1]:80") == "2001:db8:1:3::/64"
    assert caller_address("ipv6:[::ffff:10.0.0.7]:80") == "10.0.0.7"
    assert caller_address("unix:/run/vigil.sock") == caller_address("unix:") == "unix"
    assert caller_address("127.0.0.9") == "127.0.0.9"  # aiohttp's request.remote
    assert caller_address("2001:db8::5") == "2001:db8::/64"

    throttle = FailureThrottle(free=2, step_s=0.5, max_delay_s=1.0, max_addresses=100)
    for port in range(6):  # a new connection for each try changes nothing
        throttle.failed(f"ipv4:10.0.0.1:{40000 + port}")
    assert throttle.delay_s("ipv4:10.0.0.1:1") == 1.0 and throttle.delay_s("10.0.0.2") == 0
    for i in range(20_000):
        throttle.failed(f"ipv6:[2001:db8:{i // 256:x}:{i % 256:x}::1]:9")
    assert len(throttle) == 100
    # The most recent failures are the ones remembered.
    assert throttle.delay_s("ipv6:[2001:db8:4e:1f::2]:1") == 0  # 19,999: one failure, free
    assert "2001:db8:4e:1f::/64" in throttle._failures and "10.0.0.1" not in throttle._failures


def test_failed_logins_over_many_connections_are_slowed_as_one_address(
    chdb_dir: Path, registry_ready: tuple[str, str]
) -> None:
    username, _ = registry_ready
    app = _serve(
        chdb_dir,
        auth_throttle_free=10,
        auth_throttle_step_s=0.1,
        auth_throttle_max_delay_s=1.0,
        auth_throttle_window_s=3600,  # 200 Argon2 logins may take a minute on a loaded machine
        auth_login_max_concurrent=64,
        auth_password_threads=2,
    )
    try:
        channels = [_own_connection(app.query_target) for _ in range(50)]

        def four_tries(channel: grpc.Channel) -> list[grpc.StatusCode]:
            return [_login(channel, username, f"guess {i}") for i in range(4)]

        with ThreadPoolExecutor(50) as pool:
            codes = [c for tries in pool.map(four_tries, channels) for c in tries]
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 200
        with _own_connection(app.query_target) as fresh:
            started = time.monotonic()
            assert _login(fresh, username, "one more guess") == grpc.StatusCode.UNAUTHENTICATED
            took = time.monotonic() - started
        for channel in channels:
            channel.close()
        print(f"the 201st guess, on a new connection, answered after {took:.2f} s")
        assert took >= 0.95  # the full delay: all 200 counted against 127.0.0.1
        assert list(app.app.auth._throttle._failures) == ["127.0.0.1"]
    finally:
        app.stop()


def test_a_flood_of_distinct_addresses_leaves_the_table_bounded_and_ingest_acknowledging(
    secured: RunningApp, registry_ready: tuple[str, str]
) -> None:
    _, key = registry_ready
    auth = secured.app.auth

    async def flood() -> None:
        async def one(i: int) -> None:
            peer = f"ipv4:10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:40000"
            with pytest.raises(Unauthenticated):
                await auth.check(f"Bearer vgl_guess{i}", INGEST, peer=peer)

        for start in range(0, 20_000, 500):
            await asyncio.gather(*(one(i) for i in range(start, start + 500)))

    flooding = asyncio.run_coroutine_threadsafe(flood(), secured.loop)
    latencies = []
    while not flooding.done():
        latencies.append(_export(secured, key))
    flooding.result(timeout=120)
    # Over the network too, from distinct loopback addresses (127.0.0.0/8 is all ours).
    body = make_request(1, "flood").SerializeToString()
    port = secured.ports.otlp_http
    for i in range(1, 51):
        with socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=(f"127.0.9.{i}", 0)
        ) as s:
            s.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\n"
                b"Authorization: Bearer vgl_guess\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert s.recv(64).startswith(b"HTTP/1.1 401")
    latencies.append(_export(secured, key))
    table = auth._throttle._failures
    print(f"{len(latencies)} exports acknowledged during the flood, slowest {max(latencies):.3f} s")
    assert len(table) <= 5_000
    assert "127.0.9.50" in table and "10.0.78.31" in table  # the latest; the earliest forgotten
    assert max(latencies) < 5


def test_a_burst_of_logins_leaves_ready_and_ingest_answering(
    secured: RunningApp, registry_ready: tuple[str, str]
) -> None:
    username, key = registry_ready
    with grpc.insecure_channel(secured.query_target) as channel:
        login = query_pb2_grpc.QueryServiceStub(channel).Login
        calls = [
            login.future(query_pb2.LoginRequest(username=username, password=f"guess {i}"), timeout=60)
            for i in range(100)
        ]
        ready = []
        while not all(c.done() for c in calls):
            started = time.perf_counter()
            status, _, _ = http_request(f"{secured.http_base}/ready")
            ready.append(time.perf_counter() - started)
            assert status == 200
            if len(ready) == 1:
                ready_export = _export(secured, key)
        codes = [c.exception().code() for c in calls]  # type: ignore[union-attr]
        busy = [
            c.exception().details() for c in calls if c.exception().code() != grpc.StatusCode.UNAUTHENTICATED
        ]  # type: ignore[union-attr]
    print(
        f"/ready during 100 concurrent bad logins: {len(ready)} answers, slowest {max(ready):.3f} s;"
        f" an export {ready_export:.3f} s; {len(busy)} logins refused as busy"
    )
    assert set(codes) <= {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert busy and "VIGIL_AUTH_LOGIN_MAX_CONCURRENT" in busy[0]
    assert max(ready) < 1.0


def _timed_logins(app: RunningApp, pairs: list[tuple[str, str]]) -> list[float]:
    async def run() -> list[float]:
        took = []
        for username, password in pairs:
            started = time.perf_counter()
            with pytest.raises(Unauthenticated, match="invalid user name or password"):
                await app.app.auth.login(username, password)
            took.append(time.perf_counter() - started)
        return took

    return app.run(run())


def test_an_unknown_user_costs_what_a_wrong_password_costs(
    secured: RunningApp, registry_ready: tuple[str, str]
) -> None:
    username, _ = registry_ready
    pairs = [(username if i % 2 else f"nobody{i}", f"wrong {i}") for i in range(80)]
    took = _timed_logins(secured, pairs)
    unknown, known = statistics.median(took[0::2]), statistics.median(took[1::2])
    print(
        f"login medians over 40 each: unknown user {unknown * 1000:.1f} ms, wrong password {known * 1000:.1f} ms"
    )
    assert max(unknown, known) / min(unknown, known) < 1.5
    assert secured.app.auth._dummy_hash.startswith("$argon2id$")  # made at start, not at first use


def test_an_unknown_key_is_refused_at_once_and_known_after_the_background_reload(
    secured: RunningApp, ch: Client
) -> None:
    _, key = registry.create_key(ch, SYS, KeyHasher(SECRET.encode()), "default", ["ingest"], name="late")
    body = make_request(1, "late-key").SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
    started = time.monotonic()
    status, _, _ = http_request(f"{secured.http_base}/v1/traces", body, headers)
    took = time.monotonic() - started
    # 401 is the point (a reload in the request's path would have found the key and said 200);
    # the time bound is loose because a loaded CI machine can take a second for any request.
    assert status == 401 and took < 2.0, (status, took)
    deadline = time.monotonic() + 30  # the reload runs in the background; a loaded machine is slow
    while http_request(f"{secured.http_base}/v1/traces", body, headers)[0] != 200:
        assert time.monotonic() < deadline, "the key never became known"
        time.sleep(0.05)


def test_otlp_grpc_refuses_a_bad_credential_before_taking_the_body(secured: RunningApp) -> None:
    release = threading.Event()

    def body_never_sent_until_answered() -> Iterator[bytes]:
        release.wait(30)
        yield make_request(1, "unread").SerializeToString()

    with grpc.insecure_channel(secured.grpc_target) as channel:
        export = channel.stream_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        try:
            with pytest.raises(grpc.RpcError) as refused:
                export(
                    body_never_sent_until_answered(), metadata=[("authorization", "Bearer vgl_x")], timeout=10
                )
        finally:
            release.set()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _held(calls: int, start: Callable[[], Any]) -> list[Any]:
    return [start() for _ in range(calls)]


def test_each_listener_caps_its_concurrent_calls(chdb_dir: Path) -> None:
    app = RunningApp(
        make_settings(
            chdb_dir,
            database="abusecaps",
            otlp_grpc_max_concurrent_rpcs=2,
            otlp_http_max_concurrent=2,
            query_max_concurrent_rpcs=2,
            web_max_concurrent=2,
        )
    )
    release = threading.Event()
    channel = grpc.insecure_channel(app.grpc_target)
    query = grpc.insecure_channel(app.query_target)
    held: list[Any] = []
    try:
        # OTLP/gRPC: two calls whose message is held back occupy both places.

        def held_body() -> Iterator[bytes]:
            release.wait(120)
            yield make_request(1, "held").SerializeToString()

        export = channel.stream_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)

        def hold() -> list[Any]:
            return _held(2, lambda: export.future(held_body(), timeout=120))

        held = hold()
        # Generous: a loaded machine starts the held calls late. A held call that ended (or two
        # that did not take both places within a few seconds: seen about once in five runs, even
        # on a quiet machine) are replaced, so the cap is tested against two calls in progress.
        deadline, renewed = time.monotonic() + 90, time.monotonic()
        while True:
            try:
                _export(app, "", timeout=5)
            except grpc.RpcError as refused:
                assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                break
            ended = [call.done() for call in held]
            assert time.monotonic() < deadline, (
                f"a third OTLP/gRPC call was never refused; held ended: {ended}"
            )
            if any(ended) or time.monotonic() - renewed > 5:
                for call in held:
                    call.cancel()
                held, renewed = hold(), time.monotonic()
            time.sleep(0.05)

        # OTLP/HTTP: two requests whose body has not all arrived.
        head = (
            b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\npartial"
        )
        sockets = [socket.create_connection(("127.0.0.1", app.ports.otlp_http), timeout=10) for _ in range(2)]
        for s in sockets:
            s.sendall(head)
        body = make_request(1, "third").SerializeToString()
        deadline = time.monotonic() + 30  # generous: a loaded machine starts the held calls late
        while True:
            status, headers, answer = http_request(
                f"{app.http_base}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
            )
            if status == 503:
                assert b"VIGIL_OTLP_HTTP_MAX_CONCURRENT" in answer and headers.get("Retry-After")
                break
            assert time.monotonic() < deadline, "a third OTLP/HTTP export was never refused"
            time.sleep(0.05)
        assert http_request(f"{app.http_base}/ready")[0] == 200  # probes are not capped

        # The query port: two live tails hold both places.
        stub = query_pb2_grpc.QueryServiceStub(query)
        tails = [stub.TailSpans(query_pb2.TailSpansRequest(), timeout=30) for _ in range(2)]
        for tail in tails:
            next(tail)
        with pytest.raises(grpc.RpcError) as busy:
            stub.GetServices(query_pb2.GetServicesRequest(), timeout=10)
        assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for tail in tails:
            tail.cancel()

        # The web port: connections count (once the server has taken the idle ones in).
        idle = [socket.create_connection(("127.0.0.1", app.ports.web), timeout=10) for _ in range(3)]
        deadline = time.monotonic() + 30
        while http_request(f"{app.web_base}/")[0] != 503:
            assert time.monotonic() < deadline, "the web port never refused past its cap"
            time.sleep(0.05)
        for s in idle + sockets:
            s.close()
    finally:
        release.set()
        for call in held:
            call.cancel()
        channel.close()
        query.close()
        app.stop()
