"""Delivery that loses nothing: a notifier process killed (-9, or SIGTERM) with 50
notifications owed to a slow receiver delivers every one after its restart; a notification
that reached the receiver twice (sent, then killed before its 'sent' was written) carries the
same delivery id both times, and no group gets a second, different notification."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from notify_fakes import FakeReceivers, wait_for

WORKER = Path(__file__).with_name("notify_crash_worker.py")
COUNT = 50


def _start(data_dir: Path, config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), str(config), str(COUNT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"worker did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_a_restart_delivers_everything_owed_and_duplicates_carry_the_same_key(
    tmp_path: Path, fake: FakeReceivers, how: str
) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        yaml.safe_dump(
            {"route": {"receiver": "slow", "group_by": ["alertname", "service"], "group_wait": "0s",
                       "group_interval": "1s", "repeat_interval": "1h"},
             "receivers": [{"name": "slow", "webhook_configs": [{"url": f"{fake.url}/slow"}]}]}
        )
    )  # fmt: skip
    data_dir = tmp_path / "chdb"
    fake.delays["/slow"] = 0.4  # 5 in flight at a time: 50 take ~4 s
    first = _start(data_dir, config)
    try:
        wait_for(lambda: len(fake.at("/slow")) >= 20, 60, "20 requests at the slow receiver")
        if how == "kill -9":
            first.send_signal(signal.SIGKILL)
        else:
            first.send_signal(signal.SIGTERM)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.stderr is not None
    first_err = first.stderr.read()  # the notifier's warnings, should a clean stop re-send
    before = len(fake.at("/slow"))
    assert before < COUNT, "everything was delivered before the restart: the test proves nothing"
    fake.delays["/slow"] = 0.0
    second = _start(data_dir, config)
    try:
        wait_for(
            lambda: len({r.json["groupLabels"]["service"] for r in fake.at("/slow")}) == COUNT,
            60,
            "all 50 groups",
        )
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["states"] == {"sent": COUNT}, (summary, err[-2000:])
    ids_by_group: dict[str, set[str]] = collections.defaultdict(set)
    for r in fake.at("/slow"):
        ids_by_group[r.json["groupLabels"]["service"]].add(r.headers["X-Vigil-Delivery-Id"])
    assert all(len(ids) == 1 for ids in ids_by_group.values()), {
        g: i for g, i in ids_by_group.items() if len(i) > 1
    }
    duplicates = len(fake.at("/slow")) - COUNT
    print(f"{how}: {before} requests before the restart, {duplicates} duplicates (same key) after")
    if how == "SIGTERM":
        assert duplicates == 0, first_err[-3000:]  # a clean stop lets the attempts on the wire finish
