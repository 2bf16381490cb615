"""SpanFilter → a WHERE clause over otel_traces with bound parameters (never formatted
user input), after validating every field."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil_proto.query.v1 import query_pb2
from vigil_query.errors import InvalidQuery

KINDS = {k.lower(): k for k in ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")}
STATUSES = {s.lower(): s for s in ("Unset", "Ok", "Error")}
# Older exporters wrote the protobuf enum names (docs/storage.md): match both spellings.
LEGACY_KIND = {k: f"SPAN_KIND_{k.upper()}" for k in KINDS.values()}
LEGACY_STATUS = {s: f"STATUS_CODE_{s.upper()}" for s in STATUSES.values()}

DEFAULT_WINDOW_NS = 24 * 3600 * 10**9
# Span start time within [lo, hi] nanoseconds, with parameters named lo and hi.
TIMESTAMP_BETWEEN = (
    "Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({hi:Int64})"
)
_CLOCK_SKEW_NS = 5 * 60 * 10**9
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def check_trace_id(value: str, name: str = "trace_id") -> str:
    normalized = value.strip().lower()
    if not _TRACE_ID.fullmatch(normalized) or normalized == "0" * 32:
        raise InvalidQuery(f"{name} must be 32 hex characters (16 bytes, not all zero), got {value!r}")
    return normalized


def time_range(
    start_min: int, start_max: int, what: str = "start_time", default_ns: int = DEFAULT_WINDOW_NS
) -> tuple[int, int]:
    """Validated [min, max] in ns; both 0 means the last ``default_ns`` (24 hours)."""
    if start_min < 0 or start_max < 0:
        raise InvalidQuery(f"{what} bounds must not be negative")
    if start_min == 0 and start_max == 0:
        now = time.time_ns()
        return now - default_ns, now + _CLOCK_SKEW_NS
    if start_max == 0:
        start_max = time.time_ns() + _CLOCK_SKEW_NS
    if start_min > start_max:
        raise InvalidQuery(f"{what}_min_unix_nano ({start_min}) is after {what}_max_unix_nano ({start_max})")
    return start_min, start_max


MAX_BUCKETS = 10_000


def bucket_step(lo: int, hi: int, step_nano: int, default_buckets: int) -> int:
    """The width of the time buckets of [lo, hi] (QueryMetrics, GetUsage): ``step_nano``, or
    the range cut in ``default_buckets``, at least a second; at most MAX_BUCKETS buckets."""
    if step_nano < 0:
        raise InvalidQuery("step_nano must not be negative")
    step = step_nano or max(10**9, -(-(hi - lo) // default_buckets))
    if (hi - lo) // step >= MAX_BUCKETS:
        raise InvalidQuery(
            f"{(hi - lo) // step + 1} time buckets of {step} ns; at most {MAX_BUCKETS}: widen step_nano"
        )
    return step


@dataclass
class Where:
    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    def add_attributes(self, attributes: Mapping[str, str], own: str) -> None:
        """Every ``key = value`` must hold in the row's ``own`` attribute map (SpanAttributes,
        LogAttributes) or in its ResourceAttributes."""
        for i, (key, value) in enumerate(sorted(attributes.items())):
            if not key:
                raise InvalidQuery("attribute filter keys must not be empty")
            # mapContains first lets the bloom-filter indexes on map keys and values prune granules.
            self.add(
                f"((mapContains({own}, {{ak{i}:String}}) AND {own}[{{ak{i}:String}}] = {{av{i}:String}})"
                f" OR (mapContains(ResourceAttributes, {{ak{i}:String}})"
                f" AND ResourceAttributes[{{ak{i}:String}}] = {{av{i}:String}}))",
                **{f"ak{i}": key, f"av{i}": value},
            )

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "1"


def span_where(f: query_pb2.SpanFilter) -> Where:
    where = Where()
    lo, hi = time_range(f.start_time_min_unix_nano, f.start_time_max_unix_nano)
    where.add(TIMESTAMP_BETWEEN, lo=lo, hi=hi)
    if f.service_name:
        where.add("ServiceName = {service:String}", service=f.service_name)
    if f.span_name:
        where.add("SpanName = {span_name:String}", span_name=f.span_name)
    if f.span_kind:
        kind = KINDS.get(f.span_kind.strip().lower())
        if kind is None:
            raise InvalidQuery(f"span_kind must be one of {', '.join(KINDS.values())}, got {f.span_kind!r}")
        where.add(
            "SpanKind IN ({kind:String}, {kind_legacy:String})", kind=kind, kind_legacy=LEGACY_KIND[kind]
        )
    if f.status_code:
        status = STATUSES.get(f.status_code.strip().lower())
        if status is None:
            raise InvalidQuery(f"status_code must be one of Unset, Ok, Error, got {f.status_code!r}")
        where.add(
            "StatusCode IN ({status:String}, {status_legacy:String})",
            status=status,
            status_legacy=LEGACY_STATUS[status],
        )
    if f.duration_min_nano < 0 or f.duration_max_nano < 0:
        raise InvalidQuery("duration bounds must not be negative")
    if f.duration_max_nano and f.duration_min_nano > f.duration_max_nano:
        raise InvalidQuery(
            f"duration_min_nano ({f.duration_min_nano}) is greater than duration_max_nano ({f.duration_max_nano})"
        )
    if f.duration_min_nano:
        where.add("Duration >= {d_min:UInt64}", d_min=f.duration_min_nano)
    if f.duration_max_nano:
        where.add("Duration <= {d_max:UInt64}", d_max=f.duration_max_nano)
    if f.trace_id:
        where.add("TraceId = {trace_id:String}", trace_id=check_trace_id(f.trace_id))
    where.add_attributes(f.attributes, "SpanAttributes")
    return where
