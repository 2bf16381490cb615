"""Settings renamed for what they count keep their old environment names for one release:
read under either name, the new one winning, and a warning at start naming the new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil_server.cli import main
from vigil_server.settings import VigilSettings, deprecated_names


def test_the_cost_settings_are_read_under_their_new_and_old_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_BATCH_MAX_SPANS", "1234")
    monkeypatch.setenv("VIGIL_QUEUE_MAX_SPANS", "5678")
    old = VigilSettings(_env_file=None)
    assert (old.batch_max_cost, old.queue_max_cost) == (1234, 5678)
    monkeypatch.setenv("VIGIL_BATCH_MAX_COST", "4321")
    monkeypatch.setenv("VIGIL_QUEUE_MAX_COST", "8765")
    new = VigilSettings(_env_file=None)
    assert (new.batch_max_cost, new.queue_max_cost) == (4321, 8765)
    # In code (and tests) the field names still work.
    assert VigilSettings(_env_file=None, batch_max_cost=7).batch_max_cost == 7


def test_the_old_names_are_reported_with_their_new_names(tmp_path: Path) -> None:
    assert deprecated_names({"VIGIL_BATCH_MAX_COST": "1"}, None) == []
    assert deprecated_names({"vigil_batch_max_spans": "1"}, None) == [
        "VIGIL_BATCH_MAX_SPANS is deprecated: use VIGIL_BATCH_MAX_COST"
    ]
    env_file = tmp_path / ".env"
    env_file.write_text("VIGIL_QUEUE_MAX_SPANS=10\n")
    assert deprecated_names({}, env_file) == ["VIGIL_QUEUE_MAX_SPANS is deprecated: use VIGIL_QUEUE_MAX_COST"]


def test_an_invalid_value_under_the_old_name_is_reported_under_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("VIGIL_QUEUE_MAX_SPANS", "0")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "  VIGIL_QUEUE_MAX_COST: Input should be greater than 0" in err
    assert "VIGIL_VIGIL" not in err
