"""Opaque page tokens for newest-first paging.

A token holds the sort key of the last row returned (start time, trace id, span id) and a
fingerprint of the filter it was issued for. The next page continues strictly below that
key, so spans that arrive meanwhile (newer, above the key) never shift the pages: every
span that was there when paging started is returned exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from google.protobuf.message import Message

from vigil_query.errors import InvalidQuery

_VERSION = 1
MAX_PAGE_SIZE = 1000


def page_size(requested: int, default: int = 0) -> int:
    """The page size to use: ``requested``, or ``default`` when 0; InvalidQuery outside 1..1000."""
    size = requested or default
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidQuery(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {requested}")
    return size


@dataclass(frozen=True)
class PageKey:
    timestamp_ns: int
    trace_id: str
    span_id: str


def fingerprint(request_filter: Message) -> str:
    return hashlib.sha256(request_filter.SerializeToString(deterministic=True)).hexdigest()[:16]


def encode_parts(parts: list[object], filter_fingerprint: str) -> str:
    """A token holding ``parts`` (JSON values) for the filter with this fingerprint."""
    raw = json.dumps([_VERSION, filter_fingerprint, *parts])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_parts(token: str, filter_fingerprint: str, *types: type) -> list[object]:
    """The parts of a token from ``encode_parts``, one of each of ``types`` in order (an int
    part is also refused when negative); InvalidQuery, the one error for every bad token,
    if it is not such a token: so a forged or damaged token is the caller's mistake
    (INVALID_ARGUMENT), never an internal error."""
    bad = InvalidQuery(f"page_token is not a token issued by this service: {token[:40]!r}")
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise bad from exc
    if not isinstance(decoded, list) or len(decoded) != len(types) + 2 or decoded[0] != _VERSION:
        raise bad
    if decoded[1] != filter_fingerprint:
        raise InvalidQuery("page_token was issued for a different filter; start again without a token")
    parts = decoded[2:]
    for part, kind in zip(parts, types, strict=True):
        # bool is an int to Python, not to a cursor.
        if not isinstance(part, kind) or isinstance(part, bool) or (kind is int and part < 0):
            raise bad
    return parts


def encode(key: PageKey, filter_fingerprint: str) -> str:
    return encode_parts([key.timestamp_ns, key.trace_id, key.span_id], filter_fingerprint)


def decode(token: str, filter_fingerprint: str) -> PageKey:
    ts, trace_id, span_id = decode_parts(token, filter_fingerprint, int, str, str)
    return PageKey(ts, trace_id, span_id)  # type: ignore[arg-type]
