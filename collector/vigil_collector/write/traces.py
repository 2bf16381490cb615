"""The writer of spans into ``otel_traces``: Arrow tables decoded in Python, or protobuf
bodies that ClickHouse decodes itself (native_traces.py, run by native_insert.py), Python taking over where that is
cheaper or the server cannot."""

from __future__ import annotations

import pyarrow as pa

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.native import SCHEMA_MESSAGE, Decoder
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import decode_spans
from vigil_collector.wal.records import RecordKind
from vigil_collector.write import recovery
from vigil_collector.write.connection import Connection, insert_arrow, qualified, read_ipc
from vigil_collector.write.native_insert import NativeInsert, Statement
from vigil_collector.write.native_traces import STRUCTURE, insert_select

TABLE = "otel_traces"


class TracesWriter:
    """A connection, the native insert (Arrow as its fallback), the spans' recovery key."""

    kinds = frozenset({RecordKind.TRACES_OTLP, RecordKind.TRACES_ARROW})
    items = "spans"

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout_s: float,
        insert_timeout_s: float,
        limits: DecodeLimits | None = None,
        native_min_spans: int = 0,
    ) -> None:
        self.connection = Connection(
            dsn, connect_timeout_s=connect_timeout_s, insert_timeout_s=insert_timeout_s
        )
        self.native = NativeInsert(dsn, SCHEMA_MESSAGE, native_min_spans)
        self._limits = limits or DecodeLimits()

    def write(
        self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str
    ) -> Decoder:
        """Insert WAL records of our kinds into ``database`` (the batcher's entry point)."""
        if kind == RecordKind.TRACES_OTLP:
            return self.write_native(payloads, items, database, token)
        self.write_arrow(read_ipc(payloads), database, token)
        return "python"

    def write_native(self, bodies: list[bytes], spans: int, database: str, token: str = "") -> Decoder:
        """Insert the ``spans`` of these OTLP/protobuf bodies in one INSERT (NativeInsert says
        who decodes them)."""
        target = qualified(database, TABLE)
        return self.native.insert(
            self.connection,
            bodies,
            spans,
            lambda: [Statement(STRUCTURE, lambda source: insert_select(target, source), token)],
            lambda: self.write_arrow(self._decode_in_python(bodies), database, token),
            f"inserting the spans of {len(bodies)} requests",
        )

    def write_arrow(self, table: pa.Table, database: str, token: str = "") -> None:
        insert_arrow(self.connection, table, qualified(database, TABLE), token, self.items)

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the spans of these payloads that ``database`` lacks (see batch/failures.py's
        RecoveringWriter: a batch written again after a crash may have been dropped as a
        duplicate of an INSERT that never committed), by their ids."""
        table = self._decode_in_python(payloads) if kind == RecordKind.TRACES_OTLP else read_ipc(payloads)
        return recovery.recover_rows(
            self.connection, table, database, token, TABLE, recovery.TRACES, self.items
        )

    def close(self) -> None:
        self.connection.close()

    def _decode_in_python(self, bodies: list[bytes]) -> pa.Table:
        return pa.concat_tables(decode_spans(parse_proto_traces(body), self._limits).table for body in bodies)
