"""The ``Host`` check of the HTTP ports while authentication is off (DNS rebinding).

With ``VIGIL_AUTH=off`` every caller is a server admin, and a browser is a caller: a web page
the developer visits can point its own name at 127.0.0.1 and then read the web port as a
same-origin page. Its requests still carry the page's name in ``Host``; refusing names that
are not loopback (or listed in ``VIGIL_ALLOWED_HOSTS``) ends the attack. With auth on,
credentials protect the ports and no check is made (the server may have any name).

Shared by the OTLP/HTTP port (aiohttp, vigil_server) and the web port (ASGI, vigil_query),
so it lives here, below both.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

SETTING = "VIGIL_ALLOWED_HOSTS"
STATUS = 421  # Misdirected Request: this server does not answer for that name


def host_name(header: str) -> str:
    """The name of a ``Host`` header, lower-cased, without its port, brackets or final dot."""
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:4320
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:  # name:port (a bare IPv6 address has several colons)
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class HostGuard:
    """Which ``Host`` names the HTTP ports answer: loopback names, plus ``allowed`` — exact
    names (any port), ``*.example.com`` for the names under it, or ``*`` for any name (no
    protection: for a trusted network or a proxy that checks names itself)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        names = {host_name(name) for name in allowed if name.strip()}
        self.any = "*" in names
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self._names = frozenset(name for name in names if not name.startswith("*"))

    def allows(self, header: str | None) -> bool:
        if self.any:
            return True
        if not header:
            return False
        name = host_name(header)
        return is_loopback_name(name) or name in self._names or name.endswith(self._suffixes)

    @staticmethod
    def refusal(header: str | None) -> str:
        shown = repr(header[:100]) if header else "no Host header"
        return (
            f"refused: authentication is off (VIGIL_AUTH=off) and {shown} is not a loopback name; "
            f"while auth is off this port answers only localhost, 127.0.0.0/8 and [::1] (against DNS "
            f"rebinding). Reach it by a loopback address, list the name in {SETTING} "
            f"(e.g. {SETTING}='[\"vigil.internal\"]'), or set VIGIL_AUTH=on"
        )

    def asgi(self, app: Callable[..., Awaitable[None]], exempt: Iterable[str] = ()) -> Any:
        """``app`` behind the check; paths in ``exempt`` are answered whatever the name."""
        exempt_paths = frozenset(exempt)

        async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] not in exempt_paths:
                header = _asgi_host(scope)
                if not self.allows(header):
                    body = json.dumps({"code": "host_not_allowed", "message": self.refusal(header)}).encode()
                    headers = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    await send({"type": "http.response.start", "status": STATUS, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)

        return guarded


def _asgi_host(scope: dict[str, Any]) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            return value.decode("latin-1")
    return None
