"""The write-ahead log: acknowledged requests, fsynced on the collector's disk until the
batcher has written them to ClickHouse."""

from vigil_collector.wal.journal import WriteAheadLog
from vigil_collector.wal.records import Record, RecordKind

__all__ = ["Record", "RecordKind", "WriteAheadLog"]
