"""Inserts span batches into ``otel_traces``: Arrow tables (write/arrow_writer.py, which also
holds the connection and deduplication rules), or protobuf bodies that ClickHouse decodes
itself (write/native_insert.py)."""

from __future__ import annotations

import logging
import os
import tempfile

import pyarrow as pa
import pyarrow.ipc
from clickhouse_connect.driver.client import Client

from vigil_collector.decode.native import Decoder, schema_path, schema_text
from vigil_collector.decode.otlp_proto import parse_proto_traces
from vigil_collector.decode.spans import DecodeLimits, decode_spans
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.arrow_writer import ArrowWriter, with_token
from vigil_collector.write.native_insert import (
    STRUCTURE,
    format_settings,
    insert_select,
    length_delimited,
    sql_string,
)
from vigil_storage import StorageUnavailable
from vigil_storage.errors import translate_errors

log = logging.getLogger(__name__)

# What native decode needs of a ClickHouse server: the schema sent inline (25.6) and oneof
# presence columns (25.9).
_NATIVE_SETTINGS = ("format_schema_source", "input_format_protobuf_oneof_presence")


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
        self._embedded = dsn.startswith("chdb:")
        # The native INSERT's settings, built once: the embedded engine reads the schema from
        # our file and takes the settings inline; a server gets the schema's text.
        if self._embedded:
            self._native_settings: dict[str, str | int] = {}
            self._native_settings_clause = ", ".join(
                f"{k} = {v if isinstance(v, int) else sql_string(v)}"
                for k, v in format_settings(schema_path(), inline=False).items()
            )
        else:
            self._native_settings = format_settings(schema_text(), inline=True)
            self._native_settings_clause = ""
        self._server_native: bool | None = None  # known once connected to a server

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
            if spans < self._native_min_spans or (
                not self._embedded and not self._server_supports_native(client)
            ):
                self.write_arrow(self._decode_in_python(bodies), database, token)
                return "python"
            data = length_delimited(bodies)
            with translate_errors(f"inserting the spans of {len(bodies)} requests"):
                if self._embedded:
                    self._insert_from_file(client, data, self.table(database), token)
                else:
                    source = f"input({sql_string(STRUCTURE)})"
                    sql = insert_select(self.table(database), source)
                    settings = with_token(self._native_settings, token)
                    client.command(f"{sql}\nFORMAT Protobuf", data=data, settings=settings)
        except StorageUnavailable as exc:
            self._drop_if_unreachable(exc)
            raise
        return "clickhouse"

    def close(self) -> None:
        super().close()
        self._server_native = None

    def _insert_from_file(self, client: Client, data: bytes, table: str, token: str) -> None:
        # The embedded engine takes no request body: it reads the bytes from a file (in the
        # system's temporary directory), and the settings go inline (passed separately, the
        # client would SET and reset each of them around the call).
        with tempfile.NamedTemporaryFile(prefix="vigil-otlp-", suffix=".pb", delete=False) as f:
            f.write(data)
        try:
            source = f"file({sql_string(f.name)}, 'Protobuf', {sql_string(STRUCTURE)})"
            sql = insert_select(table, source)
            clause = self._native_settings_clause
            if token:
                clause += f", insert_deduplication_token = {sql_string(token)}"
            client.command(f"{sql}\nSETTINGS {clause}")
        finally:
            os.unlink(f.name)

    def _server_supports_native(self, client: Client) -> bool:
        if self._server_native is None:
            names = ", ".join(f"'{name}'" for name in _NATIVE_SETTINGS)
            with translate_errors("checking the server's protobuf settings"):
                found = client.command(f"SELECT count() FROM system.settings WHERE name IN ({names})")
            self._server_native = int(found) == len(_NATIVE_SETTINGS)  # type: ignore[arg-type]
            if not self._server_native:
                log.warning(
                    "this ClickHouse server lacks the settings %s (ClickHouse 25.9+): OTLP requests "
                    "are decoded in Python (slower); upgrade ClickHouse to let it decode them",
                    names,
                )
        return self._server_native

    def _decode_in_python(self, bodies: list[bytes]) -> pa.Table:
        return pa.concat_tables(decode_spans(parse_proto_traces(body), self._limits).table for body in bodies)
