"""UI benchmark: a trace of 10,000 reference-like spans opened and scrolled through in
headless Chromium (Debian's, driven by playwright-core: ui/tests/e2e.mjs), against a fresh
`vigil serve` with the built UI.

    make bench-ui
    make bench-ui BENCH_ARGS="--spans 100000"

Prints the time from navigation to the first waterfall rows (the trace streamed over
Connect, parsed and laid out) and the time to scroll from top to bottom in 50 steps of two
animation frames each, and how many rows were in the DOM at the end (the virtualization).
Next to it, in the same run: the time the server takes to stream the same trace to a gRPC
client (QueryClient.iter_trace_pages), the part of opening that is not the browser's.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil import QueryClient, QueryError

from load import server_env, serving
from reference_payload import MODELS, SERVICES, kv

REPO = Path(__file__).resolve().parent.parent
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def build_trace(spans: int, rng: random.Random) -> tuple[str, list[bytes]]:
    """One trace: a tree where each span's parent is one of the 50 spans before it."""
    trace_id = rng.randbytes(16)
    ids = [rng.randbytes(8) for _ in range(spans)]
    start = time.time_ns() - 60 * 10**9
    bodies = []
    for offset in range(0, spans, 2000):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", rng.choice(SERVICES)))
        ss = rs.scope_spans.add()
        for i in range(offset, min(spans, offset + 2000)):
            parent = b"" if i == 0 else ids[rng.randrange(max(0, i - 50), i)]
            span = Span(
                trace_id=trace_id,
                span_id=ids[i],
                parent_span_id=parent,
                name=f"chat {rng.choice(MODELS)}" if i % 3 else "execute_tool search",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start + i * 1_000_000,
                end_time_unix_nano=start + i * 1_000_000 + rng.randrange(1, 400) * 1_000_000,
            )
            span.attributes.append(kv("gen_ai.usage.input_tokens", rng.randrange(50, 4000)))
            ss.spans.append(span)
        bodies.append(request.SerializeToString())
    return trace_id.hex(), bodies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000)
    args = parser.parse_args()
    if not (REPO / "ui" / "dist" / "index.html").is_file():
        raise SystemExit("the UI is not built: make ui")
    trace_id, bodies = build_trace(args.spans, random.Random(7))
    shots = Path(tempfile.mkdtemp(prefix="vigil-bench-ui-"))
    with serving(server_env("vigil-bench-ui-")) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            for body in bodies:
                export(body, timeout=60)
        with QueryClient(f"127.0.0.1:{server.query_port}") as client:
            deadline = time.monotonic() + 120
            while True:  # acknowledged = in the write-ahead log; wait until all are stored
                try:
                    stored = next(client.iter_trace_pages(trace_id)).span_count
                except QueryError:  # not found yet
                    stored = 0
                if stored >= args.spans or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            started = time.perf_counter()
            streamed = sum(len(p.spans) for p in client.iter_trace_pages(trace_id))
            grpc_s = time.perf_counter() - started
        out = subprocess.run(
            ["node", str(REPO / "ui" / "tests" / "e2e.mjs"), "open-and-scroll", f"http://127.0.0.1:{server.web_port}",
             str(shots), trace_id],
            capture_output=True, text=True, timeout=300, cwd=REPO / "ui",
        )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"browser: {out.stderr.strip()}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"{args.spans:,}-span trace in headless Chromium: opened in {result['opened_ms'] / 1000:.2f} s,"
        f" scrolled top to bottom in {result['scrolled_ms'] / 1000:.2f} s (50 steps of 2 frames; longest"
        f" frame {result['longest_frame_ms']} ms, p95 {result['p95_frame_ms']} ms),"
        f" {result['rows_in_dom']} rows in the DOM; screenshot in {shots}"
    )
    print(
        f"same run: the server streams the trace ({streamed:,} spans) to a gRPC client in {grpc_s:.2f} s;"
        f" opening in the browser takes {result['opened_ms'] / 1000 / grpc_s:.2f}x that"
    )
    print(
        f"RESULT open_ms={result['opened_ms']} scroll_ms={result['scrolled_ms']} rows_in_dom={result['rows_in_dom']}"
        f" grpc_stream_ms={grpc_s * 1000:.0f} longest_frame_ms={result['longest_frame_ms']}"
    )


if __name__ == "__main__":
    sys.exit(main())
