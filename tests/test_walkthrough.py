"""The README's walk-through as a test (issue 35): the three commands of its `walkthrough` block,
read from README.md and run in order — `make run` with the walk-through's rule and notification
files, `vigil sink` as the local receiver and remediator, `vigil simulate --scenario error-spike`
— then, polling with deadlines: the rule fires, an incident opens, the firing notification and
the restart task reach the sink, the scenario ends, and the alert, the incident and the
notification all resolve.

Only what a test must change is changed: free ports instead of the fixed ones (the sink's 9009,
also in a copy of the notification file; the server's through VIGIL_*_PORT, as ServerProcess
does), the simulator pointed at that server, `vigil` run as `python -m vigil_server.cli`."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from vigil import QueryClient

from support import REPO, ServerProcess, free_port, wait_for

MARK = "<!-- walkthrough: tests/test_walkthrough.py runs these three commands, in this order -->"
README_PORT = "9009"


def readme_commands() -> list[tuple[dict[str, str], list[str]]]:
    """The block's commands as (environment assignments, argv), continuation lines joined and
    trailing comments dropped."""
    text = (REPO / "README.md").read_text()
    assert MARK in text, "the README lost its walk-through block"
    block = text.split(MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        env = {}
        while words and "=" in words[0] and words[0].split("=", 1)[0].isupper():
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if words:
            commands.append((env, words))
    return commands


class Sink:
    """``vigil sink`` as a child process; its JSON lines collected by a reader thread."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(json.loads(line))

    def received(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [line for line in self.lines if line["path"] == path]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _vigil(argv: list[str]) -> list[str]:
    assert argv[0] == ".venv/bin/vigil", argv
    return [sys.executable, "-m", "vigil_server.cli", *argv[1:]]


def _alerts(notices: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [a for n in notices for a in n["body"]["alerts"] if a["status"] == status]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_readme_walkthrough_from_make_run_to_resolved(tmp_path: Path) -> None:
    (serve_env, serve), (_, sink_argv), (_, simulate_argv) = readme_commands()
    assert serve == ["make", "run"] and sink_argv[:2] == [".venv/bin/vigil", "sink"]
    assert simulate_argv[:2] == [".venv/bin/vigil", "simulate"] and "--scenario" in simulate_argv
    port = str(free_port())
    notify_file = tmp_path / "alertmanager.yml"
    notify_file.write_text(
        (REPO / serve_env["VIGIL_ALERTMANAGER_CONFIG"]).read_text().replace(README_PORT, port)
    )
    env = {name: value.replace(README_PORT, port) for name, value in serve_env.items()}
    env["VIGIL_ALERTMANAGER_CONFIG"] = str(notify_file)

    server = ServerProcess(
        tmp_path / "data", command=["make", "--no-print-directory", "-C", str(REPO), "run"], **env
    )
    sink = Sink(_vigil([a.replace(README_PORT, port) for a in sink_argv]))
    simulation: subprocess.Popen[str] | None = None
    try:
        server.wait_ready()
        query = f"127.0.0.1:{server.query_port}"
        simulation = subprocess.Popen(
            [*_vigil(simulate_argv), "--endpoint", server.grpc_target, "--quiet"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with QueryClient(query) as client:
            # The rule fires and an incident opens.
            opened = wait_for(
                lambda: [i for i in client.incidents() if "agent-api-errors" in i.title], 180, "an incident"
            )[0]
            # The firing notification reaches the receiver.
            wait_for(lambda: _alerts(sink.received("/notify"), "firing"), 120, "the firing notification")
            # The action reaches the remediator, and is completed.
            task = wait_for(lambda: sink.received("/remediate"), 120, "the restart task")[0]
            assert task["body"]["action"] == "restart" and task["body"]["target"] == "agent-api"
            assert task["idempotency_key"] == task["body"]["action_id"]
            assert task["body"]["incident"]["id"] == opened.id
            done = wait_for(
                lambda: [a for a in client.actions() if a.status == "completed"], 120, "the action completed"
            )
            assert [(a.action, a.target, a.rule) for a in done] == [
                ("restart", "agent-api", "agent-api-errors")
            ]
            # The scenario ends (the simulator exits; every well-formed turn was acknowledged).
            out, err = simulation.communicate(timeout=300)
            assert simulation.returncode == 0, err[-3000:]
            summary = json.loads(out.strip().splitlines()[-1])
            assert summary["events_generated"] > 0 and summary["turns_with_injected_failure"] > 0
            # All resolve: the alert, the incident, and the receiver hears of it.
            resolved = wait_for(
                lambda: next((i for i in client.incidents(status="resolved") if i.id == opened.id), None),
                240,
                "the incident resolved",
            )
            assert all(a.state == "resolved" for a in resolved.alerts)
            wait_for(lambda: _alerts(sink.received("/notify"), "resolved"), 120, "the resolved notification")
            timeline = [e.kind for e in client.incident(opened.id).timeline]
            assert "action_run" in timeline and "resolved" in timeline
            # One restart per cooldown, whatever the rule saw meanwhile.
            assert len({t["idempotency_key"] for t in sink.received("/remediate")}) == 1
    finally:
        if simulation is not None and simulation.poll() is None:
            simulation.kill()
        server.terminate(whole_group=True)
        server.wait()
        sink.stop()
    assert "vigil stopped" in server.log()
