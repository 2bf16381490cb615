"""Slows down callers that keep presenting bad credentials: after ``free`` failures from one
address within ``window_s``, each further answer to that address waits a little longer (up
to ``max_delay_s``), which makes guessing keys or passwords slow without touching anyone
else. Memory stays bounded: old addresses are forgotten."""

from __future__ import annotations

import time


class FailureThrottle:
    def __init__(
        self, *, free: int = 10, step_s: float = 0.1, max_delay_s: float = 2.0, window_s: float = 60
    ) -> None:
        self._free = free
        self._step_s = step_s
        self._max_delay_s = max_delay_s
        self._window_s = window_s
        self._failures: dict[str, tuple[int, float]] = {}  # address → (count, window start)

    def delay_s(self, address: str) -> float:
        """How long to hold the next answer to ``address``."""
        count, started = self._failures.get(address, (0, 0.0))
        if time.monotonic() - started > self._window_s:
            return 0.0
        return min(self._max_delay_s, max(0, count - self._free) * self._step_s)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        count, started = self._failures.get(address, (0, now))
        if now - started > self._window_s:
            count, started = 0, now
        self._failures[address] = (count + 1, started)
        if len(self._failures) > 10_000:
            self._failures = {a: v for a, v in self._failures.items() if now - v[1] <= self._window_s}
