"""GetTrace and StreamTrace: a trace's spans, depth-first, in pages of bounded size.

Locating the trace needs no scan: the trace-id lookup table (ordered by TraceId) keeps, in
Vigil's extra column SpanKeys, where the trace's spans sit in otel_traces' primary key —
their (ServiceName, SpanName, second). ClickHouse builds that set first and uses it for
primary-key and min-max pruning, so only the few granules holding the trace are read,
instead of checking the TraceId bloom filter of every granule in the time range (which grows
with the data). On 10M reference spans: ~23 ms vs ~50 ms.

Paging keeps memory bounded for traces of any size (a 100,000-span LLM trace is ~80 MB as
one message). Each page reads the trace's *outline* first — span id, parent id and start of
every span, ~100 bytes a span — builds the cycle-safe graph from it and its depth-first
order, and then reads the wide columns only of the page's spans. A page token is an offset
into that order; StreamTrace reads the outline once and sends every page from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.errors import InvalidQuery, NotFound
from vigil_query.filters import TIMESTAMP_BETWEEN, check_trace_id, time_range
from vigil_query.logs.search import logs_of_trace
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span
from vigil_query.traces.graph import TraceGraph
from vigil_query.traces.tree import span_nodes

DEFAULT_PAGE_SPANS = 10_000
MAX_PAGE_SPANS = 20_000
# Far below the 256 MiB message limit of server and QueryClient, whatever the spans hold.
MAX_PAGE_BYTES = 64 * 1024 * 1024


class SpanLink(NamedTuple):
    """A span as the outline holds it: what the graph needs, nothing wide."""

    span_id: str
    parent_span_id: str
    start_time_unix_nano: int


@dataclass
class TraceOutline:
    trace_id: str
    graph: TraceGraph[SpanLink]
    order: list[tuple[str, int]]  # (span id, depth), depth-first
    where: str  # locates the trace's rows in otel_traces
    params: dict[str, Any]
    fingerprint: str  # of the request, so a token is only taken back for the same trace
    logs_by_span: dict[str, list[query_pb2.LogRecord]]  # the trace's log records under their span
    trace_logs: list[query_pb2.LogRecord]  # those that name no span of the trace

    @property
    def span_count(self) -> int:
        return len(self.order)


TraceRequest = query_pb2.GetTraceRequest | query_pb2.StreamTraceRequest
TracePage = query_pb2.GetTraceResponse | query_pb2.StreamTraceResponse


def page_size(request: TraceRequest) -> int:
    size = request.page_size or DEFAULT_PAGE_SPANS
    if size > MAX_PAGE_SPANS:
        raise InvalidQuery(f"page_size must be at most {MAX_PAGE_SPANS:,} spans, got {request.page_size:,}")
    return size


def outline(reader: Reader, request: TraceRequest) -> TraceOutline:
    """The trace's graph and depth-first order; NotFound when no span of it is stored."""
    trace_id = check_trace_id(request.trace_id)
    params: dict[str, Any] = {"t": trace_id}
    hint = lookup_hint = ""
    if request.start_time_min_unix_nano or request.start_time_max_unix_nano:
        lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
        hint = f" AND {TIMESTAMP_BETWEEN}"
        lookup_hint = (
            " AND End >= toDateTime(intDiv({lo:Int64}, 1000000000))"
            " AND Start <= toDateTime(intDiv({hi:Int64}, 1000000000))"
        )
        params.update(lo=lo, hi=hi)
    where = (
        f"TraceId = {{t:String}}{hint}"
        " AND (ServiceName, SpanName, toDateTime(Timestamp)) IN ("
        "   SELECT k.1, k.2, k.3 FROM ("
        f"     SELECT arrayJoin(SpanKeys) AS k FROM {reader.db}.otel_traces_trace_id_ts"
        f"     WHERE TraceId = {{t:String}}{lookup_hint}))"
    )
    rows = reader.rows(
        f"SELECT SpanId, ParentSpanId, toUnixTimestamp64Nano(Timestamp) FROM {reader.db}.otel_traces"
        f" WHERE {where} ORDER BY Timestamp, SpanId",
        params,
        "reading the trace's outline",
    )
    if not rows:
        raise NotFound(f"trace {trace_id} not found")
    graph: TraceGraph[SpanLink] = TraceGraph.build(SpanLink(*row) for row in rows)
    # Read once per outline (a stream of pages shares it): the spans' first and last start
    # (the rows are in time order) bound where the trace's logs are looked for.
    logs_by_span: dict[str, list[query_pb2.LogRecord]] = {}
    trace_logs: list[query_pb2.LogRecord] = []
    for record in logs_of_trace(reader, trace_id, rows[0][2], rows[-1][2]):
        if record.span_id in graph.spans:
            logs_by_span.setdefault(record.span_id, []).append(record)
        else:
            trace_logs.append(record)
    located = query_pb2.GetTraceRequest(
        trace_id=trace_id,
        start_time_min_unix_nano=request.start_time_min_unix_nano,
        start_time_max_unix_nano=request.start_time_max_unix_nano,
    )
    return TraceOutline(
        trace_id,
        graph,
        list(graph.depth_first()),
        where,
        params,
        page_token.fingerprint(located),
        logs_by_span,
        trace_logs,
    )


