"""Credential errors, mapped once at each edge (collector/receive/status_map.py for OTLP,
query/service.py for the query API).

AuthError
├── Unauthenticated        missing, unknown, revoked or expired credential → UNAUTHENTICATED / 401
├── PermissionDenied       valid, but not for this (scope or project)      → PERMISSION_DENIED / 403
├── CredentialsUnavailable the keys could not be loaded yet (storage down) → UNAVAILABLE / 503, retry
└── AuthBusy               too many logins at once (the cap)              → RESOURCE_EXHAUSTED / 429
"""

from __future__ import annotations


class AuthError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthenticated(AuthError):
    pass


class PermissionDenied(AuthError):
    pass


class CredentialsUnavailable(AuthError):
    pass


class AuthBusy(AuthError):
    pass
