"""Query errors, mapped to gRPC codes in service.py.

QueryError
├── InvalidQuery   bad id, filter, page size or token  → INVALID_ARGUMENT
├── NotFound       no such trace                       → NOT_FOUND
└── Busy           too many queries in flight          → RESOURCE_EXHAUSTED (retry shortly)
(storage errors: StorageUnavailable → UNAVAILABLE, StorageQueryError → INTERNAL,
 or DEADLINE_EXCEEDED when ClickHouse stopped the query at its time limit)
"""

from __future__ import annotations


class QueryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidQuery(QueryError):
    pass


class NotFound(QueryError):
    pass


class Busy(QueryError):
    pass
