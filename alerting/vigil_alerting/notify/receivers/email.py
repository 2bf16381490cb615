"""Email over SMTP to ``smarthost``: plain text and HTML in one message, STARTTLS when the
server offers it (required with ``require_tls``, Alertmanager's default), AUTH when
``auth_username`` is set. 4xx SMTP answers and connection errors are retried, 5xx are not.
The ``Message-ID`` is derived from the notification id, so a copy sent twice across a crash
is recognisably the same message."""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiohttp

from vigil_alerting.notify.alert import Notification, trace_url
from vigil_alerting.notify.config import EmailConfig
from vigil_alerting.notify.receivers.base import DELIVERY_ID_HEADER, Answer, Integration, describe, summary


def build(n: Notification, cfg: EmailConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = summary(n)
    msg["From"] = cfg.from_ or ""
    msg["To"] = cfg.to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{n.id}@vigil>"
    msg[DELIVERY_ID_HEADER] = n.id
    for k, v in cfg.headers.items():
        if "{{" not in v:  # a Go template would be sent verbatim: the default stays
            del msg[k]
            msg[k] = v
    lines, items = [summary(n), ""], []
    for a in n.alerts:
        lines.append(f"- {a.status}: {describe(a)}")
        links = []
        if a.generator_url:
            lines.append(f"  alert: {a.generator_url}")
            links.append(f'<a href="{html.escape(a.generator_url)}">alert</a>')
        if a.example_trace_ids and n.external_url:
            url = trace_url(n.external_url, a.example_trace_ids[0])
            lines.append(f"  example trace: {url}")
            links.append(f'<a href="{html.escape(url)}">example trace</a>')
        items.append(
            f"<li><b>{html.escape(a.status)}</b>: {html.escape(describe(a))} {' · '.join(links)}</li>"
        )
    msg.set_content("\n".join(lines) + "\n")
    msg.add_alternative(
        f"<html><body><h3>{html.escape(summary(n))}</h3><ul>{''.join(items)}</ul></body></html>",
        subtype="html",
    )
    return msg


class EmailIntegration(Integration):
    kind = "email"
    config: EmailConfig

    async def send(self, session: aiohttp.ClientSession, n: Notification) -> Answer:
        return await asyncio.to_thread(self._send, build(n, self.config), self.timeout_s or 30.0)

    def _send(self, msg: EmailMessage, timeout_s: float) -> Answer:
        cfg = self.config
        assert cfg.smarthost  # checked at load
        host, _, port = cfg.smarthost.rpartition(":")
        try:
            if port == "465":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, int(port), cfg.hello, timeout=timeout_s, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(host, int(port), cfg.hello, timeout=timeout_s)
            with smtp:
                smtp.ehlo()
                if port != "465":
                    if smtp.has_extn("starttls"):
                        smtp.starttls(context=self._tls())
                        smtp.ehlo()
                    elif cfg.require_tls is not False:
                        return Answer("failed", "require_tls is set but the server does not offer STARTTLS")
                if cfg.auth_username:
                    # One mechanism, as Alertmanager: PLAIN, else LOGIN (smtplib's login() would
                    # try the next one after a refusal, and some servers then hang up on it).
                    offered = smtp.esmtp_features.get("auth", "").upper().split()
                    smtp.user, smtp.password = cfg.auth_username, cfg.auth_password or ""
                    if "PLAIN" in offered:
                        smtp.auth("PLAIN", smtp.auth_plain)
                    elif "LOGIN" in offered:
                        smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
                    else:
                        return Answer(
                            "failed", f"the server offers no AUTH PLAIN or LOGIN (offers {offered})"
                        )
                refused = smtp.send_message(msg, to_addrs=[a.strip() for a in cfg.to.split(",") if a.strip()])
        except smtplib.SMTPResponseException as exc:
            detail = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
            return Answer("retry" if 400 <= exc.smtp_code < 500 else "failed", detail)
        except smtplib.SMTPRecipientsRefused as exc:
            return Answer("failed", f"recipients refused: {exc.recipients}")
        except (smtplib.SMTPException, OSError) as exc:
            return Answer("retry", f"{type(exc).__name__}: {exc}")
        if refused:
            return Answer("failed", f"recipients refused: {refused}")
        return Answer("sent", "250 accepted")

    def _tls(self) -> ssl.SSLContext:
        tls = self.config.tls_config
        ctx = ssl.create_default_context(cafile=tls.ca_file if tls else None)
        if tls is not None and tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx
