"""The server secret keys are hashed with: VIGIL_AUTH_SECRET, or a random one kept in the
data directory (single-node set-ups; processes on several machines must share the setting)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "auth-secret"


def server_secret(configured: str, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()
