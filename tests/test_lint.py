"""The code base stays lint-clean and formatted (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from support import REPO


def test_ruff_check_and_format() -> None:
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_configuration_page_is_current() -> None:
    """docs/configuration.md is generated from the settings object: a setting added, renamed or
    re-described without `make docs` fails here."""
    from vigil_server.settings_doc import PAGE, render

    assert PAGE == REPO / "docs" / "configuration.md"
    assert PAGE.read_text() == render(), "docs/configuration.md is not current: run `make docs`"
