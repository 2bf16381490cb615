"""The one place where ingest errors become gRPC codes and HTTP statuses (OTLP spec:
permanent → INVALID_ARGUMENT / 400, retryable → UNAVAILABLE / 503 with Retry-After)."""

from __future__ import annotations

import grpc

from vigil_collector.errors import (
    BodyTooLarge,
    IngestError,
    Overloaded,
    PermanentError,
    UnsupportedMedia,
)


def grpc_status(error: IngestError) -> grpc.StatusCode:
    if isinstance(error, BodyTooLarge):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, PermanentError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNAVAILABLE


def http_status(error: IngestError) -> int:
    if isinstance(error, BodyTooLarge):
        return 413
    if isinstance(error, UnsupportedMedia):
        return 415
    if isinstance(error, PermanentError):
        return 400
    if isinstance(error, Overloaded):
        return 503
    return 503