def page(
    reader: Reader,
    trace: TraceOutline,
    offset: int,
    size: int,
    max_bytes: int = MAX_PAGE_BYTES,
    message: type[TracePage] = query_pb2.GetTraceResponse,
) -> tuple[TracePage, int]:
    """Spans from ``offset`` of the trace's depth-first order, in full: ``size`` of them, or
    fewer where they would make the message larger than ``max_bytes``; and the offset of the
    next page. A GetTraceResponse that does not reach the end carries its token."""
    order = trace.order[offset : offset + size]
    spans: dict[str, query_pb2.Span] = {}
    if order:
        rows = reader.rows(
            f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces"
            f" WHERE {trace.where} AND SpanId IN {{ids:Array(String)}}"
            " ORDER BY Timestamp LIMIT 1 BY SpanId",
            {**trace.params, "ids": [span_id for span_id, _ in order]},
            "reading the trace's spans",
        )
        spans = {row[1]: to_span(row) for row in rows}
    response = message(trace_id=trace.trace_id, root_span_ids=trace.graph.roots, span_count=trace.span_count)
    if offset == 0:  # logs that name no span of the trace: once, on the first page
        response.logs.extend(trace.trace_logs)
    taken = 0
    budget = max_bytes - response.ByteSize()
    for node in span_nodes(trace.graph, order, spans):
        node.logs.extend(trace.logs_by_span.get(node.span.span_id, ()))
        budget -= node.ByteSize()
        if budget < 0 and taken:
            break
        taken += 1
        if node.span.span_id:
            response.spans.append(node)
    if offset + taken < trace.span_count and isinstance(response, query_pb2.GetTraceResponse):
        response.next_page_token = page_token.encode_parts([offset + taken], trace.fingerprint)
    return response, offset + taken


def get_trace(reader: Reader, request: query_pb2.GetTraceRequest) -> query_pb2.GetTraceResponse:
    size = page_size(request)
    trace = outline(reader, request)
    offset = 0
    if request.page_token:
        (offset,) = page_token.decode_parts(request.page_token, trace.fingerprint, int)
    return page(reader, trace, offset, size)[0]


def whole_trace(reader: Reader, trace_id: str, max_spans: int) -> TracePage:
    """Every span of a trace in one response, for work that needs the trace at once (replay);
    InvalidQuery beyond ``max_spans``, which bounds the memory such work takes."""
    trace = outline(reader, query_pb2.GetTraceRequest(trace_id=trace_id))
    if trace.span_count > max_spans:
        raise InvalidQuery(
            f"trace {trace.trace_id} has {trace.span_count:,} spans; at most {max_spans:,} can be replayed"
        )
    return page(reader, trace, 0, trace.span_count, max_bytes=2**63)[0]
