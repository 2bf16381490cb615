"""The one place where ingest errors become gRPC codes and HTTP statuses (OTLP spec:
permanent → INVALID_ARGUMENT / 400, retryable → UNAVAILABLE / 503 with Retry-After; a bad
credential → UNAUTHENTICATED / 401, which exporters do not retry)."""

from __future__ import annotations

import grpc

from vigil_auth.errors import AuthError, CredentialsUnavailable, PermissionDenied, Unauthenticated
from vigil_collector.errors import (
    BodyTooLarge,
    IngestError,
    PermanentError,
    RetryableError,
    UnsupportedMedia,
)


def grpc_status(error: IngestError | AuthError) -> grpc.StatusCode:
    if isinstance(error, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(error, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, BodyTooLarge):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, PermanentError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNAVAILABLE


def retryable(error: IngestError | AuthError) -> bool:
    return isinstance(error, RetryableError | CredentialsUnavailable)


def http_status(error: IngestError | AuthError) -> int:
    if isinstance(error, Unauthenticated):
        return 401
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, BodyTooLarge):
        return 413
    if isinstance(error, UnsupportedMedia):
        return 415
    if isinstance(error, PermanentError):
        return 400
    return 503
