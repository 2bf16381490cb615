"""One writer per signal, read the same way: a connection, an insert strategy, a recovery key
defined once (write/recovery.py), for traces, logs and metrics alike."""

from __future__ import annotations

import ast

from vigil_collector.wal.records import RecordKind
from vigil_collector.write import LogsWriter, MetricsWriter, TracesWriter, recovery
from vigil_collector.write.connection import Connection

from support import REPO

WRITERS = (TracesWriter, LogsWriter, MetricsWriter)


def test_each_signal_has_one_writer_of_the_same_shape() -> None:
    kinds: list[RecordKind] = []
    for cls in WRITERS:
        writer = cls("chdb:///nowhere", connect_timeout_s=1, insert_timeout_s=1)  # connects lazily
        assert isinstance(writer.connection, Connection), cls
        assert all(callable(getattr(writer, m)) for m in ("write", "recover", "close")), cls
        kinds += writer.kinds
        writer.close()
    assert sorted(kinds) == sorted(RecordKind), "every kind of WAL record has exactly one writer"


def test_the_recovery_keys_are_defined_once() -> None:
    """No column tuple of a recovery key outside write/recovery.py (it was in three places)."""
    keys = {key.columns for key in (recovery.TRACES, recovery.LOGS, recovery.METRICS)}
    found = []
    for folder in ("collector/vigil_collector", "server/vigil_server"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "recovery.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                constants = isinstance(node, ast.Tuple) and all(
                    isinstance(e, ast.Constant) for e in node.elts
                )
                if constants and tuple(e.value for e in node.elts) in keys:  # type: ignore[attr-defined]
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert found == []


def test_the_native_insert_mechanism_knows_no_signal() -> None:
    """write/native_insert.py runs statements; the SQL of a signal lives in native_traces.py or
    native_metrics.py, and the AnyValue → string SQL both share in native_values.py (the three
    were one module)."""
    path = REPO / "collector/vigil_collector/write/native_insert.py"
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    signals = {
        "vigil_collector.decode.spans",
        "vigil_collector.decode.metrics",
        "vigil_collector.decode.logs",
    }
    assert not imported & signals, f"native_insert.py imports a signal's decoder: {imported & signals}"
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    defined |= {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    signal_sql = {"insert_select", "STRUCTURE", "ATTRIBUTES", "attribute_map", "hex_id", "nanos"}
    assert not defined & signal_sql, f"native_insert.py defines a signal's SQL: {defined & signal_sql}"
