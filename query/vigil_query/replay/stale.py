"""Which spans' recorded outputs may no longer hold once some spans' inputs change.

For each mutated span: its descendants (they ran on its input), its later siblings (spans of
the same parent that started after it ended, so could have consumed its output) with their
subtrees, and its ancestors (their outputs were built from it). The walks go over the
cycle-safe trace graph: stored parent ids are untrusted, and a cycle in them must neither
hang the server nor mark a span twice.
"""

from __future__ import annotations

from vigil_proto.query.v1 import query_pb2
from vigil_query.traces.graph import TraceGraph

DESCENDANT = "descendant"
LATER_SIBLING = "later_sibling"
ANCESTOR = "ancestor"


def stale_spans(trace: query_pb2.GetTraceResponse, mutated_ids: list[str]) -> list[query_pb2.StaleSpan]:
    graph = TraceGraph.build([n.span for n in trace.spans])
    found: dict[str, query_pb2.StaleSpan] = {}

    def mark(span_id: str, relation: str, source: str) -> None:
        if span_id in graph.spans and span_id not in found and span_id != source:
            found[span_id] = query_pb2.StaleSpan(
                span_id=span_id,
                span_name=graph.spans[span_id].name,
                relation=relation,
                mutated_span_id=source,
            )

    for source in mutated_ids:
        span = graph.spans[source]
        for sid in graph.descendants(source):
            mark(sid, DESCENDANT, source)
        ended = span.start_time_unix_nano + span.duration_nano
        parent = graph.parent(source)
        if parent:
            for sibling in graph.children[parent]:
                if sibling != source and graph.spans[sibling].start_time_unix_nano >= ended:
                    for sid in (sibling, *graph.descendants(sibling)):
                        mark(sid, LATER_SIBLING, source)
        for sid in graph.ancestors(source):
            mark(sid, ANCESTOR, source)
    return sorted(found.values(), key=lambda s: (graph.spans[s.span_id].start_time_unix_nano, s.span_id))
