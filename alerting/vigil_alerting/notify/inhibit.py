"""Inhibition: a firing alert matching an inhibit rule's source mutes the alerts matching its
target that have the same values of the ``equal`` labels (a missing label equals a missing
label). An alert matching both sides does not inhibit itself."""

from __future__ import annotations

from collections.abc import Iterable

from vigil_alerting.notify.alert import Alert
from vigil_alerting.notify.config import Inhibit
from vigil_alerting.notify.matchers import matches_all


class Inhibitor:
    def __init__(self, rules: Iterable[Inhibit]) -> None:
        self.rules = tuple(rules)

    def index(self, alerts: Iterable[Alert]) -> list[dict[tuple[str, ...], set[str]]]:
        """Per rule: the project and equal-label values of firing source alerts → their keys
        (an alert inhibits only alerts of its own project)."""
        out: list[dict[tuple[str, ...], set[str]]] = []
        firing = [a for a in alerts if not a.resolved]
        for rule in self.rules:
            by: dict[tuple[str, ...], set[str]] = {}
            for a in firing:
                if matches_all(rule.source, a.labels):
                    by.setdefault(_equal(a, rule.equal), set()).add(a.key)
            out.append(by)
        return out

    def inhibited(self, alert: Alert, index: list[dict[tuple[str, ...], set[str]]]) -> bool:
        for rule, by in zip(self.rules, index, strict=True):
            if not by or not matches_all(rule.target, alert.labels):
                continue
            sources = by.get(_equal(alert, rule.equal), set())
            if sources - {alert.key}:
                return True
        return False


def _equal(alert: Alert, equal: Iterable[str]) -> tuple[str, ...]:
    return (alert.project, *(alert.labels.get(k, "") for k in equal))
