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


def decode_parts(token: str, filter_fingerprint: str, count: int) -> list[object]:
    """The ``count`` parts of a token from ``encode_parts``; InvalidQuery if it is not one."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(decoded, list) or len(decoded) != count + 2 or decoded[0] != _VERSION:
            raise ValueError("unknown token layout")
    except (ValueError, TypeError) as exc:
        raise InvalidQuery(f"page_token is not a token issued by this service: {token[:40]!r}") from exc
    if decoded[1] != filter_fingerprint:
        raise InvalidQuery("page_token was issued for a different filter; start again without a token")
    return decoded[2:]


def encode(key: PageKey, filter_fingerprint: str) -> str:
    return encode_parts([key.timestamp_ns, key.trace_id, key.span_id], filter_fingerprint)


def decode(token: str, filter_fingerprint: str) -> PageKey:
    ts, trace_id, span_id = decode_parts(token, filter_fingerprint, 3)
    if not isinstance(ts, int) or not isinstance(trace_id, str):
        raise InvalidQuery(f"page_token is not a token issued by this service: {token[:40]!r}")
    return PageKey(ts, trace_id, str(span_id))
