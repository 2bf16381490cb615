"""Where an action's task goes, and how: a remediator's URL, its optional HMAC secret, how many
of its tasks may be in flight at once and its timeout (docs/actions.md).

The signature lets a remediator refuse tasks that did not come from Vigil: it is the HMAC-SHA256
of the exact body bytes sent, under the shared secret, in ``X-Vigil-Signature: sha256=<hex>``.
The body carries ``task_id`` and ``enqueued_at``, so a signed body cannot be passed off as another
task; a replay of the same task is what ``Idempotency-Key`` already absorbs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

SIGNATURE_HEADER = "X-Vigil-Signature"


class Remediator(BaseModel):
    """One remediator endpoint. Fields left out take the defaults (VIGIL_REMEDIATOR_*)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    secret: SecretStr = SecretStr("")
    concurrency: int | None = Field(default=None, ge=1, le=1000)
    timeout_s: float | None = Field(default=None, gt=0)


def sign(secret: str, body: bytes) -> str:
    """The header's value for ``body`` (verify with ``hmac.compare_digest`` on the same bytes)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def resolve(
    default: Remediator, endpoints: Mapping[str, str | Remediator], *, concurrency: int, timeout_s: float
) -> tuple[Remediator, dict[str, Remediator], dict[str, int]]:
    """The default remediator and each action's, with every field filled in, and the concurrency
    limit of each URL: actions whose endpoints share a URL share one limit (the smallest given),
    since it is one service that must not be overrun. A plain URL entry takes the default's
    secret only when it is the default's URL: a secret is never sent to another service."""

    def filled(r: Remediator) -> Remediator:
        return r.model_copy(
            update={
                "concurrency": r.concurrency or concurrency,
                "timeout_s": r.timeout_s or timeout_s,
            }
        )

    base = filled(default)
    actions: dict[str, Remediator] = {}
    for action, entry in endpoints.items():
        if isinstance(entry, str):
            entry = Remediator(url=entry, secret=default.secret if entry == default.url else SecretStr(""))
        actions[action] = filled(entry)
    limits: dict[str, int] = {}
    for r in ([base] if base.url else []) + list(actions.values()):
        limit = r.concurrency or concurrency
        limits[r.url] = min(limits.get(r.url, limit), limit)
    return base, actions, limits
