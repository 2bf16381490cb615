"""User sessions: a short-lived access JWT and a longer refresh JWT (HS256, PyJWT), signed
with a key derived from the session secret (VIGIL_SESSION_SECRET, apart from the API keys').

Tokens carry the user name, the user's token version and the session family: roles are looked
up at each request, a token whose version is older than the user's (bumped by a password
change, disabling, "sign out everywhere") is refused, and so is one of an ended family. Each
refresh token has an id (jti): the family's row in storage names the one refresh token that may
still be exchanged, so a token used twice is seen (see authenticator.refresh)."""

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
    family: str = ""  # the session family both tokens belong to
    refresh_id: str = ""  # the refresh token's id (jti)


@dataclass(frozen=True)
class Claims:
    username: str
    version: int  # the user's token version when issued
    family: str
    token_id: str


class TokenSigner:
    def __init__(self, secret: bytes, *, access_ttl_s: int = 900, refresh_ttl_s: int = 7 * 86400) -> None:
        self._key = hmac.new(secret, b"vigil user tokens", hashlib.sha256).digest()
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(self, username: str, version: int = 0, family: str = "", now: float | None = None) -> Session:
        """Tokens of ``family`` (a new family when empty) for a user at token ``version``."""
        now = time.time() if now is None else now
        family = family or uuid.uuid4().hex
        refresh_id = uuid.uuid4().hex
        return Session(
            self._sign(username, ACCESS, version, family, uuid.uuid4().hex, now, self.access_ttl_s),
            self._sign(username, REFRESH, version, family, refresh_id, now, self.refresh_ttl_s),
            self.access_ttl_s,
            family,
            refresh_id,
        )

    def claims(self, token: str, kind: str = ACCESS) -> Claims:
        """What a valid, unexpired token of this kind says; Unauthenticated otherwise (a token
        without a version or family, as issued before sessions were revocable, too)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "typ", "ver", "fam", "jti"]},
            )
        except jwt.PyJWTError:
            raise Unauthenticated(_INVALID) from None
        if claims["typ"] != kind or not isinstance(claims["ver"], int):
            raise Unauthenticated(_INVALID)
        return Claims(str(claims["sub"]), claims["ver"], str(claims["fam"]), str(claims["jti"]))

    def username(self, token: str, kind: str = ACCESS) -> str:
        """The user a valid, unexpired token of this kind names; Unauthenticated otherwise."""
        return self.claims(token, kind).username

    def _sign(
        self, username: str, kind: str, version: int, family: str, token_id: str, now: float, ttl_s: int
    ) -> str:
        claims = {
            "sub": username,
            "typ": kind,
            "ver": version,
            "fam": family,
            "iat": int(now),
            "exp": int(now) + ttl_s,
            "jti": token_id,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")
