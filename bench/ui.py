"""UI benchmark: a trace of 10,000 reference-like spans opened and scrolled through in
headless Chromium (Debian's, driven by playwright-core: ui/tests/e2e.mjs), against a fresh
`vigil serve` with the built UI.

    make bench-ui
    make bench-ui BENCH_ARGS="--spans 100000"

Prints the time from navigation to the first waterfall rows (the trace streamed over
Connect, parsed and laid out) and the time to scroll from top to bottom in 50 steps of two
animation frames each, and how many rows were in the DOM at the end (the virtualization).
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
        f" scrolled top to bottom in {result['scrolled_ms'] / 1000:.2f} s (50 steps),"
        f" {result['rows_in_dom']} rows in the DOM; screenshot in {shots}"
    )
    print(
        f"RESULT open_ms={result['opened_ms']} scroll_ms={result['scrolled_ms']} rows_in_dom={result['rows_in_dom']}"
    )


if __name__ == "__main__":
    sys.exit(main())
