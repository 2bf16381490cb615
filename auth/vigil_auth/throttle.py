"""Slows down callers that keep presenting bad credentials: after ``free`` failures from one
address within ``window_s``, each further answer to that address waits a little longer (up
to ``max_delay_s``), which makes guessing keys or passwords slow without touching anyone
else.

An address is the caller's host, never host:port — a client opens a new connection (a new
port) whenever it likes — and an IPv6 caller is its /64, the block one host usually holds.
The table is a bounded LRU: a flood of distinct addresses evicts the least recently failing
ones, at O(1) per failure, so its memory and the event loop's time stay bounded.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass(frozen=True)
class AbuseLimits:
    """What unauthenticated callers may cost (settings ``auth_throttle_*``, ``auth_login_*``,
    ``auth_password_threads``, ``auth_miss_reload_s``)."""

    throttle_free: int = 10
    throttle_step_s: float = 0.1
    throttle_max_delay_s: float = 2.0
    throttle_window_s: float = 60.0
    throttle_max_addresses: int = 10_000
    login_max_concurrent: int = 8
    password_threads: int = 1
    miss_reload_s: float = 1.0


def caller_address(peer: str) -> str:
    """The throttle's key for a peer as the servers give it: gRPC's ``ipv4:IP:PORT``,
    ``ipv6:[IP]:PORT`` (its brackets perhaps %-encoded), ``unix:PATH``, or an HTTP server's
    bare remote address. Anything else is its own key."""
    scheme, sep, rest = peer.partition(":")
    if not sep or scheme not in ("ipv4", "ipv6", "unix"):
        return _host_key(peer) or peer
    if scheme == "unix":
        return "unix"  # every local socket caller is the same host
    rest = unquote(rest)
    if scheme == "ipv6" and rest.startswith("["):
        host = rest[1 : rest.find("]")] if "]" in rest else rest[1:]
    else:
        host = rest.rpartition(":")[0] if scheme == "ipv4" and ":" in rest else rest
    return _host_key(host) or peer


def _host_key(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])  # without an IPv6 zone
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureThrottle:
    def __init__(
        self,
        *,
        free: int = 10,
        step_s: float = 0.1,
        max_delay_s: float = 2.0,
        window_s: float = 60,
        max_addresses: int = 10_000,
    ) -> None:
        if max_addresses < 1:
            raise ValueError(f"max_addresses must be at least 1, got {max_addresses}")
        self._free = free
        self._step_s = step_s
        self._max_delay_s = max_delay_s
        self._window_s = window_s
        self._max_addresses = max_addresses
        # address → (count, window start), least recently failing first
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def delay_s(self, peer: str) -> float:
        """How long to hold the next answer to ``peer`` (its address)."""
        count, started = self._failures.get(caller_address(peer), (0, 0.0))
        if time.monotonic() - started > self._window_s:
            return 0.0
        return min(self._max_delay_s, max(0, count - self._free) * self._step_s)

    def failed(self, peer: str) -> None:
        address = caller_address(peer)
        now = time.monotonic()
        count, started = self._failures.pop(address, (0, now))
        if now - started > self._window_s:
            count, started = 0, now
        self._failures[address] = (count + 1, started)  # now the most recent
        if len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def penalty_s(self, peer: str) -> float:
        """Count a failure of ``peer``; the delay its answer is due (from the failures before)."""
        if not peer:
            return 0.0
        delay = self.delay_s(peer)
        self.failed(peer)
        return delay
