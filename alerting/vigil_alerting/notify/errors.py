"""The notification pipeline's errors (under vigil_alerting.errors.AlertingError).

NotifyError
├── NotifyConfigError   an alertmanager.yml refused as a whole: carries the file and the key's path
└── SilenceError        a silence that cannot be created (bad matcher, end before start, unknown id)
"""

from __future__ import annotations

from vigil_alerting.errors import AlertingError


class NotifyError(AlertingError):
    """Base of the notification pipeline's errors."""


class NotifyConfigError(NotifyError, ValueError):
    """``path`` is where in the file (``receivers[0].webhook_configs[0].url``), ``reason`` why."""

    def __init__(self, reason: str, *, file: str = "", path: str = "") -> None:
        self.reason = reason
        self.file = file
        self.path = path
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class SilenceError(NotifyError, ValueError):
    """A silence request that is refused, with the reason."""
