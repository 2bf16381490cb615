"""``vigil sink``: a local receiver for the walk-through (docs/walkthrough.md). It stands in for
both the webhook that gets notifications and the remediator that gets actions: every POST is
answered 200 and printed as one JSON line (path, Idempotency-Key, signature, body), so what
Vigil sends can be watched — by a person or by the test that runs the walk-through.

It listens on loopback only: it is a demonstration, not a service to expose.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

MAX_BODY = 4 * 1024 * 1024


class SinkError(ValueError):
    """Bad options for the sink (the message says which and why)."""


def add_sink_command(sub: Any) -> None:
    p = sub.add_parser(
        "sink",
        help="print every POST it receives (a local notification receiver and remediator, docs/walkthrough.md)",
    )
    p.add_argument("--port", type=int, default=9009, help="loopback port to listen on (0: any free one)")
    p.add_argument(
        "--secret",
        default="",
        help="check X-Vigil-Signature with this HMAC key and answer 401 to a missing or wrong one",
    )


def make_server(port: int, secret: str, out: TextIO) -> ThreadingHTTPServer:
    if not 0 <= port <= 65535:
        raise SinkError(f"--port must be 0 to 65535, got {port}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, "body too large")
                return
            raw = self.rfile.read(length)
            signature = self.headers.get("X-Vigil-Signature", "")
            verified = None
            if secret:
                expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
                verified = hmac.compare_digest(expected, signature)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            line = {
                "path": self.path,
                "idempotency_key": self.headers.get("Idempotency-Key", ""),
                "signature": signature,
                "verified": verified,
                "body": body,
            }
            with lock:
                out.write(json.dumps(line) + "\n")
                out.flush()
            if verified is False:
                self._answer(401, "bad or missing X-Vigil-Signature")
            else:
                self._answer(200, '{"ok": true}')

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass  # the JSON lines are the log

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def run_sink(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.port, args.secret, sys.stdout)
    except (SinkError, OSError) as exc:
        print(f"vigil sink: {exc}", file=sys.stderr)
        return 2
    # SIGTERM ends it like Ctrl-C: serve_forever returns, the socket is closed.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(
        f"vigil sink: listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
