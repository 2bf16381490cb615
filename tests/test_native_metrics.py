"""Native decode of metrics (ClickHouse decodes ExportMetricsServiceRequest itself) stores
exactly what the Python decoder stores, for all five point types, and a request goes to
ClickHouse only when the Python check allows it.

The equivalence test writes the same requests through both paths of the real writer into two
databases of the real embedded ClickHouse and compares every column of every row.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from test_native_decode import EDGE_DOUBLES, random_attributes

from vigil_collector.decode import DecodeLimits
from vigil_collector.decode.metrics import TABLES
from vigil_collector.decode.native import check_native_metrics
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.metrics import MetricsWriter

from support import RunningApp, scratch_databases

BASE_NS = 1_700_000_000 * 10**9


def _exemplars(rng: random.Random, point: object, clock: list[int]) -> None:
    for _ in range(rng.randrange(0, 3)):
        e = point.exemplars.add(  # type: ignore[attr-defined]
            time_unix_nano=BASE_NS + rng.randrange(10**9),
            filtered_attributes=random_attributes(rng, rng.randrange(0, 3)),
            span_id=rng.choice([b"", rng.randbytes(8)]),
            trace_id=rng.choice([b"", rng.randbytes(16)]),
        )
        if rng.random() < 0.5:
            e.as_int = rng.choice([0, -5, 2**53 + 1, rng.randrange(-(10**9), 10**9)])
        elif rng.random() < 0.8:
            e.as_double = rng.choice([*EDGE_DOUBLES[:-3], rng.uniform(-1e6, 1e6)])


def random_request(rng: random.Random, points: int, clock: list[int]) -> ExportMetricsServiceRequest:
    """Every point type, int and double values, exemplars with and without ids, optional
    sum/min/max set (zero included) or not, random attribute values, schema URLs, scope
    attributes; each point a distinct time (the rows' order in the comparison)."""
    request = ExportMetricsServiceRequest()
    for r in range(2):
        rm = request.resource_metrics.add(
            schema_url=rng.choice(["", "https://opentelemetry.io/schemas/1.27.0"])
        )
        rm.resource.attributes.extend(random_attributes(rng, 3))
        if r == 0:
            rm.resource.attributes.append(
                KeyValue(key="service.name", value=AnyValue(string_value="native-m"))
            )
        for s in range(2):
            sm = rm.scope_metrics.add(schema_url=rng.choice(["", "s"]))
            sm.scope.name, sm.scope.version = f"scope-{s}", rng.choice(["", "1.0"])
            sm.scope.attributes.extend(random_attributes(rng, rng.randrange(0, 3)))
            sm.scope.dropped_attributes_count = rng.randrange(0, 3)
            sm.metrics.add(name="no-data")  # no point type at all: nothing stored
            for kind in TABLES:
                metric = sm.metrics.add(
                    name=f"m.{kind}", description=rng.choice(["", "desc"]), unit=rng.choice(["", "ms"])
                )
                data = getattr(metric, kind)
                if kind in ("sum", "histogram", "exponential_histogram"):
                    data.aggregation_temporality = rng.randrange(0, 3)
                if kind == "sum":
                    data.is_monotonic = rng.random() < 0.5
                for _ in range(points):
                    clock[0] += 1
                    p = data.data_points.add(
                        start_time_unix_nano=rng.choice([0, BASE_NS]),
                        time_unix_nano=BASE_NS + clock[0],
                        attributes=random_attributes(rng, rng.randrange(0, 4)),
                        flags=rng.choice([0, 1]),
                    )
                    if kind in ("gauge", "sum"):
                        if rng.random() < 0.5:
                            p.as_int = rng.choice([0, -1, 2**63 - 1, rng.randrange(-(10**12), 10**12)])
                        elif rng.random() < 0.9:
                            p.as_double = rng.choice([*EDGE_DOUBLES, rng.uniform(-1e9, 1e9)])
                    elif kind == "summary":
                        p.count, p.sum = rng.randrange(10**6), rng.choice([0.0, rng.uniform(0, 1e6)])
                        for q in (0.0, 0.5, 0.99, 1.0)[: rng.randrange(0, 5)]:
                            p.quantile_values.add(quantile=q, value=rng.uniform(0, 100))
                    else:
                        p.count = rng.randrange(10**6)
                        for field in ("sum", "min", "max"):
                            if rng.random() < 0.7:
                                setattr(p, field, rng.choice([0.0, -0.0, rng.uniform(-1e3, 1e3)]))
                        if kind == "histogram":
                            n = rng.randrange(0, 5)
                            p.explicit_bounds.extend(sorted(rng.uniform(0, 100) for _ in range(n)))
                            p.bucket_counts.extend(rng.randrange(100) for _ in range(n + 1 if n else 0))
                        else:
                            p.scale, p.zero_count = rng.randrange(-10, 20), rng.randrange(5)
                            p.zero_threshold = rng.choice([0.0, 1e-9])
                            p.positive.offset = rng.randrange(-50, 50)
                            p.positive.bucket_counts.extend(
                                rng.randrange(100) for _ in range(rng.randrange(0, 6))
                            )
                            if rng.random() < 0.5:
                                p.negative.offset = rng.randrange(-50, 50)
                                p.negative.bucket_counts.extend(
                                    rng.randrange(9) for _ in range(rng.randrange(1, 4))
                                )
                    if kind != "summary":
                        _exemplars(rng, p, clock)
    return request


@pytest.fixture(scope="module")
def databases(app: RunningApp, ch: Client) -> Iterator[tuple[str, str]]:
    with scratch_databases(ch, "native_metrics_clickhouse", "native_metrics_python") as names:
        yield names


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN and -0.0 told apart from 0.0 (what is stored, bit for bit)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a.items()) == list(b.items())
    return a == b


