"""The query service over gRPC: every filter selects exactly the right spans, paging is
stable while spans keep arriving, GetTrace builds the tree, bad input is INVALID_ARGUMENT."""

from __future__ import annotations

import random
import threading
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from vigil.query.v1 import query_pb2, query_pb2_grpc

from reference_payload import kv
from support import RunningApp, export_otlp, make_request

T0 = 1_750_000_000_000_000_000  # a fixed window, far from the other tests' spans
MS = 1_000_000


def export(app: RunningApp, request: ExportTraceServiceRequest) -> None:
    export_otlp(app.grpc_target, request.SerializeToString(), timeout=60)
    app.flush()


@pytest.fixture(scope="module")
def query(app: RunningApp) -> query_pb2_grpc.QueryServiceStub:
    channel = grpc.insecure_channel(app.query_target)
    yield query_pb2_grpc.QueryServiceStub(channel)
    channel.close()


def span(trace: int, sid: int, name: str, start_ms: int, dur_ms: int, **kw: object) -> Span:
    s = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=sid.to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=T0 + start_ms * MS,
        end_time_unix_nano=T0 + (start_ms + dur_ms) * MS,
        kind=kw.pop("kind", Span.SPAN_KIND_INTERNAL),  # type: ignore[arg-type]
    )
    if "parent" in kw:
        s.parent_span_id = int(kw.pop("parent")).to_bytes(8, "big")  # type: ignore[call-overload]
    if "error" in kw and kw.pop("error"):
        s.status.code = Status.STATUS_CODE_ERROR
    for key, value in kw.items():
        s.attributes.append(kv(key.replace("__", "."), value))
    return s


def request_of(service: str, env: str, spans: list[Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", service), kv("deployment.environment", env)])
    rs.scope_spans.add().spans.extend(spans)
    return req


# Trace 1 (svc-a, prod): agent → llm (client, error, model x) → tool; trace 2 (svc-b, dev): one llm span.
DATASET = [
    request_of(
        "qs-svc-a",
        "prod",
        [
            span(1, 11, "agent.run", 0, 900, kind=Span.SPAN_KIND_SERVER),
            span(1, 12, "chat", 100, 400, parent=11, kind=Span.SPAN_KIND_CLIENT, error=True,
                 gen_ai__request__model="x", gen_ai__usage__input_tokens=100, gen_ai__usage__output_tokens=7),
            span(1, 13, "tool.search", 550, 50, parent=11),
            span(1, 14, "late.child", 600, 10, parent=99),  # orphan: parent 99 never arrives
        ],
    ),
    request_of(
        "qs-svc-b",
        "dev",
        [span(2, 21, "chat", 2000, 1500, kind=Span.SPAN_KIND_CLIENT, gen_ai__request__model="y",
              gen_ai__usage__prompt_tokens=30)],
    ),
]  # fmt: skip
WINDOW = query_pb2.SpanFilter(start_time_min_unix_nano=T0 - MS, start_time_max_unix_nano=T0 + 10_000 * MS)


@pytest.fixture(scope="module")
def dataset(app: RunningApp) -> None:
    for req in DATASET:
        export(app, req)
    # Every span of trace 1 stored twice: the same spans in another request (an identical retry
    # would be acknowledged once, ingest.md; this one, from another exporter batch, is not).
    again = ExportTraceServiceRequest()
    again.CopyFrom(DATASET[0])
    again.resource_spans[0].scope_spans[0].scope.name = "resent"
    export(app, again)


def names(spans: object) -> list[str]:
    return sorted(s.name for s in spans)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["agent.run", "chat", "chat", "late.child", "tool.search"]),
        ({"service_name": "qs-svc-b"}, ["chat"]),
        ({"span_name": "chat"}, ["chat", "chat"]),
        ({"span_kind": "client"}, ["chat", "chat"]),
        ({"span_kind": "Server"}, ["agent.run"]),
        ({"status_code": "error"}, ["chat"]),
        ({"status_code": "Unset"}, ["agent.run", "chat", "late.child", "tool.search"]),
        ({"attributes": {"gen_ai.request.model": "y"}}, ["chat"]),
        ({"attributes": {"deployment.environment": "prod"}}, ["agent.run", "chat", "late.child", "tool.search"]),
        ({"attributes": {"deployment.environment": "prod", "gen_ai.request.model": "x"}}, ["chat"]),
        ({"attributes": {"gen_ai.request.model": "nope"}}, []),
        ({"duration_min_nano": 400 * MS}, ["agent.run", "chat", "chat"]),
        ({"duration_max_nano": 50 * MS}, ["late.child", "tool.search"]),
        ({"duration_min_nano": 50 * MS, "duration_max_nano": 400 * MS}, ["chat", "tool.search"]),
        ({"trace_id": f"{2:032x}"}, ["chat"]),
        ({"start_time_min_unix_nano": T0 + 500 * MS, "start_time_max_unix_nano": T0 + 600 * MS},
         ["late.child", "tool.search"]),
    ],
)  # fmt: skip
def test_each_filter_selects_exactly_the_right_spans(
    query: query_pb2_grpc.QueryServiceStub, dataset: None, extra: dict, expected: list[str]
) -> None:
    f = query_pb2.SpanFilter()
    f.CopyFrom(WINDOW)
    for key, value in extra.items():
        if key == "attributes":
            f.attributes.update(value)
        else:
            setattr(f, key, value)
    f.service_name = f.service_name or ""
    response = query.SearchSpans(query_pb2.SearchSpansRequest(filter=f, page_size=100))
    got = [s for s in response.spans if s.service_name.startswith("qs-svc-")]
    assert names(got) == expected
    starts = [s.start_time_unix_nano for s in response.spans]
    assert starts == sorted(starts, reverse=True)  # newest first
    assert len({(s.trace_id, s.span_id) for s in got}) == len(got)  # retried copies shown once


