"""The AnyValue → string SQL of the native INSERTs (traces and metrics): attribute values as
``pcommon.Value.AsString`` does (decode/anyvalue.py), which the Python decoder must match
byte for byte (tests/test_native_decode.py, tests/test_native_metrics.py):

- strings as they are, integers in decimal, doubles in the shortest round-trip form with an
  exponent below 1e-6 and from 1e21 on (ClickHouse's toString, plus the "+" Go writes), bytes
  as base64, arrays and key-value lists as compact JSON;
- ids as lowercase hex, times from unsigned nanoseconds.

Which member of a oneof was set is read from the presence column ClickHouse fills for it
(``input_format_protobuf_oneof_presence``): an empty string and an absent value differ.
"""

from __future__ import annotations

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


def hex_id(x: str) -> str:
    return f"lower(hex({x}))"


def nanos(x: str) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({x}))"
