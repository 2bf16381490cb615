"""PagerDuty Events API v2: ``trigger`` while the group fires, ``resolve`` with the same
``dedup_key`` when it resolves (one key per receiver and group, so a copy sent twice across a
crash is the same incident to PagerDuty)."""

from __future__ import annotations

from typing import Any

import aiohttp

from vigil_alerting.notify.alert import Notification, rfc3339, trace_url
from vigil_alerting.notify.config import PagerDutyConfig
from vigil_alerting.notify.receivers.base import (
    DELIVERY_ID_HEADER,
    Answer,
    Integration,
    describe,
    post,
    summary,
)

_SEVERITIES = {"critical": "critical", "high": "error", "error": "error", "warning": "warning", "medium": "warning",
               "info": "info", "low": "info"}  # fmt: skip


def payload(n: Notification, cfg: PagerDutyConfig) -> dict[str, Any]:
    if not n.firing:
        return {"routing_key": cfg.routing_key, "dedup_key": n.dedup_key, "event_action": "resolve"}
    common = n.common_labels()
    severity = cfg.severity or _SEVERITIES.get(common.get("severity", ""), "error")
    links: list[dict[str, str]] = [{"href": link.href, "text": link.text} for link in cfg.links]
    for a in n.firing[:5]:
        if a.generator_url:
            links.append({"href": a.generator_url, "text": f"Alert {a.name}"})
        if a.example_trace_ids and n.external_url:
            links.append({"href": trace_url(n.external_url, a.example_trace_ids[0]), "text": "Example trace"})
    details: dict[str, Any] = {
        "firing": [describe(a) for a in n.firing],
        "num_firing": len(n.firing),
        "num_resolved": len(n.alerts) - len(n.firing),
        **cfg.details,
    }
    first = n.firing[0]
    if first.value is not None:
        details["value"] = first.value
    if first.threshold:
        details["threshold"] = first.threshold
    event: dict[str, Any] = {
        "routing_key": cfg.routing_key,
        "dedup_key": n.dedup_key,
        "event_action": "trigger",
        "payload": {
            "summary": (cfg.description or summary(n))[:1024],
            "source": cfg.source or common.get("target") or common.get("service") or "vigil",
            "severity": severity,
            "timestamp": rfc3339(first.starts_at_ns),
            "custom_details": details,
        },
        "client": cfg.client,
        "client_url": cfg.client_url or n.external_url or "",
        "links": links,
    }
    for key, value in (("component", cfg.component), ("group", cfg.group), ("class", cfg.class_)):
        if value:
            event["payload"][key] = value
    return event


class PagerDutyIntegration(Integration):
    kind = "pagerduty"
    config: PagerDutyConfig

    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        assert self.config.url  # filled from global at load
        return await post(
            session, self.config.url, json_body=payload(n, self.config), headers={DELIVERY_ID_HEADER: n.id},
            http_config=self.config.http_config,
        )  # fmt: skip