def test_clickhouse_stores_what_python_stores(
    app: RunningApp, ch: Client, databases: tuple[str, str]
) -> None:
    rng = random.Random(20261201)
    clock = [0]
    bodies = [random_request(rng, 6, clock).SerializeToString() for _ in range(6)]
    checks = [check_native_metrics(b, DecodeLimits().max_attribute_value_length) for b in bodies]
    # Canonical encodings of valid points: every one may go to ClickHouse, all five types.
    assert all(c is not None and c.items == 2 * 2 * 5 * 6 and c.header == bytes([0b11111]) for c in checks)
    payloads = [c.header + b for c, b in zip(checks, bodies, strict=True)]  # type: ignore[union-attr]

    native_db, python_db = databases
    for database, min_points, decoder in ((native_db, 0, "clickhouse"), (python_db, 10**9, "python")):
        writer = MetricsWriter(
            app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60, native_min_points=min_points
        )
        try:
            assert writer.write(RecordKind.METRICS_OTLP, payloads, 720, "", database) == decoder
        finally:
            writer.close()

    for table in TABLES:
        order = "ORDER BY TimeUnix"
        native = ch.query(f"SELECT * FROM {native_db}.otel_metrics_{table} {order}").result_rows
        python = ch.query(f"SELECT * FROM {python_db}.otel_metrics_{table} {order}").result_rows
        assert len(native) == len(python) == 6 * 2 * 2 * 6, table
        columns = ch.query(f"SELECT * FROM {native_db}.otel_metrics_{table} LIMIT 0").column_names
        for n, p in zip(native, python, strict=True):
            for name, a, b in zip(columns, n, p, strict=True):
                assert _same(a, b), f"{table}.{name} differs: clickhouse {a!r} vs python {b!r}"
    # The data had what the comparison is about.
    filled = {
        "gauge": "countIf(length(`Exemplars.TraceId`) > 0 AND `Exemplars.TraceId`[1] != '')",
        "sum": "countIf(Value != round(Value)) + countIf(IsMonotonic)",
        "histogram": "countIf(Min != 0) + countIf(length(BucketCounts) > 0)",
        "exponential_histogram": "countIf(length(NegativeBucketCounts) > 0)",
        "summary": "countIf(length(`ValueAtQuantiles.Value`) > 0) + countIf(ScopeAttributes != map())",
    }
    for table, what in filled.items():
        assert ch.query(f"SELECT {what} FROM {native_db}.otel_metrics_{table}").result_rows[0][0] > 0, table


def test_only_requests_clickhouse_can_take_go_native() -> None:
    limits = DecodeLimits(max_attribute_value_length=60_000)

    def check(request: ExportMetricsServiceRequest) -> object:
        return check_native_metrics(request.SerializeToString(), limits.max_attribute_value_length)

    def one(kind: str = "gauge") -> tuple[ExportMetricsServiceRequest, object]:
        request = ExportMetricsServiceRequest()
        metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="x")
        point = getattr(metric, kind).data_points.add(time_unix_nano=BASE_NS)
        return request, point

    request, _ = one("histogram")
    assert check(request).header == bytes([0b100])  # type: ignore[attr-defined]
    request, point = one()
    point.time_unix_nano = 2**63  # past what DateTime64(9) holds
    assert check(request) is None
    request, point = one()
    point.exemplars.add(span_id=b"\x01" * 7)
    assert check(request) is None
    request, point = one()
    point.attributes.add(key="big", value=AnyValue(string_value="x" * 20_000))  # might need truncating
    assert check(request) is None
    request, point = one()
    point.attributes.add(key="deep").value.array_value.values.add().array_value.values.add(int_value=1)
    assert check(request) is None  # nested deeper than the schema's two levels
    assert check_native_metrics(b"\xff\xff", 1000) is None


def test_native_metrics_reach_storage_through_the_receivers(app: RunningApp, ch: Client) -> None:
    """The app's own path: the decode check in the pipeline, the log record, the writer."""
    import grpc

    rng = random.Random(3)
    request = random_request(rng, 2, [10**6])
    for rm in request.resource_metrics:
        for kv in rm.resource.attributes:
            if kv.key == "service.name":
                kv.value.string_value = "native-m-e2e"
    with grpc.insecure_channel(app.grpc_target) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", request_serializer=None
        )
        export(request.SerializeToString(), timeout=30)
    app.flush()
    counts = {
        t: ch.query(
            f"SELECT count() FROM otel.otel_metrics_{t} WHERE ServiceName = 'native-m-e2e'"
        ).result_rows[0][0]
        for t in TABLES
    }
    assert counts == dict.fromkeys(TABLES, 2 * 2)  # one resource names the service: 2 scopes x 2 points
