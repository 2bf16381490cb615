"""One error tree for storage, translated once from clickhouse-connect's exceptions.

StorageError            anything that went wrong talking to ClickHouse
├── StorageUnavailable  could not reach it, or it timed out: retry later
└── StorageQueryError   it answered with an error for this statement
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from clickhouse_connect.driver import exceptions as ch_exc


class StorageError(Exception):
    """ClickHouse could not do what was asked; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageUnavailable(StorageError):
    """ClickHouse is unreachable or timed out; the same call may succeed later."""


class StorageQueryError(StorageError):
    """ClickHouse rejected the statement."""


def _first_line(exc: BaseException, limit: int = 500) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise clickhouse-connect and socket errors as StorageError subclasses."""
    try:
        yield
    except StorageError:
        raise
    except ch_exc.OperationalError as exc:  # connection refused, timeouts, broken streams
        raise StorageUnavailable(f"{action}: ClickHouse unavailable: {_first_line(exc)}") from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise StorageUnavailable(f"{action}: ClickHouse unavailable: {_first_line(exc)}") from exc
    except ch_exc.ClickHouseError as exc:
        raise StorageQueryError(f"{action}: {_first_line(exc)}") from exc
