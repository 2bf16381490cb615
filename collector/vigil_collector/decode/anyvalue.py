"""OTLP AnyValue → the string stored in ClickHouse Map(String, String) columns.

Follows the OTel Collector's ``pcommon.Value.AsString`` (what the contrib ClickHouse
exporter stores): strings as is, booleans ``true``/``false``, integers in decimal, doubles
like JSON numbers, bytes as base64, arrays and maps as compact JSON.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def to_raw(value: AnyValue) -> Any:
    """AnyValue → a JSON-serialisable Python value (used inside arrays and maps)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        d = value.double_value
        # JSON has no NaN/Infinity: those become strings, like the Go collector's AsRaw JSON.
        return d if math.isfinite(d) else format_double(d)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which == "array_value":
        return [to_raw(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: to_raw(kv.value) for kv in value.kvlist_value.values}
    return None


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
    return orjson.dumps(to_raw(value)).decode()
