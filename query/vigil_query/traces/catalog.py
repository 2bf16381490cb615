"""GetServices and GetOperations."""

from __future__ import annotations

from vigil_proto.query.v1 import query_pb2
from vigil_query.errors import InvalidQuery
from vigil_query.filters import LEGACY_KIND, TIMESTAMP_BETWEEN, time_range
from vigil_query.reader import Reader

_KIND_NAMES = {legacy: name for name, legacy in LEGACY_KIND.items()}
_LIMIT = 10_000


def get_services(reader: Reader, request: query_pb2.GetServicesRequest) -> query_pb2.GetServicesResponse:
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    rows = reader.rows(
        f"SELECT DISTINCT ServiceName FROM {reader.db}.otel_traces"
        f" WHERE {TIMESTAMP_BETWEEN}"
        f" ORDER BY ServiceName LIMIT {_LIMIT}",
        {"lo": lo, "hi": hi},
        "listing services",
    )
    return query_pb2.GetServicesResponse(services=[r[0] for r in rows])


def get_operations(
    reader: Reader, request: query_pb2.GetOperationsRequest
) -> query_pb2.GetOperationsResponse:
    if not request.service_name:
        raise InvalidQuery("service_name is required")
    lo, hi = time_range(request.start_time_min_unix_nano, request.start_time_max_unix_nano)
    rows = reader.rows(
        f"SELECT DISTINCT SpanName, SpanKind FROM {reader.db}.otel_traces"
        " WHERE ServiceName = {service:String}"
        f" AND {TIMESTAMP_BETWEEN}"
        f" ORDER BY SpanName, SpanKind LIMIT {_LIMIT}",
        {"service": request.service_name, "lo": lo, "hi": hi},
        "listing operations",
    )
    return query_pb2.GetOperationsResponse(
        operations=[
            query_pb2.Operation(name=name, span_kind=_KIND_NAMES.get(kind, kind)) for name, kind in rows
        ]
    )
