"""Native decode (ClickHouse decodes the OTLP protobuf itself) stores exactly what the Python
decoder stores, and a request goes to ClickHouse only when the Python check allows it.

The equivalence test writes the same spans through both paths of the real writer into two
databases of the real embedded ClickHouse and compares every column of every row.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator

import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from vigil_collector.decode import DecodeLimits, decode_spans
from vigil_collector.decode.native import check_native
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.traces import TracesWriter
from vigil_storage.migrate import apply_migrations

from support import RunningApp, export_otlp, make_request, scratch_databases

EDGE_DOUBLES = [
    0.0, -0.0, 0.5, -2.5, 1.0, 5.0, 1e-7, 1.5e-7, 1e-6, 1.5e-6, 0.000123, 123456.0, 1e20, 1e21,
    1.5e21, -1e21, 2.0**53, 2.0**53 + 2, 0.1 + 0.2, 1e16, 1e-300, 5e-324, 1.7976931348623157e308,
    123456789.125, math.nan, math.inf, -math.inf,
]  # fmt: skip
EDGE_STRINGS = [
    "", "plain", 'quote " and \\ backslash', "slash / here", "tab\tnew\nline\r", "\x00\x01\x0b\x1b\x1f\x7f",
    "\\u00ab looks like an escape", "é ü 中文 😀", "\u2028\u2029", "'single'", "{}[]:,",
]  # fmt: skip


def random_scalar(rng: random.Random) -> AnyValue:
    kind = rng.randrange(6)
    if kind == 0:
        return AnyValue(string_value=rng.choice(EDGE_STRINGS) + str(rng.random()))
    if kind == 1:
        return AnyValue(int_value=rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randrange(-(10**12), 10**12)]))
    if kind == 2:
        return AnyValue(bool_value=rng.random() < 0.5)
    if kind == 3:
        # Random bit patterns cover the whole range of doubles, exponents included.
        d = struct.unpack("<d", rng.randbytes(8))[0]
        return AnyValue(double_value=rng.choice([d, rng.choice(EDGE_DOUBLES), rng.uniform(-1e6, 1e6)]))
    if kind == 4:
        return AnyValue(bytes_value=rng.randbytes(rng.randrange(0, 12)))
    return AnyValue()  # no value set at all


def random_value(rng: random.Random) -> AnyValue:
    kind = rng.randrange(8)
    if kind == 6:
        return AnyValue(
            array_value=ArrayValue(values=[random_scalar(rng) for _ in range(rng.randrange(0, 4))])
        )
    if kind == 7:
        entries = [KeyValue(key=rng.choice(["k", "a/b", 'q"', *EDGE_STRINGS]), value=random_scalar(rng))]
        entries *= rng.randrange(0, 3)  # duplicate keys included
        return AnyValue(kvlist_value=KeyValueList(values=entries))
    return random_scalar(rng)


def random_attributes(rng: random.Random, n: int) -> list[KeyValue]:
    return [KeyValue(key=f"attr.{i}.{rng.choice(EDGE_STRINGS)}", value=random_value(rng)) for i in range(n)]


def random_request(rng: random.Random, spans: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for r in range(2):
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(random_attributes(rng, 3))
        if r == 0:
            rs.resource.attributes.append(
                KeyValue(key="service.name", value=AnyValue(string_value="native-eq"))
            )
        for s in range(2):
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = f"scope-{s}", rng.choice(["", "1.2.3"])
            for _ in range(spans):
                start = rng.randrange(1_700_000_000 * 10**9, 1_700_200_000 * 10**9)
                span = ss.spans.add(
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                    parent_span_id=rng.choice([b"", rng.randbytes(8)]),
                    trace_state=rng.choice(["", "vendor=1"]),
                    name=rng.choice(EDGE_STRINGS) or "op",
                    kind=rng.randrange(0, 7),  # 6 is out of range: stored as Unspecified
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + rng.randrange(0, 10**10),
                    attributes=random_attributes(rng, rng.randrange(0, 6)),
                    status=Status(code=rng.randrange(0, 4), message=rng.choice(["", "boom"])),
                )
                for _ in range(rng.randrange(0, 3)):
                    span.events.add(
                        time_unix_nano=start + 1, name="event", attributes=random_attributes(rng, 2)
                    )
                for _ in range(rng.randrange(0, 3)):
                    span.links.add(
                        trace_id=rng.randbytes(16),
                        span_id=rng.randbytes(8),
                        trace_state="t=1",
                        attributes=random_attributes(rng, 2),
                    )
    return request


@pytest.fixture(scope="module")
def databases(app: RunningApp, ch: Client) -> Iterator[tuple[str, str]]:
    with scratch_databases(ch, "native_eq_clickhouse", "native_eq_python") as names:
        yield names


def test_clickhouse_stores_what_python_stores(
    app: RunningApp, ch: Client, databases: tuple[str, str]
) -> None:
    rng = random.Random(20261123)
    requests = [random_request(rng, spans=25) for _ in range(8)]
    bodies = [r.SerializeToString() for r in requests]
    limits = DecodeLimits()
    # Canonical encodings of valid spans: every one of them may go to ClickHouse.
    assert [
        check_native(b, limits.max_attributes_per_span, limits.max_attribute_value_length) for b in bodies
    ] == [100] * 8

    native_db, python_db = databases
    for database, write in ((native_db, "native"), (python_db, "arrow")):
        writer = TracesWriter(app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60)
        try:
            if write == "native":
                assert writer.write_native(bodies, 800, database) == "clickhouse"
            else:
                writer.write_arrow(
                    pa.concat_tables(decode_spans(r, limits).table for r in requests), database
                )
        finally:
            writer.close()

    def rows(database: str) -> list[tuple]:
        return ch.query(f"SELECT * FROM {database}.otel_traces ORDER BY SpanId").result_rows

    native, python = rows(native_db), rows(python_db)
    assert len(native) == len(python) == 800
    columns = ch.query(f"SELECT * FROM {native_db}.otel_traces LIMIT 0").column_names
    for n, p in zip(native, python, strict=True):
        for name, a, b in zip(columns, n, p, strict=True):
            assert a == b, f"{name} differs for span {n[2]}: clickhouse {a!r} vs python {b!r}"
    # The lookup table that the materialized view fills agrees too.
    lookup = "SELECT TraceId, Start, End FROM {}.otel_traces_trace_id_ts ORDER BY TraceId"
    assert ch.query(lookup.format(native_db)).result_rows == ch.query(lookup.format(python_db)).result_rows


def test_only_requests_clickhouse_can_take_go_native() -> None:
    limits = DecodeLimits(max_attributes_per_span=8, max_attribute_value_length=100_000)

    def check(request: ExportTraceServiceRequest | bytes) -> int | None:
        body = request if isinstance(request, bytes) else request.SerializeToString()
        return check_native(body, limits.max_attributes_per_span, limits.max_attribute_value_length)

    good = make_request(5, "route")
    assert check(good) == 5

    bad_id = make_request(5, "route")
    bad_id.resource_spans[0].scope_spans[0].spans[2].span_id = b"\x01" * 7
    assert check(bad_id) is None  # the Python decoder names the span and the reason

    too_many = make_request(1, "route")
    too_many.resource_spans[0].scope_spans[0].spans[0].attributes.extend(
        random_attributes(random.Random(1), 9)
    )
    assert check(too_many) is None

    deep = make_request(1, "route")
    nested = AnyValue(
        array_value=ArrayValue(values=[AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)]))])
    )
    deep.resource_spans[0].scope_spans[0].spans[0].attributes.append(KeyValue(key="deep", value=nested))
    assert check(deep) is None  # deeper than the schema's two levels

    big = make_request(1, "route")
    big.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        KeyValue(key="big", value=AnyValue(string_value="x" * 100_001))
    )
    assert check(big) is None  # a value to truncate: the Python decoder reports it
    # A span of more than a sixth of the limit might hold one (JSON can take 6 characters a
    # byte); a long body of small spans cannot.
    sixth = make_request(1, "route")
    sixth.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        KeyValue(key="long", value=AnyValue(string_value="x" * 17_000))
    )
    assert check(sixth) is None
    many = make_request(2000, "route")
    assert len(many.SerializeToString()) > limits.max_attribute_value_length
    assert check(many) == 2000

    unknown_field = good.SerializeToString() + b"\xa8\x06\x01"  # field 101, varint
    assert check(unknown_field) is None
    assert check(b"\x0a\x05\x01") is None  # malformed: the Python decoder says why


def test_native_requests_reach_storage_through_the_receivers(app: RunningApp, ch: Client) -> None:
    """The session app decodes stock-exporter requests natively (the metric says so)."""
    before = app.app.metrics.decoded_spans.labels("clickhouse")._value.get()
    export_otlp(app.grpc_target, make_request(7, "native-receivers").SerializeToString())
    app.flush()
    assert app.app.metrics.decoded_spans.labels("clickhouse")._value.get() == before + 7
    assert ch.command("SELECT count() FROM otel.otel_traces WHERE ServiceName = 'native-receivers'") == 7


@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_a_batch_over_many_days_is_stored(app: RunningApp, ch: Client, decoder: str) -> None:
    """More than 100 daily partitions in one INSERT is a warning, not a refused batch (which
    would fail every client whose spans share it, at every retry)."""
    service = f"many-days-{decoder}"
    request = make_request(150, service, start_ns=1_700_000_000 * 10**9)
    for day, span in enumerate(request.resource_spans[0].scope_spans[0].spans):
        span.start_time_unix_nano += day * 86_400 * 10**9
        span.end_time_unix_nano += day * 86_400 * 10**9
    if decoder == "python":  # a value nested deeper than ClickHouse's schema takes
        nested = AnyValue(array_value=ArrayValue(values=[AnyValue(array_value=ArrayValue())]))
        request.resource_spans[0].resource.attributes.append(KeyValue(key="nested", value=nested))
    before = app.app.metrics.decoded_spans.labels(decoder)._value.get()
    response = export_otlp(app.grpc_target, request.SerializeToString())
    assert response.partial_success.rejected_spans == 0
    app.flush()
    assert app.app.metrics.decoded_spans.labels(decoder)._value.get() == before + 150
    assert ch.command(f"SELECT count() FROM otel.otel_traces WHERE ServiceName = '{service}'") == 150


def test_small_batches_are_decoded_in_python(app: RunningApp, ch: Client) -> None:
    """ClickHouse's planning of a native INSERT costs the same for 10 spans as for 10,000:
    below native_min_spans the writer decodes in Python instead, and stores the same."""
    database = "native_small_batches"
    ch.command(f"DROP DATABASE IF EXISTS {database}")
    apply_migrations(ch, database)
    bodies = [make_request(50, f"small-{i}").SerializeToString() for i in range(2)]
    writer = TracesWriter(app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60, native_min_spans=101)
    try:
        assert writer.write_native(bodies, 100, database) == "python"
        assert writer.write_native(bodies, 101, database) == "clickhouse"
    finally:
        writer.close()
    counts = ch.query(
        f"SELECT ServiceName, count() FROM {database}.otel_traces GROUP BY ServiceName ORDER BY 1"
    ).result_rows
    assert counts == [("small-0", 100), ("small-1", 100)]
    ch.command(f"DROP DATABASE {database}")


def test_a_batch_dropped_as_a_duplicate_of_an_insert_that_never_committed_is_recovered(
    app: RunningApp, ch: Client
) -> None:
    """ClickHouse records an INSERT's token just before it commits the part; a crash between
    the two leaves the token without the rows. Simulated: another INSERT took the token first.
    The batch written again is dropped as a duplicate; recover() finds its spans missing and
    inserts exactly those, once."""
    database = "recover_missing"
    ch.command(f"DROP DATABASE IF EXISTS {database}")
    apply_migrations(ch, database)
    writer = TracesWriter(app.settings.dsn, connect_timeout_s=5, insert_timeout_s=60)
    try:
        rng = random.Random(12)
        decoy = make_request(1, "recover-decoy", rng)
        writer.write_arrow(decode_spans(decoy, DecodeLimits()).table, database, "gen:0-9:1:0")
        bodies = [make_request(2000, "recover", rng).SerializeToString() for _ in range(10)]
        writer.write_native(bodies, 20_000, database, "gen:0-9:1:0")  # dropped: a "duplicate"

        def stored() -> int:
            return ch.query(
                f"SELECT count() FROM {database}.otel_traces WHERE ServiceName = 'recover'"
            ).result_rows[0][0]

        assert stored() == 0
        assert writer.recover(RecordKind.TRACES_OTLP, bodies, "gen:0-9:1:0", database) == 20_000
        assert stored() == 20_000
        assert writer.recover(RecordKind.TRACES_OTLP, bodies, "gen:0-9:1:0", database) == 0
        assert stored() == 20_000
    finally:
        writer.close()
        ch.command(f"DROP DATABASE IF EXISTS {database}")
