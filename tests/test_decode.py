"""Decoding rules, property-checked where the input space is large."""

from __future__ import annotations

import base64
import gzip
import json
import math
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from vigil_collector.decode import DecodeLimits, decode_spans, parse_json_traces
from vigil_collector.decode.anyvalue import format_double, to_str
from vigil_collector.errors import BodyTooLarge, MalformedRequest, UnsupportedMedia
from vigil_collector.receive.body import decode_body

from support import make_request


def stored(value: AnyValue) -> str:
    return to_str(value, value.WhichOneof("value"))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_ints_are_decimal(i: int) -> None:
    assert stored(AnyValue(int_value=i)) == str(i)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_doubles_round_trip_through_their_text(d: float) -> None:
    text = stored(AnyValue(double_value=d))
    assert float(text) == d
    if d.is_integer() and abs(d) < 1e21:
        assert "." not in text and "e" not in text


def test_special_doubles() -> None:
    assert format_double(math.nan) == "NaN"
    assert format_double(math.inf) == "Infinity"
    assert format_double(-math.inf) == "-Infinity"


@given(st.text())
def test_strings_are_kept_verbatim(text: str) -> None:
    assert stored(AnyValue(string_value=text)) == text


@given(st.binary())
def test_bytes_are_base64(raw: bytes) -> None:
    assert base64.b64decode(stored(AnyValue(bytes_value=raw))) == raw


scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def to_any(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[to_any(x) for x in v]))
    assert isinstance(v, dict)
    return AnyValue(
        kvlist_value=KeyValueList(values=[KeyValue(key=k, value=to_any(x)) for k, x in v.items()])
    )


@given(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    ).filter(lambda v: isinstance(v, (list, dict)))
)
def test_arrays_and_maps_are_json(value: object) -> None:
    # Doubles are written as ES6 does (1e16 as 10000000000000000), so a JSON reader may see an
    # integer: the same number, which becomes the same double again.
    def same(parsed: object, sent: object) -> bool:
        if isinstance(sent, float):
            return isinstance(parsed, int | float) and float(parsed) == sent
        if isinstance(sent, list):
            return isinstance(parsed, list) and len(parsed) == len(sent) and all(map(same, parsed, sent))
        if isinstance(sent, dict):
            return (
                isinstance(parsed, dict)
                and parsed.keys() == sent.keys()
                and all(same(parsed[k], sent[k]) for k in sent)
            )
        return parsed == sent and type(parsed) is type(sent)

    assert same(json.loads(stored(to_any(value))), value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"), (-0.0, "-0"), (5.0, "5"), (0.5, "0.5"), (1e-7, "1e-7"), (1.5e-6, "0.0000015"),
        (1e20, "100000000000000000000"), (1e21, "1e+21"), (1.5e300, "1.5e+300"), (2.0**53, "9007199254740992"),
    ],
)  # fmt: skip
def test_doubles_are_written_as_es6_numbers(value: float, text: str) -> None:
    assert format_double(value) == text


def test_truncation_and_attribute_limits() -> None:
    request = make_request(2, "limits")
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].attributes.append(KeyValue(key="long", value=AnyValue(string_value="x" * 50)))
    for i in range(5):
        spans[1].attributes.append(KeyValue(key=f"k{i}", value=AnyValue(string_value="v")))
    decoded = decode_spans(request, DecodeLimits(max_attributes_per_span=4, max_attribute_value_length=10))
    assert decoded.accepted == 1 and decoded.rejected == 1
    assert "6 attributes exceed the limit of 4" in decoded.message
    assert "1 attribute values truncated" in decoded.message
    attrs = decoded.table.column("SpanAttributes").to_pylist()[0]
    assert dict(attrs)["long"] == "x" * 10


def test_json_ids_must_be_hex() -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}
    with pytest.raises(MalformedRequest, match=r"spans\[0\].traceId is not a hex string"):
        parse_json_traces(json.dumps(doc).encode())
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0] = {"spanId": 5}
    with pytest.raises(MalformedRequest, match="spanId must be a hex string"):
        parse_json_traces(json.dumps(doc).encode())


def test_body_encodings() -> None:
    data = b"payload" * 100
    assert decode_body(data, None, 10_000) == data
    assert decode_body(gzip.compress(data), "gzip", 10_000) == data
    assert decode_body(gzip.compress(data) + gzip.compress(data), "gzip", 10_000) == data * 2
    assert decode_body(zlib.compress(data), "deflate", 10_000) == data
    with pytest.raises(BodyTooLarge):
        decode_body(data, "identity", 10)
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(data), "gzip", len(data) - 1)
    with pytest.raises(BodyTooLarge):  # the cap holds across gzip members too
        decode_body(gzip.compress(data) * 3, "gzip", len(data) * 2)
    with pytest.raises(MalformedRequest, match="truncated"):
        decode_body(gzip.compress(data)[:-8], "gzip", 10_000)
    with pytest.raises(MalformedRequest):
        decode_body(b"not gzip at all", "gzip", 10_000)
    with pytest.raises(UnsupportedMedia):
        decode_body(data, "zstd", 10_000)
