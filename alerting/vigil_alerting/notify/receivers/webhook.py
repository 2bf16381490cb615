"""Alertmanager's webhook (payload version 4), so any tool that takes Alertmanager's takes
Vigil's. Every request carries ``X-Vigil-Delivery-Id`` (the same across retries and restarts);
with ``hmac_secret``, ``X-Vigil-Signature: sha256=<hex>`` is the HMAC-SHA256 of the body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from vigil_alerting.notify.alert import Notification, rfc3339
from vigil_alerting.notify.config import WebhookConfig
from vigil_alerting.notify.receivers.base import DELIVERY_ID_HEADER, Answer, Integration, post

SIGNATURE_HEADER = "X-Vigil-Signature"


def payload(n: Notification, max_alerts: int = 0) -> dict[str, Any]:
    alerts = list(n.alerts)
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": truncated,
        "status": n.status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at_ns),
                "endsAt": rfc3339(a.ends_at_ns),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }


class WebhookIntegration(Integration):
    kind = "webhook"
    config: WebhookConfig

    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        body = json.dumps(payload(n, self.config.max_alerts), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", DELIVERY_ID_HEADER: n.id}
        if self.config.hmac_secret:
            digest = hmac.new(self.config.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        return await post(
            session, self.config.url, data=body, headers=headers, http_config=self.config.http_config
        )
