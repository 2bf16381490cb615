"""Batch: the one queue of the collector, with backpressure and group commit."""

from vigil_collector.batch.batcher import Batcher

__all__ = ["Batcher"]
