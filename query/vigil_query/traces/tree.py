"""The cycle-safe trace graph → GetTrace's SpanNodes (depth, children, orphan and cycle marks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vigil_proto.query.v1 import query_pb2
from vigil_query.traces.graph import SpanLike, TraceGraph


def span_nodes(
    graph: TraceGraph[SpanLike], order: Iterable[tuple[str, int]], spans: Mapping[str, query_pb2.Span]
) -> list[query_pb2.SpanNode]:
    """One node per ``(span id, depth)`` of ``order`` (a slice of ``graph.depth_first()``),
    carrying the full span from ``spans``. A span missing there (its partition was dropped
    by TTL between the outline and the page read) gets a node with an empty span."""
    orphans, breaks = set(graph.orphans), set(graph.cycle_breaks)
    return [
        query_pb2.SpanNode(
            span=spans.get(span_id),
            child_span_ids=graph.children[span_id],
            depth=depth,
            orphan=span_id in orphans,
            duplicates=graph.duplicates.get(span_id, 0),
            cycle=span_id in breaks,
        )
        for span_id, depth in order
    ]


def build_trace(trace_id: str, spans: list[query_pb2.Span]) -> query_pb2.GetTraceResponse:
    """A whole trace in one response, from its stored spans: retried copies (same span id)
    dropped, children linked to parents, orphans (a parent id that never arrived) and cycle
    breaks (a parent link that closed a cycle) marked, depth-first with siblings by start."""
    graph: TraceGraph[query_pb2.Span] = TraceGraph.build(spans)
    return query_pb2.GetTraceResponse(
        trace_id=trace_id,
        root_span_ids=graph.roots,
        spans=span_nodes(graph, graph.depth_first(), graph.spans),
        span_count=len(graph.spans),
    )
