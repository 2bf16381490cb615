"""What a decoder accepts of one item, for every signal: spans, log records and data points
(the names say "span" because spans came first; ``VIGIL_MAX_ATTRIBUTES_PER_SPAN`` and
``VIGIL_MAX_ATTRIBUTE_VALUE_LENGTH`` set them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodeLimits:
    max_attributes_per_span: int = 1024  # more, and the item is rejected
    max_attribute_value_length: int = 1024 * 1024  # longer values are truncated
