"""What the web port answers: Connect calls (``POST /vigil.<package>.<Service>/<Method>``) go
to the API; any other GET is the UI — a file of the built single-page app (``ui/dist``), or
its index.html for the app's own paths (``/traces/<id>``), so that deep links work. Without a
built UI, a short page says how to build it; the API is served all the same.

Every answer of the port carries the security headers (``security_headers``): the UI shows
prompts and completions written by whoever can send spans, so a script must never run from
anywhere but our own files, and no other site may frame the UI."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
NOT_BUILT = b"""<!doctype html><meta charset="utf-8"><title>Vigil</title>
<body>
<h1>Vigil</h1><p>The web UI is not built. It needs Node.js and npm: run <code>make ui</code>
(or <code>make run</code>, which builds it when npm is there) and reload.</p>
<p>Meanwhile everything else is served: OTLP on ports 4317 and 4318, the query API over gRPC on
4319, and over Connect on this port, e.g.
<code>curl -H 'Content-Type: application/json' -d '{}' localhost:4320/vigil.query.v1.QueryService/GetServices</code>.</p>
"""


def default_ui_dir() -> Path:
    """``ui/dist`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "ui" / "dist"


# The built UI (vite) is one module script and one stylesheet from /assets, talks to the API
# on its own origin (Connect over fetch), and its only image is the data: favicon; it sets
# styles through the CSSOM (ui/src/dom.ts), which style-src does not govern, so no
# 'unsafe-inline' is needed anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


def security_headers(app: Any, *, tls: bool) -> Any:
    """``app`` with the browser hardening headers on every response (HSTS only over TLS: a
    browser ignores it on plain HTTP, and it must not pin a name that has no certificate)."""
    extra = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP 2
        (b"referrer-policy", b"no-referrer"),  # URLs hold trace ids and search terms
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if tls:
        extra.append((b"strict-transport-security", HSTS.encode()))

    async def secured(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_secured)

    return secured


def web_app(api: Any, ui_dir: Path | None) -> Any:
    root = ui_dir.resolve() if ui_dir else None

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD") or scope["path"].startswith("/vigil."):
            await api(scope, receive, send)
            return
        await _static(scope, send, root)

    return app


async def _static(scope: Scope, send: Any, root: Path | None) -> None:
    if root is None or not (root / "index.html").is_file():
        await _respond(send, scope, 200, NOT_BUILT, "text/html; charset=utf-8", "no-cache")
        return
    wanted = (root / scope["path"].lstrip("/")).resolve()
    if wanted.is_relative_to(root) and wanted.is_file():
        kind = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
        # Built assets carry a content hash in their name: cache them for good.
        cache = "public, max-age=31536000, immutable" if "/assets/" in scope["path"] else "no-cache"
        await _respond(send, scope, 200, wanted.read_bytes(), kind, cache)
        return
    if "." in scope["path"].rsplit("/", 1)[-1]:  # a missing file, not a page of the app
        await _respond(send, scope, 404, b"not found\n", "text/plain", "no-cache")
        return
    await _respond(
        send, scope, 200, (root / "index.html").read_bytes(), "text/html; charset=utf-8", "no-cache"
    )


async def _respond(send: Any, scope: Scope, status: int, body: bytes, kind: str, cache: str) -> None:
    headers = [
        (b"content-type", kind.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", cache.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
