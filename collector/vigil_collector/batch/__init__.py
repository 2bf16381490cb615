"""Batch: the write-ahead log cut into large INSERTs, written behind the acknowledgements."""

from vigil_collector.batch.batcher import Batcher

__all__ = ["Batcher"]
