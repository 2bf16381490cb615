"""Overview, logs and metrics benchmark: the UI's explore pages over a day of data.

    make bench-explore                                  # 1M spans, 1M log records, 1M metric points
    make bench-explore BENCH_ARGS="--spans 10000000"    # the issue's shape (the fill takes a while)
    make bench-explore BENCH_ARGS="--spans 10000000 --data-dir /var/tmp/vigil-explore"  # fill once, reuse

With ``--data-dir``, the filled directory is kept and reused by the next run of the same sizes
(the fill is deterministic: every value is a hash of the row number; the times are relative
to the fill's "now", saved next to it, so a later run queries the same day). A schema
migration added since is applied by ``vigil serve`` on start (the migrations fill their new
rollups from the rows stored).

What it does:
1. fills a fresh embedded ClickHouse (in a child process: chDB opens one data directory per
   process) over the last 24 hours with reference spans (bench/query.py's shape: 8-span
   traces, 4 services, 4 models; the rollups are kept by their materialized views as the
   rows go in), log records (6 severities, a trace id on half of them) and the points of a
   cumulative counter, ``bench.tokens``, in 10 models x N instances, a point a minute each,
   and a gauge, ``bench.queue``, of 10 series (1,440 points each);
2. starts ``vigil serve`` with the built UI on that directory;
3. times over gRPC (QueryClient), one call at a time: GetOverview for 24 hours (by model and
   by user) and for 3 hours (a zoom: minute steps),
   a first SearchLogs page (24 hours, WARN and above) and QueryMetrics of the counter's
   increase by model over 24 hours at a minute (10 series of 1,440 points, from all the
   counter's points), and the gauge's average by model (10 series of 1,440 points);
4. in headless Chromium (ui/tests/e2e.mjs bench-page): the overview page and the metric
   chart from navigation until every chart is drawn, then the longest animation frame while
   hovering across the chart and scrolling the page, and a drag-to-zoom until the zoomed
   chart is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import CHUNK, DAY_NS, fill_sql

from ingest import free_port, wait_ready

REPO = Path(__file__).resolve().parent.parent
MODELS = 10
MINUTES = 1440


def logs_sql(offset: int, rows: int, total: int, now_ns: int) -> str:
    step_ns = DAY_NS // total
    return f"""
    INSERT INTO otel.otel_logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName,
        Body, ResourceAttributes, ScopeName, LogAttributes)
    SELECT fromUnixTimestamp64Nano(toInt64({now_ns} - number * {step_ns})),
        if(number % 2 = 0, lower(hex(reinterpretAsFixedString(cityHash64(intDiv(number, 8), 1)))
              || hex(reinterpretAsFixedString(cityHash64(intDiv(number, 8), 2)))), ''),
        '', 0,
        ['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR'][number % 6 + 1],
        [5, 9, 9, 9, 13, 17][number % 6 + 1],
        ['checkout', 'support-bot', 'search', 'planner'][number % 4 + 1],
        concat('request ', toString(number), ' handled for order A-', toString(number % 10000),
               if(number % 6 = 5, ' failed: upstream timeout', ' in time')),
        map('service.name', 'bench'), 'vigil.bench',
        map('order.id', concat('A-', toString(number % 10000)), 'attempt', toString(number % 3))
    FROM numbers({offset}, {rows})
    SETTINGS async_insert = 0
    """


def metrics_sql(offset: int, rows: int, series: int, now_ns: int) -> str:
    """A cumulative counter: ``series`` streams (10 models x instances), a point a minute."""
    start_ns = now_ns - DAY_NS
    return f"""
    INSERT INTO otel.otel_metrics_sum (ResourceAttributes, ServiceName, MetricName, MetricUnit, Attributes,
        StartTimeUnix, TimeUnix, Value, AggregationTemporality, IsMonotonic)
    SELECT map('service.instance.id', toString(intDiv(number % {series}, {MODELS}))), 'bench',
        'bench.tokens', '{{token}}',
        map('model', concat('model-', toString(number % {MODELS})), 'instance', toString(intDiv(number % {series}, {MODELS}))),
        fromUnixTimestamp64Nano(toInt64({start_ns})),
        fromUnixTimestamp64Nano(toInt64({start_ns} + (intDiv(number, {series}) + 1) * 60000000000)),
        toFloat64((intDiv(number, {series}) + 1) * (100 + number % {series})), 2, true
    FROM numbers({offset}, {rows})
    SETTINGS async_insert = 0
    """


def gauge_sql(now_ns: int) -> str:
    """A gauge of 10 series (a model each), a point a minute: the chart of exactly 10 x 1,440."""
    start_ns = now_ns - DAY_NS
    return f"""
    INSERT INTO otel.otel_metrics_gauge (ResourceAttributes, ServiceName, MetricName, MetricUnit, Attributes,
        StartTimeUnix, TimeUnix, Value)
    SELECT map('service.name', 'bench'), 'bench', 'bench.queue', '{{job}}',
        map('model', concat('model-', toString(number % {MODELS}))),
        fromUnixTimestamp64Nano(toInt64({start_ns})),
        fromUnixTimestamp64Nano(toInt64({start_ns} + (intDiv(number, {MODELS}) + 1) * 60000000000)),
        toFloat64(cityHash64(number) % 100)
    FROM numbers({MODELS * MINUTES})
    SETTINGS async_insert = 0
    """


def fill(data_dir: Path, spans: int, logs: int, points: int, now_ns: int) -> None:
    from vigil_storage import apply_migrations, connect

    client = connect(f"chdb://{data_dir / 'clickhouse'}")
    apply_migrations(client, "otel")
    started = time.perf_counter()
    for offset in range(0, spans, CHUNK):
        client.command(fill_sql(offset, min(CHUNK, spans - offset), spans, now_ns))
    print(f"  {spans:,} spans in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    for offset in range(0, logs, CHUNK):
        client.command(logs_sql(offset, min(CHUNK, logs - offset), logs, now_ns))
    series = max(MODELS, points // MINUTES // MODELS * MODELS)
    total = series * MINUTES
    for offset in range(0, total, CHUNK):
        client.command(metrics_sql(offset, min(CHUNK, total - offset), series, now_ns))
    client.command(gauge_sql(now_ns))
    print(f"  + {logs:,} log records, {total:,} metric points ({series} series) in"
          f" {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    deadline = time.monotonic() + 900
    idle = 0
    while idle < 3 and time.monotonic() < deadline:  # a settled table, not a merge burst
        time.sleep(1)
        idle = (
            0
            if int(client.command("SELECT count() FROM system.merges WHERE database = 'otel'"))
            else idle + 1
        )


def timed(call: object, n: int) -> list[float]:
    call()  # type: ignore[operator]  # untimed warm-up
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def summary(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):.0f} ms, p99 {p99(samples):.0f} ms, max {max(samples):.0f} ms"


def stats(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples), 1), "p99_ms": round(p99(samples), 1),
            "max_ms": round(max(samples), 1), "calls": len(samples)}  # fmt: skip


def browse(web_base: str, path: str, charts: int, shots: Path) -> dict:
    out = subprocess.run(
        ["node", str(REPO / "ui" / "tests" / "e2e.mjs"), "bench-page", web_base, str(shots), path, str(charts)],
        capture_output=True, text=True, timeout=300, cwd=REPO / "ui",
    )  # fmt: skip
    if out.returncode:  # kept in the results (a loaded machine can time a query out), not fatal
        print(f"browser, {path}: {out.stderr.strip()}", file=sys.stderr)
        return {
            "error": out.stderr.strip()[:500],
            "drawn_ms": None,
            "longest_frame_ms": None,
            "zoom_ms": None,
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per RPC")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the filled data here; reuse it if it holds this fill"
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results",
                        help="where the dated JSON of the run goes")  # fmt: skip
    parser.add_argument("--child-fill", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_fill:
        fill(Path(args.child_fill[0]), args.spans, args.logs, args.points, int(args.child_fill[1]))
        return
    if not (REPO / "ui" / "dist" / "index.html").is_file():
        raise SystemExit("the UI is not built: make ui")
    from vigil import QueryClient

    sizes = {"spans": args.spans, "logs": args.logs, "points": args.points}
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="vigil-explore-bench-"))
    stamp = data_dir / "bench-fill.json"
    kept = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if kept.get("sizes") == sizes:
        now_ns = kept["now_ns"]
        print(f"reusing the fill in {data_dir} (of {kept['filled_at']})", flush=True)
    else:
        if data_dir.is_dir() and any(data_dir.iterdir()):
            raise SystemExit(
                f"{data_dir} holds something other than this fill: give an empty or new directory"
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        now_ns = time.time_ns()
        print(f"filling {data_dir}: {args.spans:,} spans, {args.logs:,} log records, {args.points:,} metric points over 24 h",
              flush=True)  # fmt: skip
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--spans", str(args.spans), "--logs", str(args.logs), "--points", str(args.points),
             "--child-fill", str(data_dir), str(now_ns)],
            check=True,
        )  # fmt: skip
        print(f"filled in {time.perf_counter() - started:.0f} s")
        filled_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ns / 1e9))
        stamp.write_text(json.dumps({"sizes": sizes, "now_ns": now_ns, "filled_at": filled_at}))
    shots = data_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    ports = {name: free_port() for name in ("GRPC", "HTTP", "QUERY", "WEB")}
    env = dict(
        os.environ,
        VIGIL_DATA_DIR=str(data_dir),
        VIGIL_OTLP_GRPC_PORT=str(ports["GRPC"]),
        VIGIL_OTLP_HTTP_PORT=str(ports["HTTP"]),
        VIGIL_QUERY_PORT=str(ports["QUERY"]),
        VIGIL_WEB_PORT=str(ports["WEB"]),
        VIGIL_LOG_LEVEL="WARNING",
        VIGIL_DECODE_WORKERS="1",
        VIGIL_DRIFT_INTERVAL_S="0",
    )
    server = subprocess.Popen([sys.executable, "-m", "vigil_server.cli", "serve"], env=env)
    try:
        wait_ready(ports["HTTP"], timeout_s=300)
        load_before = list(os.getloadavg())
        day = (now_ns - DAY_NS, now_ns + 60 * 10**9)
        with QueryClient(f"127.0.0.1:{ports['QUERY']}") as client:
            overview = timed(lambda: client.overview(group_by="model", start=day[0], end=day[1]), args.calls)
            answer = client.overview(group_by="model", start=day[0], end=day[1])
            by_user = timed(lambda: client.overview(group_by="user", start=day[0], end=day[1]), args.calls)
            # A zoom: three hours in the middle of the day, minute steps.
            zoom = (now_ns - 13 * 3600 * 10**9 + 7 * 60 * 10**9, now_ns - 10 * 3600 * 10**9)
            zoomed = timed(lambda: client.overview(group_by="model", start=zoom[0], end=zoom[1]), args.calls)
            assert answer.requests.requests == args.spans // 8, answer.requests
            logs = timed(
                lambda: client.search_logs(min_severity=13, start=day[0], end=day[1], page_size=100),
                args.calls,
            )
            metric = timed(
                lambda: client.query_metrics("bench.tokens", "increase", group_by=["model"], start=day[0],
                                             end=day[0] + DAY_NS, step_s=60),
                args.calls,
            )  # fmt: skip
            gauge = timed(
                lambda: client.query_metrics("bench.queue", "avg", group_by=["model"], start=day[0],
                                             end=day[0] + DAY_NS, step_s=60),
                args.calls,
            )  # fmt: skip
            series = client.query_metrics("bench.tokens", "increase", group_by=["model"], start=day[0],
                                          end=day[0] + DAY_NS, step_s=60).series  # fmt: skip
        points = [len(s.points) for s in series]
        print(f"GetOverview, 24 h by model ({answer.requests.requests:,} requests, {answer.usage.total.calls:,} LLM calls):"
              f" {summary(overview)}")  # fmt: skip
        print(f"GetOverview, 24 h by user: {summary(by_user)}")
        print(f"GetOverview, 3 h by model (minute steps): {summary(zoomed)}")
        print(f"SearchLogs first page (24 h, WARN+): {summary(logs)}")
        print(f"QueryMetrics increase by model, 24 h at 1 min ({len(series)} series, {min(points)}-{max(points)} points):"
              f" {summary(metric)}")  # fmt: skip
        print(
            f"QueryMetrics avg by model of a gauge of 10 series x 1,440 points, 24 h at 1 min: {summary(gauge)}"
        )
        web = f"http://127.0.0.1:{ports['WEB']}"
        # The fill's day as an absolute range: a reused fill's "now" is in the past.
        window = {"from": (now_ns - DAY_NS) // 10**6, "to": now_ns // 10**6}
        page = browse(web, "/?" + urlencode({"group": "model", **window}), 6, shots)
        chart = browse(
            web,
            "/metrics?"
            + urlencode({"metric": "bench.tokens", "agg": "increase", "split": "model", **window}),
            1,
            shots,
        )
    finally:
        server.terminate()
        server.wait(30)
    print(f"browser: overview drawn in {page['drawn_ms']} ms (longest frame while hovering and scrolling"
          f" {page['longest_frame_ms']} ms; a zoom redrawn in {page['zoom_ms']} ms);"
          f" metric chart drawn in {chart['drawn_ms']} ms (longest frame {chart['longest_frame_ms']} ms,"
          f" zoom {chart['zoom_ms']} ms); screenshots in {shots}")  # fmt: skip
    result = {
        "bench": "explore",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sizes": sizes,
        "metric_points": sum(points),
        "load_average_before_after": [load_before, list(os.getloadavg())],
        "cpus": os.cpu_count(),
        "get_overview_24h_by_model": stats(overview),
        "get_overview_24h_by_user": stats(by_user),
        "get_overview_3h_by_model": stats(zoomed),
        "search_logs_first_page": stats(logs),
        "query_metrics_increase_by_model": stats(metric),
        "query_metrics_gauge_avg_10x1440": stats(gauge),
        "overview_page": page,
        "metric_chart_page": chart,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"explore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results in {out}")
    print(
        f"RESULT overview_p50_ms={statistics.median(overview):.0f} overview_user_p50_ms={statistics.median(by_user):.0f}"
        f" overview_3h_p50_ms={statistics.median(zoomed):.0f} logs_p50_ms={statistics.median(logs):.0f}"
        f" metric_p50_ms={statistics.median(metric):.0f} gauge_p50_ms={statistics.median(gauge):.0f} overview_drawn_ms={page['drawn_ms']}"
        f" metric_drawn_ms={chart['drawn_ms']} longest_frame_ms={page['longest_frame_ms']},{chart['longest_frame_ms']}"
    )


if __name__ == "__main__":
    sys.exit(main())
