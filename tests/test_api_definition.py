"""The query API definition: buf-lint clean, and the committed Python stubs match it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from support import REPO

BUF = "@bufbuild/buf@1.75.0"


def test_generated_stubs_are_current() -> None:
    out = subprocess.run(
        [sys.executable, "proto/generate.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(
    shutil.which("npx") is None, reason="buf comes from the npm registry; npx is not installed"
)
def test_buf_lint() -> None:
    out = subprocess.run(["npx", "--yes", BUF, "lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
