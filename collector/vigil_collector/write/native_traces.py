"""The INSERT in which ClickHouse decodes OTLP/protobuf trace requests itself (native decode).

ClickHouse reads the request bodies (length-delimited, one row per request) with
``native_schema.proto`` as the Protobuf format schema, into one nested column, and the
SELECT flattens resource → scope → span with ARRAY JOIN and builds every ``otel_traces``
column. It must store exactly what the Python decoder (decode/spans.py) stores for the same
spans; tests/test_native_decode.py compares the two on every kind of value: ids as lowercase
hex, kind and status code as the exporter's names, attribute values as native_values.py
writes them. native_insert.py runs the statement.
"""

from __future__ import annotations

from vigil_collector.decode.spans import SPAN_KINDS, SPAN_SCHEMA, STATUS_CODES
from vigil_collector.write.native_values import ATTRIBUTES, attribute_map, hex_id, nanos

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


def _names(names: tuple[str, ...], code: str) -> str:
    array = "[" + ", ".join(f"'{n}'" for n in names) + "]"
    return f"if({code} >= 0 AND {code} < {len(names)}, {array}[{code} + 1], '{names[0]}')"


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
