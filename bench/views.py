"""What each materialized view on ``otel_traces`` costs an INSERT: the same block of spans
inserted into databases that differ only in their views (none, all, each one alone),
alternating, in one run on one embedded ClickHouse, at several batch sizes.

    make bench-views
    make bench-views BENCH_ARGS="--sizes 10000,50000 --rounds 9"

A view's INSERT into its rollup table writes a part of its own, so a view costs a fixed amount
per INSERT (its part) plus a little per span: the batch size the collector cuts decides most
of what the rollups cost ingest. The spans are generated in ClickHouse, deterministically (ids
from cityHash64 of the row number): 20 operations of 5 services over the last hour, four
models, a thousand sessions, 300 users.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

from vigil_storage import MIGRATIONS, apply_migrations, connect

COLUMNS = (
    "Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, "
    "ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage"
)
SPANS = """SELECT toDateTime64('2026-01-01 00:00:00', 9) + toIntervalSecond(number % 3600) AS Timestamp,
    lower(hex(cityHash64(number, 1))) || lower(hex(cityHash64(number, 2))) AS TraceId,
    lower(hex(cityHash64(number, 3))) AS SpanId, '' AS ParentSpanId, '' AS TraceState,
    concat('op-', toString(number % 20)) AS SpanName, 'Internal' AS SpanKind,
    concat('svc-', toString(number % 5)) AS ServiceName, map('service.name', 'bench') AS ResourceAttributes,
    '' AS ScopeName, '' AS ScopeVersion,
    map('gen_ai.request.model', concat('model-', toString(number % 4)), 'gen_ai.usage.input_tokens',
        toString(number % 2000), 'session.id', toString(number % 1000), 'user.id', toString(number % 300))
        AS SpanAttributes,
    toUInt64(1000000 + (number * 7919) % 5000000) AS Duration, 'Ok' AS StatusCode, '' AS StatusMessage
FROM numbers({n})"""


def views() -> list[str]:
    """The rollups' views (not the trace-id index's, which every read of a trace needs)."""
    names = re.findall(
        r"CREATE MATERIALIZED VIEW IF NOT EXISTS \$\{db\}\.(\w+)", "".join(m.sql for m in MIGRATIONS)
    )
    return sorted({n for n in names if "trace_id" not in n})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,200000", help="spans per INSERT, comma-separated")
    parser.add_argument("--rounds", type=int, default=7, help="INSERTs per database and size (median)")
    args = parser.parse_args()
    client = connect(f"chdb://{tempfile.mkdtemp(prefix='vigil-bench-views-')}")
    every = views()
    configs = {"none": set(), "all": set(every), **{f"only {v}": {v} for v in every}}
    for i, keep in enumerate(configs.values()):
        db = f"views{i}"
        client.command(f"CREATE DATABASE {db}")
        apply_migrations(client, db)
        for v in set(every) - keep:
            client.command(f"DROP VIEW {db}.{v}")
    for size in (int(s) for s in args.sizes.split(",")):
        client.command("DROP TABLE IF EXISTS spans")
        client.command("CREATE TABLE spans ENGINE = Memory AS " + SPANS.format(n=size))
        took: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.rounds):  # alternating: the machine's noise falls on every database alike
            for i, name in enumerate(configs):
                started = time.perf_counter()
                client.command(f"INSERT INTO views{i}.otel_traces ({COLUMNS}) SELECT {COLUMNS} FROM spans")
                took[name].append(time.perf_counter() - started)
        base = statistics.median(took["none"])
        print(f"\n{size:,} spans per INSERT, median of {args.rounds}")
        print(f"{'views':45s} {'INSERT ms':>10s} {'over none, ms':>14s} {'µs/span':>8s}")
        for name, times in took.items():
            m = statistics.median(times)
            print(f"{name:45s} {m * 1e3:10.1f} {(m - base) * 1e3:14.1f} {(m - base) / size * 1e6:8.2f}")


if __name__ == "__main__":
    main()
