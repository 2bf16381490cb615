"""Local stand-ins for the receivers, speaking their real protocols on loopback.

``FakeReceivers`` is one HTTP server for Alertmanager webhooks, Slack incoming webhooks, the
Telegram Bot API, PagerDuty Events v2 and an external Alertmanager's ``/api/v2/alerts``; it
records every request and answers as the real service does (Slack ``ok``, Telegram
``{"ok": true}``, PagerDuty 202), unless a path was given a script of answers or a delay.
``FakeSMTP`` is aiosmtpd's real SMTP server. ``cpu_rule`` and ``firing`` make the alerts
a notifier is handed, through the real rule parser and state machine.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from vigil_alerting.rules import parse_rule
from vigil_alerting.rules.model import Rule
from vigil_alerting.state.machine import AlertInstance, Observation, new_instance, step

import support
from support import free_port


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeReceivers:
    requests: list[Request] = field(default_factory=list)
    # path → answers (status, body, headers) used in order; then the real service's answer
    scripts: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    # path → how many of its requests the delay holds (the later ones are answered at once), so
    # a test need not race the receiver to switch it to fast; every request when absent
    delayed_requests: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fake.lock:
                    fake.requests.append(
                        Request(time.monotonic(), self.path, dict(self.headers.items()), body)
                    )
                    script = fake.scripts.get(self.path)
                    answer = script.pop(0) if script else fake.default(self.path)
                    delay = fake.delays.get(self.path, 0.0)
                    limit = fake.delayed_requests.get(self.path)
                    if limit is not None and sum(r.path == self.path for r in fake.requests) > limit:
                        delay = 0.0
                if delay:
                    time.sleep(delay)  # a slow receiver played by the fake, not a test's wait
                status, text, headers = answer
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client was killed
                    self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the notifier opens up to 64 connections at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def default(path: str) -> tuple[int, str, dict[str, str]]:
        if path.startswith("/slack"):
            return 200, "ok", {"Content-Type": "text/plain"}
        if path.endswith("/sendMessage"):
            return (
                200,
                json.dumps({"ok": True, "result": {"message_id": 1}}),
                {"Content-Type": "application/json"},
            )
        if path.endswith("/v2/enqueue"):
            return 202, json.dumps({"status": "success", "message": "Event processed"}), {}
        return 200, "", {}

    def at(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler:
    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.fake.lock:
            self.fake.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
            )
        return "250 Message accepted for delivery"


class FakeSMTP:
    """With ``tls_context`` it requires STARTTLS; with ``users`` it requires AUTH (after TLS)."""

    def __init__(
        self, tls_context: ssl.SSLContext | None = None, users: dict[str, str] | None = None
    ) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], Message]] = []
        self.logins: list[str] = []
        self.port = free_port()
        extra: dict[str, Any] = {}
        if tls_context is not None:
            extra.update(tls_context=tls_context, require_starttls=True)
        if users is not None:
            extra.update(
                auth_required=True, auth_require_tls=tls_context is not None, authenticator=self._auth(users)
            )
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **extra)
        self.controller.start()

    def _auth(self, users: dict[str, str]) -> Callable[..., AuthResult]:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            user = data.login.decode() if isinstance(data, LoginPassword) else ""
            ok = isinstance(data, LoginPassword) and users.get(user) == data.password.decode()
            if ok:
                self.logins.append(user)
            return AuthResult(success=ok, handled=False)

        return check

    @property
    def smarthost(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.controller.stop()


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return support.wait_for(condition, timeout_s, what, every_s=0.02)


# An example trace id the alerts carry (links in the notifications).
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def cpu_rule(name: str, severity: str = "warning") -> Rule:
    """A rule on the ``cpu`` metric above 80."""
    return parse_rule(
        {
            "name": name,
            "severity": severity,
            "condition": {"type": "metric_exceeds", "metric": "cpu", "threshold": 80},
        }
    )


def firing(rule: Rule, service: str, now_ns: int | None = None) -> AlertInstance:
    """An instance of ``rule`` for ``service`` moved to firing by the real state machine."""
    inst = new_instance(rule, {"service.name": service})
    inst, transition = step(
        rule, inst, Observation("breach", 95.0, (TRACE,)), "> 80", now_ns or time.time_ns()
    )
    assert transition is not None and inst.state == "firing"
    return inst
