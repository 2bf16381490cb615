"""The worker role: the background jobs of which one copy must run per deployment (rule
evaluation, notifications, actions, drift detection, triage), run while this process holds
the worker lease (worker_lease.py) and stopped when it loses it.

A job plugs in as a ``WorkerJob``: a name and an async function that runs until the event
it is given is set. ``vigil serve --role worker`` (and ``all``) runs the jobs registered in
wiring/jobs.py; a second worker started against the same ClickHouse waits as a standby and takes
over within the lease's TTL after the first stops or loses ClickHouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vigil_server.worker_lease import WorkerLease
from vigil_storage import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerJob:
    name: str
    run: Callable[[asyncio.Event], Awaitable[None]]


class Worker:
    """Lifecycle: ``start`` → (jobs run while the lease is held) → ``stop``."""

    def __init__(self, lease: WorkerLease, jobs: list[WorkerJob], renew_s: float) -> None:
        self.lease = lease
        self.jobs = list(jobs)
        # Told True when this worker starts its jobs (it holds the lease), False when it stops
        # them (the alerting API's health follows it: alerting_split.py).
        self.on_active: Callable[[bool], Awaitable[None]] | None = None
        self._renew_s = renew_s
        self._stop = asyncio.Event()
        self._jobs_stop = asyncio.Event()
        self._running: list[asyncio.Task[None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return bool(self._running)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._loop(), name="vigil-worker-lease")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        table_ready = False
        while not self._stop.is_set():
            try:
                if not table_ready:
                    await loop.run_in_executor(None, self.lease.ensure_table)
                    table_ready = True
                holds = await loop.run_in_executor(None, self.lease.tick)
            except StorageError as exc:
                log.warning("worker lease not renewed: %s", exc.reason)
                holds = self.lease.active  # until our last confirmed expiry
            if holds and not self._running:
                self._start_jobs()
                await self._tell(True)
            elif not holds and self._running:
                await self._stop_jobs()
                await self._tell(False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._renew_s)

    async def _tell(self, active: bool) -> None:
        if self.on_active is not None:
            try:
                await self.on_active(active)
            except Exception:  # a listener's failure must not stop the lease loop
                log.exception("worker: the listener of its active state failed")

    def _start_jobs(self) -> None:
        log.info("worker active: starting jobs", extra={"jobs": [j.name for j in self.jobs]})
        self._jobs_stop = asyncio.Event()
        self._running = [
            asyncio.get_running_loop().create_task(job.run(self._jobs_stop), name=f"vigil-{job.name}")
            for job in self.jobs
        ]

    async def _stop_jobs(self) -> None:
        log.info("worker standing by: stopping jobs")
        self._jobs_stop.set()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running = []

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._running:
            await self._stop_jobs()
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.lease.release)
        except StorageError as exc:
            log.warning("worker lease not released (it expires on its own): %s", exc.reason)
        self.lease.close()
