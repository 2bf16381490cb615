"""Send a GenAI chat call again, to an OpenAI-compatible or Anthropic endpoint, over HTTP.

The request is rebuilt from the span: ``gen_ai.request.*`` parameters and the (mutated)
``gen_ai.input.messages`` / ``gen_ai.system_instructions`` in the GenAI conventions'
``{"role", "parts"}`` shape, turned back into each provider's wire format. The answer is
turned into the same shape, so the original and new outputs compare like for like.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

OPENAI = "openai"
ANTHROPIC = "anthropic"
PROVIDERS = (OPENAI, ANTHROPIC)
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_ANTHROPIC_MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    base_url: str
    api_key: str


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Where replays send GenAI calls (from VigilSettings)."""

    openai: ProviderEndpoint
    anthropic: ProviderEndpoint
    timeout_s: float = 60.0

    def endpoint(self, provider: str) -> ProviderEndpoint:
        return self.openai if provider == OPENAI else self.anthropic


@dataclass(slots=True)
class CallResult:
    provider: str
    model: str
    request: dict[str, Any]
    started_ns: int = 0
    ended_ns: int = 0
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    response_model: str = ""
    response_id: str = ""
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str = ""
    sent: bool = False  # the request left for the provider (it may have been billed)

    @property
    def latency_ms(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e6


class NotReplayable(Exception):
    """The span is not a GenAI chat call Vigil knows how to send again."""


def provider_of(attributes: dict[str, str]) -> str:
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system") or ""
    if attributes.get("gen_ai.operation.name", "chat") != "chat" or provider not in PROVIDERS:
        raise NotReplayable(
            f"only GenAI chat calls to {' or '.join(PROVIDERS)} can be executed again "
            f"(operation {attributes.get('gen_ai.operation.name')!r}, provider {provider!r})"
        )
    if not attributes.get("gen_ai.request.model"):
        raise NotReplayable("the span has no gen_ai.request.model")
    return provider


def _number(attributes: dict[str, str], key: str, kind: type) -> Any:
    raw = attributes.get(key)
    if raw is None:
        return None
    try:
        return kind(float(raw)) if kind is int else kind(raw)
    except ValueError:
        return None


def _stop_sequences(attributes: dict[str, str]) -> list[str] | None:
    raw = attributes.get("gen_ai.request.stop_sequences")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return [raw]
    return value if isinstance(value, list) else [str(value)]


# gen_ai.request.* attribute → the provider's request field, and its type.
_OPENAI_PARAMETERS = (
    ("gen_ai.request.temperature", "temperature", float),
    ("gen_ai.request.top_p", "top_p", float),
    ("gen_ai.request.max_tokens", "max_tokens", int),
    ("gen_ai.request.seed", "seed", int),
    ("gen_ai.request.frequency_penalty", "frequency_penalty", float),
    ("gen_ai.request.presence_penalty", "presence_penalty", float),
)
_ANTHROPIC_PARAMETERS = (
    ("gen_ai.request.temperature", "temperature", float),
    ("gen_ai.request.top_p", "top_p", float),
    ("gen_ai.request.top_k", "top_k", int),
)


def _with_parameters(
    body: dict[str, Any],
    attributes: dict[str, str],
    parameters: tuple[tuple[str, str, type], ...],
    stop_field: str,
) -> dict[str, Any]:
    for key, name, kind in parameters:
        value = _number(attributes, key, kind)
        if value is not None:
            body[name] = value
    if (stop := _stop_sequences(attributes)) is not None:
        body[stop_field] = stop
    return body


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(str(p.get("content", "")) for p in parts if p.get("type") == "text")


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def openai_request(attributes: dict[str, str], messages: list[dict[str, Any]]) -> dict[str, Any]:
    wire = []
    for message in messages:
        parts = message.get("parts") or []
        role = message.get("role", "user")
        responses = [p for p in parts if p.get("type") == "tool_call_response"]
        if role == "tool" and responses:
            for p in responses:
                content = p.get("response")
                wire.append(
                    {
                        "role": "tool",
                        "tool_call_id": p.get("id"),
                        "content": content if isinstance(content, str) else json.dumps(content),
                    }
                )
            continue
        entry: dict[str, Any] = {"role": role, "content": _text(parts)}
        calls = [p for p in parts if p.get("type") == "tool_call"]
        if calls:
            entry["tool_calls"] = [
                {
                    "id": p.get("id"),
                    "type": "function",
                    "function": {"name": p.get("name"), "arguments": _arguments_text(p.get("arguments"))},
                }
                for p in calls
            ]
        if message.get("name"):
            entry["name"] = message["name"]
        wire.append(entry)
    body: dict[str, Any] = {"model": attributes["gen_ai.request.model"], "messages": wire}
    return _with_parameters(body, attributes, _OPENAI_PARAMETERS, "stop")


def _anthropic_blocks(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks = []
    for p in parts:
        kind = p.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": str(p.get("content", ""))})
        elif kind == "tool_call":
            arguments = p.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    arguments = {"input": arguments}
            blocks.append(
                {"type": "tool_use", "id": p.get("id"), "name": p.get("name"), "input": arguments or {}}
            )
        elif kind == "tool_call_response":
            blocks.append({"type": "tool_result", "tool_use_id": p.get("id"), "content": p.get("response")})
        else:
            blocks.append(dict(p))
    return blocks


def anthropic_request(
    attributes: dict[str, str], messages: list[dict[str, Any]], system: list[dict[str, Any]] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": attributes["gen_ai.request.model"],
        "max_tokens": _number(attributes, "gen_ai.request.max_tokens", int) or DEFAULT_ANTHROPIC_MAX_TOKENS,
        "messages": [
            {"role": m.get("role", "user"), "content": _anthropic_blocks(m.get("parts") or [])}
            for m in messages
        ],
    }
    if system:
        body["system"] = _text(system)
    return _with_parameters(body, attributes, _ANTHROPIC_PARAMETERS, "stop_sequences")


def _openai_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.get("content"):
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        parts.append(
            {"type": "tool_call", "id": call.get("id"), "name": function.get("name"), "arguments": arguments}
        )
    return parts


def _read_openai(result: CallResult, body: dict[str, Any]) -> None:
    choices = body.get("choices") or []
    result.output_messages = [
        {
            "role": "assistant",
            "parts": _openai_parts(c.get("message") or {}),
            "finish_reason": c.get("finish_reason"),
        }
        for c in choices
    ]
    result.finish_reasons = [str(c["finish_reason"]) for c in choices if c.get("finish_reason")]
    usage = body.get("usage") or {}
    result.input_tokens = usage.get("prompt_tokens")
    result.output_tokens = usage.get("completion_tokens")
    result.response_model = body.get("model") or ""
    result.response_id = body.get("id") or ""


def _read_anthropic(result: CallResult, body: dict[str, Any]) -> None:
    parts = []
    for block in body.get("content") or []:
        if block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif block.get("type") == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": block.get("id"),
                    "name": block.get("name"),
                    "arguments": block.get("input"),
                }
            )
        else:
            parts.append(block)
    stop = body.get("stop_reason")
    result.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": stop}]
    result.finish_reasons = [str(stop)] if stop else []
    usage = body.get("usage") or {}
    if usage.get("input_tokens") is not None:
        cached = (usage.get("cache_read_input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0)
        result.input_tokens = usage["input_tokens"] + cached
    result.output_tokens = usage.get("output_tokens")
    result.response_model = body.get("model") or ""
    result.response_id = body.get("id") or ""


def request_for(
    provider: str,
    attributes: dict[str, str],
    messages: list[dict[str, Any]],
    system: list[dict[str, Any]] | None,
    max_tokens: int,
) -> dict[str, Any]:
    """The provider's request body, with ``max_tokens`` at most ``max_tokens`` (the stored
    value is anyone's with an ingest key; without one, the cap itself is sent)."""
    if provider == OPENAI:
        request = openai_request(attributes, messages)
    else:
        request = anthropic_request(attributes, messages, system)
    stored = request.get("max_tokens")
    request["max_tokens"] = min(stored, max_tokens) if isinstance(stored, int) and stored > 0 else max_tokens
    return request


def estimated_input_tokens(request: dict[str, Any]) -> int:
    """Input tokens of a request before it is sent, for the caps: one per 3 bytes of its
    messages (and system prompt) as JSON, above what tokenizers make of most text."""
    sent = json.dumps([request.get("messages"), request.get("system")], ensure_ascii=False)
    return -(-len(sent.encode()) // 3)


async def send(
    session: aiohttp.ClientSession,
    config: ProviderConfig,
    provider: str,
    request: dict[str, Any],
) -> CallResult:
    """One call of a request built by ``request_for``; provider failures, timeouts and
    redirects end up in ``CallResult.error``, never raised. Redirects are not followed: the
    provider's key must go to the configured address only."""
    endpoint = config.endpoint(provider)
    if provider == OPENAI:
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {endpoint.api_key}"}
    else:
        url = endpoint.base_url.rstrip("/") + "/v1/messages"
        headers = {"x-api-key": endpoint.api_key, "anthropic-version": ANTHROPIC_VERSION}
    result = CallResult(provider, request["model"], request, started_ns=time.time_ns())
    if not endpoint.api_key:
        result.ended_ns = result.started_ns
        result.error = f"no API key configured for {provider} (VIGIL_REPLAY_{provider.upper()}_API_KEY)"
        return result
    result.sent = True
    try:
        async with session.post(
            url,
            json=request,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=config.timeout_s),
            allow_redirects=False,
        ) as response:
            text = await response.text()
            result.ended_ns = time.time_ns()
            if 300 <= response.status < 400:
                result.error = (
                    f"{provider} answered HTTP {response.status}, a redirect to "
                    f"{response.headers.get('Location', '(no Location)')!r}: not followed (the API key goes "
                    f"to VIGIL_REPLAY_{provider.upper()}_BASE_URL only; set it to the final address)"
                )
                return result
            if response.status >= 400:
                result.error = f"{provider} answered HTTP {response.status}: {text[:300]}"
                return result
            body = json.loads(text)
    except TimeoutError:
        result.ended_ns = time.time_ns()
        result.error = f"{provider} did not answer within {config.timeout_s:g} s ({url})"
        return result
    except (aiohttp.ClientError, ValueError) as exc:
        result.ended_ns = time.time_ns()
        result.error = f"calling {provider} at {url} failed: {type(exc).__name__}: {exc}"
        return result
    (_read_openai if provider == OPENAI else _read_anthropic)(result, body)
    return result
