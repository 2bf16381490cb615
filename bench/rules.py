"""Alert rules benchmark: 200 rules of mixed kinds evaluated over a day of stored telemetry.

    make bench-rules                                        # 10M spans, 1M logs, 1M points
    make bench-rules BENCH_ARGS="--spans 1000000 --logs 100000 --points 100000"

What it does:
1. fills a fresh embedded ClickHouse (this process's chDB) with reference-like spans
   (bench/query.py's generator: 8-span traces, 4 services, 4 models, over the last 24 hours),
   log records and gauge points of the same services, spread over the same day; waits for
   the merges to settle;
2. makes ``--rules`` rules in rotation over the kinds: span error rate, p95 latency by model,
   token sums, span count with an attribute filter, log count of ERROR records, a gauge above a
   threshold, a compound of a gauge and a span leaf, absence, and drift (every 20th);
3. evaluates every rule once untimed (``--warmup``), then ``--rounds`` times, as the runner
   does (its query, then the state machine and the history in the system database), timing
   each evaluation; prints p50 / p99 per rule (target p99 < 250 ms), and per kind with the
   CPU each kind takes a round;
4. the evaluator's CPU: the process CPU time of one round of all rules (ClickHouse runs in this
   process, so its threads are counted) divided by the interval (``--interval``, 30 s): the
   cores it takes on average when every rule is evaluated once per interval (target < 0.2).

Drift rules read the hourly histograms of migration 0013 for their windows' whole hours and the
minute histograms of 0015 for the whole minutes of the edge hours (the fill's INSERTs feed their
materialized views as ingest does). ``--data-dir DIR`` keeps the fill and reuses it in later runs
(rules are then evaluated as if the fill had just ended, so the day stays the last 24 h). Ingest
with these rules evaluating vs none, alternating in one run (the issue's third number):
``make bench BENCH_ARGS="--rules-compare 3"`` (bench/ingest.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import CHUNK, fill_sql

from reference_payload import MODELS, SERVICES

DAY_NS = 24 * 3600 * 10**9


def _array(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def logs_sql(offset: int, rows: int, total: int, now_ns: int) -> str:
    step = DAY_NS // max(total, 1)
    return f"""
    INSERT INTO otel.otel_logs (Timestamp, TraceId, SeverityText, SeverityNumber, ServiceName, Body, LogAttributes)
    SELECT fromUnixTimestamp64Nano(toInt64({now_ns} - number * {step})),
           lower(hex(reinterpretAsFixedString(cityHash64(number, 7)))),
           if(number % 20 = 0, 'ERROR', 'INFO'), if(number % 20 = 0, 17, 9),
           {_array(SERVICES)}[number % {len(SERVICES)} + 1],
           concat('request ', toString(number), if(number % 20 = 0, ' failed: upstream timeout', ' ok')),
           map('route', concat('/r', toString(number % 8)))
    FROM numbers({offset}, {rows})"""


def points_sql(offset: int, rows: int, total: int, now_ns: int) -> str:
    hosts = 16
    step = DAY_NS // max(total // hosts, 1)
    return f"""
    INSERT INTO otel.otel_metrics_gauge (ServiceName, ResourceAttributes, MetricName, Attributes, TimeUnix, Value)
    SELECT concat('web-', toString(number % {hosts})),
           map('service.name', concat('web-', toString(number % {hosts})), 'host.name', concat('h', toString(number % {hosts}))),
           if(intDiv(number, {hosts}) % 2 = 0, 'cpu_percent', 'memory_percent'), map(),
           fromUnixTimestamp64Nano(toInt64({now_ns} - intDiv(number, {hosts}) * {step})),
           (cityHash64(number) % 10000) / 100
    FROM numbers({offset}, {rows})"""


def fill(client: object, spans: int, logs: int, points: int, now_ns: int) -> None:
    for what, total, sql in (
        ("spans", spans, fill_sql),
        ("logs", logs, logs_sql),
        ("points", points, points_sql),
    ):
        started = time.perf_counter()
        for offset in range(0, total, CHUNK):
            client.command(sql(offset, min(CHUNK, total - offset), total, now_ns))  # type: ignore[attr-defined]
        print(f"  {total:,} {what} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    deadline, idle = time.monotonic() + 900, 0
    while idle < 3 and time.monotonic() < deadline:
        time.sleep(1)
        busy = int(client.command("SELECT count() FROM system.merges WHERE database = 'otel'"))  # type: ignore[attr-defined]
        idle = 0 if busy else idle + 1


def policies(n: int) -> list[tuple[str, dict]]:
    kinds = [
        ("error_rate", {"group_by": ["service.name"], "condition": {"type": "spans", "measure": "error_rate", "threshold": 0.05}}),
        ("p95_by_model", {"group_by": ["gen_ai.request.model"], "condition": {"type": "spans", "measure": "latency_p95", "threshold": 2000}}),
        ("tokens", {"condition": {"type": "spans", "measure": "total_tokens", "threshold": 1e6, "filter": {"model": MODELS[0]}}}),
        ("span_count", {"condition": {"type": "spans", "measure": "count", "threshold": 10, "filter": {"status": "error"}}}),
        ("log_errors", {"condition": {"type": "logs", "threshold": 5, "filter": {"severity": "ERROR", "body_contains": "timeout"}}}),
        ("gauge", {"target": "web-*", "condition": {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 80}}),
        ("compound", {"target": "web-*", "condition": {"type": "any", "conditions": [
            {"type": "metric_exceeds", "metric": "cpu_percent", "threshold": 95},
            {"type": "metric_exceeds", "metric": "memory_percent", "threshold": 95}]}}),
        ("absence", {"condition": {"type": "absence", "signal": "logs"}}),
    ]  # fmt: skip
    out = []
    for i in range(n):
        if i % 20 == 19:
            kind, body = (
                "drift",
                {"group_by": ["service.name"], "condition": {"type": "drift", "threshold": 0.1}},
            )
        else:
            kind, body = kinds[i % len(kinds)]
        out.append((kind, {"name": f"{kind}-{i}", "window": "5m", **body}))
    return out


def _cpu() -> float:
    """This process's CPU seconds (ClickHouse's threads included: chDB runs in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ms(samples: list[float], q: int) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000
        if len(samples) > 1
        else samples[0] * 1000
    )


