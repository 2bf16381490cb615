"""The INSERT in which ClickHouse decodes OTLP/protobuf requests itself (native decode).

ClickHouse reads the request bodies (length-delimited, one row per request) with
``native_schema.proto`` as the Protobuf format schema, into one nested column, and the
SELECT flattens resource → scope → span with ARRAY JOIN and builds every ``otel_traces``
column. It must store exactly what the Python decoder (decode/spans.py) stores for the same
spans; tests/test_native_decode.py compares the two on every kind of value:

- ids as lowercase hex; kind and status code as the exporter's names;
- attribute values as ``pcommon.Value.AsString`` does (decode/anyvalue.py): strings as they
  are, integers in decimal, doubles in the shortest round-trip form with an exponent below
  1e-6 and from 1e21 on (ClickHouse's toString, plus the "+" Go writes), bytes as base64,
  arrays and key-value lists as compact JSON.

Which member of a oneof was set is read from the presence column ClickHouse fills for it
(``input_format_protobuf_oneof_presence``): an empty string and an absent value differ.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from vigil_collector.decode.native import SCHEMA_MESSAGE, Decoder, schema_path, schema_text
from vigil_collector.decode.spans import SPAN_KINDS, SPAN_SCHEMA, STATUS_CODES
from vigil_collector.write.connection import Connection, with_token
from vigil_storage import StorageUnavailable
from vigil_storage.client import INSERT_SETTINGS
from vigil_storage.errors import translate_errors

log = logging.getLogger(__name__)

# Field numbers of AnyValue's oneof members: the values of its presence column.
_STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES = range(1, 8)

_ELEMENT = (
    "Tuple(value UInt8, string_value String, bool_value Bool, int_value Int64,"
    " double_value Float64, bytes_value String)"
)
_VALUE = (
    "Tuple(value UInt8, string_value String, bool_value Bool, int_value Int64, double_value Float64,"
    f" array_value Tuple(values Array({_ELEMENT})),"
    f" kvlist_value Tuple(values Array(Tuple(key String, value {_ELEMENT}))), bytes_value String)"
)
ATTRIBUTES = f"Array(Tuple(key String, value {_VALUE}))"

# The columns ClickHouse fills from each request: the schema's fields that Vigil stores.
STRUCTURE = (
    "resource_spans Array(Tuple("
    f"resource Tuple(attributes {ATTRIBUTES}),"
    " scope_spans Array(Tuple("
    "scope Tuple(name String, version String),"
    " spans Array(Tuple("
    "trace_id String, span_id String, trace_state String, parent_span_id String, name String,"
    " kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,"
    f" attributes {ATTRIBUTES},"
    f" events Array(Tuple(time_unix_nano UInt64, name String, attributes {ATTRIBUTES})),"
    f" links Array(Tuple(trace_id String, span_id String, trace_state String, attributes {ATTRIBUTES})),"
    " status Tuple(message String, code Int32)))))))"
)


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


def _double(x: str, quote_non_finite: bool = False) -> str:
    """A Float64 as AsString writes it (see the module doc); NaN and infinities spelled out,
    in double quotes inside JSON (which has no such numbers)."""
    q = '"' if quote_non_finite else ""
    return (
        f"multiIf(isNaN({x}), '{q}NaN{q}', isInfinite({x}), if({x} > 0, '{q}Infinity{q}', '{q}-Infinity{q}'),"
        f" abs({x}) >= 1e21, replaceOne(toString({x}), 'e', 'e+'), toString({x}))"
    )


def _element_json(e: str) -> str:
    """An array or key-value-list element as JSON (what decode/anyvalue.py's to_json writes)."""
    return (
        f"multiIf({e}.value = {_STRING}, toJSONString({e}.string_value),"
        f" {e}.value = {_INT}, toString({e}.int_value),"
        f" {e}.value = {_BOOL}, if({e}.bool_value, 'true', 'false'),"
        f" {e}.value = {_DOUBLE}, {_double(f'{e}.double_value', quote_non_finite=True)},"
        f" {e}.value = {_BYTES}, concat('\"', base64Encode({e}.bytes_value), '\"'),"
        " 'null')"
    )


def _value_string(v: str) -> str:
    """An attribute value as the string stored in a Map(String, String) column (never longer
    than the length limit: requests that might need truncating are decoded in Python, see
    decode/native.py)."""
    array = f"arrayMap(el -> {_element_json('el')}, {v}.array_value.values)"
    kvlist = f"arrayMap(ekv -> concat(toJSONString(ekv.key), ':', {_element_json('ekv.value')}), {v}.kvlist_value.values)"
    # One element expression serves arrays and lists: the analysis of this SQL costs tens of
    # ms per INSERT, in proportion to its size.
    composite = (
        f"if({v}.value = {_ARRAY}, concat('[', arrayStringConcat({array}, ','), ']'),"
        f" concat('{{', arrayStringConcat({kvlist}, ','), '}}'))"
    )
    return (
        f"multiIf({v}.value = {_STRING}, {v}.string_value,"
        f" {v}.value = {_INT}, toString({v}.int_value),"
        f" {v}.value = {_BOOL}, if({v}.bool_value, 'true', 'false'),"
        f" {v}.value = {_DOUBLE}, {_double(f'{v}.double_value')},"
        f" {v}.value = {_BYTES}, base64Encode({v}.bytes_value),"
        f" {v}.value IN ({_ARRAY}, {_KVLIST}), {composite},"
        " '')"
    )


def attribute_map(attributes: str) -> str:
    return (
        f"mapFromArrays(arrayMap(kv -> kv.key, {attributes}),"
        f" arrayMap(kv -> {_value_string('kv.value')}, {attributes}))"
    )


def _names(names: tuple[str, ...], code: str) -> str:
    array = "[" + ", ".join(f"'{n}'" for n in names) + "]"
    return f"if({code} >= 0 AND {code} < {len(names)}, {array}[{code} + 1], '{names[0]}')"


def hex_id(x: str) -> str:
    return f"lower(hex({x}))"


def nanos(x: str) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({x}))"


