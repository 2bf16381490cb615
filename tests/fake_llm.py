"""A local stand-in for the OpenAI and Anthropic HTTP APIs, speaking their wire formats.

Tests point the real ``openai`` and ``anthropic`` client libraries at it (``base_url``), so
the libraries' own request building, response parsing and SSE stream decoding all run.
Replies are deterministic: the assistant echoes the last user text, and token counts are word
counts, so tests can predict every attribute.

Special models: ``fail-500`` answers HTTP 500, ``slow`` waits ``slow_s`` seconds first,
``redirect`` answers 307 to ``/redirected`` on this server, which answers like the real route
(a client that follows it is seen in ``requests``) (``force_model`` applies one of them to
every request).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESPONSE_MODEL_SUFFIX = "-2026-01-01"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            block.get("text", "") if isinstance(block, dict) else str(block)
            for block in content
            if not isinstance(block, dict) or block.get("type") == "text"
        )
    return ""


def words(text: str) -> int:
    return len(text.split())


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The fake model's answer: an echo of the last user message."""
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
    return "echo: " + _text_of(last_user.get("content"))


def prompt_tokens(body: dict[str, Any]) -> int:
    total = sum(words(_text_of(m.get("content"))) for m in body.get("messages", []))
    return total + words(_text_of(body.get("system", "")))


@dataclass
class FakeLLM:
    slow_s: float = 5.0
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # When set, every request behaves as if it named this model (e.g. "fail-500", "slow").
    force_model: str = ""

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                fake.requests.append((self.path, body))
                model = fake.force_model or body.get("model", "")
                if model == "slow":
                    time.sleep(fake.slow_s)  # the fake provider's own slowness, not a test's wait
                if model == "redirect" and not self.path.startswith("/redirected"):
                    self.send_response(307)
                    self.send_header("Location", f"/redirected{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif model == "fail-500":
                    self._send(
                        500,
                        "application/json",
                        json.dumps({"error": {"message": "fake upstream failure", "type": "server_error"}}),
                    )
                elif self.path.endswith("/chat/completions"):
                    self._openai(body)
                elif self.path.endswith("/messages"):
                    self._anthropic(body)
                else:
                    self._send(
                        404, "application/json", json.dumps({"error": {"message": f"no route {self.path}"}})
                    )

            def _send(self, status: int, content_type: str, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _openai(self, body: dict[str, Any]) -> None:
                text = reply_for(body["messages"])
                usage = {"prompt_tokens": prompt_tokens(body), "completion_tokens": words(text)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                base = {
                    "id": "chatcmpl-fake",
                    "created": 1_700_000_000,
                    "model": body["model"] + RESPONSE_MODEL_SUFFIX,
                }
                if not body.get("stream"):
                    choice = {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                    self._send(
                        200,
                        "application/json",
                        json.dumps(
                            {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
                        ),
                    )
                    return
                chunk = {**base, "object": "chat.completion.chunk"}
                pieces = text.split(" ")
                events = [
                    {
                        **chunk,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": piece if i == 0 else " " + piece},
                                "finish_reason": None,
                            }
                        ],
                    }
                    for i, piece in enumerate(pieces)
                ]
                events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    events.append({**chunk, "choices": [], "usage": usage})
                sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send(200, "text/event-stream", sse)

            def _anthropic(self, body: dict[str, Any]) -> None:
                text = reply_for(body["messages"])
                usage = {"input_tokens": prompt_tokens(body), "output_tokens": words(text)}
                message = {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"] + RESPONSE_MODEL_SUFFIX,
                    "stop_sequence": None,
                }
                if not body.get("stream"):
                    reply = {
                        **message,
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "usage": usage,
                    }
                    self._send(200, "application/json", json.dumps(reply))
                    return
                events = [
                    (
                        "message_start",
                        {
                            "type": "message_start",
                            "message": {
                                **message,
                                "content": [],
                                "stop_reason": None,
                                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
                            },
                        },
                    ),
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": 0,
                            "content_block": {"type": "text", "text": ""},
                        },
                    ),
                ]
                for i, piece in enumerate(text.split(" ")):
                    delta = {"type": "text_delta", "text": piece if i == 0 else " " + piece}
                    events.append(
                        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
                    )
                events += [
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    (
                        "message_delta",
                        {
                            "type": "message_delta",
                            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": usage["output_tokens"]},
                        },
                    ),
                    ("message_stop", {"type": "message_stop"}),
                ]
                sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
                self._send(200, "text/event-stream", sse)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out (the "slow" model) close the connection mid-answer

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