def drift_rollup_vs_raw(client: object, rounds: int, clock: Callable[[], int]) -> None:
    """The built-in drift rules' query (duration by service and span name, the last hour against
    the 24 h before) from the hourly and minute histograms, from the hourly ones and the edge
    hours' raw spans (before migration 0015), and from raw spans alone, alternating: the ratios
    in one run, as the machine's load falls on all alike."""
    from vigil_query.drift import query as drift_sql

    now = clock()
    hour = 3600 * 10**9
    q = drift_sql.DriftQuery(
        metric=drift_sql.METRICS["duration"],
        group_by=("service.name", "span.name"),
        current=drift_sql.Window(now - hour, now),
        baseline=drift_sql.Window(now - 25 * hour, now - hour),
        bins=10,
        min_samples=100,
    )
    variants: dict[str, dict[str, bool]] = {
        "hours + minutes": {},
        "hours + raw edges": {"minutes": False},
        "raw spans": {"rollup": False},
    }
    times: dict[str, list[float]] = defaultdict(list)
    for i in range(max(rounds, 2) * 2):
        for name in list(variants)[:: 1 if i % 2 == 0 else -1]:
            sql, params = drift_sql.drift_sql(q, "`otel`", **variants[name])
            started = time.perf_counter()
            rows = client.query(sql, parameters=params).result_rows  # type: ignore[attr-defined]
            times[name].append(time.perf_counter() - started)
    print(f"drift query ({len(rows)} groups), median of {len(times['raw spans'])}, alternating: "
          + ", ".join(f"{name} {statistics.median(t) * 1000:.0f} ms" for name, t in times.items()))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument(
        "--warmup",
        type=int,
        choices=(0, 1),
        default=1,
        help="evaluate every rule once before timing (default 1)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the fill in this directory and reuse it in later runs (the sizes are those of the first run)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigil-bench-rules-") as tmp:
        run(args, args.data_dir or Path(tmp))


