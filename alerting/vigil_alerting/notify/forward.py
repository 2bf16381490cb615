"""Forwarding to an external Alertmanager (``VIGIL_ALERTMANAGER_URL``), as Prometheus does:
``POST {url}/api/v2/alerts`` with every changed alert at once, and every firing alert again
each ``resend_s`` (its ``endsAt`` is 4 times ``resend_s`` ahead, so the Alertmanager resolves it by
itself if Vigil stops sending). A resolved alert is sent once more with its real end time.
Failed POSTs are counted and logged; the next resend carries the alerts again."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterable
from typing import Any

import aiohttp

from vigil_alerting.notify.alert import Alert, rfc3339
from vigil_alerting.notify.metrics import NotifyMetrics
from vigil_alerting.notify.receivers.base import post

log = logging.getLogger(__name__)


class Forwarder:
    def __init__(self, url: str, resend_s: float, metrics: NotifyMetrics) -> None:
        if resend_s <= 0:
            raise ValueError(f"resend_s must be positive, got {resend_s}")
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_s = resend_s
        self.metrics = metrics
        self.firing: dict[str, Alert] = {}
        self.last_sent_ns = 0

    def _json(self, a: Alert, now_ns: int) -> dict[str, Any]:
        ends = a.ends_at_ns if a.resolved else now_ns + int(4 * self.resend_s * 1e9)
        return {
            "labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at_ns),
            "endsAt": rfc3339(ends), "generatorURL": a.generator_url,
        }  # fmt: skip

    def changed(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Record alerts; those that changed state (to send now)."""
        out = []
        for a in alerts:
            known = a.key in self.firing
            if a.resolved:
                if known:
                    del self.firing[a.key]
                    out.append(a)
            else:
                self.firing[a.key] = a
                if not known:
                    out.append(a)
        return out

    def due(self, now_ns: int) -> bool:
        return bool(self.firing) and now_ns - self.last_sent_ns >= self.resend_s * 1e9

    def send(
        self, session: aiohttp.ClientSession, alerts: list[Alert], now_ns: int, *, resend: bool = False
    ) -> Coroutine[Any, Any, None]:
        """The POST to run; the resend clock is set now, not when the POST runs."""
        if resend or set(self.firing) <= {a.key for a in alerts}:
            self.last_sent_ns = now_ns  # every firing alert is in this POST: the next resend counts from it
        return self._post(session, alerts, now_ns)

    async def _post(self, session: aiohttp.ClientSession, alerts: list[Alert], now_ns: int) -> None:
        if not alerts:
            return
        answer = await post(session, self.url, json_body=[self._json(a, now_ns) for a in alerts])
        self.metrics.forwarded.labels("sent" if answer.outcome == "sent" else "error").inc()
        if answer.outcome != "sent":
            log.warning("forwarding %d alerts to %s: %s", len(alerts), self.url, answer.detail)
