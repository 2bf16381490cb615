"""The writer of OTel logs: record batches decoded in Python (Arrow) into ``otel_logs``."""

from __future__ import annotations

from vigil_collector.wal.records import RecordKind
from vigil_collector.write import recovery
from vigil_collector.write.connection import Connection, insert_arrow, qualified, read_ipc


class LogsWriter:
    """A connection, the Arrow insert, the logs' recovery key."""

    kinds = frozenset({RecordKind.LOGS_ARROW})
    items = "log records"

    def __init__(self, dsn: str, *, connect_timeout_s: float, insert_timeout_s: float) -> None:
        self.connection = Connection(
            dsn, connect_timeout_s=connect_timeout_s, insert_timeout_s=insert_timeout_s
        )

    def write(self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str) -> str:
        """Insert the records' rows into ``database`` in one INSERT (the batcher's entry point)."""
        insert_arrow(self.connection, read_ipc(payloads), qualified(database, "otel_logs"), token, self.items)
        return "python"

    def recover(self, kind: RecordKind, payloads: list[bytes], token: str, database: str) -> int:
        """Insert the log records of these payloads that ``database`` lacks (a batch written
        again after a crash: see batch/failures.RecoveringWriter)."""
        table = read_ipc(payloads)
        return recovery.recover_rows(
            self.connection, table, database, token, "otel_logs", recovery.LOGS, self.items
        )

    def close(self) -> None:
        self.connection.close()
