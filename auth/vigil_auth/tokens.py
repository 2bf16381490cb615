"""User sessions: a short-lived access JWT and a longer refresh JWT (HS256, PyJWT), signed
with a key derived from the server secret. Tokens carry only the user name: roles are looked
up at each request, so a revoked membership takes effect within the key cache's refresh."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt

from vigil_auth.errors import Unauthenticated

ACCESS, REFRESH = "access", "refresh"
_INVALID = "invalid or expired credentials"


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in_s: int


class TokenSigner:
    def __init__(self, secret: bytes, *, access_ttl_s: int = 900, refresh_ttl_s: int = 7 * 86400) -> None:
        self._key = hmac.new(secret, b"vigil user tokens", hashlib.sha256).digest()
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(self, username: str, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        return Session(
            self._sign(username, ACCESS, now, self.access_ttl_s),
            self._sign(username, REFRESH, now, self.refresh_ttl_s),
            self.access_ttl_s,
        )

    def username(self, token: str, kind: str = ACCESS) -> str:
        """The user a valid, unexpired token of this kind names; Unauthenticated otherwise."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub", "typ"]}
            )
        except jwt.PyJWTError:
            raise Unauthenticated(_INVALID) from None
        if claims["typ"] != kind:
            raise Unauthenticated(_INVALID)
        return str(claims["sub"])

    def _sign(self, username: str, kind: str, now: float, ttl_s: int) -> str:
        claims = {
            "sub": username,
            "typ": kind,
            "iat": int(now),
            "exp": int(now) + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")
