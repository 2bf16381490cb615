"""The server's two secrets, each configured or a random one kept in the data directory
(single-node set-ups; processes on several machines must share the settings):

- VIGIL_AUTH_SECRET (file ``auth-secret``) keys the API-key hashes: changing it voids every key;
- VIGIL_SESSION_SECRET (file ``session-secret``) signs the users' session tokens: changing it
  ends every session and voids no key.

Either must hold at least 32 bytes: a short one is refused, never padded or used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

AUTH_FILE = "auth-secret"
SESSION_FILE = "session-secret"
MIN_BYTES = 32


class SecretError(ValueError):
    """A secret that is too short, or a secret file that cannot be used."""


def check_length(value: str, setting: str) -> None:
    """Refuse a configured secret shorter than MIN_BYTES (``setting`` names it in the reason)."""
    if value and len(value.encode()) < MIN_BYTES:
        raise SecretError(
            f"{setting} must be at least {MIN_BYTES} bytes, got {len(value.encode())} "
            "(e.g. the output of `openssl rand -base64 32`)"
        )


def server_secret(configured: str, data_dir: Path) -> bytes:
    """The key of the API-key hashes (VIGIL_AUTH_SECRET)."""
    return _secret(configured, "VIGIL_AUTH_SECRET", data_dir / AUTH_FILE)


def session_secret(configured: str, data_dir: Path) -> bytes:
    """The key of the session tokens (VIGIL_SESSION_SECRET)."""
    return _secret(configured, "VIGIL_SESSION_SECRET", data_dir / SESSION_FILE)


def _secret(configured: str, setting: str, path: Path) -> bytes:
    if configured:
        check_length(configured, setting)
        return configured.encode()
    if not path.exists():
        _create(path)
    value = path.read_text().strip().encode()
    if len(value) < MIN_BYTES:
        raise SecretError(
            f"the secret file {path} holds {len(value)} bytes, fewer than {MIN_BYTES}: it is damaged or "
            f"was not written by Vigil; set {setting}, or remove the file to have a new one made "
            "(for auth-secret that voids every API key; for session-secret it ends every session)"
        )
    return value


def _create(path: Path) -> None:
    """Write a new random secret so that no reader ever sees a partial file and a crash
    leaves either none or a whole one: a 0600 temporary file in the same directory, synced,
    then linked into place (a link, unlike a rename, fails if another process made the file
    meanwhile: both then use the one that won), and the directory synced."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))  # 43 characters, 256 random bits
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
