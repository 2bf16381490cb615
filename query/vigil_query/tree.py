"""A trace's spans → the parent/child tree of GetTrace (over the cycle-safe trace_graph.py)."""

from __future__ import annotations

from vigil.query.v1 import query_pb2
from vigil_query.trace_graph import TraceGraph


def build_trace(trace_id: str, spans: list[query_pb2.Span]) -> query_pb2.GetTraceResponse:
    """Drop retried copies (same span id), link children to parents, mark orphans (a parent id
    that never arrived) and cycle breaks (a parent link that closed a cycle), and order
    depth-first with siblings by start time."""
    graph = TraceGraph.build(spans)
    response = query_pb2.GetTraceResponse(trace_id=trace_id, root_span_ids=graph.roots)
    orphans, breaks = set(graph.orphans), set(graph.cycle_breaks)
    for span_id, depth in graph.depth_first():
        response.spans.append(
            query_pb2.SpanNode(
                span=graph.spans[span_id],
                child_span_ids=graph.children[span_id],
                depth=depth,
                orphan=span_id in orphans,
                duplicates=graph.duplicates.get(span_id, 0),
                cycle=span_id in breaks,
            )
        )
    return response
