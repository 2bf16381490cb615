"""Alerting's errors, one tree:

AlertingError
├── RuleError          a policy is invalid (bad input: refused, never half-loaded)
│   └── RuleFileError  ... in a rules file: carries the file, the policy and the field
└── EvaluationError    a rule could not be evaluated now (query error, deadline): retryable
"""

from __future__ import annotations


class AlertingError(Exception):
    """Base of every error the alerting package raises on purpose."""


class RuleError(AlertingError, ValueError):
    """A policy that cannot be loaded: ``policy`` and ``field`` say where, ``reason`` why."""

    def __init__(self, reason: str, *, policy: str = "", field: str = "") -> None:
        self.reason = reason
        self.policy = policy
        self.field = field
        where = ", ".join(
            part
            for part in (f"policy {policy!r}" if policy else "", f"field {field}" if field else "")
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason)


class RuleFileError(RuleError):
    """A rules file refused as a whole; the message starts with the file."""

    def __init__(self, path: str, reason: str, *, policy: str = "", field: str = "") -> None:
        self.path = path
        super().__init__(reason, policy=policy, field=field)
        self.args = (f"{path}: {self.args[0]}",)


class EvaluationError(AlertingError):
    """One evaluation of one rule failed (recorded and counted; other rules go on)."""
