"""The Alertmanager configuration (``alertmanager.yml``) as one typed, validated structure.

``load_config(path)`` reads the file, refuses it whole on any error (with the key's path, e.g.
``receivers[1].webhook_configs[0].url_file: not supported``), and warns about keys that are
harmless to ignore (``HARMLESS``). The route tree is resolved here: every route carries the
values it inherits, its matchers, and a stable key used in group keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from vigil_alerting.notify.durations import parse_duration
from vigil_alerting.notify.errors import NotifyConfigError
from vigil_alerting.notify.matchers import Matcher, MatcherError, from_match, parse_matchers
from vigil_alerting.notify.timeintervals import NamedTimeInterval

log = logging.getLogger(__name__)

Duration = Annotated[float, BeforeValidator(parse_duration)]

# Keys read and ignored with a warning: ignoring them changes no routing and loses no alert.
HARMLESS: dict[str, str] = {
    "templates": "Go templates are not supported; Vigil's own message texts are used",
    "global.resolve_timeout": "Vigil's alerts carry their own end time",
    "global.opsgenie_api_url": "opsgenie is not a supported receiver",
    "global.victorops_api_url": "victorops is not a supported receiver",
    "global.wechat_api_url": "wechat is not a supported receiver",
    "global.webex_api_url": "webex is not a supported receiver",
    "slack.pretext": "only Vigil's own Slack blocks are sent",
    "slack.fallback": "only Vigil's own Slack blocks are sent",
    "slack.footer": "only Vigil's own Slack blocks are sent",
    "slack.fields": "only Vigil's own Slack blocks are sent",
    "slack.short_fields": "only Vigil's own Slack blocks are sent",
    "slack.actions": "only Vigil's own Slack blocks are sent",
    "slack.callback_id": "only Vigil's own Slack blocks are sent",
    "slack.mrkdwn_in": "only Vigil's own Slack blocks are sent",
    "slack.image_url": "only Vigil's own Slack blocks are sent",
    "slack.thumb_url": "only Vigil's own Slack blocks are sent",
    "slack.link_names": "only Vigil's own Slack blocks are sent",
    "telegram.message_thread_id": "messages go to the chat itself",
    "pagerduty.images": "images are not sent",
    "http_config.follow_redirects": "receivers are never followed through redirects",
    "http_config.enable_http2": "HTTP/1.1 is used",
}
TEMPLATE_FIELDS = {"text", "title", "title_link", "message", "html", "description", "pretext", "username"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Authorization(_Strict):
    type: str = "Bearer"
    credentials: str


class BasicAuth(_Strict):
    username: str
    password: str = ""


class TLSConfig(_Strict):
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None


class HTTPConfig(_Strict):
    authorization: Authorization | None = None
    bearer_token: str | None = None
    basic_auth: BasicAuth | None = None
    tls_config: TLSConfig | None = None

    def headers(self) -> dict[str, str]:
        if self.authorization is not None:
            return {"Authorization": f"{self.authorization.type} {self.authorization.credentials}"}
        if self.bearer_token:
            return {"Authorization": f"Bearer {self.bearer_token}"}
        return {}


class _Integration(_Strict):
    send_resolved: bool = True
    http_config: HTTPConfig | None = None
    timeout: Duration | None = None


class WebhookConfig(_Integration):
    url: str
    max_alerts: int = Field(default=0, ge=0)
    # Vigil's extension: sign the body (X-Vigil-Signature: sha256=<hex HMAC>).
    hmac_secret: str | None = None


class SlackConfig(_Integration):
    send_resolved: bool = False
    api_url: str | None = None
    channel: str | None = None
    username: str | None = None
    text: str | None = None
    title: str | None = None
    title_link: str | None = None
    color: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None


class TelegramConfig(_Integration):
    api_url: str | None = None
    bot_token: str
    chat_id: int | str
    message: str | None = None
    parse_mode: Literal["HTML", "MarkdownV2", "Markdown", ""] = "HTML"
    disable_notifications: bool = False


class PagerDutyLink(_Strict):
    href: str
    text: str = ""


class PagerDutyConfig(_Integration):
    routing_key: str
    url: str | None = None
    client: str = "Vigil"
    client_url: str | None = None
    description: str | None = None
    severity: str | None = None
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    details: dict[str, str] = Field(default_factory=dict)
    links: list[PagerDutyLink] = Field(default_factory=list)


class EmailConfig(_Integration):
    send_resolved: bool = False
    to: str
    from_: str | None = Field(default=None, alias="from")
    smarthost: str | None = None
    hello: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_identity: str | None = None
    require_tls: bool | None = None
    tls_config: TLSConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    html: str | None = None
    text: str | None = None

    @field_validator("smarthost")
    @classmethod
    def _hostport(cls, v: str | None) -> str | None:
        if v is not None:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"smarthost must be host:port, got {v!r}")
        return v


class Receiver(_Strict):
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    telegram_configs: list[TelegramConfig] = Field(default_factory=list)
    pagerduty_configs: list[PagerDutyConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)


class RawRoute(_Strict):
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RawRoute] = Field(default_factory=list)
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)


class InhibitRule(_Strict):
    source_matchers: list[str] = Field(default_factory=list)
    target_matchers: list[str] = Field(default_factory=list)
    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=list)


class GlobalConfig(_Strict):
    http_config: HTTPConfig | None = None
    smtp_smarthost: str | None = None
    smtp_from: str | None = None
    smtp_hello: str = "localhost"
    smtp_auth_username: str | None = None
    smtp_auth_password: str | None = None
    smtp_auth_identity: str | None = None
    smtp_require_tls: bool = True
    slack_api_url: str | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    telegram_api_url: str = "https://api.telegram.org"


class RawConfig(_Strict):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    route: RawRoute
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    mute_time_intervals: list[NamedTimeInterval] = Field(default_factory=list)  # the older name


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved route: inherited values filled in, matchers parsed."""

    key: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: frozenset[str]
    group_by_all: bool
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    continue_: bool
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    routes: tuple[Route, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Inhibit:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Config:
    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: tuple[Inhibit, ...]
    time_intervals: dict[str, NamedTimeInterval]
    global_: GlobalConfig
    warnings: tuple[str, ...] = ()


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = {"global_": "global", "continue_": "continue", "class_": "class", "from_": "from"}.get(
                part, part
            )
            out += f".{part}" if out else str(part)
    return out


def _strip_harmless(raw: Any, path: str, kind: str, warnings: list[str]) -> Any:
    """Drop (and note) keys that are safe to ignore, before the strict models see the file."""
    if isinstance(raw, list):
        return [_strip_harmless(v, f"{path}[{i}]", kind, warnings) for i, v in enumerate(raw)]
    if not isinstance(raw, dict):
        return raw
    out = {}
    for k, v in raw.items():
        here = f"{path}.{k}" if path else str(k)
        child_kind = {"slack_configs": "slack", "telegram_configs": "telegram", "pagerduty_configs": "pagerduty",
                      "email_configs": "email", "webhook_configs": "webhook", "http_config": "http_config"}.get(k, kind)  # fmt: skip
        reason = HARMLESS.get(f"{kind}.{k}") if kind else HARMLESS.get(here)
        if reason:
            warnings.append(f"{here}: ignored ({reason})")
            continue
        if path.startswith("receivers") and k in TEMPLATE_FIELDS and isinstance(v, str) and "{{" in v:
            warnings.append(f"{here}: ignored (Go templates are not supported; Vigil's own text is used)")
            continue
        out[k] = _strip_harmless(
            v, here, child_kind if child_kind != kind or k != "global" else "global", warnings
        )
    return out


def _route(raw: RawRoute, parent: Route | None, path: str, key: str) -> Route:
    try:
        matchers = parse_matchers(raw.matchers) + from_match(raw.match, raw.match_re)
    except MatcherError as exc:
        raise NotifyConfigError(str(exc), path=f"{path}.matchers") from None
    if parent is None and matchers:
        raise NotifyConfigError("the root route must not have matchers (it matches every alert)", path=path)
    receiver = raw.receiver or (parent.receiver if parent else "")
    if not receiver:
        raise NotifyConfigError("the root route needs a receiver", path=f"{path}.receiver")
    group_by = raw.group_by if raw.group_by is not None else None
    if group_by is not None and "..." in group_by and len(group_by) > 1:
        raise NotifyConfigError("'...' must be group_by's only entry", path=f"{path}.group_by")
    by_all = (group_by == ["..."]) if group_by is not None else (parent.group_by_all if parent else False)
    by = frozenset(group_by or ()) if group_by is not None else (parent.group_by if parent else frozenset())
    by = frozenset() if by_all else by

    def inherit(v: float | None, name: str, default: float) -> float:
        out = v if v is not None else (getattr(parent, name) if parent else default)
        return out

    group_interval = inherit(raw.group_interval, "group_interval_s", 300.0)
    repeat = inherit(raw.repeat_interval, "repeat_interval_s", 4 * 3600.0)
    for name, v in (("group_interval", group_interval), ("repeat_interval", repeat)):
        if v <= 0:
            raise NotifyConfigError("must be greater than 0", path=f"{path}.{name}")
    this_key = key + "/{" + ",".join(str(m) for m in matchers) + "}"
    route = Route(
        key=this_key,
        receiver=receiver,
        matchers=matchers,
        group_by=by,
        group_by_all=by_all,
        group_wait_s=inherit(raw.group_wait, "group_wait_s", 30.0),
        group_interval_s=group_interval,
        repeat_interval_s=repeat,
        continue_=raw.continue_,
        mute_time_intervals=tuple(raw.mute_time_intervals),
        active_time_intervals=tuple(raw.active_time_intervals),
    )
    children = tuple(
        _route(child, route, f"{path}.routes[{i}]", f"{this_key}/{i}") for i, child in enumerate(raw.routes)
    )
    return Route(**{**{f: getattr(route, f) for f in Route.__slots__}, "routes": children})  # type: ignore[arg-type]


def _check_refs(
    route: Route, raw: RawRoute, receivers: Mapping[str, Receiver], intervals: Mapping[str, Any], path: str
) -> None:
    if route.receiver not in receivers:
        raise NotifyConfigError(f"unknown receiver {route.receiver!r}", path=f"{path}.receiver")
    for kind in ("mute_time_intervals", "active_time_intervals"):
        for i, name in enumerate(getattr(route, kind)):
            if name not in intervals:
                raise NotifyConfigError(f"unknown time interval {name!r}", path=f"{path}.{kind}[{i}]")
    for i, (child, raw_child) in enumerate(zip(route.routes, raw.routes, strict=True)):
        _check_refs(child, raw_child, receivers, intervals, f"{path}.routes[{i}]")


def parse_config(raw: object, *, file: str = "") -> Config:
    """The validated configuration from a parsed YAML document; NotifyConfigError if bad."""
    if not isinstance(raw, dict):
        raise NotifyConfigError("the file must be a mapping with 'route' and 'receivers'", file=file)
    warnings: list[str] = []
    cleaned = _strip_harmless(raw, "", "", warnings)
    try:
        cfg = RawConfig.model_validate(cleaned)
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = "not supported (unknown key)" if err["type"] == "extra_forbidden" else err["msg"]
        raise NotifyConfigError(reason, file=file, path=_loc(err["loc"])) from None
    try:
        route = _route(cfg.route, None, "route", "")
        receivers: dict[str, Receiver] = {}
        for i, r in enumerate(cfg.receivers):
            if r.name in receivers:
                raise NotifyConfigError(f"duplicate receiver name {r.name!r}", path=f"receivers[{i}].name")
            receivers[r.name] = _apply_global(r, cfg.global_, f"receivers[{i}]")
        intervals: dict[str, NamedTimeInterval] = {}
        for kind in ("time_intervals", "mute_time_intervals"):
            for i, t in enumerate(getattr(cfg, kind)):
                if t.name in intervals:
                    raise NotifyConfigError(f"duplicate time interval {t.name!r}", path=f"{kind}[{i}].name")
                intervals[t.name] = t
        _check_refs(route, cfg.route, receivers, intervals, "route")
        inhibits = []
        for i, rule in enumerate(cfg.inhibit_rules):
            try:
                inhibits.append(
                    Inhibit(
                        source=parse_matchers(rule.source_matchers)
                        + from_match(rule.source_match, rule.source_match_re),
                        target=parse_matchers(rule.target_matchers)
                        + from_match(rule.target_match, rule.target_match_re),
                        equal=tuple(rule.equal),
                    )
                )
            except MatcherError as exc:
                raise NotifyConfigError(str(exc), path=f"inhibit_rules[{i}]") from None
    except NotifyConfigError as exc:
        raise NotifyConfigError(exc.reason, file=file, path=exc.path) from None
    for w in warnings:
        log.warning("%s: %s", file or "alertmanager config", w)
    return Config(route, receivers, tuple(inhibits), intervals, cfg.global_, tuple(warnings))


def _apply_global(r: Receiver, g: GlobalConfig, path: str) -> Receiver:
    """Fill the integrations' unset fields from ``global`` (as Alertmanager does)."""

    def fill(items: list[Any], **defaults: Any) -> list[Any]:
        out = []
        for item in items:
            updates = {k: v for k, v in defaults.items() if getattr(item, k) is None and v is not None}
            if item.http_config is None and g.http_config is not None:
                updates["http_config"] = g.http_config
            out.append(item.model_copy(update=updates))
        return out

    r = r.model_copy(
        update={
            "webhook_configs": fill(r.webhook_configs),
            "slack_configs": fill(r.slack_configs, api_url=g.slack_api_url),
            "telegram_configs": fill(r.telegram_configs, api_url=g.telegram_api_url),
            "pagerduty_configs": fill(r.pagerduty_configs, url=g.pagerduty_url),
            "email_configs": fill(
                r.email_configs,
                smarthost=g.smtp_smarthost,
                from_=g.smtp_from,
                hello=g.smtp_hello,
                auth_username=g.smtp_auth_username,
                auth_password=g.smtp_auth_password,
                auth_identity=g.smtp_auth_identity,
                require_tls=g.smtp_require_tls,
            ),
        }
    )
    for i, s in enumerate(r.slack_configs):
        if not s.api_url:
            raise NotifyConfigError(
                "no api_url (and no global.slack_api_url)", path=f"{path}.slack_configs[{i}].api_url"
            )
    for i, e in enumerate(r.email_configs):
        if not e.smarthost:
            raise NotifyConfigError(
                "no smarthost (and no global.smtp_smarthost)", path=f"{path}.email_configs[{i}].smarthost"
            )
        if not e.from_:
            raise NotifyConfigError(
                "no from (and no global.smtp_from)", path=f"{path}.email_configs[{i}].from"
            )
    return r


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotifyConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NotifyConfigError(f"not valid YAML: {exc}", file=str(path)) from None
    return parse_config(raw, file=str(path))
