"""Passwords, hashed with Argon2id (argon2-cffi's defaults: what OWASP recommends)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Takes ~50 ms and 64 MiB on purpose: call it off the event loop (PasswordPool)."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordPool:
    """Argon2 runs on ``threads`` threads of its own, never on the default executor that the
    readiness probe and start-up work use: a flood of logins costs at most these threads'
    CPU and 64 MiB each. Callers queue on a semaphore of the same size rather than in the
    executor, so that a call cancelled while it waits leaves no hash behind to compute."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"the password pool needs at least 1 thread, got {threads}")
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vigil-argon2")
        self._slots = asyncio.Semaphore(threads)

    async def matches(self, stored_hash: str, password: str) -> bool:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, password_matches, stored_hash, password)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._executor, hash_password, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
