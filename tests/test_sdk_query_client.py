"""The SDK's query client against the running query service; and the SDK stays light."""

from __future__ import annotations

import random
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime

import grpc
import pytest

import vigil
from vigil import QueryClient, QueryError

from support import REPO, RunningApp, export_otlp, make_request


def test_client_reads_what_was_sent(app: RunningApp) -> None:
    rng = random.Random(77)
    start = time.time_ns()
    request = make_request(30, "sdk-client", rng, start_ns=start)
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()
    sent = request.resource_spans[0].scope_spans[0].spans

    with QueryClient(app.query_target) as client:
        assert "sdk-client" in client.services()
        assert {op.name for op in client.operations("sdk-client")} == {"op-0", "op-1", "op-2"}
        spans = list(
            client.iter_spans(
                service="sdk-client", page_size=7, start=datetime.fromtimestamp(start // 10**9 - 1, UTC)
            )
        )
        assert sorted(s.span_id for s in spans) == sorted(s.span_id.hex() for s in sent)
        assert len(list(client.iter_spans(service="sdk-client", span_name="op-1"))) == 10
        trace = client.get_trace(sent[0].trace_id.hex())
        assert trace.spans[0].span.span_id == sent[0].span_id.hex()
        with pytest.raises(QueryError) as err:
            client.get_trace("nope")
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "32 hex characters" in err.value.message


def test_public_names() -> None:
    assert sorted(vigil.__all__) == sorted(n for n in dir(vigil) if n in vigil.__all__)
    for name in vigil.__all__:
        assert getattr(vigil, name) is not None


def test_sdk_stays_light() -> None:
    declared = tomllib.loads((REPO / "sdk" / "pyproject.toml").read_text())["project"]["dependencies"]
    heavy = ("chdb", "clickhouse", "numpy", "pyarrow")
    assert not [d for d in declared if d.lower().startswith(heavy)]
    # Provider libraries are imported only when their integration is switched on.
    modules = ("chdb", "clickhouse_connect", "numpy", "pyarrow", "openai", "anthropic")
    code = f"import sys, vigil; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_trace_larger_than_grpcs_default_message_size(app: RunningApp) -> None:
    """10,000 spans with a 600-character prompt each: ~8 MB, over gRPC's default 4 MiB."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from reference_payload import kv

    rng = random.Random(21)
    trace_id = rng.randbytes(16)
    start = time.time_ns()
    for part in range(2):
        request = make_request(0, "big-trace")
        spans = request.resource_spans[0].scope_spans[0].spans
        for i in range(5000):
            span = Span(trace_id=trace_id, span_id=rng.randbytes(8), name="step")
            span.start_time_unix_nano = start + part * 5000 + i
            span.end_time_unix_nano = span.start_time_unix_nano + 1000
            span.attributes.append(kv("gen_ai.prompt", "p" * 600))
            spans.append(span)
        export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()
    with QueryClient(app.query_target) as client:
        trace = client.get_trace(trace_id.hex())
    assert len(trace.spans) == 10_000 and trace.ByteSize() > 4 * 1024 * 1024
