"""The local admin endpoint: how ``vigil projects|keys|users|prices`` reach a running server.

A running ``vigil serve`` holds its data directory (the write-ahead log's lock, and embedded
ClickHouse can be opened by one process only), so the admin commands cannot open the storage
beside it. Instead, once the query port is bound, the server writes ``local-admin.json`` into
its data directory: the query address and a random token that makes its bearer a server admin.
The file is mode 0600 in a 0700 directory, so only the account that runs the server (which
can read all its data anyway) can use it; a new token is made at every start and the file is
removed at a clean stop. The token works with authentication off too — it is then the only
credential the admin API accepts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from vigil_collector.wal.journal import LOCK_FILE

FILE_NAME = "local-admin.json"
TOKEN_PREFIX = "vgla_"  # neither an API key (vgl_) nor a JWT: the authenticator tells it apart


@dataclass(frozen=True)
class LocalAdmin:
    token: str
    target: str  # host:port of the query service's gRPC port
    tls: bool
    pid: int


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def publish(data_dir: Path, admin: LocalAdmin) -> Path:
    """Write the endpoint file atomically (a reader never sees half of it), mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / FILE_NAME
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"token": admin.token, "target": admin.target, "tls": admin.tls, "pid": admin.pid}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def withdraw(data_dir: Path, token: str) -> None:
    """Remove the file if it is still ours (a newer server may have replaced it)."""
    found = read(data_dir)
    if found is not None and found.token == token:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / FILE_NAME).unlink()


def read(data_dir: Path) -> LocalAdmin | None:
    """The endpoint a server on this data directory published; None if there is none."""
    try:
        raw = json.loads((data_dir / FILE_NAME).read_text())
        return LocalAdmin(str(raw["token"]), str(raw["target"]), bool(raw.get("tls")), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def loopback_target(listen_host: str, port: int) -> str:
    """The address a process on this machine reaches a listener bound to ``listen_host`` at."""
    if listen_host in ("0.0.0.0", "", "localhost"):
        return f"127.0.0.1:{port}"
    if listen_host == "::":
        return f"[::1]:{port}"
    return f"[{listen_host}]:{port}" if ":" in listen_host else f"{listen_host}:{port}"


def held(wal_dir: Path) -> bool:
    """Whether a running server holds this write-ahead log (and so its data directory): its
    lock is taken for the process's whole life. Asked before opening embedded ClickHouse,
    which would only fail, and noisily, beside it."""
    try:
        fd = os.open(wal_dir / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False
