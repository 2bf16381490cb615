"""Replay: what-if mutations of a stored trace's inputs, and re-execution of its GenAI calls.

mutations.py (select spans, apply JSON Patch, diff) → stale.py (which recorded outputs no
longer hold) → providers.py + record.py (send again, store the new trace) → history.py
(vigil_replays), orchestrated by service.py.
"""
