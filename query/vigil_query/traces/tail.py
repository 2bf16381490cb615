"""TailSpans: the spans matching a filter as they become visible, by polling.

ClickHouse has no change feed, and the exporter's schema no arrival time, so "new" is read
from the span itself: a span is new when it *ends* after the tail started (clients export
spans when they end) and shows up within ``LATE_S`` of its end by the server's clock — the
exporter's batching, the write-ahead log and the INSERT all fit in that window. Each poll
reads the keys of the spans that ended in the window (three narrow columns, on the primary
key's time range), keeps those not sent yet, and reads the full rows of at most
``MAX_PER_POLL`` of them, the newest. The keys sent stay remembered until their end leaves
the window, so a span is sent once however many polls see it (and client-retried copies,
which share the key, are sent once too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vigil_proto.query.v1 import query_pb2
from vigil_query.filters import span_where
from vigil_query.logs.search import LOG_COLUMNS, ROW_HASH, log_where, to_log
from vigil_query.reader import Reader
from vigil_query.rows import SPAN_COLUMNS, to_span

POLL_S = 1.0
LATE_S = 30.0
MAX_PER_POLL = 500
# Spans longer than this are not tailed: it bounds the time range each poll scans.
MAX_SPAN_S = 600.0
_NS = 10**9


@dataclass
class Tail:
    """One tail's state between polls; ``poll`` runs on a query thread."""

    filter: query_pb2.SpanFilter
    started_ns: int = field(default_factory=time.time_ns)
    _sent: dict[tuple[str, str], int] = field(default_factory=dict)  # key → end ns

    def __post_init__(self) -> None:
        span_where(self.filter)  # a bad filter is refused before the tail starts

    def poll(self, reader: Reader, now_ns: int | None = None) -> query_pb2.TailSpansResponse:
        now_ns = now_ns or time.time_ns()
        since = max(self.started_ns, now_ns - int(LATE_S * _NS))
        self._sent = {key: end for key, end in self._sent.items() if end >= since}
        spans = query_pb2.SpanFilter()
        spans.CopyFrom(self.filter)
        spans.start_time_min_unix_nano = since - int(MAX_SPAN_S * _NS)
        spans.start_time_max_unix_nano = now_ns + int(LATE_S * _NS)  # clients a little ahead
        where = span_where(spans)
        where.add("toUnixTimestamp64Nano(Timestamp) + Duration >= {since:Int64}", since=since)
        keys = reader.rows(
            f"SELECT TraceId, SpanId, toUnixTimestamp64Nano(Timestamp) + Duration AS end_ns"
            f" FROM {reader.db}.otel_traces WHERE {where.sql}",
            where.params,
            "tailing spans",
        )
        new: dict[tuple[str, str], int] = {}
        for trace_id, span_id, end_ns in keys:
            if (trace_id, span_id) not in self._sent:
                new[(trace_id, span_id)] = end_ns
        if not new:
            return query_pb2.TailSpansResponse()
        newest = sorted(new, key=new.__getitem__)[-MAX_PER_POLL:]
        self._sent.update(new)  # the ones left out are skipped for good: a tail shows the latest
        where.add("TraceId IN {tail_traces:Array(String)}", tail_traces=sorted({t for t, _ in newest}))
        where.add("SpanId IN {tail_spans:Array(String)}", tail_spans=sorted({s for _, s in newest}))
        wanted = set(newest)
        rows = reader.rows(
            f"SELECT {SPAN_COLUMNS} FROM {reader.db}.otel_traces WHERE {where.sql}"
            f" ORDER BY start_ns + Duration, TraceId, SpanId",
            where.params,
            "tailing spans",
        )
        response = query_pb2.TailSpansResponse(skipped=len(new) - len(newest))
        for row in rows:
            key = (row[0], row[1])
            if key in wanted:
                wanted.discard(key)  # a retried copy: sent once
                response.spans.append(to_span(row))
        return response


@dataclass
class LogTail:
    """TailLogs, as ``Tail``: a record is new when it is stamped after the tail started and
    shows up within ``LATE_S`` of its time; a record has no id, so it is remembered by its
    time and a hash of its content (retried copies are sent once)."""

    filter: query_pb2.LogFilter
    started_ns: int = field(default_factory=time.time_ns)
    _sent: dict[tuple[int, int], int] = field(default_factory=dict)  # (time, hash) → time

    def __post_init__(self) -> None:
        log_where(self.filter)  # a bad filter is refused before the tail starts

    def poll(self, reader: Reader, now_ns: int | None = None) -> query_pb2.TailLogsResponse:
        now_ns = now_ns or time.time_ns()
        since = max(self.started_ns, now_ns - int(LATE_S * _NS))
        self._sent = {key: ts for key, ts in self._sent.items() if ts >= since}
        logs = query_pb2.LogFilter()
        logs.CopyFrom(self.filter)
        logs.start_time_min_unix_nano = since
        logs.start_time_max_unix_nano = now_ns + int(LATE_S * _NS)  # clients a little ahead
        where = log_where(logs)
        rows = reader.rows(
            f"SELECT {LOG_COLUMNS}, {ROW_HASH} AS h FROM {reader.db}.otel_logs WHERE {where.sql}"
            f" ORDER BY ts DESC, h DESC LIMIT {MAX_PER_POLL + len(self._sent)}",
            where.params,
            "tailing logs",
        )
        new = [row for row in rows if (row[0], row[13]) not in self._sent]
        newest = new[:MAX_PER_POLL]
        self._sent.update({(row[0], row[13]): row[0] for row in new})
        return query_pb2.TailLogsResponse(
            logs=[to_log(row) for row in reversed(newest)], skipped=len(new) - len(newest)
        )
