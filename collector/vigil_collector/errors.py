"""The ingest error tree, mapped once to gRPC status codes and HTTP statuses at the edge.

IngestError
├── PermanentError        the request itself is bad; retrying it cannot help
│   ├── MalformedRequest  undecodable protobuf/JSON, bad ids in JSON   → INVALID_ARGUMENT / 400
│   ├── UnsupportedMedia  unknown Content-Type or Content-Encoding     → 415
│   ├── BodyTooLarge      body over the cap (checked while inflating)  → 413 / RESOURCE_EXHAUSTED
│   └── RecordTooLarge    larger than the whole write-ahead log         → 413 / RESOURCE_EXHAUSTED
└── RetryableError        the request is fine, try again later         → UNAVAILABLE / 503
    ├── Overloaded        requests in memory over their bound, or the write-ahead log full
    ├── StorageDown       ClickHouse unreachable, failed or not migrated yet
    ├── WalUnavailable    the write-ahead log cannot write (disk full, I/O error)
    ├── DecoderFailed     a decode worker died on this request (the pool is replaced)
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


class RecordTooLarge(BodyTooLarge):
    pass


class RetryableError(IngestError):
    pass


class Overloaded(RetryableError):
    pass


class StorageDown(RetryableError):
    pass


class ShuttingDown(RetryableError):
    pass


class WalUnavailable(RetryableError):
    pass


class DecoderFailed(RetryableError):
    pass
