"""One cycle-safe view of a trace's parent links, for every walk over stored parent ids.

Stored spans are untrusted input: a parent id may name a span that never arrived (an
orphan), the span itself, or a cycle of any length (A's parent is B, B's parent is A). The
graph is built once, in time linear in the spans: retried copies are dropped, each cycle is
broken at its earliest span (which is then shown as a root and reported in
``cycle_breaks``), and every walk here is iterative and visits each span once, so neither a
cycle nor a 100,000-deep chain can hang a walk or overflow a stack.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class SpanLike(Protocol):
    """What the graph reads of a span: a query_pb2.Span, or the three columns of one."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str: ...
    @property
    def start_time_unix_nano(self) -> int: ...


S = TypeVar("S", bound=SpanLike)


@dataclass
class TraceGraph(Generic[S]):
    spans: dict[str, S]  # span id → its first stored copy
    duplicates: dict[str, int]  # span id → extra copies stored (client retries)
    children: dict[str, list[str]]  # by start time
    roots: list[str]  # no parent (or itself as its parent), by start time
    orphans: list[str]  # a parent that never arrived, by start time
    cycle_breaks: list[str] = field(default_factory=list)  # parent link ignored: it closed a cycle
    _parent: dict[str, str] = field(default_factory=dict)  # the links kept

    @classmethod
    def build(cls, spans: Iterable[S]) -> TraceGraph[S]:
        unique: dict[str, S] = {}
        duplicates: dict[str, int] = {}
        for span in spans:
            if span.span_id in unique:
                duplicates[span.span_id] = duplicates.get(span.span_id, 0) + 1
            else:
                unique[span.span_id] = span

        def start(span_id: str) -> tuple[int, str]:
            return unique[span_id].start_time_unix_nano, span_id

        children: dict[str, list[str]] = {span_id: [] for span_id in unique}
        parent_of: dict[str, str] = {}
        roots: list[str] = []
        orphans: list[str] = []
        for span_id, span in unique.items():
            parent = span.parent_span_id
            if not parent or parent == span_id:
                roots.append(span_id)
            elif parent in unique:
                children[parent].append(span_id)
                parent_of[span_id] = parent
            else:
                orphans.append(span_id)
        for kids in children.values():
            kids.sort(key=start)
        roots.sort(key=start)
        orphans.sort(key=start)
        graph = cls(unique, duplicates, children, roots, orphans, [], parent_of)
        graph._break_cycles(start)
        return graph

    def _break_cycles(self, start: Callable[[str], tuple[int, str]]) -> None:
        """Spans that no root or orphan reaches lie on a cycle or below one. Walking up from
        such a span must come round to a span seen before: that closes the cycle, which is
        cut at its earliest span (it becomes the top of what hangs below it)."""
        reached = self._reach(self.roots + self.orphans)
        for span_id in self.spans:
            if span_id in reached:
                continue
            path: dict[str, int] = {}
            node = span_id
            while node not in path:
                path[node] = len(path)
                node = self._parent[node]  # unreached spans all have a kept parent
            members = list(path)[path[node] :]
            cut = min(members, key=start)
            self.children[self._parent.pop(cut)].remove(cut)
            self.cycle_breaks.append(cut)
            reached |= self._reach([cut])
        self.cycle_breaks.sort(key=start)

    def _reach(self, tops: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(tops)
        while todo:
            span_id = todo.pop()
            if span_id not in seen:
                seen.add(span_id)
                todo.extend(self.children[span_id])
        return seen

    @property
    def tops(self) -> list[str]:
        """Where the depth-first order starts: roots, then orphans, then cycle breaks."""
        return self.roots + self.orphans + self.cycle_breaks

    def parent(self, span_id: str) -> str:
        """The parent link kept ('' for roots, orphans and cycle breaks)."""
        return self._parent.get(span_id, "")

    def depth_first(self) -> Iterator[tuple[str, int]]:
        """Every span once, with its depth: each top followed by its subtree, siblings by start."""
        for top in self.tops:
            stack = [(top, 0)]
            while stack:
                span_id, depth = stack.pop()
                yield span_id, depth
                stack.extend((kid, depth + 1) for kid in reversed(self.children[span_id]))

    def descendants(self, span_id: str) -> list[str]:
        """Every span below ``span_id``, once, nearest first."""
        out: list[str] = []
        todo = deque(self.children.get(span_id, []))
        while todo:
            sid = todo.popleft()
            out.append(sid)
            todo.extend(self.children[sid])
        return out

    def ancestors(self, span_id: str) -> list[str]:
        """The parents of ``span_id`` up to its top, nearest first."""
        out: list[str] = []
        parent = self.parent(span_id)
        while parent:
            out.append(parent)
            parent = self.parent(parent)
        return out