def test_search_spans_returns_whole_spans(query: query_pb2_grpc.QueryServiceStub, dataset: None) -> None:
    f = query_pb2.SpanFilter(span_name="chat", service_name="qs-svc-a")
    f.MergeFrom(WINDOW)
    (s,) = query.SearchSpans(query_pb2.SearchSpansRequest(filter=f, page_size=10)).spans
    assert s.trace_id == f"{1:032x}" and s.span_id == f"{12:016x}" and s.parent_span_id == f"{11:016x}"
    assert s.kind == "Client" and s.status_code == "Error"
    assert s.start_time_unix_nano == T0 + 100 * MS and s.duration_nano == 400 * MS
    assert s.attributes["gen_ai.request.model"] == "x"
    assert s.resource_attributes["deployment.environment"] == "prod"


def test_get_trace_tree_with_retries_and_orphans(
    query: query_pb2_grpc.QueryServiceStub, dataset: None
) -> None:
    trace = query.GetTrace(query_pb2.GetTraceRequest(trace_id=f"{1:032x}"))
    order = [(n.span.name, n.depth, n.orphan, n.duplicates) for n in trace.spans]
    assert order == [
        ("agent.run", 0, False, 1),
        ("chat", 1, False, 1),
        ("tool.search", 1, False, 1),
        ("late.child", 0, True, 1),
    ]
    assert list(trace.root_span_ids) == [f"{11:016x}"]
    assert list(trace.spans[0].child_span_ids) == [f"{12:016x}", f"{13:016x}"]


def test_search_traces_summaries(query: query_pb2_grpc.QueryServiceStub, dataset: None) -> None:
    f = query_pb2.SpanFilter(span_name="chat")
    f.MergeFrom(WINDOW)
    response = query.SearchTraces(query_pb2.SearchTracesRequest(filter=f, page_size=10))
    by_id = {t.trace_id: t for t in response.traces}
    one, two = by_id[f"{1:032x}"], by_id[f"{2:032x}"]
    assert [t.trace_id for t in response.traces] == [two.trace_id, one.trace_id]  # newest first
    assert (one.root_service_name, one.root_span_name) == ("qs-svc-a", "agent.run")
    assert (one.span_count, one.error_count, one.duration_nano) == (4, 1, 900 * MS)
    assert (one.input_tokens, one.output_tokens) == (100, 7)
    assert (two.span_count, two.input_tokens, two.root_span_name) == (1, 30, "chat")  # older token name
    page1 = query.SearchTraces(query_pb2.SearchTracesRequest(filter=f, page_size=1))
    page2 = query.SearchTraces(
        query_pb2.SearchTracesRequest(filter=f, page_size=1, page_token=page1.next_page_token)
    )
    assert [page1.traces[0].trace_id, page2.traces[0].trace_id] == [two.trace_id, one.trace_id]
    assert page2.next_page_token == ""


def test_services_and_operations(query: query_pb2_grpc.QueryServiceStub, dataset: None) -> None:
    services = query.GetServices(
        query_pb2.GetServicesRequest(
            start_time_min_unix_nano=WINDOW.start_time_min_unix_nano,
            start_time_max_unix_nano=WINDOW.start_time_max_unix_nano,
        )
    ).services
    assert [s for s in services if s.startswith("qs-svc-")] == ["qs-svc-a", "qs-svc-b"]
    ops = query.GetOperations(
        query_pb2.GetOperationsRequest(
            service_name="qs-svc-a",
            start_time_min_unix_nano=WINDOW.start_time_min_unix_nano,
            start_time_max_unix_nano=WINDOW.start_time_max_unix_nano,
        )
    ).operations
    assert [(o.name, o.span_kind) for o in ops] == [
        ("agent.run", "Server"),
        ("chat", "Client"),
        ("late.child", "Internal"),
        ("tool.search", "Internal"),
    ]


