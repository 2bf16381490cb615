"""Which spans' recorded outputs may no longer hold once some spans' inputs change.

For each mutated span: its descendants (they ran on its input), its later siblings (spans of
the same parent that started after it ended, so could have consumed its output) with their
subtrees, and its ancestors (their outputs were built from it).
"""

from __future__ import annotations

from vigil.query.v1 import query_pb2

DESCENDANT = "descendant"
LATER_SIBLING = "later_sibling"
ANCESTOR = "ancestor"


def stale_spans(trace: query_pb2.GetTraceResponse, mutated_ids: list[str]) -> list[query_pb2.StaleSpan]:
    nodes = {n.span.span_id: n for n in trace.spans}
    children: dict[str, list[str]] = {sid: list(n.child_span_ids) for sid, n in nodes.items()}
    found: dict[str, query_pb2.StaleSpan] = {}

    def mark(span_id: str, relation: str, source: str) -> None:
        if span_id in nodes and span_id not in found and span_id != source:
            found[span_id] = query_pb2.StaleSpan(
                span_id=span_id, span_name=nodes[span_id].span.name, relation=relation, mutated_span_id=source
            )

    def subtree(span_id: str) -> list[str]:
        out, todo = [], list(children.get(span_id, []))
        while todo:
            sid = todo.pop()
            out.append(sid)
            todo.extend(children.get(sid, []))
        return out

    for source in mutated_ids:
        span = nodes[source].span
        for sid in subtree(source):
            mark(sid, DESCENDANT, source)
        ended = span.start_time_unix_nano + span.duration_nano
        parent = span.parent_span_id
        siblings = [
            n.span for n in nodes.values() if n.span.parent_span_id == parent and n.span.span_id != source
        ]
        for sibling in siblings:
            if parent and sibling.start_time_unix_nano >= ended:
                for sid in (sibling.span_id, *subtree(sibling.span_id)):
                    mark(sid, LATER_SIBLING, source)
        while parent in nodes:
            mark(parent, ANCESTOR, source)
            parent = nodes[parent].span.parent_span_id
    return sorted(found.values(), key=lambda s: (nodes[s.span_id].span.start_time_unix_nano, s.span_id))
