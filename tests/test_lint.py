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


def test_every_setting_is_in_the_readme() -> None:
    from vigil_server.settings import VigilSettings

    readme = (REPO / "README.md").read_text()
    missing = [
        f"VIGIL_{name.upper()}"
        for name in VigilSettings.model_fields
        if f"VIGIL_{name.upper()}" not in readme
    ]
    assert not missing, f"settings missing from the README's configuration table: {missing}"
