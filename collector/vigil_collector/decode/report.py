"""The partial-success text of a request (OTLP ``error_message``), the same for every signal."""

from __future__ import annotations

from typing import ClassVar

MAX_REPORTED = 5


def partial_success_text(errors: list[str], truncated_values: int, items: str) -> str:
    """Why ``items`` (spans, log records, data points) were rejected — the first few reasons —
    and how many attribute values were truncated."""
    parts = list(errors[:MAX_REPORTED])
    if len(errors) > MAX_REPORTED:
        parts.append(f"... and {len(errors) - MAX_REPORTED} more rejected {items}")
    if truncated_values:
        parts.append(f"{truncated_values} attribute values truncated to the length limit")
    return "; ".join(parts)


class PartialSuccess:
    """The ``message`` of a signal's decode result (a dataclass with ``errors`` and
    ``truncated_values``), its items named by ``items``."""

    items: ClassVar[str]
    errors: list[str]
    truncated_values: int

    @property
    def message(self) -> str:
        """Partial-success text: why items were rejected, and any warnings."""
        return partial_success_text(self.errors, self.truncated_values, self.items)
