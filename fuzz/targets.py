"""What every input to the OTLP decoders must lead to, checked for one input at a time.

Each body either decodes or is refused with a typed ingest error (MalformedRequest,
BodyTooLarge, UnsupportedMedia) that the receivers turn into 400/413/415; anything else
raised — RecursionError, KeyError, an assertion below — is a crash, and a libFuzzer timeout
a hang. Beyond "does not crash", the decoders are checked against each other and against
what they claim:

- protobuf: when the native check says ClickHouse may decode a body itself, the Python
  decoder must decode that body to exactly as many spans, none rejected;
- every decode's Arrow IPC stream reads back with the accepted number of rows;
- gzip: what we inflate equals what Python's gzip module inflates, and never exceeds the cap.

The first byte of a fuzz input picks the target, the rest is the body (see ``run``).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import random
import zlib
from typing import Any

import pyarrow.ipc

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.metrics import unpack
from vigil_collector.decode.native import check_native
from vigil_collector.decode.pool import ArrowRecords, decode_request
from vigil_collector.errors import BodyTooLarge, MalformedRequest, UnsupportedMedia
from vigil_collector.receive.body import decode_body

# Small limits, so that inputs of a few KB reach the truncation and rejection paths.
LIMITS = DecodeLimits(max_attributes_per_span=16, max_attribute_value_length=256)
BODY_LIMIT = 64 * 1024
TARGETS = (
    "protobuf",
    "json",
    "gzip",
    "deflate",
    "encoding",
    "logs_protobuf",
    "logs_json",
    "metrics_protobuf",
    "metrics_json",
)


def _read_back(decoded: ArrowRecords) -> None:
    rows = pyarrow.ipc.open_stream(decoded.ipc).read_all().num_rows
    assert rows == decoded.accepted, f"IPC holds {rows} rows for {decoded.accepted} accepted spans"
    assert decoded.accepted >= 0 and decoded.rejected >= 0


def check_protobuf(body: bytes) -> None:
    native = check_native(body, LIMITS.max_attributes_per_span, LIMITS.max_attribute_value_length)
    try:
        decoded = decode_request(body, False, LIMITS, native=False)
    except MalformedRequest:
        assert native is None, "the native check accepted a body the protobuf parser refuses"
        return
    assert isinstance(decoded, ArrowRecords)
    _read_back(decoded)
    if native is not None:
        assert (decoded.accepted, decoded.rejected) == (native, 0), (
            f"native check counted {native} valid spans, the Python decoder {decoded.accepted} "
            f"accepted and {decoded.rejected} rejected"
        )


def check_json(body: bytes) -> None:
    try:
        decoded = decode_request(body, True, LIMITS, native=True)
    except MalformedRequest:
        return
    assert isinstance(decoded, ArrowRecords)
    _read_back(decoded)


def check_logs(body: bytes, is_json: bool) -> None:
    try:
        decoded = decode_request(body, is_json, LIMITS, native=False, signal="logs")
    except MalformedRequest:
        return
    assert isinstance(decoded, ArrowRecords)
    _read_back(decoded)


def check_metrics(body: bytes, is_json: bool) -> None:
    try:
        decoded = decode_request(body, is_json, LIMITS, native=False, signal="metrics")
    except MalformedRequest:
        return
    assert isinstance(decoded, ArrowRecords)
    rows = sum(table.num_rows for _, table in unpack(decoded.ipc))
    assert rows == decoded.accepted, f"{rows} rows for {decoded.accepted} accepted data points"


def check_compressed(body: bytes, encoding: str) -> None:
    try:
        inflated = decode_body(body, encoding, BODY_LIMIT)
    except (MalformedRequest, BodyTooLarge):
        return
    assert len(inflated) <= BODY_LIMIT
    if encoding == "gzip":
        assert inflated == gzip.decompress(body)
    else:
        assert inflated.startswith(zlib.decompressobj().decompress(body, BODY_LIMIT + 1))
    check_protobuf(inflated)


def check_encoding(body: bytes) -> None:
    """Content-Encoding header values: one of ours, or refused as unsupported."""
    header, _, payload = body.partition(b"\n")
    with contextlib.suppress(MalformedRequest, BodyTooLarge, UnsupportedMedia):
        decode_body(payload, header.decode("latin-1"), BODY_LIMIT)


def run(data: bytes) -> None:
    """One fuzz input: its first byte picks the target."""
    if not data:
        return
    target, body = TARGETS[data[0] % len(TARGETS)], data[1:]
    if target == "protobuf":
        check_protobuf(body)
    elif target == "json":
        check_json(body)
    elif target in ("gzip", "deflate"):
        check_compressed(body, target)
    elif target.startswith("logs_"):
        check_logs(body, target == "logs_json")
    elif target.startswith("metrics_"):
        check_metrics(body, target == "metrics_json")
    else:
        check_encoding(body)


def seeds() -> list[bytes]:
    """Valid inputs of every target for the fuzzer to start from: a reference request as
    protobuf, JSON, gzip and deflate, and one span with nested attribute values."""
    from google.protobuf import json_format
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from reference_payload import build_request  # bench/, on the path of tests and fuzz/run.py

    request = build_request(random.Random(7))
    del request.resource_spans[0].scope_spans[0].spans[4:]
    span = request.resource_spans[0].scope_spans[0].spans[0]
    nested = AnyValue()
    inner = AnyValue()
    inner.array_value.values.append(AnyValue(int_value=1))
    nested.kvlist_value.values.append(KeyValue(key="k", value=inner))
    span.attributes.append(KeyValue(key="nested", value=nested))
    proto = request.SerializeToString()
    document = json_format.MessageToDict(request)
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()  # OTLP/JSON ids are hex
    as_json = json.dumps(document).encode()
    index = {name: bytes([i]) for i, name in enumerate(TARGETS)}
    return [
        index["protobuf"] + proto,
        index["json"] + as_json,
        index["gzip"] + gzip.compress(proto),
        index["deflate"] + zlib.compress(proto),
        index["encoding"] + b"gzip\n" + gzip.compress(b"x"),
        index["logs_protobuf"] + _logs_request().SerializeToString(),
        index["logs_json"] + json.dumps(_logs_json(_logs_request())).encode(),
        index["metrics_protobuf"] + _metrics_request().SerializeToString(),
        index["metrics_json"] + json.dumps(json_format.MessageToDict(_metrics_request())).encode(),
    ]


def _metrics_request() -> Any:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    from reference_payload import kv

    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "fuzz"))
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add(name="g").gauge.data_points.add(time_unix_nano=2, as_double=1.5)
    gauge.exemplars.add(time_unix_nano=2, as_int=3, span_id=b"\x02" * 8)
    total = sm.metrics.add(name="s").sum
    total.aggregation_temporality, total.is_monotonic = 2, True
    total.data_points.add(time_unix_nano=2, as_int=4).attributes.append(kv("k", "v"))
    hist = sm.metrics.add(name="h").histogram.data_points.add(time_unix_nano=2, count=2, sum=3.0)
    hist.bucket_counts.extend([1, 1])
    hist.explicit_bounds.append(1.0)
    exp = sm.metrics.add(name="e").exponential_histogram.data_points.add(time_unix_nano=2, count=1, scale=3)
    exp.positive.bucket_counts.append(1)
    sm.metrics.add(name="q").summary.data_points.add(time_unix_nano=2, count=1).quantile_values.add(
        quantile=0.5
    )
    return request


def _logs_request() -> Any:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from reference_payload import kv

    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "fuzz"))
    record = rl.scope_logs.add().log_records.add(time_unix_nano=1, severity_number=9, severity_text="INFO")
    record.body.kvlist_value.values.append(kv("k", "v"))
    record.trace_id, record.span_id = b"\x01" * 16, b"\x02" * 8
    record.attributes.append(kv("n", 3))
    return request


def _logs_json(request: Any) -> dict:
    from google.protobuf import json_format

    document = json_format.MessageToDict(request)
    for rl in document["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                for key in ("traceId", "spanId"):
                    r[key] = base64.b64decode(r[key]).hex()
    return document
