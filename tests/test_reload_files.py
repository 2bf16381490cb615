"""Reloading the rules file and the Alertmanager configuration (SIGHUP, ReloadRules; issue 34),
on a real in-process server: each file is parsed once per reload and what was checked is what
is put in force; a SIGHUP with neither file configured is no error; a refused reload's log line
names the file that failed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from notify_fakes import wait_for

import vigil_alerting.projects as projects_module
from vigil_alerting.notify import Notifier

from support import RunningApp, make_settings

POLICY = {
    "name": "one",
    "severity": "warning",
    "condition": {"type": "metric_exceeds", "metric": "cpu_reload_files", "threshold": 80},
}


def _alertmanager_yml(path: Path, receiver: str) -> Path:
    path.write_text(
        f"route: {{receiver: {receiver}}}\n"
        f"receivers: [{{name: {receiver}, webhook_configs: [{{url: 'http://127.0.0.1:9/{receiver}'}}]}}]\n"
    )
    return path


def _receivers(notifier: Notifier) -> set[str]:
    return set(notifier.config.receivers) if notifier.config is not None else set()


def test_each_file_is_parsed_once_and_what_was_checked_is_applied(
    chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both files are edited right after the reload parsed them (as an editor saving during a
    reload would): the reload applies what it parsed and checked, not the newer text."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([POLICY]))
    config = _alertmanager_yml(tmp_path / "alertmanager.yml", "first")
    app = RunningApp(
        make_settings(chdb_dir, database="reload_once", rules_file=rules, alertmanager_config=config)
    )
    try:
        alerting = app.app.alerting
        runner = wait_for(
            lambda: alerting.runners.get(app.settings.database), 60, "the default project's runner"
        )
        notifier = alerting.notifier
        assert notifier is not None and _receivers(notifier) == {"first"}
        reads: dict[str, int] = {"rules": 0, "config": 0}
        real_load_file, real_load_config = projects_module.load_file, projects_module.load_config

        def load_file(path: Path) -> Any:
            reads["rules"] += 1
            parsed = real_load_file(path)
            path.write_text(json.dumps([POLICY, {**POLICY, "name": "two"}]))  # edited meanwhile
            return parsed

        def load_config(path: Path) -> Any:
            reads["config"] += 1
            parsed = real_load_config(path)
            _alertmanager_yml(path, "second")  # edited meanwhile
            return parsed

        monkeypatch.setattr(projects_module, "load_file", load_file)
        monkeypatch.setattr(projects_module, "load_config", load_config)
        _alertmanager_yml(config, "first-again")
        done = alerting.reload_files()
        assert reads == {"rules": 1, "config": 1}
        assert done.rules is not None and [r.name for r in done.rules] == ["one"]
        assert sorted(n for n, r in runner.rules.items() if r.source == "file") == ["one"]
        wait_for(lambda: _receivers(notifier) == {"first-again"}, 30, "the parsed configuration applied")
    finally:
        app.stop()


def test_sighup_without_files_is_quiet_and_a_refusal_names_its_file(
    chdb_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vigil_server.app")
    bare = RunningApp(make_settings(chdb_dir, database="reload_bare"))
    try:
        for _ in range(2):
            bare.run(bare.app.reload_rules())
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        bare.stop()

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([POLICY]))
    config = _alertmanager_yml(tmp_path / "alertmanager.yml", "first")
    app = RunningApp(
        make_settings(chdb_dir, database="reload_named", rules_file=rules, alertmanager_config=config)
    )
    try:

        def refusals() -> list[str]:
            return [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]

        caplog.clear()
        config.write_text("route: {receiver: nobody}\nreceivers: []\n")
        app.run(app.app.reload_rules())
        (line,) = refusals()
        assert line.startswith("Alertmanager configuration not reloaded") and str(config) in line, line

        caplog.clear()
        _alertmanager_yml(config, "first")
        rules.write_text(json.dumps([{**POLICY, "severity": "loud"}]))
        app.run(app.app.reload_rules())
        (line,) = refusals()
        assert line.startswith("rules file not reloaded") and str(rules) in line, line
    finally:
        app.stop()
