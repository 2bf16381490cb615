"""What the GenAI columns (migration 0007) cost at ingest: the same reference spans inserted
into ``otel_traces`` with its MATERIALIZED columns and into a copy without them, alternating,
in one run on one embedded ClickHouse.

    make bench-genai-columns
    make bench-genai-columns BENCH_ARGS="--rounds 10"

The columns add no work in Python (the collector never sends them): ClickHouse computes them
from SpanAttributes during the INSERT. So the INSERT is where they cost, and this measures it
by itself — both through the Arrow path (spans the collector decoded) and through native
decode (ClickHouse reads the OTLP bytes itself, as for most requests), in batches of the
server's batch size. Then end to end: ``vigil serve`` on a fresh directory whose
``otel_traces`` has the columns and on one where they were dropped before the start, the
same reference requests from 8 clients x 8 in flight, alternating, until every span is stored.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ack_and_end_to_end, server_env, serving
from reference_payload import build_request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

COLUMNS = (
    "GenAiModel",
    "GenAiProvider",
    "GenAiInputTokens",
    "GenAiOutputTokens",
    "GenAiCacheReadTokens",
    "GenAiCacheCreationTokens",
    "SessionId",
    "UserId",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="requests of 512 reference spans")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per table")
    parser.add_argument(
        "--server-rounds", type=int, default=2, help="alternating end-to-end rounds per schema"
    )
    parser.add_argument("--drop-columns", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drop_columns:
        drop_columns(args.drop_columns)
        return

    import pyarrow as pa

    from vigil_collector.decode.limits import DecodeLimits
    from vigil_collector.decode.spans import decode_spans
    from vigil_collector.write.traces import TracesWriter
    from vigil_server.settings import VigilSettings
    from vigil_storage import apply_migrations, connect

    rng = random.Random(7)
    requests = [build_request(rng) for _ in range(args.requests)]
    arrow = pa.concat_tables([decode_spans(r, DecodeLimits()).table for r in requests])
    bodies = [r.SerializeToString() for r in requests]
    batch = VigilSettings().batch_max_cost
    per_batch = max(1, batch // 512)
    dsn = f"chdb://{tempfile.mkdtemp(prefix='vigil-genai-bench-')}/clickhouse"
    client = connect(dsn)
    for db in ("with_columns", "without_columns"):
        apply_migrations(client, db)
        for table in ("otel_traces", "otel_traces_trace_id_ts"):  # rounds repeat the same blocks
            client.command(f"ALTER TABLE {db}.{table} MODIFY SETTING non_replicated_deduplication_window = 0")
    client.command(
        "ALTER TABLE without_columns.otel_traces DROP INDEX idx_session_id, DROP INDEX idx_user_id"
    )
    client.command(
        "ALTER TABLE without_columns.otel_traces " + ", ".join(f"DROP COLUMN {c}" for c in COLUMNS)
    )
    writer = TracesWriter(dsn, connect_timeout_s=10, insert_timeout_s=300)

    def arrow_insert(db: str) -> float:
        started = time.perf_counter()
        for offset in range(0, arrow.num_rows, batch):
            writer.write_arrow(arrow.slice(offset, batch), db)
        return arrow.num_rows / (time.perf_counter() - started)

    def native(db: str) -> float:
        started = time.perf_counter()
        for i in range(0, len(bodies), per_batch):
            writer.write_native(bodies[i : i + per_batch], 512 * len(bodies[i : i + per_batch]), db)
        return len(bodies) * 512 / (time.perf_counter() - started)

    print(
        f"{arrow.num_rows:,} reference spans per round, batches of {batch:,}; {args.rounds} alternating rounds"
    )
    for path, insert in (("arrow", arrow_insert), ("native", native)):
        rates: dict[str, list[float]] = {"with_columns": [], "without_columns": []}
        for _ in range(args.rounds):
            for table in rates:
                rates[table].append(insert(table))
        with_, without = (sorted(rates[t])[len(rates[t]) // 2] for t in ("with_columns", "without_columns"))
        print(
            f"{path:6s} insert: with the columns {with_:,.0f} spans/s, without {without:,.0f} spans/s"
            f" (medians), ratio {with_ / without:.2f}"
        )
        print(f"RESULT {path}_with={with_:,.0f} {path}_without={without:,.0f} ratio={with_ / without:.2f}")
    end_to_end(bodies, args.server_rounds)


def drop_columns(work: Path) -> None:
    """A fresh data directory with today's schema minus the GenAI columns."""
    from vigil_storage import apply_migrations, connect

    client = connect(f"chdb://{work / 'clickhouse'}")
    apply_migrations(client, "otel")
    client.command("ALTER TABLE otel.otel_traces DROP INDEX idx_session_id, DROP INDEX idx_user_id")
    client.command("ALTER TABLE otel.otel_traces " + ", ".join(f"DROP COLUMN {c}" for c in COLUMNS))


def end_to_end(bodies: list[bytes], rounds: int) -> None:
    spans = len(bodies) * 512
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for columns in (True, False):
            server = server_env("vigil-genai-e2e-")
            if not columns:  # made before the start, in a child: chDB opens one directory a process
                subprocess.run([sys.executable, __file__, "--drop-columns", str(server.work)], check=True)
            with serving(server):
                _, e2e_s = ack_and_end_to_end(server, bodies, 8, 8, EXPORT)
            rates[columns].append(spans / e2e_s)
    with_, without = max(rates[True]), max(rates[False])
    print(
        f"end to end (vigil serve, 8 clients x 8 in flight, {spans:,} spans): with the columns {with_:,.0f} spans/s,"
        f" without {without:,.0f} spans/s (best of {rounds}), ratio {with_ / without:.2f}"
    )
    print(f"RESULT e2e_with={with_:,.0f} e2e_without={without:,.0f} ratio={with_ / without:.2f}")


if __name__ == "__main__":
    main()
