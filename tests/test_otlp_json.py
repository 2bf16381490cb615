"""OTLP/JSON over HTTP: hex ids, integer enums, lowerCamelCase, 64-bit ints as strings,
unknown fields ignored; gzip bodies; responses in JSON."""

from __future__ import annotations

import gzip
import http.client
import json
import time

from clickhouse_connect.driver.client import Client

from support import RunningApp, http_request

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def otlp_json(trace_id: str, start_ns: int) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "json-client"}},
                        {"key": "pid", "value": {"intValue": "4242"}},
                    ]
                },
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "someFutureField": {"ignored": True},
                "scopeSpans": [
                    {
                        "scope": {"name": "js-lib", "version": "0.9"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "",
                                "traceState": "k=v",
                                "name": "GET /chat",
                                "kind": 2,
                                "startTimeUnixNano": str(start_ns),
                                "endTimeUnixNano": str(start_ns + 1_500_000),
                                "attributes": [
                                    {"key": "http.status_code", "value": {"intValue": 200}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {"key": "ok", "value": {"boolValue": True}},
                                    {"key": "raw", "value": {"bytesValue": "AAEC"}},
                                    {
                                        "key": "tags",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"stringValue": "x"}, {"intValue": "7"}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "nested",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "a", "value": {"boolValue": False}}]
                                            }
                                        },
                                    },
                                    {"key": "empty", "value": {}},
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": str(start_ns + 10),
                                        "name": "evt",
                                        "attributes": [{"key": "n", "value": {"intValue": "1"}}],
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                                        "spanId": "b7ad6b7169203331",
                                        "traceState": "lk=lv",
                                        "attributes": [{"key": "why", "value": {"stringValue": "follows"}}],
                                    }
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "flags": 257,
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_json_is_stored_exactly(app: RunningApp, ch: Client) -> None:
    start = time.time_ns()
    status, headers, body = http_request(
        f"{app.http_base}/v1/traces",
        json.dumps(otlp_json(TRACE_ID, start)).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}
    app.flush()

    row = ch.query(
        "SELECT toUnixTimestamp64Nano(Timestamp), SpanId, TraceState, SpanName, SpanKind, ServiceName,"
        " ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,"
        " Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes"
        " FROM otel.otel_traces WHERE TraceId = {t:String}",
        parameters={"t": TRACE_ID},
    ).result_rows
    assert row == [
        (
            start,
            "eee19b7ec3c1b174",
            "k=v",
            "GET /chat",
            "Server",
            "json-client",
            {"service.name": "json-client", "pid": "4242"},
            "js-lib",
            "0.9",
            {
                "http.status_code": "200",
                "ratio": "0.5",
                "ok": "true",
                "raw": "AAEC",
                "tags": '["x",7]',
                "nested": '{"a":false}',
                "empty": "",
            },
            1_500_000,
            "Error",
            "boom",
            ["evt"],
            [{"n": "1"}],
            ["0af7651916cd43dd8448eb211c80319c"],
            ["b7ad6b7169203331"],
            ["lk=lv"],
            [{"why": "follows"}],
        )
    ]


def test_gzip_json_body(app: RunningApp, ch: Client) -> None:
    trace_id = "6b8efff798038103d269b633813fc60c"
    payload = gzip.compress(json.dumps(otlp_json(trace_id, time.time_ns())).encode())
    status, _, body = http_request(
        f"{app.http_base}/v1/traces",
        payload,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert status == 200, body
    app.flush()
    count = ch.command(
        "SELECT count() FROM otel.otel_traces WHERE TraceId = {t:String}", parameters={"t": trace_id}
    )
    assert int(count) == 1


def test_partial_success_in_json(app: RunningApp, ch: Client) -> None:
    trace_id = "7b8efff798038103d269b633813fc60c"
    doc = otlp_json(trace_id, time.time_ns())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = json.loads(json.dumps(spans[0]))
    bad["spanId"] = "00112233"  # 4 bytes
    spans.append(bad)
    status, _, body = http_request(
        f"{app.http_base}/v1/traces", json.dumps(doc).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "spans[1]: span_id must be 8 bytes, got 4" in answer["partialSuccess"]["errorMessage"]
    app.flush()
    count = ch.command(
        "SELECT count() FROM otel.otel_traces WHERE TraceId = {t:String}", parameters={"t": trace_id}
    )
    assert int(count) == 1


def test_chunked_body_without_content_length(app: RunningApp, ch: Client) -> None:
    """As the OpenTelemetry JS HTTP exporter sends it: Transfer-Encoding: chunked."""
    trace_id = "8b8efff798038103d269b633813fc60c"
    payload = json.dumps(otlp_json(trace_id, time.time_ns())).encode()
    conn = http.client.HTTPConnection("127.0.0.1", app.ports.otlp_http, timeout=30)
    conn.request(
        "POST",
        "/v1/traces",
        body=iter([payload[:100], payload[100:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()
    app.flush()
    count = ch.command(
        "SELECT count() FROM otel.otel_traces WHERE TraceId = {t:String}", parameters={"t": trace_id}
    )
    assert int(count) == 1
