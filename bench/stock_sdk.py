"""The shape real clients have: a Python app using the stock OpenTelemetry SDK with its
defaults (BatchSpanProcessor: a queue of 2048 spans, batches of 512, one export in flight;
the OTLP gRPC exporter), creating spans at a fixed rate. How many of them are stored, and how
many the SDK dropped ("Queue full, dropping span"), against `vigil serve` and against a
parse-and-ack sink (bench/ack_sink.py), in the same run.

    make bench-stock-sdk                                    # 2,000, 5,000 and 10,000 spans/s, 10 s each
    make bench-stock-sdk BENCH_ARGS="--rates 10000 --seconds 10"

Each app runs in a process of its own (as a real app would, with its own GIL).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import free_port, wait_ready, wait_written

HERE = Path(__file__).resolve()


def app(endpoint: str, service: str, rate: int, seconds: float) -> None:
    """Create ``rate`` spans a second for ``seconds``, export them with the SDK's defaults,
    print what was created and dropped as JSON."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

    exported = failed = 0

    class Counting(OTLPSpanExporter):
        """The stock exporter, counting what the BatchSpanProcessor handed it (the SDK's log
        of queue drops is de-duplicated, so drops are what was created and never handed)."""

        def export(self, spans):  # type: ignore[no-untyped-def]
            nonlocal exported, failed
            result = super().export(spans)
            if result == SpanExportResult.SUCCESS:
                exported += len(spans)
            else:
                failed += len(spans)
            return result

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(Counting(endpoint=endpoint, insecure=True)))
    tracer = provider.get_tracer("stock-sdk-bench")
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    created = 0
    started = time.monotonic()
    for step in range(round(seconds / tick)):
        for _ in range(per_tick):
            with tracer.start_as_current_span("work") as span:
                span.set_attribute("step", step)
            created += 1
        delay = started + (step + 1) * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - started
    provider.shutdown()
    dropped = created - exported - failed
    print(json.dumps({"created": created, "dropped": dropped, "failed": failed, "seconds": elapsed}))


def run_app(endpoint: str, service: str, rate: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE), "--app", endpoint, service, str(rate), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    errors = [line for line in out.stderr.splitlines() if "Queue full" not in line]
    if errors:  # export failures and the like: the SDK's own words
        print(f"  the app's stderr ({service}):", *errors[-5:], sep="\n    ")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--app":
        app(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="2000,5000,10000", help="spans/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    sink_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(HERE.parent / "ack_sink.py"), "--port", str(sink_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "sink ready"
        for i, rate in enumerate(rates):
            r = run_app(f"127.0.0.1:{sink_port}", f"sink-{i}-{rate}", rate, args.seconds)
            print(
                f"sink   {rate:>6} spans/s: created {r['created']:.0f}, dropped by the SDK's queue "
                f"{r['dropped']:.0f}, failed exports {r['failed']:.0f}"
            )
    finally:
        sink.terminate()
        sink.wait(30)

    from vigil_storage import connect

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-sdk-"))
    grpc_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(work),
        VIGIL_OTLP_GRPC_PORT=str(grpc_port),
        VIGIL_OTLP_HTTP_PORT=str(http_port),
        VIGIL_QUERY_PORT=str(free_port()),
        VIGIL_WEB_PORT="0",
        VIGIL_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    results = {}
    try:
        wait_ready(http_port)
        for i, rate in enumerate(rates):
            results[f"vigil-{i}-{rate}"] = run_app(
                f"127.0.0.1:{grpc_port}", f"vigil-{i}-{rate}", rate, args.seconds
            )
        wait_written(http_port)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"vigil serve exited with {code}")
    client = connect(f"chdb://{work / 'clickhouse'}")
    lost = dropped = False
    for service, r in results.items():
        rate = int(service.rsplit("-", 1)[1])
        stored, distinct = client.query(
            "SELECT count(), uniqExact(SpanId) FROM otel.otel_traces WHERE ServiceName = {s:String}",
            parameters={"s": service},
        ).result_rows[0]
        print(
            f"vigil  {rate:>6} spans/s: created {r['created']:.0f}, dropped by the SDK's queue "
            f"{r['dropped']:.0f}, failed exports {r['failed']:.0f}, stored {stored} ({distinct} distinct)"
        )
        lost |= stored != r["created"] - r["dropped"] - r["failed"]
        dropped |= bool(r["dropped"])
    # Spans the SDK dropped never reached the server (the sink's runs show how close the app
    # itself is to its limit on this machine); anything else missing would be Vigil's loss.
    print(
        "RESULT "
        + ("SPANS LOST BY THE SERVER" if lost else "every exported span stored")
        + ("; the SDK dropped spans" if dropped else "; the SDK dropped none")
    )
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
