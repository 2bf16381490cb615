"""A notifier in its own process over its own embedded chDB, for the crash test.

    python notify_crash_worker.py <chdb dir> <alertmanager.yml> <alerts: N>

Observes N firing alerts (one group each, as a resumed runner would re-observe them after a
restart), prints "ready", and runs until SIGTERM (a clean stop, then one JSON line with the
outbox's states) or SIGKILL.
"""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading
import time
from pathlib import Path

from vigil_alerting.notify import Notifier
from vigil_alerting.notify.alert import Alert
from vigil_storage import connect


def main() -> None:
    data_dir, config, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    client = connect(f"chdb://{data_dir}")
    notifier = Notifier(
        client,
        system_database="vigil_system",
        config_path=config,
        retry_base_s=0.05,
        max_in_flight=5,
        timeout_s=30,
    )
    notifier.open()
    notifier.start()
    start = 1_700_000_000 * 10**9  # fixed: the same alerts in every run
    notifier.observe_alerts(
        Alert(f"fp{i:03d}", {"alertname": "slow-drain", "service": f"svc-{i:03d}"}, starts_at_ns=start)
        for i in range(count)
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(0.05):
        pass
    notifier.stop()
    states = collections.Counter(r.state for r in notifier.outbox.rows())
    print(json.dumps({"states": dict(states), "at": time.time()}), flush=True)


if __name__ == "__main__":
    main()
