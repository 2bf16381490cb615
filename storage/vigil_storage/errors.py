"""One error tree for storage, translated once from clickhouse-connect's exceptions.

StorageError              anything that went wrong talking to ClickHouse
├── StorageUnavailable    could not reach it, it timed out, or it is in a state that passes
│                         (a table missing or read-only, too many parts, memory): retry later
└── StorageQueryError     it answered with an error for this statement
    └── StorageDataError  it refused the data itself (parse or type errors): retrying the
                          same data cannot help

The class is chosen from ClickHouse's error name (clickhouse-connect reads it from the
response), never from the message text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from clickhouse_connect.driver import exceptions as ch_exc


class StorageError(Exception):
    """ClickHouse could not do what was asked; ``reason`` says why."""

    def __init__(self, reason: str, *, code: int | None = None, name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.name = name


class StorageUnavailable(StorageError):
    """ClickHouse is unreachable, timed out or temporarily unable; the same call may succeed later."""


class StorageQueryError(StorageError):
    """ClickHouse rejected the statement."""


class StorageDataError(StorageQueryError):
    """ClickHouse refused the data of an INSERT; the same data will be refused again."""


# Server-side conditions that pass (or that an operator fixes) without changing the request.
_TRANSIENT = frozenset(
    {
        "UNKNOWN_TABLE",
        "UNKNOWN_DATABASE",
        "TABLE_IS_READ_ONLY",
        "TABLE_IS_DROPPED",
        "TOO_MANY_PARTS",
        "TOO_MANY_SIMULTANEOUS_QUERIES",
        "MEMORY_LIMIT_EXCEEDED",
        "NOT_ENOUGH_SPACE",
        "SOCKET_TIMEOUT",
        "NETWORK_ERROR",
        "ALL_CONNECTION_TRIES_FAILED",
        "KEEPER_EXCEPTION",
        "ABORTED",
        "QUERY_WAS_CANCELLED",
        "READONLY",
        "CANNOT_ALLOCATE_MEMORY",
    }
)
# The data of an INSERT is what ClickHouse refuses.
_DATA = frozenset(
    {
        "CANNOT_PARSE_TEXT",
        "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "CANNOT_PARSE_NUMBER",
        "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME",
        "CANNOT_PARSE_UUID",
        "CANNOT_READ_ALL_DATA",
        "ATTEMPT_TO_READ_AFTER_EOF",
        "INCORRECT_DATA",
        "TYPE_MISMATCH",
        "CANNOT_CONVERT_TYPE",
        "TOO_LARGE_STRING_SIZE",
        "TOO_LARGE_ARRAY_SIZE",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        "UNKNOWN_PROTOBUF_FORMAT",
        "CANNOT_PARSE_PROTOBUF_SCHEMA",
        "PROTOBUF_BAD_CAST",
        "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
        "INCORRECT_NUMBER_OF_COLUMNS",
        "SIZES_OF_ARRAYS_DONT_MATCH",
        "SIZES_OF_NESTED_COLUMNS_ARE_INCONSISTENT",
        "ARROW_EXCEPTION",
    }
)


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
        raise StorageUnavailable(
            f"{action}: ClickHouse unavailable: {_first_line(exc)}", code=exc.code, name=exc.name
        ) from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise StorageUnavailable(f"{action}: ClickHouse unavailable: {_first_line(exc)}") from exc
    except ch_exc.Error as exc:
        name = exc.name or ""
        if name in _TRANSIENT:
            cls: type[StorageError] = StorageUnavailable
        elif name in _DATA:
            cls = StorageDataError
        else:
            cls = StorageQueryError
        raise cls(f"{action}: {_first_line(exc)}", code=exc.code, name=exc.name) from exc
    except ch_exc.ClickHouseError as exc:
        raise StorageQueryError(f"{action}: {_first_line(exc)}") from exc
