"""Inserts span batches into ``otel_traces``: Arrow tables (write/arrow_writer.py, which also
holds the connection and deduplication rules), or protobuf bodies that ClickHouse decodes
itself (write/native_insert.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc

from vigil_collector.decode.native import SCHEMA_MESSAGE, Decoder
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import DecodeLimits, decode_spans
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.arrow_writer import ArrowWriter
from vigil_collector.write.native_insert import STRUCTURE, NativeInserter, Statement, insert_select
from vigil_storage import StorageUnavailable
from vigil_storage.errors import translate_errors


class TraceWriter(ArrowWriter):
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
            connect_timeout_s=connect_timeout_s,
            insert_timeout_s=insert_timeout_s,
            items="spans",
        )
        self._limits = limits or DecodeLimits()
        self._native_min_spans = native_min_spans
        self._native = NativeInserter(dsn, SCHEMA_MESSAGE)

    def write(
        self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str
    ) -> Decoder:
        """Insert log records of our kinds into ``database`` (the batcher's entry point)."""
        if kind == RecordKind.TRACES_OTLP:
            return self.write_native(payloads, items, database, token)
        return super().write(kind, payloads, items, token, database)  # type: ignore[return-value]

    def write_native(self, bodies: list[bytes], spans: int, database: str, token: str = "") -> Decoder:
        """Insert the ``spans`` of these OTLP/protobuf bodies; say who decoded them.

        Normally one INSERT in which ClickHouse decodes them. But ClickHouse spends ~80 ms
        planning that INSERT whatever its size, so fewer than ``native_min_spans`` are cheaper
        decoded here (~15 µs a span); and an older ClickHouse server cannot decode them.
        """
        client = self._connected()
        try:
            if spans < self._native_min_spans or not self._native.supported(client):
                self.write_arrow(self._decode_in_python(bodies), database, token)
                return "python"
            statement = Statement(
                STRUCTURE, lambda source: insert_select(self.table(database), source), token
            )
            with translate_errors(f"inserting the spans of {len(bodies)} requests"):
                self._native.insert(client, bodies, [statement])
        except StorageUnavailable as exc:
            self._drop_if_unreachable(exc)
            raise
        return "clickhouse"

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the spans of these payloads that ``database`` lacks (see batcher's
        RecoveringWriter: a batch written again after a crash may have been dropped as a
        duplicate of an INSERT that never committed), by their ids."""
        if kind == RecordKind.TRACES_OTLP:
            table = self._decode_in_python(payloads)
        else:
            table = pa.concat_tables(pa.ipc.open_stream(p).read_all() for p in payloads)
        return self.recover_rows(
            table, database, token, "otel_traces", ("Timestamp", "TraceId", "SpanId"), narrow_by="TraceId"
        )

    def close(self) -> None:
        super().close()
        self._native.forget_server()

    def _decode_in_python(self, bodies: list[bytes]) -> pa.Table:
        return pa.concat_tables(decode_spans(parse_proto_traces(body), self._limits).table for body in bodies)
