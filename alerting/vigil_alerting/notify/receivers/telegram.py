"""Telegram Bot API: ``POST {api_url}/bot{bot_token}/sendMessage`` with ``chat_id``, ``text``
and ``parse_mode``. The text is at most 4096 characters, cut between lines (never inside a tag
or an escape), ending with how many lines were left out."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import aiohttp

from vigil_alerting.notify.alert import Notification, trace_url
from vigil_alerting.notify.config import TelegramConfig
from vigil_alerting.notify.receivers.base import Answer, Integration, describe, post, summary

MAX_TEXT = 4096
_MD2 = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def _esc(s: str, mode: str) -> str:
    if mode == "HTML":
        return html.escape(s, quote=False)
    if mode == "MarkdownV2":
        return _MD2.sub(r"\\\1", s)
    if mode == "Markdown":
        return re.sub(r"([_*`\[])", r"\\\1", s)
    return s


def _bold(s: str, mode: str) -> str:
    e = _esc(s, mode)
    return {"HTML": f"<b>{e}</b>", "MarkdownV2": f"*{e}*", "Markdown": f"*{e}*"}.get(mode, e)


def _link(text: str, url: str, mode: str) -> str:
    if mode == "HTML":
        return f'<a href="{html.escape(url)}">{_esc(text, mode)}</a>'
    if mode == "MarkdownV2":
        return f"[{_esc(text, mode)}]({url.replace(')', '%29').replace(chr(92), '%5C')})"
    return f"{text}: {url}"


def cut(lines: list[str], limit: int = MAX_TEXT) -> str:
    """Whole lines up to ``limit`` characters; a tail says how many were left out."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        left = len(lines) - i
        tail = f"… {left} more line{'s' if left != 1 else ''}"
        need = len(line) + (1 if out else 0)
        reserve = len(tail) + 1 if i < len(lines) - 1 else 0
        if used + need + reserve > limit:
            out.append(tail)
            break
        out.append(line)
        used += need
    text = "\n".join(out)
    return text if text else lines[0][: limit - 1] + "…"


def message(n: Notification, parse_mode: str) -> str:
    lines = [_bold(summary(n), parse_mode)]
    for a in n.alerts:
        state = "✅ resolved" if a.resolved else "🔥 firing"
        lines.append(f"{_esc(state, parse_mode)}: {_esc(describe(a), parse_mode)}")
        description = a.annotations.get("description") or a.annotations.get("summary")
        if description:
            lines.append(_esc(description[:500], parse_mode))
        links = []
        if a.generator_url:
            links.append(_link("alert", a.generator_url, parse_mode))
        if a.example_trace_ids and n.external_url:
            links.append(
                _link("example trace", trace_url(n.external_url, a.example_trace_ids[0]), parse_mode)
            )
        if links:
            lines.append(" · ".join(links) if parse_mode else " ".join(links))
    return cut(lines)


class TelegramIntegration(Integration):
    kind = "telegram"
    config: TelegramConfig

    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        cfg = self.config
        body: dict[str, Any] = {
            "chat_id": cfg.chat_id,
            "text": message(n, cfg.parse_mode),
            "disable_notification": cfg.disable_notifications,
        }
        if cfg.parse_mode:
            body["parse_mode"] = cfg.parse_mode
        url = f"{(cfg.api_url or 'https://api.telegram.org').rstrip('/')}/bot{cfg.bot_token}/sendMessage"
        answer = await post(session, url, json_body=body, http_config=cfg.http_config)
        if answer.outcome == "retry" and answer.retry_after_s is None:
            # Telegram says how long to wait in the body: {"parameters": {"retry_after": 5}}.
            try:
                after = json.loads(answer.detail.split(" ", 1)[1])["parameters"]["retry_after"]
                return Answer("retry", answer.detail, float(after))
            except (IndexError, KeyError, TypeError, ValueError):
                pass
        return answer
