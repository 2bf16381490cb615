"""Inserts metric records into the five ``otel_metrics_*`` tables: each record holds a
request's points split by type (decode/metrics.py); a batch becomes one INSERT per table,
each with the batch's token and the table's name, so a repeat after a crash is dropped table
by table."""

from __future__ import annotations

import pyarrow as pa

from vigil_collector.decode.metrics import TABLES, unpack
from vigil_collector.wal.records import RecordKind
from vigil_collector.write.arrow_writer import ArrowWriter


class MetricsWriter(ArrowWriter):
    def __init__(self, dsn: str, *, connect_timeout_s: float, insert_timeout_s: float) -> None:
        super().__init__(
            dsn,
            "otel_metrics_gauge",
            frozenset({RecordKind.METRICS_ARROW}),
            connect_timeout_s=connect_timeout_s,
            insert_timeout_s=insert_timeout_s,
            items="data points",
        )

    def write(self, kind: RecordKind, payloads: list[bytes], items: int, token: str, database: str) -> str:
        parts: dict[str, list[pa.Table]] = {}
        for payload in payloads:
            for name, table in unpack(payload):
                parts.setdefault(name, []).append(table)
        for name in TABLES:
            if name in parts:
                tables = parts[name]
                table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
                self.write_arrow(table, database, f"{token}:{name}" if token else "", f"otel_metrics_{name}")
        return "python"
