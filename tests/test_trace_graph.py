"""Stored parent ids are untrusted: self-parents, cycles of any length and very deep chains
give a tree (cycles broken and reported) without hanging or recursing; and a crafted A↔B
trace replayed through the server leaves it answering."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from vigil import QueryClient
from vigil.query.v1 import query_pb2
from vigil_query.replay.stale import stale_spans
from vigil_query.traces.graph import TraceGraph
from vigil_query.traces.trace import outline, page
from vigil_query.traces.tree import build_trace

from reference_payload import kv
from support import RunningApp, export_otlp, http_request


def span(span_id: int, parent: int | None, start: int) -> query_pb2.Span:
    return query_pb2.Span(
        span_id=f"{span_id:016x}",
        parent_span_id="" if parent is None else f"{parent:016x}",
        name=f"s{span_id}",
        start_time_unix_nano=start,
        duration_nano=1,
    )


def test_a_self_parent_is_a_root() -> None:
    graph = TraceGraph.build([span(1, 1, 0), span(2, 1, 1)])
    assert graph.roots == [f"{1:016x}"] and not graph.cycle_breaks
    assert [d for _, d in graph.depth_first()] == [0, 1]


def test_a_two_cycle_is_broken_at_its_earliest_span() -> None:
    a, b, c = span(1, 2, 10), span(2, 1, 20), span(3, 2, 5)  # c hangs below the cycle
    response = build_trace("t", [a, b, c])
    order = [(n.span.span_id[-1], n.depth, n.cycle) for n in response.spans]
    assert order == [("1", 0, True), ("2", 1, False), ("3", 2, False)]
    assert not response.root_span_ids


@pytest.mark.parametrize("length", [3, 1_000])
def test_a_long_cycle_shows_every_span_once(length: int) -> None:
    spans = [span(i, (i + 1) % length, i) for i in range(length)]
    graph = TraceGraph.build(spans)
    assert graph.cycle_breaks == [f"{0:016x}"]
    walked = list(graph.depth_first())
    assert len(walked) == length and len({s for s, _ in walked}) == length
    assert len(graph.ancestors(f"{1:016x}")) == length - 1


def test_a_100000_deep_chain_needs_no_recursion() -> None:
    depth = 100_000
    spans = [span(i, i - 1 if i else None, i) for i in range(depth)]
    random.Random(3).shuffle(spans)
    response = build_trace("t", spans)
    assert [n.depth for n in response.spans[:3]] == [0, 1, 2]
    assert response.spans[-1].depth == depth - 1
    stale = stale_spans(response, [f"{50_000:016x}"])
    assert len(stale) == depth - 1  # 49,999 ancestors and 49,999 descendants


def test_stale_spans_of_a_cycle_end() -> None:
    trace = build_trace("t", [span(1, 2, 10), span(2, 1, 20)])
    stale = stale_spans(trace, [f"{2:016x}"])
    assert [(s.span_name, s.relation) for s in stale] == [("s1", "ancestor")]


def test_a_crafted_cycle_replayed_through_the_server(app: RunningApp) -> None:
    """A's parent is B and B's parent is A, both with captured inputs: Replay answers, and
    /health and ingest keep answering meanwhile."""
    rng = random.Random(17)
    trace_id, a_id, b_id = rng.randbytes(16), rng.randbytes(8), rng.randbytes(8)
    now = time.time_ns()
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "cycle-svc"))
    for sid, parent, name, start in ((a_id, b_id, "A", now), (b_id, a_id, "B", now + 1000)):
        s = OtlpSpan(trace_id=trace_id, span_id=sid, parent_span_id=parent, name=name)
        s.start_time_unix_nano, s.end_time_unix_nano = start, start + 500
        s.attributes.append(kv("input.value", json.dumps({"text": name})))
        rs.scope_spans.add().spans.append(s)
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()

    health: list[int] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            health.append(http_request(f"{app.http_base}/health")[0])
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with QueryClient(app.query_target, timeout_s=10) as client:
            started = time.monotonic()
            response = client.replay(
                trace_id.hex(),
                [{"span_name": "A", "patch": [{"op": "replace", "path": "/text", "value": "changed"}]}],
            )
            assert time.monotonic() - started < 10
            assert [(s.span_name, s.relation) for s in response.stale] == [("B", "descendant")]
            trace = client.get_trace(trace_id.hex())
            assert [(n.span.name, n.depth, n.cycle) for n in trace.spans] == [("A", 0, True), ("B", 1, False)]
            summaries = client.search_traces(service="cycle-svc")
            assert [t.trace_id for t in summaries.traces] == [trace_id.hex()]
        export_otlp(app.grpc_target, request.SerializeToString())  # ingest answers too
    finally:
        stop.set()
        prober.join()
    assert health and set(health) == {200}


def test_pages_are_cut_by_bytes_and_the_stream_covers_the_trace(app: RunningApp) -> None:
    """A page stops before it would exceed its byte budget; the token and the stream carry on
    from the first span not sent, so every span arrives once however large the spans are."""
    rng = random.Random(23)
    trace_id, ids = rng.randbytes(16), [rng.randbytes(8) for _ in range(30)]
    now = time.time_ns()
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "big-spans"))
    ss = rs.scope_spans.add()
    for i, sid in enumerate(ids):
        s = OtlpSpan(trace_id=trace_id, span_id=sid, parent_span_id=ids[0] if i else b"", name=f"s{i}")
        s.start_time_unix_nano, s.end_time_unix_nano = now + i, now + i + 10
        s.attributes.append(kv("output.value", "x" * 10_000))
        ss.spans.append(s)
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()
    reader = app.app.query.reader
    located = query_pb2.GetTraceRequest(trace_id=trace_id.hex())
    trace = app.run(reader.run(lambda r: outline(r, located)))
    first, after = app.run(reader.run(lambda r: page(r, trace, 0, 30, max_bytes=45_000)))
    sizes = [n.ByteSize() for n in first.spans]
    assert len(first.spans) == after and 1 <= after < 30, sizes
    assert sum(sizes) <= 45_000 and first.next_page_token and first.span_count == 30, sizes

    seen, offset = [], 0
    while offset < trace.span_count:
        chunk, offset = app.run(reader.run(lambda r, at=offset: page(r, trace, at, 30, max_bytes=45_000)))
        seen += [n.span.span_id for n in chunk.spans]
    assert sorted(seen) == sorted(i.hex() for i in ids)
    with QueryClient(app.query_target) as client:  # and the stream at the default page size
        assert [n.span.span_id for n in client.get_trace(trace_id.hex()).spans] == seen
