"""Write: the only part of the collector that talks to ClickHouse."""

from vigil_collector.write.arrow_writer import ArrowWriter
from vigil_collector.write.trace_writer import TraceWriter

__all__ = ["ArrowWriter", "TraceWriter"]
