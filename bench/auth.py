"""What authentication costs: the same ingest and GetTrace runs against `vigil serve` with
VIGIL_AUTH=off and with VIGIL_AUTH=on (every request carrying an API key), in one run.

    make bench-auth
    make bench-auth BENCH_ARGS="--requests 400 --rounds 3"

For each mode, in a fresh embedded ClickHouse: one exporter with one request in flight (the
shape of a stock SDK) and 8 clients x 8 in flight send reference requests of 512 spans; the
acknowledgement rate is measured (authentication happens before the ack, so this is where it
shows). Then GetTrace of one stored trace, 300 times one after the other: p50/p99. The modes
alternate over ``--rounds`` rounds, so that the machine's drift hits both alike; the ratio
on/off is printed per shape, with the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time

from vigil import QueryClient

from ingest import wait_written
from load import send_all, server_env, serving
from reference_payload import SPANS_PER_REQUEST, build_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SECRET = "bench-auth-secret-0123456789-abcdef"  # ≥ 32 bytes


def run_mode(mode: str, bodies: list[bytes], trace_id: str, gets: int) -> dict[str, float]:
    server = server_env(f"vigil-bench-auth-{mode}-", VIGIL_AUTH=mode, VIGIL_AUTH_SECRET=SECRET)
    key = ""
    if mode == "on":  # embedded chDB: keys are made before the server holds the directory
        made = subprocess.run(
            [sys.executable, "-m", "vigil_server.cli", "keys", "create", "--scopes", "ingest,read"],
            env=server.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(made.stdout)["key"]
    metadata = (("authorization", f"Bearer {key}"),) if key else None
    with serving(server):
        half = len(bodies) // 2
        one = asyncio.run(send_all(server.grpc_port, bodies[:half], 1, 1, EXPORT, metadata))
        many = asyncio.run(send_all(server.grpc_port, bodies[half:], 8, 8, EXPORT, metadata))
        wait_written(server.http_port)
        latencies = []
        with QueryClient(f"127.0.0.1:{server.query_port}", api_key=key) as client:
            client.get_trace(trace_id)  # warm
            for _ in range(gets):
                started = time.perf_counter()
                client.get_trace(trace_id)
                latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    spans = len(bodies) // 2 * SPANS_PER_REQUEST
    return {
        "ack_1x1": spans / one,
        "ack_8x8": (len(bodies) - len(bodies) // 2) * SPANS_PER_REQUEST / many,
        "get_p50_ms": latencies[len(latencies) // 2],
        "get_p99_ms": latencies[int(len(latencies) * 0.99) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="requests of 512 spans per mode and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gets", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    requests = [build_request(rng) for _ in range(args.requests)]
    trace_id = requests[0].resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    bodies = [r.SerializeToString() for r in requests]
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            results[mode].append(run_mode(mode, bodies, trace_id, args.gets))
            print(f"round {round_ + 1} auth {mode}: {results[mode][-1]}", flush=True)
    print(f"\n{args.requests} requests of {SPANS_PER_REQUEST} spans per mode, {args.rounds} rounds (median)")
    print(f"{'':14}{'auth off':>14}{'auth on':>14}{'on / off':>10}")
    for name, unit in (
        ("ack_1x1", "spans/s"),
        ("ack_8x8", "spans/s"),
        ("get_p50_ms", "ms"),
        ("get_p99_ms", "ms"),
    ):
        off = statistics.median(r[name] for r in results["off"])
        on = statistics.median(r[name] for r in results["on"])
        print(f"{name:14}{off:>12,.1f} {unit[:2]}{on:>12,.1f} {unit[:2]}{on / off:>10.2f}")


if __name__ == "__main__":
    main()
