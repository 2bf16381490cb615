"""Reading otel_traces: search.py (SearchSpans, SearchTraces), trace.py (GetTrace,
StreamTrace), graph.py + tree.py (the cycle-safe walk over parent ids, the span tree),
summary.py (per-trace summaries), catalog.py (GetServices, GetOperations), tail.py
(TailSpans, and TailLogs through the same polling loop)."""
