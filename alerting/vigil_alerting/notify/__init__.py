"""Notifications: Alertmanager-compatible routing, grouping, silences and durable delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil_alerting.notify.notifier import Notifier

__all__ = ["Notifier"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, not with the package: silence/ imports notify's matchers and errors,
    # and the notifier imports silence/, so an eager import here would be a cycle whenever
    # vigil_alerting.silence is imported first.
    if name == "Notifier":
        from vigil_alerting.notify.notifier import Notifier

        return Notifier
    raise AttributeError(name)
