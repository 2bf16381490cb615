"""The writer of metric data points into the five ``otel_metrics_*`` tables (gauge, sum,
histogram, exponential_histogram, summary). A WAL record holds either a request's points
split by type (decoded in Python, decode/metrics.py) or the request's protobuf bytes, which
ClickHouse decodes itself (write/native_metrics.py). A batch becomes
one INSERT per table that has points in it, each with the batch's token and the table's
name, so a repeat after a crash is dropped table by table."""

from __future__ import annotations

import pyarrow as pa

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.metrics import TABLES, decode_metrics, unpack
from vigil_collector.decode.metrics_parse import parse_proto_metrics
from vigil_collector.decode.native import METRICS_MESSAGE, Decoder, tables_in
from vigil_collector.wal.records import RecordKind
from vigil_collector.write import recovery
from vigil_collector.write.connection import Connection, insert_arrow, qualified
from vigil_collector.write.native_insert import NativeInsert, Statement
from vigil_collector.write.native_metrics import insert_select, structure


class MetricsWriter:
    """A connection, the native insert (Arrow as its fallback), the points' recovery key:
    one INSERT per point table of a batch."""

    kinds = frozenset({RecordKind.METRICS_ARROW, RecordKind.METRICS_OTLP})
    items = "data points"

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout_s: float,
        insert_timeout_s: float,
        limits: DecodeLimits | None = None,
        native_min_points: int = 0,
    ) -> None:
        self.connection = Connection(
            dsn, connect_timeout_s=connect_timeout_s, insert_timeout_s=insert_timeout_s
        )
        self.native = NativeInsert(dsn, METRICS_MESSAGE, native_min_points)
        self._limits = limits or DecodeLimits()

    def write(
        self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str
    ) -> Decoder:
        if kind == RecordKind.METRICS_OTLP:
            return self._write_native(payloads, items, database, token)
        self._write_tables(self._split(kind, payloads), database, token)
        return "python"

    def _write_native(self, payloads: list[bytes], points: int, database: str, token: str) -> Decoder:
        """One INSERT per point type in the batch, ClickHouse decoding the bodies (or in
        Python: see NativeInsert)."""
        mask = 0
        bodies = []
        for payload in payloads:
            mask |= payload[0]
            bodies.append(payload[1:])
        return self.native.insert(
            self.connection,
            bodies,
            points,
            lambda: [
                Statement(
                    structure(name),
                    lambda source, name=name: insert_select(name, self._target(database, name), source),
                    f"{token}:{name}" if token else "",
                )
                for name in tables_in(mask)
            ],
            lambda: self._write_tables(self._split(RecordKind.METRICS_OTLP, payloads), database, token),
            f"inserting the {points} data points of {len(bodies)} requests",
        )

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the points of these payloads that ``database`` lacks (a batch written again
        after a crash, see batch/failures.RecoveringWriter), table by table."""
        parts = self._split(kind, payloads)
        return sum(
            recovery.recover_rows(
                self.connection,
                pa.concat_tables(tables),
                database,
                f"{token}:{name}" if token else "",
                f"otel_metrics_{name}",
                recovery.METRICS,
                self.items,
            )
            for name, tables in parts.items()
        )

    def close(self) -> None:
        self.connection.close()

    def _split(self, kind: RecordKind, payloads: list[bytes]) -> dict[str, list[pa.Table]]:
        """The payloads' rows by point type, decoded in Python whatever their kind."""
        parts: dict[str, list[pa.Table]] = {}
        for payload in payloads:
            if kind == RecordKind.METRICS_OTLP:
                tables = decode_metrics(parse_proto_metrics(payload[1:]), self._limits).tables.items()
            else:
                tables = unpack(payload)
            for name, table in tables:
                parts.setdefault(name, []).append(table)
        return parts

    def _write_tables(self, parts: dict[str, list[pa.Table]], database: str, token: str) -> None:
        for name in TABLES:
            if name in parts:
                tables = parts[name]
                table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
                target = qualified(database, f"otel_metrics_{name}")
                insert_arrow(self.connection, table, target, f"{token}:{name}" if token else "", self.items)

    def _target(self, database: str, name: str) -> str:
        return qualified(database, f"otel_metrics_{name}")
