"""Query errors, mapped to gRPC codes in service.py.

QueryError
├── InvalidQuery   bad id, filter, page size or token  → INVALID_ARGUMENT
├── NotFound       no such trace                       → NOT_FOUND
├── FailedPrecondition  not in this state (a read-only rule) → FAILED_PRECONDITION
├── Busy           too many queries in flight          → RESOURCE_EXHAUSTED (retry shortly)
│   └── OverCap    a replay cap (calls, tokens)          → RESOURCE_EXHAUSTED (which, when it frees)
└── TimedOut       the RPC's own time limit passed      → DEADLINE_EXCEEDED
(storage errors: StorageUnavailable → UNAVAILABLE, a query stopped at its time limit →
 DEADLINE_EXCEEDED, at its memory or row limit → RESOURCE_EXHAUSTED, other StorageQueryError →
 INTERNAL with a request id, the detail in the log)
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


class FailedPrecondition(QueryError):
    pass


class Busy(QueryError):
    pass


class TimedOut(QueryError):
    pass


class OverCap(Busy):
    """A replay would pass one of its caps; the reason names the cap, its value, and when it
    frees up."""
