"""API keys: how they look, and the keyed hash that is all the server keeps of them.

A key is ``vgl_`` and 32 characters of URL-safe base64: 192 random bits from ``secrets``.
The server stores HMAC-SHA-256(server secret, key) and the first characters for listing;
checking a key is one HMAC (~1 µs) and a dictionary lookup, cheap enough for every export
request. Without the secret a stolen table tells nothing about the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "vgl_"
VISIBLE = len(PREFIX) + 8  # what listings show: vgl_ and 8 characters

# write: may change state (resolve alerts; rules, silences, incidents, actions as they come).
INGEST, READ, REPLAY, WRITE, ADMIN = "ingest", "read", "replay", "write", "admin"
SCOPES = (INGEST, READ, REPLAY, WRITE, ADMIN)
ANY = "any"  # a valid credential, whatever it may do (who-am-I questions)


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(24)


def visible_prefix(key: str) -> str:
    return key[:VISIBLE]


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}, got {scopes}")
    return sorted(set(scopes), key=SCOPES.index)


class KeyHasher:
    def __init__(self, secret: bytes) -> None:
        # One secret, separate keys per use (API keys here, user tokens elsewhere).
        self._key = hmac.new(secret, b"vigil api keys", hashlib.sha256).digest()

    def digest(self, key: str) -> str:
        return hmac.new(self._key, key.encode(), hashlib.sha256).hexdigest()
