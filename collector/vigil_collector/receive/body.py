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
    out = bytearray()
    data = body
    try:
        # A gzip body may hold several members back to back; inflate each, sharing one cap.
        while True:
            inflater = zlib.decompressobj(wbits=wbits)
            room = limit - len(out)
            out += inflater.decompress(data, room + 1)
            if len(out) > limit or inflater.unconsumed_tail:
                raise BodyTooLarge(
                    f"{name} body inflates to more than the limit of {limit} bytes; refused without inflating it"
                )
            if not inflater.eof:
                raise MalformedRequest(f"malformed {name} body: truncated stream")
            data = inflater.unused_data
            if not data:
                return bytes(out)
    except zlib.error as exc:
        raise MalformedRequest(f"malformed {name} body: {exc}") from exc