def insert_select(table: str, source: str) -> str:
    """``INSERT INTO table … SELECT … FROM source`` where ``source`` yields STRUCTURE rows:
    ``file(path, 'Protobuf', STRUCTURE)`` (embedded engine) or ``input(STRUCTURE)`` (server)."""
    columns = ", ".join(f"`{name}`" for name in SPAN_SCHEMA.names)
    # Resource and scope columns are computed once per resource / scope, before the next ARRAY
    # JOIN repeats them for each of its spans. A span's own, its events' and its links'
    # attributes go through one map expression (a list of lists, then sliced apart): the
    # analysis of this statement costs tens of ms per INSERT, in proportion to its size.
    expressions = [
        nanos("s.start_time_unix_nano"),
        hex_id("s.trace_id"),
        hex_id("s.span_id"),
        hex_id("s.parent_span_id"),
        "s.trace_state",
        "s.name",
        _names(SPAN_KINDS, "s.kind"),
        "service",
        "resource_attributes",
        "scope_name",
        "scope_version",
        "maps[1]",
        "s.end_time_unix_nano - s.start_time_unix_nano",
        _names(STATUS_CODES, "s.status.code"),
        "s.status.message",
        f"arrayMap(ev -> {nanos('ev.time_unix_nano')}, s.events)",
        "arrayMap(ev -> ev.name, s.events)",
        "arraySlice(maps, 2, length(s.events))",
        f"arrayMap(ln -> {hex_id('ln.trace_id')}, s.links)",
        f"arrayMap(ln -> {hex_id('ln.span_id')}, s.links)",
        "arrayMap(ln -> ln.trace_state, s.links)",
        "arraySlice(maps, 2 + length(s.events), length(s.links))",
    ]
    select = ",\n    ".join(
        f"{e} AS `{name}`" for e, name in zip(expressions, SPAN_SCHEMA.names, strict=True)
    )
    return f"""INSERT INTO {table} ({columns})
SELECT
    {select}
FROM (
    SELECT resource_attributes, service, scope_name, scope_version, s,
        arrayMap(attributes -> {attribute_map("attributes")}, arrayConcat([s.attributes],
            arrayMap(ev -> ev.attributes, s.events), arrayMap(ln -> ln.attributes, s.links))) AS maps
    FROM (
        SELECT resource_attributes, service, ss.scope.name AS scope_name,
            ss.scope.version AS scope_version, ss.spans AS spans
        FROM (
            SELECT {attribute_map("rs.resource.attributes")} AS resource_attributes,
                resource_attributes['service.name'] AS service, rs.scope_spans AS scopes
            FROM {source}
            ARRAY JOIN resource_spans AS rs
        )
        ARRAY JOIN scopes AS ss
    )
    ARRAY JOIN spans AS s
)"""


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
