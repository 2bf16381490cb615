"""Select the spans a mutation names and apply its RFC 6902 JSON Patch to their captured input.

Patches are applied with the ``jsonpatch`` library one operation at a time, so that an error
names the operation that failed. Problems with the request (a patch that is not a patch, an
operation that fails, a selector that matches nothing) are InvalidQuery; a selected span that
has no usable captured input is reported on that span instead, and the rest go on.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from vigil_proto.query.v1 import query_pb2
from vigil_query.errors import InvalidQuery

INPUT_VALUE = "input.value"
INPUT_MESSAGES = "gen_ai.input.messages"
# Strings at least this long (or with a line break) also get a unified text diff.
TEXT_DIFF_MIN_LENGTH = 80


@dataclass
class SpanPatch:
    """The running result of the mutations that hit one (span, target) pair."""

    span: query_pb2.Span
    target: str
    original: Any = None
    mutated: Any = None
    error: str = ""

    def to_proto(self) -> query_pb2.SpanChange:
        change = query_pb2.SpanChange(span_id=self.span.span_id, span_name=self.span.name, target=self.target)
        if self.error:
            change.error = self.error
            return change
        change.original_input = _dumps(self.original)
        change.mutated_input = _dumps(self.mutated)
        ops = jsonpatch.make_patch(self.original, self.mutated).patch
        change.diff = _dumps(ops)
        change.text_diffs.extend(text_diffs(self.original, ops))
        return change


@dataclass
class MutationResult:
    patches: list[SpanPatch] = field(default_factory=list)

    @property
    def mutated_span_ids(self) -> list[str]:
        return list(dict.fromkeys(p.span.span_id for p in self.patches if not p.error))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_patch(index: int, text: str) -> list[dict[str, Any]]:
    try:
        ops = json.loads(text)
    except ValueError as exc:
        raise InvalidQuery(f"mutation {index}: patch is not JSON: {exc}") from None
    if not isinstance(ops, list) or not ops or not all(isinstance(op, dict) for op in ops):
        raise InvalidQuery(f"mutation {index}: patch must be a non-empty JSON array of operations (RFC 6902)")
    return ops


def select(
    trace: query_pb2.GetTraceResponse, index: int, selector: query_pb2.SpanSelector
) -> list[query_pb2.Span]:
    spans = [node.span for node in trace.spans]
    if selector.span_id:
        wanted = selector.span_id.strip().lower()
        chosen = [s for s in spans if s.span_id == wanted]
        if not chosen:
            raise InvalidQuery(
                f"mutation {index}: span {selector.span_id!r} is not in trace {trace.trace_id}"
            )
    elif selector.span_name:
        chosen = [s for s in spans if s.name == selector.span_name]
    else:
        raise InvalidQuery(f"mutation {index}: select needs a span_id or a span_name")
    chosen = [s for s in chosen if all(s.attributes.get(k) == v for k, v in selector.attributes.items())]
    if not chosen:
        raise InvalidQuery(
            f"mutation {index}: no span of trace {trace.trace_id} matches {_describe(selector)}"
        )
    return chosen


def _describe(selector: query_pb2.SpanSelector) -> str:
    parts = [f"span_id={selector.span_id}" if selector.span_id else f"span_name={selector.span_name!r}"]
    parts += [f"{k}={v!r}" for k, v in sorted(selector.attributes.items())]
    return ", ".join(parts)


def _target_of(span: query_pb2.Span, mutation: query_pb2.Mutation) -> str:
    if mutation.target:
        return mutation.target
    return INPUT_MESSAGES if INPUT_MESSAGES in span.attributes else INPUT_VALUE


def _load_input(span: query_pb2.Span, target: str) -> tuple[Any, str]:
    raw = span.attributes.get(target)
    if raw is None:
        return None, (
            f"span {span.span_id} ({span.name}) has no captured input: attribute {target!r} is missing "
            "(capture was off, or the span was not recorded by the Vigil SDK or a GenAI instrumentation)"
        )
    try:
        return json.loads(raw), ""
    except ValueError:
        # The SDK marks a cut value with "<attribute>.truncated" ("input.truncated" for input.value).
        marks = (target + ".truncated", target.removesuffix(".value") + ".truncated")
        truncated = " (it was truncated when captured)" if any(span.attributes.get(m) for m in marks) else ""
        return None, f"span {span.span_id} ({span.name}): attribute {target!r} is not JSON{truncated}"


def apply_mutations(trace: query_pb2.GetTraceResponse, mutations: list[query_pb2.Mutation]) -> MutationResult:
    if not mutations:
        raise InvalidQuery("at least one mutation is required")
    by_key: dict[tuple[str, str], SpanPatch] = {}
    for i, mutation in enumerate(mutations):
        ops = _parse_patch(i, mutation.patch)
        for span in select(trace, i, mutation.select):
            target = _target_of(span, mutation)
            state = by_key.get((span.span_id, target))
            if state is None:
                original, error = _load_input(span, target)
                state = SpanPatch(span, target, original, copy.deepcopy(original), error)
                by_key[(span.span_id, target)] = state
            if state.error:
                continue
            for j, op in enumerate(ops):
                try:
                    state.mutated = jsonpatch.JsonPatch([op]).apply(state.mutated)
                except (
                    jsonpatch.JsonPatchException,
                    jsonpointer.JsonPointerException,
                    TypeError,
                    KeyError,
                ) as exc:
                    raise InvalidQuery(
                        f"mutation {i}, operation {j} ({op.get('op')} {op.get('path')}) on span {span.span_id} "
                        f"({span.name}, {target}): {exc or type(exc).__name__}"
                    ) from None
    return MutationResult(list(by_key.values()))


def text_diffs(original: Any, ops: list[dict[str, Any]]) -> list[query_pb2.TextDiff]:
    """Unified diffs for the long strings a patch replaces."""
    out = []
    for op in ops:
        if op.get("op") != "replace" or not isinstance(op.get("value"), str):
            continue
        try:
            before = jsonpointer.resolve_pointer(original, op["path"])
        except jsonpointer.JsonPointerException:
            continue
        after = op["value"]
        if not isinstance(before, str) or (
            max(len(before), len(after)) < TEXT_DIFF_MIN_LENGTH and "\n" not in before + after
        ):
            continue
        out.append(query_pb2.TextDiff(path=op["path"], unified_diff=unified_diff(before, after, op["path"])))
    return out


def unified_diff(before: str, after: str, label: str = "") -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True) or [""],
        after.splitlines(keepends=True) or [""],
        fromfile=f"original{label}",
        tofile=f"mutated{label}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
