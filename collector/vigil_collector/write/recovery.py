"""The recovery keys of the three signals, defined once, and the check that uses them.

Why: ClickHouse records an INSERT's deduplication token just before it commits the part, so
a crash between the two leaves a batch that is dropped as a duplicate when written again
(batch/failures.py's RecoveringWriter). A batch written again at start is therefore checked:
its rows are compared with the table's by a key that tells rows apart, and what is missing is
inserted with a token of its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from vigil_collector.write.connection import Connection, insert_arrow, qualified
from vigil_storage.errors import translate_errors


@dataclass(frozen=True)
class RecoveryKey:
    """The columns that tell a signal's rows apart, the time column first; ``narrow_by``, a
    column of them with an index (spans: TraceId), also limits the check to the batch's values."""

    columns: tuple[str, ...]
    narrow_by: str = ""


TRACES = RecoveryKey(("Timestamp", "TraceId", "SpanId"), narrow_by="TraceId")
LOGS = RecoveryKey(("Timestamp", "ServiceName", "TraceId", "SpanId", "SeverityNumber", "Body"))
# A data point is its series (service, metric, attributes) and its times; one per point table.
METRICS = RecoveryKey(("TimeUnix", "ServiceName", "MetricName", "Attributes", "StartTimeUnix"))


def recover_rows(
    connection: Connection,
    table: pa.Table,
    database: str,
    token: str,
    table_name: str,
    key: RecoveryKey,
    items: str,
) -> int:
    """Insert the rows of ``table`` that ``database``'s ``table_name`` lacks, by ``key`` as a
    multiset: a key the batch holds n times and the table m times (in the batch's time range
    and services) is missing n - m times. Returns the rows inserted."""
    if table.num_rows == 0:
        return 0
    time_column, narrow_by = key.columns[0], key.narrow_by
    times = table.column(time_column).cast(pa.int64())
    columns = [f"toUnixTimestamp64Nano(`{time_column}`)", *(f"`{k}`" for k in key.columns[1:])]
    client = connection.client()
    with translate_errors(f"checking the {items} of a batch written again"):
        rows = client.query(
            f"SELECT {', '.join(columns)}, count() FROM {qualified(database, table_name)}"
            f" WHERE `{time_column}` >= fromUnixTimestamp64Nano({{lo:Int64}})"
            f" AND `{time_column}` <= fromUnixTimestamp64Nano({{hi:Int64}})"
            " AND ServiceName IN {services:Array(String)}"
            + (f" AND `{narrow_by}` IN {{narrow:Array(String)}}" if narrow_by else "")
            + f" GROUP BY {', '.join(columns)}",
            parameters={
                "lo": pc.min(times).as_py(),
                "hi": pc.max(times).as_py(),
                "services": sorted(set(table.column("ServiceName").to_pylist())),
                "narrow": sorted(set(table.column(narrow_by).to_pylist())) if narrow_by else [],
            },
        ).result_rows
    present = Counter({tuple(_hashable(v) for v in row[:-1]): row[-1] for row in rows})
    values = [times.to_pylist(), *(table.column(k).to_pylist() for k in key.columns[1:])]
    missing = []
    for row in zip(*values, strict=True):
        found = tuple(_hashable(v) for v in row)
        if present[found] > 0:
            present[found] -= 1
            missing.append(False)
        else:
            missing.append(True)
    count = sum(missing)
    if count:
        insert_arrow(
            connection,
            table.filter(pa.array(missing)),
            qualified(database, table_name),
            f"{token}:recovered" if token else "",
            items,
        )
    return count


def _hashable(value: object) -> object:
    """A value as ClickHouse and Arrow both give it, comparable: maps (dicts from ClickHouse,
    lists of pairs from Arrow) as tuples of pairs, lists as tuples."""
    if isinstance(value, dict):
        return tuple(value.items())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
