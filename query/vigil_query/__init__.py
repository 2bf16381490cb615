"""The query service: gRPC request → validated filter → SQL → ClickHouse → response.

service.py     the RPCs (QueryService), mapping errors to gRPC status codes once
filters.py     SpanFilter → WHERE clause with bound parameters
page_token.py  opaque, stable cursors for newest-first paging
spans_sql.py   SearchSpans / SearchTraces SQL; trace_sql.py GetTrace; catalog_sql.py services
rows.py        ClickHouse rows → protobuf messages; tree.py the parent/child tree
server.py      the gRPC server (reflection, health) and its lifecycle
"""