def run(args: argparse.Namespace, data_dir: Path) -> None:
    from vigil_alerting.rules.load import parse_rule
    from vigil_alerting.runner import Runner
    from vigil_storage import apply_migrations, connect

    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / "bench-rules-fill.json"
    if (data_dir / "clickhouse").exists() and not marker.exists():
        sys.exit(
            f"{data_dir} holds an unfinished or foreign fill (no {marker.name}): remove it or pick another"
        )
    client = connect(f"chdb://{data_dir / 'clickhouse'}")
    apply_migrations(client, "otel")  # a reused fill gets the migrations added since
    if marker.exists():
        filled = json.loads(marker.read_text())
        print(f"reusing the fill in {data_dir}: {filled['spans']:,} spans, {filled['logs']:,} logs,"
              f" {filled['points']:,} points", file=sys.stderr)  # fmt: skip
    else:
        now_ns = time.time_ns()
        print(f"filling {args.spans:,} spans, {args.logs:,} logs, {args.points:,} points", file=sys.stderr)
        fill(client, args.spans, args.logs, args.points, now_ns)
        filled = {"spans": args.spans, "logs": args.logs, "points": args.points, "now_ns": now_ns}
        if args.data_dir:
            marker.write_text(json.dumps(filled))
    # Rules evaluate as if the fill had just ended: a reused day of data stays the last 24 h.
    shift = time.time_ns() - filled["now_ns"]

    def clock() -> int:
        return time.time_ns() - shift

    rules = [(kind, parse_rule(p)) for kind, p in policies(args.rules)]
    runner = Runner(
        client,
        telemetry_database="otel",
        system_database="vigil_system",
        default_interval_s=args.interval,
    )
    runner.open()
    runner.set_rules([r for _, r in rules])
    per_kind: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    cpu_kind: dict[str, float] = defaultdict(float)
    cpu_rounds, failures = [], 0
    # One round first, not counted: the first alert saved imports the driver's insert path
    # (pandas, ~1.5 s once per process) and the first reads find cold caches; a server pays
    # that once at start, not every interval. Its slowest evaluation is printed.
    warmup = []
    for _kind, rule in rules if args.warmup else []:
        started = time.perf_counter()
        runner.evaluate_rule(rule, clock())
        warmup.append(time.perf_counter() - started)
    for _ in range(args.rounds):
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        for kind, rule in rules:
            started, cpu_started = time.perf_counter(), _cpu()
            if runner.evaluate_rule(rule, clock()) is None:
                failures += 1
            elapsed = time.perf_counter() - started
            per_kind[kind].append(elapsed)
            cpu_kind[kind] += _cpu() - cpu_started
            every.append(elapsed)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_rounds.append((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime))
    print(f"{args.rules} rules x {args.rounds} rounds over {filled['spans']:,} spans, {filled['logs']:,} logs,"
          f" {filled['points']:,} points (24 h), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f},"
          f" {failures} failed evaluations")  # fmt: skip
    if warmup:
        print(f"warm-up round (not counted): slowest evaluation {max(warmup) * 1000:.0f} ms,"
              f" round {sum(warmup):.1f} s")  # fmt: skip
    print(f"per rule: p50 {ms(every, 50):.1f} ms, p99 {ms(every, 99):.1f} ms, max {max(every) * 1000:.1f} ms"
          f" (target p99 < 250 ms)")  # fmt: skip
    for kind, samples in sorted(per_kind.items()):
        print(f"  {kind:13} p50 {ms(samples, 50):7.1f} ms  p99 {ms(samples, 99):7.1f} ms"
              f"  max {max(samples) * 1000:7.1f} ms  CPU {cpu_kind[kind] / args.rounds:5.2f} s a round"
              f"  ({len(samples)} evaluations)")  # fmt: skip
    cpu = statistics.median(cpu_rounds)
    print(f"one round: {cpu:.2f} CPU-seconds → {cpu / args.interval:.3f} cores on average at a"
          f" {args.interval:g} s interval (target < 0.2)")  # fmt: skip
    drift_rollup_vs_raw(client, args.rounds, clock)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (chDB included): {peak_mb:,.0f} MB")
    client.close()


if __name__ == "__main__":
    main()
