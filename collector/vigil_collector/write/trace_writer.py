"""Inserts span batches into ``otel_traces``: Arrow tables (write/arrow_writer.py, which also
holds the connection and deduplication rules), or protobuf bodies that ClickHouse decodes
itself (write/native_insert.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.native import SCHEMA_MESSAGE, Decoder
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import decode_spans
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.native_insert import STRUCTURE, NativeWriter, Statement, insert_select


class TraceWriter(NativeWriter):
    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout_s: float,
        insert_timeout_s: float,
        limits: DecodeLimits | None = None,
        native_min_spans: int = 0,
    ) -> None:
        super().__init__(
            dsn,
            "otel_traces",
            frozenset({RecordKind.TRACES_OTLP, RecordKind.TRACES_ARROW}),
            message=SCHEMA_MESSAGE,
            items="spans",
            connect_timeout_s=connect_timeout_s,
            insert_timeout_s=insert_timeout_s,
            limits=limits,
            native_min_items=native_min_spans,
        )

    def write(
        self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str
    ) -> Decoder:
        """Insert log records of our kinds into ``database`` (the batcher's entry point)."""
        if kind == RecordKind.TRACES_OTLP:
            return self.write_native(payloads, items, database, token)
        return super().write(kind, payloads, items, token, database)  # type: ignore[return-value]

    def write_native(self, bodies: list[bytes], spans: int, database: str, token: str = "") -> Decoder:
        """Insert the ``spans`` of these OTLP/protobuf bodies in one INSERT (NativeWriter says
        who decodes them)."""
        return self.insert_native(
            bodies,
            spans,
            lambda: [Statement(STRUCTURE, lambda source: insert_select(self.table(database), source), token)],
            lambda: self.write_arrow(self._decode_in_python(bodies), database, token),
            f"inserting the spans of {len(bodies)} requests",
        )

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the spans of these payloads that ``database`` lacks (see batch/failures.py's
        RecoveringWriter: a batch written again after a crash may have been dropped as a
        duplicate of an INSERT that never committed), by their ids."""
        if kind == RecordKind.TRACES_OTLP:
            table = self._decode_in_python(payloads)
        else:
            table = pa.concat_tables(pa.ipc.open_stream(p).read_all() for p in payloads)
        return self.recover_rows(
            table, database, token, "otel_traces", ("Timestamp", "TraceId", "SpanId"), narrow_by="TraceId"
        )

    def _decode_in_python(self, bodies: list[bytes]) -> pa.Table:
        return pa.concat_tables(decode_spans(parse_proto_traces(body), self._limits).table for body in bodies)
