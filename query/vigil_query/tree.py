"""A trace's spans → the parent/child tree of GetTrace."""

from __future__ import annotations

from vigil.query.v1 import query_pb2


def build_trace(trace_id: str, spans: list[query_pb2.Span]) -> query_pb2.GetTraceResponse:
    """Drop retried copies (same span id), link children to parents, mark orphans (a parent id
    that never arrived), and order depth-first with siblings by start time."""
    unique: dict[str, query_pb2.Span] = {}
    duplicates: dict[str, int] = {}
    for span in spans:
        if span.span_id in unique:
            duplicates[span.span_id] = duplicates.get(span.span_id, 0) + 1
        else:
            unique[span.span_id] = span

    def start(span_id: str) -> tuple[int, str]:
        return unique[span_id].start_time_unix_nano, span_id

    children: dict[str, list[str]] = {span_id: [] for span_id in unique}
    roots: list[str] = []
    orphans: list[str] = []
    for span_id, span in unique.items():
        parent = span.parent_span_id
        if not parent or parent == span_id:
            roots.append(span_id)
        elif parent in unique:
            children[parent].append(span_id)
        else:
            orphans.append(span_id)
    for kids in children.values():
        kids.sort(key=start)
    roots.sort(key=start)
    orphans.sort(key=start)

    response = query_pb2.GetTraceResponse(trace_id=trace_id, root_span_ids=roots)
    seen: set[str] = set()
    for top in roots + orphans:
        stack = [(top, 0)]
        while stack:
            span_id, depth = stack.pop()
            if span_id in seen:  # a cycle in bad data: show each span once
                continue
            seen.add(span_id)
            response.spans.append(
                query_pb2.SpanNode(
                    span=unique[span_id],
                    child_span_ids=children[span_id],
                    depth=depth,
                    orphan=span_id in orphans,
                    duplicates=duplicates.get(span_id, 0),
                )
            )
            stack.extend((kid, depth + 1) for kid in reversed(children[span_id]))
    # Spans only reachable through a cycle (no root, no orphan): still return them.
    for span_id in sorted(set(unique) - seen, key=start):
        response.spans.append(query_pb2.SpanNode(span=unique[span_id], child_span_ids=children[span_id]))
    return response
