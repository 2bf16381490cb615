"""An app run under `opentelemetry-instrument` with the default exporters (OTLP for traces,
metrics and logs) pointed at Vigil: it prints no export error, and all three signals are
stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clickhouse_connect.driver.client import Client

from support import RunningApp

APP = """
import logging
from opentelemetry import metrics, trace

tracer = trace.get_tracer("instrumented")
jobs = metrics.get_meter("instrumented").create_counter("jobs.done")
log = logging.getLogger("instrumented")
log.setLevel(logging.INFO)
for i in range(3):
    with tracer.start_as_current_span(f"job-{i}"):
        log.info("job %d done", i)
        jobs.add(1, {"kind": "batch"})
"""


def test_an_app_under_opentelemetry_instrument_exports_all_three_signals(
    app: RunningApp, ch: Client, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "instrumented-app",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{app.grpc_target}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    }
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    out = subprocess.run(
        [str(instrument), sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    problems = [
        line for line in out.stderr.splitlines() if "export" in line.lower() or "error" in line.lower()
    ]
    assert not problems, out.stderr
    app.flush()

    def count(table: str) -> int:
        return int(ch.command(f"SELECT count() FROM otel.{table} WHERE ServiceName = 'instrumented-app'"))

    assert count("otel_traces") == 3
    assert count("otel_logs") == 3
    assert (
        int(
            ch.command(
                "SELECT max(Value) FROM otel.otel_metrics_sum WHERE ServiceName = 'instrumented-app' AND MetricName = 'jobs.done'"
            )
        )
        == 3
    )
