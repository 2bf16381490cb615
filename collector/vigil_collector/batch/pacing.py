"""Acknowledgements paced to what ClickHouse takes, so that acknowledged spans stay fresh.

An acknowledgement only needs the write-ahead log; ClickHouse comes after. Clients that
send faster than ClickHouse stores would grow the WAL without bound, and a span acked at
the back of it would become visible ever later. So, while ClickHouse is healthy, a request
waits before its append (it is not refused) while more than a bound waits for the writers.

The bound adapts to how long the writers take: each committed batch reports the time from
its cut to its commit. While requests are being held, a batch slower than ``target_s``
shrinks the bound and a faster one grows it, by at most a fifth per batch, so each INSERT
takes about ``target_s``: the bound follows the machine, the span size and the merges
ClickHouse runs meanwhile. The INSERT's time rather than a record's whole lag (its age at
commit), because the INSERT's time falls with the bound and the lag does not always: a
client still appending while an INSERT runs waits for that one and then for its own, and
shrinking batches to chase that lag only multiplies the INSERTs' fixed cost (~0.1 s of
planning each). Under such load a record is visible about one ``target_s`` after its ack
(requests let in when a batch commits go into the batch cut next: see the batcher's cut
limit), at most about two (one let in just after a cut waits for a free writer). The bound
stays within [floor, ceiling].

Waiting requests are let in first come, first served, each reserving its cost until its
append is durable: many requests released by one commit cannot all pass on the same room
(they did when each only re-checked the backlog; the WAL then overshot by every request in
flight). A request always gets in when nothing waits for the writers, however large it is,
and never waits longer than ``max_wait_s``: a client gets its answer even if the writers
are stuck.

Not paced (``Pacer.paced`` false), so nothing waits: during an outage (the last INSERT
failed; the WAL fills and refuses only once full) and while a backlog of more than four
times the bound drains after one or after a restart, since holding clients for minutes
would only time them out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable

_STEP = 1.2  # the most the bound changes per committed batch (either way)
_DRAIN_FACTOR = 4  # a backlog this many times the bound drains unpaced (see the module doc)


class Pacer:
    """Admission in front of the WAL (``admitted``), fed by the batcher (``committed``,
    ``wake``); read by the batcher's cut (``paced``, ``bound``, ``holding``, ``appending``)."""

    def __init__(
        self,
        *,
        target_s: float,
        floor: int,
        ceiling: int,
        unwritten: Callable[[], int],
        healthy: Callable[[], bool],
        reserved_ended: Callable[[], None] = lambda: None,
        max_wait_s: float = 5.0,
    ) -> None:
        """``unwritten()``: cost durable in the WAL but not committed; ``healthy()``: did the
        last INSERT commit; ``reserved_ended()`` is called when an admitted request's append
        is over. The bound stays within [floor, ceiling]; ``target_s = 0`` turns pacing off."""
        self._target_s = target_s
        self._floor = floor
        self._ceiling = ceiling
        self._unwritten = unwritten
        self._healthy = healthy
        self._reserved_ended = reserved_ended
        self._max_wait_s = max_wait_s
        self._bound = float(max(floor, ceiling // 2))
        self._held = False  # has a request waited since the last commit?
        self._reserved = 0  # cost admitted, not yet durable in the WAL
        self._released = 0  # the part of it that had to wait first
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._stopped = False

    @property
    def waiting(self) -> int:
        """Requests waiting now."""
        return len(self._waiting)

    def bound(self) -> int:
        """The cost that may wait for the writers (reserved included) before requests wait."""
        return int(self._bound)

    def committed(self, write_s: float) -> None:
        """A batch committed ``write_s`` after it was cut: adjust the bound, if the bound was
        what held requests back (otherwise the batch's size says nothing about it)."""
        if self._held and self.paced and write_s > 0:
            factor = min(_STEP, max(1 / _STEP, (self._target_s / write_s) ** 0.5))
            self._bound = min(self._ceiling, max(self._floor, self._bound * factor))
        self._held = bool(self._waiting)
        self.wake()

    @property
    def paced(self) -> bool:
        return (
            self._target_s > 0
            and not self._stopped
            and self._healthy()
            and self._unwritten() <= _DRAIN_FACTOR * self.bound()
        )

    @property
    def holding(self) -> bool:
        """Are requests held back, none of those let in still being appended? Then nothing
        more comes until a batch commits, and a free writer should not linger for more."""
        return (
            self.paced and not self._reserved and (bool(self._waiting) or self._unwritten() >= self.bound())
        )

    @property
    def appending(self) -> bool:
        """Are requests that were held, then let in, still being appended (so that a batch
        cut now would miss them)?"""
        return self.paced and self._released > 0

    def _fits(self, cost: int) -> bool:
        if not self.paced:
            return True
        queued = self._unwritten() + self._reserved
        return queued == 0 or queued + cost <= self.bound()

    @contextlib.asynccontextmanager
    async def admitted(self, cost: int) -> AsyncIterator[None]:
        """Hold a request of ``cost`` until there is room, then reserve it while its body
        is appended (the block); the reservation ends with the block, when the WAL counts it."""
        waited = False
        if not self._waiting and self._fits(cost):
            self._reserved += cost
        else:
            waited = True
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append((cost, future))
            self._held = True
            try:
                await asyncio.wait_for(asyncio.shield(future), self._max_wait_s)
            except TimeoutError:
                with contextlib.suppress(ValueError):
                    self._waiting.remove((cost, future))
                if not future.done():
                    self._reserved += cost  # waited long enough: in it goes
                    self._released += cost
            except BaseException:
                with contextlib.suppress(ValueError):
                    self._waiting.remove((cost, future))
                if future.done():
                    self._reserved -= cost  # admitted just as it was cancelled
                    self._released -= cost
                raise
        try:
            yield
        finally:
            self._reserved -= cost
            if waited:
                self._released -= cost
            self.wake()
            self._reserved_ended()

    def wake(self) -> None:
        """Something changed (a commit, a failure, a reservation ended): let in, in order,
        the waiting requests that now fit."""
        while self._waiting:
            cost, future = self._waiting[0]
            if not future.done() and not self._fits(cost):
                return
            self._waiting.popleft()
            if not future.done():
                self._reserved += cost
                self._released += cost
                future.set_result(None)

    def stop(self) -> None:
        """Shutting down: nothing waits any more."""
        self._stopped = True
        self.wake()
