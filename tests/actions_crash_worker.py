"""An action queue in its own process over its own embedded chDB, for the crash test.

    python actions_crash_worker.py <chdb dir> <remediator url> <actions to enqueue: N>

Enqueues N actions (0 on a restart), starts the worker, prints "ready" and runs until SIGTERM
(a clean stop, then one JSON line with the actions' statuses) or SIGKILL.
"""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading

from vigil_alerting.actions.queue import ActionQueue
from vigil_storage import connect


def main() -> None:
    data_dir, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queue = ActionQueue(
        lambda: connect(f"chdb://{data_dir}"), system_database="vigil_system", remediator_url=url,
        retry_base_s=0.05, poll_s=0.1, timeout_s=30,
    )  # fmt: skip
    queue.open()
    for i in range(count):
        queue.enqueue("p", "restart", f"svc-{i:03d}")
    queue.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(0.05):
        pass
    queue.stop()
    queue.open()
    statuses = collections.Counter(a.status for a in queue.list("p", limit=500))
    queue.stop()
    print(json.dumps({"statuses": dict(statuses)}), flush=True)


if __name__ == "__main__":
    main()
