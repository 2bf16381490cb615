"""The rules a span must meet to be stored; one copy for both decoders (Python and native)."""

from __future__ import annotations

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
# OTLP times are fixed64 (up to 2**64 - 1); ClickHouse's DateTime64(9) and Arrow's timestamp
# are signed 64-bit nanoseconds, which end in April 2262.
LATEST_TIME_NS = 2**63 - 1


def span_problem(
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes,
    start: int,
    end: int,
    attributes: int,
    max_attributes: int,
    latest_event_ns: int = 0,
) -> str | None:
    """Why a span with these fields is invalid, or None if it is valid."""
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zeros"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if span_id == _ZERO_SPAN_ID:
        return "span_id must not be all zeros"
    if parent_id and len(parent_id) != 8:
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_id)}"
    if end < start:
        return f"end_time_unix_nano ({end}) is before start_time_unix_nano ({start})"
    if end > LATEST_TIME_NS:
        return f"end_time_unix_nano ({end}) is after the latest time that can be stored (year 2262)"
    if latest_event_ns > LATEST_TIME_NS:
        return f"an event's time_unix_nano ({latest_event_ns}) is after the latest time that can be stored (year 2262)"
    if attributes > max_attributes:
        return f"{attributes} attributes exceed the limit of {max_attributes}"
    return None