def test_paging_10k_spans_while_ingesting(app: RunningApp, query: query_pb2_grpc.QueryServiceStub) -> None:
    rng = random.Random(42)
    base = time.time_ns() - 600 * 10**9
    old_ids: set[str] = set()
    for i in range(20):
        req = make_request(500, "paging", rng, start_ns=base + i * 1000)
        old_ids |= {s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans}
        export(app, req)
    assert len(old_ids) == 10_000

    stop = threading.Event()

    def keep_ingesting() -> None:  # newer and older spans arrive while we page
        k = 0
        while not stop.is_set():
            export(app, make_request(200, "paging", rng, start_ns=time.time_ns() - (k % 2) * 300 * 10**9))
            k += 1

    f = query_pb2.SpanFilter(service_name="paging", start_time_min_unix_nano=base - 10**9)
    seen: list[str] = []
    writer = threading.Thread(target=keep_ingesting)
    writer.start()
    try:
        token = ""
        while True:
            page = query.SearchSpans(query_pb2.SearchSpansRequest(filter=f, page_size=1000, page_token=token))
            seen.extend(s.span_id for s in page.spans)
            token = page.next_page_token
            if not token:
                break
    finally:
        stop.set()
        writer.join()
    seen_old = [s for s in seen if s in old_ids]
    assert len(seen_old) == len(set(seen_old)) == 10_000  # each old span exactly once
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.GetTrace(query_pb2.GetTraceRequest(trace_id="xyz")), "trace_id must be 32 hex"),
        (lambda q: q.GetTrace(query_pb2.GetTraceRequest(trace_id="0" * 32)), "not all zero"),
        (
            lambda q: q.SearchSpans(
                query_pb2.SearchSpansRequest(
                    filter=query_pb2.SpanFilter(start_time_min_unix_nano=20, start_time_max_unix_nano=10),
                    page_size=5,
                )
            ),
            "is after",
        ),
        (
            lambda q: q.SearchSpans(query_pb2.SearchSpansRequest(page_size=0)),
            "page_size must be between 1 and 1000",
        ),
        (lambda q: q.SearchSpans(query_pb2.SearchSpansRequest(page_size=5000)), "page_size must be between"),
        (
            lambda q: q.SearchSpans(query_pb2.SearchSpansRequest(page_size=5, page_token="bm90LWEtdG9rZW4")),
            "page_token is not a token issued by this service",
        ),
        (
            lambda q: q.SearchSpans(
                query_pb2.SearchSpansRequest(filter=query_pb2.SpanFilter(span_kind="sideways"), page_size=5)
            ),
            "span_kind must be one of",
        ),
        (
            lambda q: q.SearchSpans(
                query_pb2.SearchSpansRequest(
                    filter=query_pb2.SpanFilter(duration_min_nano=9, duration_max_nano=3), page_size=5
                )
            ),
            "duration_min_nano (9) is greater",
        ),
        (lambda q: q.GetOperations(query_pb2.GetOperationsRequest()), "service_name is required"),
    ],
)
def test_bad_input_is_invalid_argument(query: query_pb2_grpc.QueryServiceStub, call, message: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(query)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()
    assert query.GetServices(query_pb2.GetServicesRequest()) is not None  # still serving


def test_token_from_another_filter_is_refused(query: query_pb2_grpc.QueryServiceStub, dataset: None) -> None:
    first = query.SearchSpans(query_pb2.SearchSpansRequest(filter=WINDOW, page_size=1))
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as err:
        query.SearchSpans(
            query_pb2.SearchSpansRequest(
                filter=query_pb2.SpanFilter(service_name="other"),
                page_size=1,
                page_token=first.next_page_token,
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "different filter" in err.value.details()


def test_unknown_trace_is_not_found(query: query_pb2_grpc.QueryServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        query.GetTrace(query_pb2.GetTraceRequest(trace_id="ab" * 16))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "not found" in err.value.details()


def test_get_trace_with_a_time_hint(query: query_pb2_grpc.QueryServiceStub, dataset: None) -> None:
    trace_id = f"{1:032x}"
    hinted = query.GetTrace(
        query_pb2.GetTraceRequest(
            trace_id=trace_id, start_time_min_unix_nano=T0 - MS, start_time_max_unix_nano=T0 + 1000 * MS
        )
    )
    assert len(hinted.spans) == 4
    with pytest.raises(grpc.RpcError) as err:
        query.GetTrace(
            query_pb2.GetTraceRequest(
                trace_id=trace_id,
                start_time_min_unix_nano=T0 + 3600 * 10**9,
                start_time_max_unix_nano=T0 + 7200 * 10**9,
            )
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
