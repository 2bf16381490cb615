"""Where GenAI facts live in span attributes: the current convention names first, then the
older ones that many instrumentations still emit (REFERENCE.md §4)."""

from __future__ import annotations

INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)


def first_present(keys: tuple[str, ...], convert: str, default: str) -> str:
    """SQL: ``convert(SpanAttributes[key])`` for the first key present, else ``default``.

    The keys are this module's constants, never user input, so they are inlined.
    """
    expr = default
    for key in reversed(keys):
        expr = f"if(mapContains(SpanAttributes, '{key}'), {convert}(SpanAttributes['{key}']), {expr})"
    return expr
