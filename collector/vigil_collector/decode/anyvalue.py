"""OTLP AnyValue → the string stored in ClickHouse Map(String, String) columns.

Follows the OTel Collector's ``pcommon.Value.AsString`` (what the contrib ClickHouse
exporter stores): strings as is, booleans ``true``/``false``, integers in decimal, doubles
like JSON numbers (ES6 ``Number.toString`` with Go's ``e+``), bytes as base64, arrays and maps
as compact JSON.

ClickHouse produces the same strings when it decodes a request itself
(write/native_values.py), and the two must agree byte for byte: where JSON leaves a choice
(how to escape a character), this module writes what ClickHouse's toJSONString writes.
"""

from __future__ import annotations

import base64
import math
import re

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_EXPONENT = re.compile(r"e([+-]?)0*(\d+)$")
# A \u00XX escape (not an escaped backslash followed by "u00XX").
_CONTROL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u00([0-9a-f]{2})")


def format_double(value: float) -> str:
    """A finite double as ES6 writes it (shortest round-trip digits; an exponent below 1e-6
    and from 1e21 on, as ``1e-7`` / ``1e+21``); NaN and infinities spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))  # shortest round-trip digits, in one of Python's layouts
    exponent = 0
    if match := _EXPONENT.search(text):
        exponent = int(match.group(1) + match.group(2))
        text = text[: match.start()]
    whole, _, fraction = text.partition(".")
    significant = (whole + fraction).lstrip("0")
    leading_zeros = len(whole) + len(fraction) - len(significant)
    # value = 0.<digits> * 10**point
    point = len(whole) - leading_zeros + exponent
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def json_string(text: str) -> str:
    """``text`` as a JSON string, escaped as ClickHouse's toJSONString escapes it."""
    out = orjson.dumps(text).decode()
    if "\\u00" in out:  # orjson writes the hex digits in lower case, ClickHouse in upper
        out = _CONTROL_ESCAPE.sub(lambda m: m.group(1) + "\\u00" + m.group(2).upper(), out)
    if "\u2028" in out or "\u2029" in out:
        out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return out


def to_json(value: AnyValue) -> str:
    """AnyValue → JSON text (the elements of arrays and maps)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return json_string(value.string_value)
    if which == "int_value":
        return str(value.int_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "double_value":
        d = value.double_value
        # JSON has no NaN/Infinity: those become strings, like the Go collector's AsRaw JSON.
        return format_double(d) if math.isfinite(d) else f'"{format_double(d)}"'
    if which == "bytes_value":
        return '"' + base64.b64encode(value.bytes_value).decode("ascii") + '"'
    if which == "array_value":
        return "[" + ",".join(to_json(v) for v in value.array_value.values) + "]"
    if which == "kvlist_value":
        # Every entry in order, duplicate keys included (nothing sent is dropped).
        entries = (json_string(kv.key) + ":" + to_json(kv.value) for kv in value.kvlist_value.values)
        return "{" + ",".join(entries) + "}"
    return "null"


def to_str(value: AnyValue, which: str | None) -> str:
    """AnyValue (whose set field is ``which``) → its stored string form."""
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return str(value.int_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "double_value":
        return format_double(value.double_value)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which is None:
        return ""
    return to_json(value)
