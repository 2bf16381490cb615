"""Prometheus durations (``30s``, ``5m``, ``1h30m``, ``250ms``, ``0s``) as seconds."""

from __future__ import annotations

import re

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")


def parse_duration(value: object) -> float:
    """Seconds; raises ValueError with the reason. Plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration must not be negative: {value!r}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m)")
    text, pos, total = value.strip(), 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m)")
    return total
