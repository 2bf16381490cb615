"""Notification burst: N alert instances turning firing in one evaluation (a rule grouped by N
users), ``group_by: [alertname, vigil.user]``, ``group_wait: 0s``, one webhook receiver in its
own process. Prints the first delivery's latency after ``observe`` (p50, p99, last) and the
notifier process's CPU (its loop, its ClickHouse writes, embedded chDB), per round.

    .venv/bin/python bench/notify.py                     # 1000 alerts, 3 rounds
    .venv/bin/python bench/notify.py --alerts 5000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from vigil_alerting.notify import Notifier
from vigil_alerting.notify.alert import Alert
from vigil_storage import connect


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("notify_sink.py"))], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    url = f"http://127.0.0.1:{json.loads(sink.stdout.readline())['port']}"
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-notify-"))
    client = connect(f"chdb://{work}/chdb")
    try:
        for rnd in range(args.rounds):
            config = work / f"alertmanager-{rnd}.yml"
            config.write_text(
                yaml.safe_dump(
                    {"route": {"receiver": "r", "group_by": ["alertname", "vigil.user"], "group_wait": "0s",
                               "group_interval": "1s", "repeat_interval": "1h"},
                     "receivers": [{"name": "r", "webhook_configs": [{"url": f"{url}/bulk"}]}]}
                )
            )  # fmt: skip
            notifier = Notifier(client, system_database=f"bench_notify_{rnd}", config_path=config)
            notifier.open()
            notifier.start()
            alerts = [
                Alert(
                    f"r{rnd}u{u}",
                    {"alertname": f"budget-{rnd}", "vigil.user": f"user-{u:05d}"},
                    starts_at_ns=1,
                )
                for u in range(args.alerts)
            ]
            before = int(urllib.request.urlopen(f"{url}/count").read())
            cpu0, t0 = time.process_time(), time.time()
            notifier.observe_alerts(alerts)
            while int(urllib.request.urlopen(f"{url}/count").read()) < before + args.alerts:
                time.sleep(0.1)
            cpu = time.process_time() - cpu0
            got = json.loads(urllib.request.urlopen(f"{url}/stats?since={before}").read())
            lat = sorted(at - t0 for at, *_ in got)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99) - 1)]
            print(
                f"round {rnd + 1}: {len(got)} notifications; first delivery p50 {lat[len(lat) // 2]:.3f} s, "
                f"p99 {p99:.3f} s, last {lat[-1]:.3f} s; notifier CPU {cpu:.2f} s",
                flush=True,
            )
            notifier.stop()
    finally:
        client.close()
        sink.kill()


if __name__ == "__main__":
    main()
