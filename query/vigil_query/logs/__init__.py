"""Reading otel_logs: search.py (SearchLogs, log volume, a trace's log records)."""
