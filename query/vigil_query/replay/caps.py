"""What executed replays may spend of the server's provider keys.

A replay's model, ``max_tokens`` and sampling come from stored span attributes, which anyone
with an ingest key can write; what bounds them is here: the models a replay may call (a
setting, else the price book's), ``max_tokens`` per call, provider calls and tokens per
replay, and per principal over a sliding window. Everything is checked before the first
call is sent, and a replay over a cap is refused whole (OverCap → RESOURCE_EXHAUSTED).

The per-principal counts are summed from the replay history (``vigil_replays``: principal,
provider calls, tokens), so they hold across restarts and between servers on one ClickHouse;
replays still running in this process are added from memory (they are written when they
end). Two servers admitting the same principal at the same moment can both pass: at most
``VIGIL_REPLAY_MAX_EXECUTING`` replays per server, each within the per-replay caps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil_auth.errors import PermissionDenied
from vigil_query.analytics.prices.book import Price
from vigil_query.errors import OverCap
from vigil_query.reader import Reader
from vigil_storage.migrate import quote_identifier

AUTH_OFF = "auth-off"  # the principal recorded when the server runs without authentication


@dataclass(frozen=True, slots=True)
class Spend:
    calls: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Caps:
    """From VigilSettings (VIGIL_REPLAY_*); every cap is on, none can be 0."""

    max_calls: int = 20  # provider calls per replay
    max_tokens: int = 200_000  # tokens per replay (estimated input + max_tokens, per call)
    max_tokens_per_call: int = 4096  # max_tokens sent with each call
    principal_calls: int = 200  # provider calls per principal per window
    principal_tokens: int = 2_000_000  # tokens per principal per window
    window_s: float = 3600.0
    models: tuple[str, ...] = ()  # models replays may call; empty = those the price book prices


def check_models(calls: Sequence[tuple[str, str]], caps: Caps, prices: list[Price]) -> None:
    """Refuse (PermissionDenied) when a (provider, model) is not one replays may call."""
    for provider, model in calls:
        if caps.models:
            if model not in caps.models:
                raise PermissionDenied(
                    f"model {model!r} may not be called by a replay: VIGIL_REPLAY_MODELS lists "
                    f"{', '.join(caps.models)}"
                )
        elif not any(p.matches(provider, model) for p in prices):
            raise PermissionDenied(
                f"model {model!r} ({provider}) may not be called by a replay: it is not in the price "
                "book, and VIGIL_REPLAY_MODELS (the models replays may call) is empty"
            )


def check_replay(need: Spend, caps: Caps) -> None:
    if need.calls > caps.max_calls:
        raise OverCap(
            f"this replay would send {need.calls} provider calls, more than VIGIL_REPLAY_MAX_CALLS "
            f"({caps.max_calls}); select fewer spans"
        )
    if need.tokens > caps.max_tokens:
        raise OverCap(
            f"this replay would use up to {need.tokens} tokens (estimated input + max_tokens of each "
            f"call), more than VIGIL_REPLAY_MAX_TOKENS ({caps.max_tokens}); select fewer spans or "
            "lower VIGIL_REPLAY_MAX_TOKENS_PER_CALL"
        )


def window_rows(
    reader: Reader, principal: str, databases: Sequence[str], since_ns: int
) -> list[tuple[int, int, int]]:
    """(created ns, calls, tokens) of ``principal``'s replays since ``since_ns``, in every
    project database given (a user's replays are spread over the projects it acts in)."""
    if not databases:
        return []
    selects = [
        f"SELECT toUnixTimestamp64Nano(CreatedAt), ProviderCalls, Tokens FROM {quote_identifier(db)}.vigil_replays"
        " WHERE Principal = {principal:String} AND ProviderCalls > 0"
        " AND CreatedAt >= fromUnixTimestamp64Nano({since:Int64})"
        for db in dict.fromkeys(databases)
    ]
    rows = reader.rows(
        " UNION ALL ".join(selects),
        {"principal": principal, "since": since_ns},
        "count the principal's replays",
    )
    return sorted((int(t), int(c), int(k)) for t, c, k in rows)


def _when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_one(
    what: str,
    setting: str,
    cap: int,
    used: list[tuple[int, int]],
    need: int,
    principal: str,
    caps: Caps,
    now_ns: int,
) -> None:
    total = sum(amount for _, amount in used)
    if total + need <= cap:
        return
    head = (
        f"{principal} has used {total} {what} of the server's provider keys in the last "
        f"{caps.window_s:g} s and this replay needs up to {need}: over {setting} ({cap})"
    )
    if need > cap:
        raise OverCap(f"{head}; this replay alone needs more than the cap, select fewer spans")
    excess, freed = total + need - cap, 0
    for created_ns, amount in used:
        freed += amount
        if freed >= excess:
            at = created_ns + int(caps.window_s * 1e9)
            raise OverCap(f"{head}; enough frees up at {_when(at)} (in {max(0, at - now_ns) / 1e9:.0f} s)")
    raise AssertionError("unreachable: the whole window frees more than the excess")


def check_window(
    principal: str,
    history: list[tuple[int, int, int]],
    running: list[Spend],
    need: Spend,
    caps: Caps,
    now_ns: int,
) -> None:
    """Refuse (OverCap) a replay that would take ``principal`` past a per-window cap, saying
    when enough of the window frees up; ``running`` are its replays still under way here."""
    entries = history + [(now_ns, s.calls, s.tokens) for s in running]
    _check_one(
        "provider calls",
        "VIGIL_REPLAY_PRINCIPAL_CALLS",
        caps.principal_calls,
        [(t, c) for t, c, _ in entries],
        need.calls,
        principal,
        caps,
        now_ns,
    )
    _check_one(
        "tokens",
        "VIGIL_REPLAY_PRINCIPAL_TOKENS",
        caps.principal_tokens,
        [(t, k) for t, _, k in entries],
        need.tokens,
        principal,
        caps,
        now_ns,
    )


@dataclass
class Running:
    """Replays admitted in this process and not yet in the history, by principal."""

    by_principal: dict[str, list[Spend]] = field(default_factory=dict)

    def add(self, principal: str, spend: Spend) -> None:
        self.by_principal.setdefault(principal, []).append(spend)

    def remove(self, principal: str, spend: Spend) -> None:
        spends = self.by_principal.get(principal, [])
        if spend in spends:
            spends.remove(spend)
        if not spends:
            self.by_principal.pop(principal, None)
