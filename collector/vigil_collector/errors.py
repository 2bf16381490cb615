"""The ingest error tree, mapped once to gRPC status codes and HTTP statuses at the edge.

IngestError
├── PermanentError        the request itself is bad; retrying it cannot help
│   ├── MalformedRequest  undecodable protobuf/JSON, bad ids in JSON   → INVALID_ARGUMENT / 400
│   ├── UnsupportedMedia  unknown Content-Type or Content-Encoding     → 415
│   └── BodyTooLarge      body over the cap (checked while inflating)  → 413 / RESOURCE_EXHAUSTED
└── RetryableError        the request is fine, try again later         → UNAVAILABLE / 503
    ├── Overloaded        the queue is full (backpressure)
    ├── StorageDown       ClickHouse unreachable, failed or not migrated yet
    └── ShuttingDown      the collector is draining
"""

from __future__ import annotations


class IngestError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentError(IngestError):
    pass


class MalformedRequest(PermanentError):
    pass


class UnsupportedMedia(PermanentError):
    pass


class BodyTooLarge(PermanentError):
    pass


class RetryableError(IngestError):
    pass


class Overloaded(RetryableError):
    pass


class StorageDown(RetryableError):
    pass


class ShuttingDown(RetryableError):
    pass
