"""Bad input gets a clear error with the reason, and the server keeps serving."""

from __future__ import annotations

import gzip
import json
import random
import resource
import zlib

import grpc
import pytest
from clickhouse_connect.driver.client import Client
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from support import EXPORT_METHOD, RunningApp, export_otlp, http_request, make_request

GIB = 1024**3


def grpc_export(
    app: RunningApp, body: bytes, compression: grpc.Compression | None = None
) -> ExportTraceServiceResponse:
    return export_otlp(app.grpc_target, body, compression=compression)


def http_export(app: RunningApp, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    sent = {"Content-Type": "application/x-protobuf"} | {k.replace("_", "-"): v for k, v in headers.items()}
    return http_request(f"{app.http_base}/v1/traces", body, sent)


def assert_still_serving(app: RunningApp, ch: Client) -> None:
    request = make_request(3, "still-serving", random.Random())
    trace_ids = [s.trace_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
    response = grpc_export(app, request.SerializeToString())
    assert not response.HasField("partial_success")
    app.flush()
    stored = ch.command(
        "SELECT count() FROM otel.otel_traces WHERE TraceId IN {ids:Array(String)}",
        parameters={"ids": trace_ids},
    )
    assert int(stored) == 3


MALFORMED = b"\x0a\xff\xff\xff\xff\x0f garbage that is not protobuf"


def test_malformed_protobuf_grpc(app: RunningApp, ch: Client) -> None:
    with pytest.raises(grpc.RpcError) as err:
        grpc_export(app, MALFORMED)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed OTLP protobuf" in err.value.details()
    assert_still_serving(app, ch)


def test_malformed_protobuf_http(app: RunningApp, ch: Client) -> None:
    status, headers, body = http_export(app, MALFORMED)
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    error = status_pb2.Status.FromString(body)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "malformed OTLP protobuf" in error.message
    assert_still_serving(app, ch)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed OTLP JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            "traceId is not a hex string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "startTimeUnixNano",
        ),
    ],
)
def test_bad_json_http(app: RunningApp, ch: Client, body: bytes, reason: str) -> None:
    status, _, answer = http_export(app, body, Content_Type="application/json")
    assert status == 400
    assert reason in json.loads(answer)["message"]
    assert_still_serving(app, ch)


def test_invalid_spans_are_dropped_and_reported(app: RunningApp, ch: Client) -> None:
    request = make_request(8, "partial", random.Random(5))
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"\x01" * 12
    spans[2].span_id = bytes(8)
    spans[3].end_time_unix_nano = spans[3].start_time_unix_nano - 1
    spans[4].parent_span_id = b"\x02" * 3
    spans[6].start_time_unix_nano = spans[6].end_time_unix_nano = 2**64 - 1  # fixed64, past 2262
    spans[7].events.add(time_unix_nano=2**63, name="late")
    valid = [spans[0].trace_id.hex(), spans[5].trace_id.hex()]

    response = grpc_export(app, request.SerializeToString())
    assert response.partial_success.rejected_spans == 6
    message = response.partial_success.error_message
    assert "spans[1]: trace_id must be 16 bytes, got 12" in message
    assert "spans[2]: span_id must not be all zeros" in message
    assert "spans[3]: end_time_unix_nano" in message
    assert "spans[4]: parent_span_id must be empty or 8 bytes, got 3" in message
    assert "spans[6]: end_time_unix_nano (18446744073709551615) is after the latest time" in message
    assert "and 1 more rejected spans" in message  # spans[7]: five reasons are listed at most
    app.flush()
    rows = ch.query(
        "SELECT TraceId FROM otel.otel_traces WHERE ServiceName = 'partial' ORDER BY TraceId"
    ).result_rows
    assert sorted(r[0] for r in rows) == sorted(valid)


def test_unsupported_media(app: RunningApp) -> None:
    status, _, body = http_export(app, b"x", Content_Type="text/plain")
    assert status == 415 and b"unsupported Content-Type" in body
    status, _, body = http_export(app, b"x", Content_Encoding="br")
    assert status == 415 and b"unsupported Content-Encoding" in body


def test_truncated_gzip_is_a_bad_request(app: RunningApp) -> None:
    body = gzip.compress(make_request(5, "trunc").SerializeToString())[:-20]
    status, _, answer = http_export(app, body, Content_Encoding="gzip")
    assert status == 400 and b"malformed gzip body" in answer


def test_oversized_bodies(app: RunningApp, ch: Client) -> None:
    limit = app.settings.max_body_bytes
    big = b"\x00" * (limit + 1)
    status, _, answer = http_export(app, big)
    assert status == 413 and b"exceeds the limit" in answer
    with pytest.raises(grpc.RpcError) as err:
        grpc_export(app, big)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serving(app, ch)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """~1 MB of gzip that inflates to 1 GiB: 16 identical members of 64 MiB of zeros each."""
    member = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    parts = [member.compress(chunk) for _ in range(64)]
    parts.append(member.flush())
    one = b"".join(parts)
    return one * 16


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_gzip_bomb_is_refused_without_inflating(app: RunningApp, ch: Client, gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 4 * 1024 * 1024
    before = _max_rss_bytes()
    status, _, answer = http_export(app, gzip_bomb, Content_Encoding="gzip")
    assert status == 413
    assert b"inflates to more than the limit" in answer
    # The server (this process) inflated at most the cap, never the gigabyte.
    assert _max_rss_bytes() - before < 256 * 1024 * 1024
    assert_still_serving(app, ch)


def test_gzip_bomb_over_grpc(app: RunningApp, ch: Client, gzip_bomb: bytes) -> None:
    """gRPC's own gzip decoding is capped by max_receive_message_length."""
    with grpc.insecure_channel(app.grpc_target) as channel:
        # Send pre-compressed bytes as an uncompressed message: the body is not protobuf.
        call = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as err:
            call(gzip_bomb, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    before = _max_rss_bytes()
    huge = bytes(GIB // 8)  # 128 MiB of zeros, gzip-compressed on the wire by gRPC itself
    with pytest.raises(grpc.RpcError) as err:
        grpc_export(app, huge, compression=grpc.Compression.Gzip)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    del huge
    assert _max_rss_bytes() - before < 512 * 1024 * 1024
    assert_still_serving(app, ch)
