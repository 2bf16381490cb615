"""Request bodies: Content-Encoding handling with the size cap enforced while inflating.

A gzip bomb (a few MB that inflate to GBs) is stopped once the output passes the cap, so
at most ``limit`` bytes are ever inflated (compare CVE-2024-36129 in the Go collector).
"""

from __future__ import annotations

import zlib

from vigil_collector.errors import BodyTooLarge, MalformedRequest, UnsupportedMedia

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_DEFLATE_WBITS = zlib.MAX_WBITS


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Return the decompressed body, or raise BodyTooLarge / MalformedRequest / UnsupportedMedia."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise BodyTooLarge(f"request body of {len(body)} bytes exceeds the limit of {limit} bytes")
        return body
    if encoding == "gzip":
        return _inflate(body, _GZIP_WBITS, limit, "gzip")
    if encoding == "deflate":
        return _inflate(body, _DEFLATE_WBITS, limit, "deflate")
    raise UnsupportedMedia(f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or identity")


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits=wbits)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(
                f"{name} body inflates to more than the limit of {limit} bytes; refused without inflating it"
            )
        out += inflater.flush()
    except zlib.error as exc:
        raise MalformedRequest(f"malformed {name} body: {exc}") from exc
    if len(out) > limit:
        raise BodyTooLarge(f"{name} body inflates to more than the limit of {limit} bytes")
    if not inflater.eof:
        raise MalformedRequest(f"malformed {name} body: truncated stream")
    return out
