"""Write: the only part of the collector that talks to ClickHouse. One writer per signal
(traces.py, logs.py, metrics.py), each composed the same way: a connection (connection.py), an
insert strategy (Arrow, or native_insert.py's INSERT … SELECT that decodes OTLP in ClickHouse:
native_traces.py, native_metrics.py, with native_values.py's AnyValue → string SQL),
and a recovery key (recovery.py)."""

from vigil_collector.write.logs import LogsWriter
from vigil_collector.write.metrics import MetricsWriter
from vigil_collector.write.traces import TracesWriter

__all__ = ["LogsWriter", "MetricsWriter", "TracesWriter"]
