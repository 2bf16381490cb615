"""Metrics ingest benchmark: OTLP/gRPC MetricsService into `vigil serve`, next to a direct
insert of the same data points into the same ClickHouse, measured in the same run.

    make bench-metrics                                   # 8 clients x 8 in flight
    make bench-metrics BENCH_ARGS="--clients 1 --inflight 1"

A reference request is what an SDK exports every interval for a service: 1,000 data points
over sums, gauges and histograms (10 buckets), each with three attributes. Two clocks, as in
bench/ingest.py: the last acknowledgement and the moment the log has nothing left for
ClickHouse. Then the same points, decoded beforehand, go straight into copies of the tables.
"""

from __future__ import annotations

import argparse
import random
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from load import ack_and_end_to_end, server_env, serving
from reference_payload import SERVICES, kv

EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
POINTS_PER_REQUEST = 1000
BOUNDS = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0]


def build_metrics(rng: random.Random, time_ns: int) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", rng.choice(SERVICES)))
    rm.resource.attributes.append(kv("host.name", f"node-{rng.randrange(40)}"))
    sm = rm.scope_metrics.add()
    sm.scope.name = "bench"
    per_metric = POINTS_PER_REQUEST // 10
    for m in range(10):
        metric = sm.metrics.add(name=f"app.metric.{m}", unit="ms" if m % 3 == 2 else "1")
        for p in range(per_metric):
            attrs = [kv("route", f"/r{p % 20}"), kv("status", str(200 + p % 3)), kv("model", f"m{p % 4}")]
            if m % 3 == 0:
                metric.sum.aggregation_temporality, metric.sum.is_monotonic = 2, True
                point = metric.sum.data_points.add(
                    start_time_unix_nano=time_ns - 10**10, time_unix_nano=time_ns
                )
                point.as_int = rng.randrange(10**6)
            elif m % 3 == 1:
                point = metric.gauge.data_points.add(time_unix_nano=time_ns, as_double=rng.random() * 100)
            else:
                metric.histogram.aggregation_temporality = 2
                point = metric.histogram.data_points.add(
                    start_time_unix_nano=time_ns - 10**10,
                    time_unix_nano=time_ns,
                    count=100,
                    sum=rng.random() * 10**4,
                )
                point.bucket_counts.extend(rng.randrange(20) for _ in range(len(BOUNDS) + 1))
                point.explicit_bounds.extend(BOUNDS)
            point.attributes.extend(attrs)
    return request


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="requests of 1,000 data points (default 1000: long enough that the last batches' drain is a small part)",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import pyarrow as pa

    from vigil_collector.decode.limits import DecodeLimits
    from vigil_collector.decode.metrics import decode_metrics
    from vigil_storage import connect

    rng = random.Random(args.seed)
    base = 1_700_000_000_000_000_000
    requests = [build_metrics(rng, base + i * 10**10) for i in range(args.requests)]
    bodies = [r.SerializeToString() for r in requests]
    points = len(bodies) * POINTS_PER_REQUEST
    print(
        f"payload: {len(bodies)} requests x {POINTS_PER_REQUEST} points, {sum(map(len, bodies)) / points:.0f} B/point"
    )

    with serving(server_env("vigil-bench-metrics-")) as server:
        ack_s, e2e_s = ack_and_end_to_end(server, bodies, args.clients, args.inflight, EXPORT)
    client = connect(f"chdb://{server.work / 'clickhouse'}")
    tables = ("sum", "gauge", "histogram")
    stored = sum(int(client.command(f"SELECT count() FROM otel.otel_metrics_{t}")) for t in tables)
    if stored != points:
        raise SystemExit(f"LOST POINTS: stored {stored} of {points}")
    decoded = [decode_metrics(r, DecodeLimits()).tables for r in requests]
    for t in tables:
        client.command(f"CREATE TABLE otel.bench_direct_{t} AS otel.otel_metrics_{t}")
        client.command(
            f"ALTER TABLE otel.bench_direct_{t} MODIFY SETTING non_replicated_deduplication_window = 0"
        )
    direct_started = time.perf_counter()
    for t in tables:
        whole = pa.concat_tables(d[t] for d in decoded)
        for offset in range(0, whole.num_rows, 50_000):
            client.insert_arrow(
                f"otel.bench_direct_{t}", whole.slice(offset, 50_000), settings={"async_insert": 0}
            )
    direct = points / (time.perf_counter() - direct_started)
    shape = f"{args.clients} clients x {args.inflight} in flight"
    print(
        f"vigil: {points} points acknowledged in {ack_s:.2f} s = {points / ack_s:,.0f}/s, all stored after "
        f"{e2e_s:.2f} s = {points / e2e_s:,.0f}/s end to end ({shape}); direct insert {direct:,.0f}/s"
    )
    print(
        f"RESULT metrics_ack={points / ack_s:,.0f} metrics_end_to_end={points / e2e_s:,.0f} direct={direct:,.0f}"
        f" end_to_end/direct={points / e2e_s / direct:.2f}"
    )


if __name__ == "__main__":
    main()
