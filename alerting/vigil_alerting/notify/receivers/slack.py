"""Slack incoming webhooks: ``text`` (the summary) plus Block Kit blocks: per alert its rule,
severity, value against the threshold, and links to the alert and an example trace."""

from __future__ import annotations

from typing import Any

import aiohttp

from vigil_alerting.notify.alert import Notification, trace_url
from vigil_alerting.notify.config import SlackConfig
from vigil_alerting.notify.receivers.base import DELIVERY_ID_HEADER, Answer, Integration, post, summary

_MAX_BLOCKS = 45  # Slack refuses more than 50 blocks


def _mrkdwn(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(n: Notification, cfg: SlackConfig) -> dict[str, Any]:
    text = summary(n)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": (cfg.title or text)[:150]}}
    ]
    for a in n.alerts[:_MAX_BLOCKS]:
        lines = [
            f"*{'Resolved' if a.resolved else 'Firing'}*: *{_mrkdwn(a.name)}*",
            f"Severity: `{_mrkdwn(a.labels.get('severity', ''))}`",
        ]
        if a.value is not None:
            lines.append(
                f"Value: `{a.value:g}`" + (f" (threshold {_mrkdwn(a.threshold)})" if a.threshold else "")
            )
        target = a.labels.get("target")
        if target:
            lines.append(f"Target: `{_mrkdwn(target)}`")
        description = a.annotations.get("description") or a.annotations.get("summary")
        if description:
            lines.append(_mrkdwn(description))
        links = []
        if a.generator_url:
            links.append(f"<{a.generator_url}|Alert>")
        if a.example_trace_ids and n.external_url:
            links.append(f"<{trace_url(n.external_url, a.example_trace_ids[0])}|Example trace>")
        if links:
            lines.append(" · ".join(links))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
    if len(n.alerts) > _MAX_BLOCKS:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"and {len(n.alerts) - _MAX_BLOCKS} more"}],
            }
        )
    body: dict[str, Any] = {"text": cfg.text or text, "blocks": blocks}
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        if getattr(cfg, key):
            body[key] = getattr(cfg, key)
    if cfg.color or cfg.title_link:
        body["attachments"] = [
            {"color": cfg.color or ("danger" if n.firing else "good"), "title_link": cfg.title_link or ""}
        ]
    return body


class SlackIntegration(Integration):
    kind = "slack"
    config: SlackConfig

    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        assert self.config.api_url  # checked at load
        return await post(
            session, self.config.api_url, json_body=payload(n, self.config), headers={DELIVERY_ID_HEADER: n.id},
            http_config=self.config.http_config,
        )  # fmt: skip
