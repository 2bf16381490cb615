"""A loop on a daemon thread of its own, started and stopped the same way everywhere (the rule
runner, the projects' loop, the actions worker): ``stopping`` tells the loop to end after its
round, ``wake`` cuts its wait short (stop sets both), and stop waits for the round to finish."""

from __future__ import annotations

import threading
from collections.abc import Callable


class LoopThread:
    def __init__(self, name: str, loop: Callable[[], None], wake: threading.Event | None = None) -> None:
        self.name = name
        self._loop = loop
        self.wake = wake or threading.Event()  # may be shared by loops that drive one another
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop, unless it runs already."""
        if self._thread is not None:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Ask the loop to end and wait up to ``timeout_s`` for its round in progress."""
        self.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
