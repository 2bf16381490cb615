"""The interface every receiver integration implements, and how HTTP answers are judged.

``send`` makes one attempt and says what it got: ``sent``; ``retry`` (a timeout, a connection
error, 5xx, 429 — with ``Retry-After`` when the receiver gave one); or ``failed`` (any other
4xx: sending the same thing again cannot succeed), always with the receiver's answer.
"""

from __future__ import annotations

import abc
import datetime as dt
import email.utils
import ssl
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from vigil_alerting.notify.alert import Notification
from vigil_alerting.notify.config import HTTPConfig, Receiver, TLSConfig

Outcome = Literal["sent", "retry", "failed"]
DELIVERY_ID_HEADER = "X-Vigil-Delivery-Id"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    detail: str
    retry_after_s: float | None = None


class Integration(abc.ABC):
    kind: str = ""

    def __init__(self, receiver: str, index: int, config: Any) -> None:
        self.receiver = receiver
        self.index = index
        self.config = config

    @property
    def send_resolved(self) -> bool:
        return bool(self.config.send_resolved)

    @property
    def timeout_s(self) -> float | None:
        return self.config.timeout

    @abc.abstractmethod
    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        """One attempt; never raises for what the receiver or the network did."""


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


# One context per tls_config object (a reloaded configuration has new ones, so a replaced CA
# file is read again): made per request, it cost a CA load each time and, being a new object,
# kept aiohttp from reusing the receiver's kept-alive connection (its pool key has the context).
_contexts: dict[int, tuple[TLSConfig, ssl.SSLContext]] = {}


def ssl_context(tls: TLSConfig | None) -> ssl.SSLContext | bool:
    if tls is None:
        return True
    known = _contexts.get(id(tls))
    if known is not None and known[0] is tls:
        return known[1]
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if len(_contexts) >= 256:  # configurations reloaded many times: start over
        _contexts.clear()
    _contexts[id(tls)] = (tls, ctx)
    return ctx


def judge(status: int, body: str, headers: Any) -> Answer:
    detail = f"{status} {body.strip()[:2000]}".strip()
    if 200 <= status < 300:
        return Answer("sent", detail)
    if status == 429 or status >= 500:
        return Answer("retry", detail, retry_after(headers.get("Retry-After")))
    return Answer("failed", detail)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    http_config: HTTPConfig | None = None,
) -> Answer:
    hdrs = {**(http_config.headers() if http_config else {}), **(headers or {})}
    auth = None
    if http_config is not None and http_config.basic_auth is not None:
        auth = aiohttp.BasicAuth(http_config.basic_auth.username, http_config.basic_auth.password)
    try:
        async with session.post(
            url, json=json_body, data=data, headers=hdrs, auth=auth, allow_redirects=False,
            ssl=ssl_context(http_config.tls_config if http_config else None),
        ) as resp:  # fmt: skip
            return judge(resp.status, await resp.text(errors="replace"), resp.headers)
    except aiohttp.ClientError as exc:
        return Answer("retry", f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return Answer("retry", f"{type(exc).__name__}: {exc}")


def build_integrations(receiver: Receiver) -> list[Integration]:
    from vigil_alerting.notify.receivers.email import EmailIntegration
    from vigil_alerting.notify.receivers.pagerduty import PagerDutyIntegration
    from vigil_alerting.notify.receivers.slack import SlackIntegration
    from vigil_alerting.notify.receivers.telegram import TelegramIntegration
    from vigil_alerting.notify.receivers.webhook import WebhookIntegration

    kinds: list[tuple[str, type[Integration]]] = [
        ("webhook", WebhookIntegration), ("slack", SlackIntegration), ("telegram", TelegramIntegration),
        ("pagerduty", PagerDutyIntegration), ("email", EmailIntegration),
    ]  # fmt: skip
    return [
        cls(receiver.name, i, cfg)
        for kind, cls in kinds
        for i, cfg in enumerate(getattr(receiver, f"{kind}_configs"))
    ]


def summary(n: Notification) -> str:
    """``[FIRING:2] high-cpu (checkout)``: the one line every integration leads with."""
    firing = n.firing
    name = n.group_labels.get("alertname") or n.common_labels().get("alertname", "alerts")
    rest = ", ".join(v for k, v in n.group_labels.items() if k != "alertname")
    head = f"[FIRING:{len(firing)}]" if firing else "[RESOLVED]"
    return f"{head} {name}" + (f" ({rest})" if rest else "")


def describe(a: Any) -> str:
    """A one-line description of one alert: its value against the threshold, its target."""
    parts = [a.labels.get("alertname", "")]
    if a.value is not None:
        parts.append(f"value {a.value:g}")
    if a.threshold:
        parts.append(f"threshold {a.threshold}")
    target = a.labels.get("target") or a.labels.get("service") or a.labels.get("service.name")
    if target:
        parts.append(f"on {target}")
    return ", ".join(p for p in parts if p)
