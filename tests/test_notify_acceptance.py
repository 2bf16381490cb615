"""Issue 34's acceptance through a real ``vigil serve`` (a child process over its own embedded
chDB, receivers as loopback fakes, data from the stock OpenTelemetry SDK): kill -9 of the server
with notifications owed, the repeat interval counted over a fixed window, the Alertmanager
configuration reloaded by ReloadRules and SIGHUP, forwarding to an external Alertmanager, and the
notifier's metrics on the server's /metrics."""

from __future__ import annotations

import collections
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alert_support import send_spans
from notify_fakes import FakeReceivers, wait_for

from support import ServerProcess, query_stopped_storage

SERVICE = "notify-acceptance"
USERS = 50


@pytest.fixture
def fake() -> Iterator[FakeReceivers]:
    f = FakeReceivers()
    yield f
    f.close()


def _config(path: Path, route: dict[str, object], receivers: list[dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump({"route": route, "receivers": receivers}))
    return path


def _stop(server: ServerProcess) -> None:
    server.terminate()
    assert server.wait() == 0, server.log()[-4000:]


def test_kill_9_of_the_server_resumes_the_owed_notifications_with_their_outbox_ids(
    tmp_path: Path, fake: FakeReceivers
) -> None:
    """A rule grouped by 50 users fires in one evaluation; the slow receiver has seen about 20
    when the server is killed; the server restarted on the same data directory sends the rest
    with the ids of the outbox rows written before the kill (resumed, not rebuilt)."""
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [{"name": "per-user", "severity": "warning", "target": SERVICE, "group_by": ["vigil.user"],
              "window": "1h", "interval": 1, "condition": {"type": "spans", "measure": "count", "threshold": 0}}]
        )
    )  # fmt: skip
    config = _config(
        tmp_path / "alertmanager.yml",
        {"receiver": "slow", "group_by": ["alertname", "vigil.user"], "group_wait": "0s",
         "group_interval": "1s", "repeat_interval": "1h"},
        [{"name": "slow", "webhook_configs": [{"url": f"{fake.url}/slow"}]}],
    )  # fmt: skip
    env = {
        "VIGIL_RULES_FILE": str(rules),
        "VIGIL_RULES_INTERVAL_S": "1",
        "VIGIL_ALERTMANAGER_CONFIG": str(config),
        "VIGIL_DRIFT_INTERVAL_S": "0",
        # Five on the wire at a time, 0.4 s each: 50 take ~4 s, so the kill falls in the middle.
        "VIGIL_NOTIFY_MAX_IN_FLIGHT": "5",
        "VIGIL_NOTIFY_RETRY_BASE_S": "0.05",
    }
    data = tmp_path / "data"
    fake.delays["/slow"] = 0.4
    server = ServerProcess(data, **env)
    try:
        server.wait_ready()
        send_spans(server, SERVICE, [("call", 5.0, False, {"user.id": f"u{u:02d}"}) for u in range(USERS)])  # type: ignore[arg-type]
        wait_for(lambda: len(fake.at("/slow")) >= 20, 120, "20 requests at the slow receiver")
        os.kill(server.proc.pid, signal.SIGKILL)
        server.wait()
    finally:
        if server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.wait()
    before = len(fake.at("/slow"))
    assert before < USERS, "everything arrived before the kill: the test proves nothing"

    # What the killed server owed, as its outbox holds it.
    rows = query_stopped_storage(
        data,
        "SELECT Id, State, arrayStringConcat(Firing, ',') FROM vigil_system.vigil_notification_outbox FINAL",
    )
    outbox_ids = {row[0] for row in rows}
    pending = {row[0] for row in rows if row[1] == "pending"}
    assert len(rows) == USERS, rows  # every group's notification was recorded before it was sent
    assert len(pending) >= USERS - before, (len(pending), before)

    fake.delays["/slow"] = 0.0
    again = ServerProcess(data, **env)
    try:
        again.wait_ready()

        def users() -> set[str]:
            return {r.json["groupLabels"]["vigil.user"] for r in fake.at("/slow")}

        wait_for(lambda: len(users()) == USERS, 120, "all 50 groups after the restart")
        # The resumed rows are marked sent; nothing new is owed (polled: the 'sent' rows are
        # written after the answers).
        status = wait_for(
            lambda: _outbox_metric(again) == 0.0 and _sent(again) >= 1, 60, "the outbox drained"
        )
        assert status
    finally:
        _stop(again)
    ids_by_user: dict[str, set[str]] = collections.defaultdict(set)
    for r in fake.at("/slow"):
        assert r.json["status"] == "firing"
        ids_by_user[r.json["groupLabels"]["vigil.user"]].add(r.headers["X-Vigil-Delivery-Id"])
    assert all(len(ids) == 1 for ids in ids_by_user.values()), {
        u: i for u, i in ids_by_user.items() if len(i) > 1
    }
    seen = set().union(*ids_by_user.values())
    assert seen == outbox_ids  # resumed from the outbox: no notification was made anew
    after = query_stopped_storage(
        data, "SELECT State, count() FROM vigil_system.vigil_notification_outbox FINAL GROUP BY State"
    )
    assert dict((s, int(n)) for s, n in after) == {"sent": USERS}
    duplicates = len(fake.at("/slow")) - USERS
    print(f"kill -9 of vigil serve: {before} arrived before, {len(pending)} pending in the outbox, "
          f"{duplicates} duplicates (same id) after the restart")  # fmt: skip


def _metrics(server: ServerProcess) -> str:
    with urllib.request.urlopen(f"{server.http_base}/metrics", timeout=30) as r:
        return r.read().decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample ``name{labels…}`` (labels a subset), None without one."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def _outbox_metric(server: ServerProcess) -> float | None:
    return _sample(_metrics(server), "vigil_notification_outbox_backlog")


def _sent(server: ServerProcess) -> float:
    return _sample(_metrics(server), "vigil_notifications_total", result="sent") or 0.0
