"""Notifications: Alertmanager-compatible routing, grouping, silences and durable delivery."""

from vigil_alerting.notify.notifier import Notifier

__all__ = ["Notifier"]
