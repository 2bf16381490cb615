"""The query service: RPC → validated filter → SQL → ClickHouse → response, by area.

api/           the servicers (QueryService, AdminService), gRPC and Connect servers, web port
traces/        SearchSpans/SearchTraces, GetTrace, the span tree, services, TailSpans/TailLogs
logs/          SearchLogs, a trace's logs
metrics/       ListMetrics/QueryMetrics, histogram quantiles
analytics/     usage, sessions, cost, overview, the price book (prices/)
drift/         GetDrift, PSI, the detector and its alerts
replay/        Replay: mutations → stale spans → provider calls → the recorded trace
Shared by the areas:
reader.py, writer.py, pool.py   ClickHouse clients with limits; reading and writing apart
filters.py     filters → WHERE clause with bound parameters; time ranges
page_token.py  opaque, stable cursors for newest-first paging
rows.py        ClickHouse span rows → protobuf messages
errors.py      the typed errors every area raises (mapped to status codes in api/service.py)
"""
