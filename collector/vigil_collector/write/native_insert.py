"""The native INSERT mechanism: OTLP/protobuf request bodies that ClickHouse decodes itself.

ClickHouse reads the bodies (length-delimited, one row per request) with
``native_schema.proto`` as the Protobuf format schema; each signal's statements
(native_traces.py, native_metrics.py) flatten them into its tables' columns, with the value
SQL of native_values.py. Here: the bodies' framing, the format settings, running the
statements on the embedded engine or a server, and the strategy that falls back to the
Python decoders where native decode costs more or the server cannot do it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from vigil_collector.decode.native import SCHEMA_MESSAGE, Decoder, schema_path, schema_text
from vigil_collector.write.connection import Connection, with_token
from vigil_storage import StorageUnavailable
from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors

log = logging.getLogger(__name__)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def length_delimited(bodies: list[bytes]) -> bytes:
    """The bodies as ClickHouse's Protobuf format reads them: each one preceded by its length."""
    parts: list[bytes] = []
    for body in bodies:
        parts.append(_varint(len(body)))
        parts.append(body)
    return b"".join(parts)


def sql_string(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_settings(schema: str, *, inline: bool, message: str = SCHEMA_MESSAGE) -> dict[str, str | int]:
    """The INSERT's settings. ``schema`` is a path to the .proto (``inline=False``, the
    embedded engine) or its text (``inline=True``, a server, which cannot read our files);
    ``message`` the request message each row is."""
    settings: dict[str, str | int] = {
        **INSERT_SETTINGS,
        "format_schema": schema if inline else f"{schema}:{message}",
        "input_format_protobuf_oneof_presence": 1,
        # toJSONString would write "\/" (valid JSON, but not what orjson writes).
        "output_format_json_escape_forward_slashes": 0,
        # Every branch is evaluated on every row: evaluating each only on its rows (masks,
        # filtered copies of the nested columns) costs more than it saves in the value
        # conversion, 8% more instructions per INSERT (callgrind, 20,480 reference spans:
        # 3.10 G against 2.85 G). This covers all that the INSERT evaluates (this SELECT, the
        # table's MATERIALIZED columns, its views), so none of it may hold an expression that
        # throws on the rows an if/multiIf keeps it from (intDiv, throwIf, a strict cast).
        "short_circuit_function_evaluation": "disable",
    }
    if inline:
        settings["format_schema_source"] = "string"
        settings["format_schema_message_name"] = message
    return settings


# What native decode needs of a ClickHouse server: the schema sent inline (25.6) and oneof
# presence columns (25.9).
_NATIVE_SETTINGS = ("format_schema_source", "input_format_protobuf_oneof_presence")


@dataclass(frozen=True)
class Statement:
    """One INSERT … SELECT over the request rows: ``sql(source)`` reads them from ``source``,
    which yields ``structure`` (a subset of the schema's fields is enough)."""

    structure: str
    sql: Callable[[str], str]
    token: str


class NativeInserter:
    """Runs native INSERTs on one writer's DSN. The embedded engine takes no request body: it
    reads the rows from a file (in the system's temporary directory, written once for all the
    statements of a batch) and takes the settings inline. A server reads them with
    ``input()`` from the request body and gets the schema's text, if it is recent enough
    (``supported``)."""

    def __init__(self, dsn: str, message: str) -> None:
        self.embedded = dsn.startswith("chdb:")
        if self.embedded:
            self._settings: dict[str, str | int] = {}
            self._clause = ", ".join(
                f"{k} = {v if isinstance(v, int) else sql_string(v)}"
                for k, v in format_settings(schema_path(), inline=False, message=message).items()
            )
        else:
            self._settings = format_settings(schema_text(), inline=True, message=message)
            self._clause = ""
        self._server_native: bool | None = None  # known once connected to a server

    def supported(self, client: Client) -> bool:
        if self.embedded:
            return True
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

    def forget_server(self) -> None:
        """After a reconnect the server may be another one."""
        self._server_native = None

    def insert(self, client: Client, bodies: list[bytes], statements: list[Statement]) -> None:
        data = length_delimited(bodies)
        if not self.embedded:
            for st in statements:
                sql = st.sql(f"input({sql_string(st.structure)})")
                client.command(
                    f"{sql}\nFORMAT Protobuf", data=data, settings=with_token(self._settings, st.token)
                )
            return
        with tempfile.NamedTemporaryFile(prefix="vigil-otlp-", suffix=".pb", delete=False) as f:
            f.write(data)
        try:
            for st in statements:
                sql = st.sql(f"file({sql_string(f.name)}, 'Protobuf', {sql_string(st.structure)})")
                clause = self._clause
                if st.token:
                    clause += f", insert_deduplication_token = {sql_string(st.token)}"
                client.command(f"{sql}\nSETTINGS {clause}")
        finally:
            os.unlink(f.name)


class NativeInsert:
    """The insert strategy of OTLP/protobuf bodies which ClickHouse decodes itself (spans,
    metric points). Below ``native_min_items`` items, or on a ClickHouse server too old to
    decode them, the writer's ``in_python`` fallback decodes them instead: each native INSERT
    costs ~0.1 s to plan whatever its size, and Python takes ~15 µs a span."""

    def __init__(self, dsn: str, message: str, native_min_items: int) -> None:
        self._native_min_items = native_min_items
        self._inserter = NativeInserter(dsn, message)
        self._checked: Client | None = None  # the client whose server _inserter checked

    def insert(
        self,
        connection: Connection,
        bodies: list[bytes],
        items: int,
        statements: Callable[[], list[Statement]],
        in_python: Callable[[], None],
        what: str,
    ) -> Decoder:
        """Insert ``bodies`` (``items`` items) with ``statements()``, ClickHouse decoding them,
        or with ``in_python()`` where that is cheaper or the only way; say who decoded them.
        ``what`` names the INSERT in errors."""
        client = connection.client()
        if client is not self._checked:  # a new connection: the server may be another one
            self._inserter.forget_server()
            self._checked = client
        try:
            if items < self._native_min_items or not self._inserter.supported(client):
                in_python()
                return "python"
            with translate_errors(what):
                self._inserter.insert(client, bodies, statements())
        except StorageUnavailable as exc:
            connection.failed(exc)
            raise
        return "clickhouse"
