"""Each receiver integration on its own, against local fakes through the real protocol:
Telegram's 4096-character limit cut safely, webhook max_alerts, PagerDuty's links to the
alert and its example trace, email over STARTTLS with AUTH (aiosmtpd) and refused without TLS;
time intervals mute a route."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from notify_fakes import FakeReceivers, FakeSMTP

from vigil_alerting.notify.alert import Alert, Notification
from vigil_alerting.notify.config import EmailConfig, PagerDutyConfig, parse_config
from vigil_alerting.notify.dispatch import Dispatcher
from vigil_alerting.notify.receivers.base import Answer, Integration
from vigil_alerting.notify.receivers.email import EmailIntegration
from vigil_alerting.notify.receivers.pagerduty import PagerDutyIntegration
from vigil_alerting.notify.receivers.telegram import MAX_TEXT, message
from vigil_alerting.notify.receivers.webhook import payload

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _notification(n: int, *, description: str = "", resolved: bool = False) -> Notification:
    alerts = tuple(
        Alert(f"fp{i}", {"alertname": "errors <&> high", "severity": "critical", "target": f"svc-{i}"},
              {"description": description} if description else {}, starts_at_ns=1, ends_at_ns=2 if resolved else 0,
              generator_url="http://vigil.test/alerts?rule=errors", value=12.5, threshold="> 5",
              example_trace_ids=(TRACE,))
        for i in range(n)
    )  # fmt: skip
    return Notification("id1", 1, "r", "x", 0, "{}:{alertname='errors'}", {"alertname": "errors <&> high"}, alerts,
                        external_url="http://vigil.test")  # fmt: skip


def _send(integration: Integration, n: Notification) -> Answer:
    async def go() -> Answer:
        async with aiohttp.ClientSession() as session:
            return await integration.send(session, n)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["HTML", "MarkdownV2", ""])
def test_telegram_text_is_cut_to_4096_between_lines(mode: str) -> None:
    text = message(_notification(300, description="x & y <b> " * 40), mode)
    assert len(text) <= MAX_TEXT
    assert re.search(r"… \d+ more lines$", text)
    if mode == "HTML":
        assert text.count("<b>") == text.count("</b>") and text.count("<a ") == text.count("</a>")
        assert not re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", text)  # no entity cut in half
        assert "&lt;&amp;&gt;" in text
    short = message(_notification(1), mode)
    assert "errors" in short and "example trace" in short and "more line" not in short


def test_webhook_max_alerts_truncates_and_says_how_many() -> None:
    body = payload(_notification(7), max_alerts=5)
    assert len(body["alerts"]) == 5 and body["truncatedAlerts"] == 2


def test_pagerduty_links_the_alert_and_its_example_trace(tmp_path: Path) -> None:
    fake = FakeReceivers()
    try:
        cfg = PagerDutyConfig(routing_key="k", url=f"{fake.url}/v2/enqueue")
        assert _send(PagerDutyIntegration("r", 0, cfg), _notification(1)).outcome == "sent"
        event = fake.at("/v2/enqueue")[0].json
        assert {"href": f"http://vigil.test/traces/{TRACE}", "text": "Example trace"} in event["links"]
        assert event["payload"]["custom_details"]["threshold"] == "> 5"
        fake.scripts["/v2/enqueue"] = [(400, '{"status":"invalid event","errors":["routing_key"]}', {})]
        answer = _send(PagerDutyIntegration("r", 0, cfg), _notification(1))
        assert (answer.outcome, answer.detail) == (
            "failed",
            '400 {"status":"invalid event","errors":["routing_key"]}',
        )
        resolve = _send(PagerDutyIntegration("r", 0, cfg), _notification(1, resolved=True))
        assert resolve.outcome == "sent"
        last = fake.at("/v2/enqueue")[-1].json
        assert last == {"routing_key": "k", "dedup_key": event["dedup_key"], "event_action": "resolve"}
    finally:
        fake.close()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[ssl.SSLContext, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    yield ctx, cert


def test_email_over_starttls_with_auth_plain_and_html(tls: tuple[ssl.SSLContext, Path]) -> None:
    ctx, cert = tls
    smtp = FakeSMTP(tls_context=ctx, users={"alerts": "pw"})
    try:
        cfg = EmailConfig.model_validate(
            {"to": "a@example.com, b@example.com", "from": "vigil@example.com", "smarthost": smtp.smarthost,
             "auth_username": "alerts", "auth_password": "pw", "tls_config": {"ca_file": str(cert)},
             "headers": {"Subject": "custom subject"}}
        )  # fmt: skip
        answer = _send(EmailIntegration("r", 0, cfg), _notification(2))
        assert answer.outcome == "sent", answer
        sender, rcpts, mail = smtp.messages[0]
        assert (sender, rcpts, smtp.logins) == (
            "vigil@example.com",
            ["a@example.com", "b@example.com"],
            ["alerts"],
        )
        assert mail["Subject"] == "custom subject" and mail["Message-ID"] == "<id1@vigil>"
        plain = (
            next(p for p in mail.walk() if p.get_content_type() == "text/plain")
            .get_payload(decode=True)
            .decode()
        )
        html = (
            next(p for p in mail.walk() if p.get_content_type() == "text/html")
            .get_payload(decode=True)
            .decode()
        )
        assert f"http://vigil.test/traces/{TRACE}" in plain and "&lt;&amp;&gt;" in html
        bad = cfg.model_copy(update={"auth_password": "wrong"})
        refused = _send(EmailIntegration("r", 0, bad), _notification(1))
        assert refused.outcome == "failed" and refused.detail.startswith("535"), refused
    finally:
        smtp.close()


def test_email_requires_tls_by_default_and_retries_when_the_server_is_down() -> None:
    smtp = FakeSMTP()
    try:
        cfg = EmailConfig.model_validate(
            {"to": "a@example.com", "from": "v@example.com", "smarthost": smtp.smarthost}
        )
        answer = _send(EmailIntegration("r", 0, cfg), _notification(1))
        assert answer.outcome == "failed" and "STARTTLS" in answer.detail and smtp.messages == []
    finally:
        smtp.close()
    down = EmailConfig.model_validate(
        {"to": "a@example.com", "from": "v@example.com", "smarthost": smtp.smarthost, "require_tls": False}
    )
    assert _send(EmailIntegration("r", 0, down), _notification(1)).outcome == "retry"


def test_time_intervals_mute_and_activate_a_route() -> None:
    always = {"name": "always", "time_intervals": [{"weekdays": ["monday:sunday"]}]}
    never = {"name": "never", "time_intervals": [{"years": ["1999"]}]}
    cfg = parse_config(
        {"route": {"receiver": "r", "group_wait": "0s", "group_by": ["alertname"],
                   "routes": [{"matchers": ["team=a"], "mute_time_intervals": ["always"]},
                              {"matchers": ["team=b"], "active_time_intervals": ["never"]},
                              {"matchers": ["team=c"], "active_time_intervals": ["always"], "mute_time_intervals": ["never"]}]},
         "receivers": [{"name": "r", "webhook_configs": [{"url": "http://x"}]}],
         "time_intervals": [always, never]}
    )  # fmt: skip
    d = Dispatcher(cfg)
    now = time.time_ns()
    d.observe([Alert(t, {"alertname": t, "team": t}, starts_at_ns=1) for t in "abc"], now)
    sent, changes = d.flush_due(now)
    assert [n.alerts[0].fingerprint for n in sent] == ["c"]
    assert {c.fingerprint: c.reason for c in changes} == {
        "a": "muted by time interval always",
        "b": "outside the route's active time intervals",
    }


def test_a_tls_receiver_keeps_its_connection_alive(tls: tuple[ssl.SSLContext, Path]) -> None:
    """A receiver with tls_config is posted to over one kept-alive connection (its TLS context
    made once, not per request: a new context per request was a new connection each time)."""
    from aiohttp import web

    from vigil_alerting.notify.config import HTTPConfig, TLSConfig
    from vigil_alerting.notify.receivers.base import post

    server_ctx, cert = tls
    peers: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        return web.Response(text="ok")

    async def run() -> list[str]:
        app = web.Application()
        app.add_routes([web.post("/hook", hook)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = HTTPConfig(tls_config=TLSConfig(ca_file=str(cert)))
        try:
            async with aiohttp.ClientSession() as session:
                return [
                    (
                        await post(
                            session, f"https://127.0.0.1:{port}/hook", json_body={}, http_config=config
                        )
                    ).outcome
                    for _ in range(3)
                ]
        finally:
            await runner.cleanup()

    assert asyncio.run(run()) == ["sent"] * 3
    assert len(peers) == 3 and len(set(peers)) == 1, peers
