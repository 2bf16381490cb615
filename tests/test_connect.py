"""The query API over the Connect protocol on the web port: curl with JSON against unary RPCs,
a server-streaming RPC in Connect's enveloped framing, errors as Connect's JSON, and the same
credentials as gRPC."""

from __future__ import annotations

import json
import struct
import subprocess
import time
import urllib.request

from clickhouse_connect.driver.client import Client

from support import RunningApp, export_otlp, make_request

QUERY = "vigil.query.v1.QueryService"


def curl_json(base: str, method: str, body: dict, headers: tuple[str, ...] = ()) -> tuple[int, dict]:
    """POST a JSON body as the README's curl examples do; (HTTP status, JSON answer)."""
    out = subprocess.run(
        ["curl", "-sS", "-w", "\\n%{http_code}", "-H", "Content-Type: application/json",
         *[a for h in headers for a in ("-H", h)], "--data", json.dumps(body), f"{base}/{method}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    text, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(text) if text.strip() else {}


def test_unary_rpcs_answer_json_from_curl(app: RunningApp) -> None:
    start = time.time_ns()
    request = make_request(5, "connect-svc", start_ns=start)
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()
    status, services = curl_json(app.web_base, f"{QUERY}/GetServices", {})
    assert status == 200 and "connect-svc" in services["services"]
    status, found = curl_json(
        app.web_base, f"{QUERY}/SearchSpans", {"filter": {"serviceName": "connect-svc"}, "pageSize": 10}
    )
    assert status == 200 and len(found["spans"]) == 5
    trace_id = found["spans"][0]["traceId"]
    status, trace = curl_json(app.web_base, f"{QUERY}/GetTrace", {"traceId": trace_id})
    assert status == 200 and trace["traceId"] == trace_id and trace["spanCount"] == 1


def test_errors_are_connect_errors_with_the_reason(app: RunningApp) -> None:
    status, error = curl_json(app.web_base, f"{QUERY}/GetTrace", {"traceId": "nope"})
    assert status == 400 and error["code"] == "invalid_argument"
    assert "trace_id must be 32 hex characters" in error["message"]
    status, error = curl_json(app.web_base, f"{QUERY}/GetTrace", {"traceId": "ab" * 16})
    assert status == 404 and error["code"] == "not_found"
    status, error = curl_json(app.web_base, f"{QUERY}/NoSuchMethod", {})
    assert status == 404


def test_server_streaming_over_http1(app: RunningApp, ch: Client) -> None:
    """StreamTrace in Connect's streaming framing: enveloped JSON messages, then end-of-stream."""
    request = make_request(1, "connect-stream")
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()
    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    body = json.dumps({"traceId": trace_id}).encode()
    call = urllib.request.Request(
        f"{app.web_base}/{QUERY}/StreamTrace",
        data=struct.pack(">BI", 0, len(body)) + body,
        headers={"Content-Type": "application/connect+json"},
    )
    with urllib.request.urlopen(call, timeout=60) as answer:
        assert answer.status == 200
        raw = answer.read()
    messages, offset = [], 0
    while offset < len(raw):
        flags, length = struct.unpack_from(">BI", raw, offset)
        messages.append((flags, json.loads(raw[offset + 5 : offset + 5 + length])))
        offset += 5 + length
    *pages, (end_flags, end) = messages
    assert end_flags & 0x02 and "error" not in end
    assert [p["spans"][0]["span"]["traceId"] for _, p in pages] == [trace_id]
