"""Silences: matchers over alert labels with a start, an end, a creator and a comment."""

from vigil_alerting.silence.store import Silence, SilenceStore

__all__ = ["Silence", "SilenceStore"]
