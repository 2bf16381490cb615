"""Anthropic messages (``client.messages.create``, sync, async and streaming)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from vigil.instrumentation import genai
from vigil.instrumentation.patching import Patch, patch_method

_REQUEST_PARAMETERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "stop_sequences": "gen_ai.request.stop_sequences",
    "stream": "gen_ai.request.stream",
}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Anthropic content (a string or blocks) as the conventions' parts."""
    if content is None or isinstance(content, str):
        return genai.text_parts(content)
    parts: list[dict[str, Any]] = []
    for block in genai.plain(list(content)):
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": block.get("id"),
                    "name": block.get("name"),
                    "arguments": block.get("input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": block.get("tool_use_id"),
                    "response": block.get("content"),
                }
            )
        else:
            parts.append(dict(block))
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    return [
        {"role": message.get("role", "user"), "parts": content_parts(message.get("content"))}
        for message in genai.plain(list(messages))
    ]


def _record_usage(span: Span, usage: Mapping[str, Any]) -> None:
    # Anthropic counts cached prompt tokens apart from input_tokens; the conventions count them in.
    read = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    if usage.get("input_tokens") is not None:
        span.set_attribute(genai.INPUT_TOKENS, usage["input_tokens"] + read + created)
    if usage.get("output_tokens") is not None:
        span.set_attribute(genai.OUTPUT_TOKENS, usage["output_tokens"])
    if read:
        span.set_attribute(genai.CACHE_READ_TOKENS, read)
    if created:
        span.set_attribute(genai.CACHE_CREATION_TOKENS, created)


def _record_result(
    span: Span,
    response_id: Any,
    model: Any,
    stop_reason: Any,
    usage: Mapping[str, Any],
    parts: list[dict[str, Any]] | None,
) -> None:
    if response_id:
        span.set_attribute(genai.RESPONSE_ID, response_id)
    if model:
        span.set_attribute(genai.RESPONSE_MODEL, model)
    if stop_reason:
        span.set_attribute(genai.FINISH_REASONS, [str(stop_reason)])
    _record_usage(span, usage)
    if parts is not None:
        genai.set_content(
            span, genai.OUTPUT_MESSAGES, [{"role": "assistant", "parts": parts, "finish_reason": stop_reason}]
        )


class _EventAccumulator(genai.StreamAccumulator):
    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.stop_reason: Any = None
        self.blocks: dict[int, dict[str, Any]] = {}

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self.message = genai.plain(event.message)
            self.usage.update(self.message.get("usage") or {})
        elif kind == "content_block_start":
            block = genai.plain(event.content_block)
            block["_text"], block["_json"] = [block.get("text") or ""], []
            self.blocks[event.index] = block
        elif kind == "content_block_delta":
            block = self.blocks.setdefault(event.index, {"type": "text", "_text": [], "_json": []})
            delta = event.delta
            if getattr(delta, "type", None) == "text_delta":
                block["_text"].append(delta.text)
            elif getattr(delta, "type", None) == "input_json_delta":
                block["_json"].append(delta.partial_json)
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            usage = genai.plain(getattr(event, "usage", None)) or {}
            self.usage.update({k: v for k, v in usage.items() if v is not None})

    def finish(self, span: Span, capture: bool) -> None:
        parts = None
        if capture:
            blocks = []
            for index in sorted(self.blocks):
                block = dict(self.blocks[index])
                text, partial_json = block.pop("_text"), block.pop("_json")
                if block.get("type") == "text":
                    block["text"] = "".join(text)
                elif block.get("type") == "tool_use" and partial_json:
                    block["input"] = genai.arguments_json("".join(partial_json))
                blocks.append(block)
            parts = content_parts(blocks)
        _record_result(
            span, self.message.get("id"), self.message.get("model"), self.stop_reason, self.usage, parts
        )


_AS_GIVEN = object()  # a cache value that holds no reference to the resource it stands for


class AnthropicMessages(genai.ChatIntegration):
    provider = "anthropic"

    def __init__(self, capture_content: bool | None) -> None:
        super().__init__(capture_content)
        self._quiet: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def target(self, resource: Any) -> Any:
        """The same resource on a copy of its client with the library's own spans off.

        Recent ``anthropic`` releases emit an OpenTelemetry span per request themselves; with
        Vigil's span around it, every call would be recorded twice and its tokens counted
        twice in trace totals. The copy shares the client's connection pool and is made once
        per resource.
        """
        try:
            quiet = self._quiet.get(resource)
            if quiet is None:
                client = resource._client
                quiet = _AS_GIVEN
                if getattr(client, "_tracer", None) is not None:
                    quiet = type(resource)(client.with_options(open_telemetry=False))
                self._quiet[resource] = quiet
            return resource if quiet is _AS_GIVEN else quiet
        except Exception:  # an older or newer library without this option: call as given
            return resource

    def request_attributes(self, resource: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {**genai.server_attributes(resource), **genai.request_parameters(kwargs, _REQUEST_PARAMETERS)}

    def record_request_content(self, span: Span, kwargs: Mapping[str, Any]) -> None:
        if kwargs.get("system") is not None:
            genai.set_content(span, genai.SYSTEM_INSTRUCTIONS, content_parts(kwargs["system"]))
        if kwargs.get("messages") is not None:
            genai.set_content(span, genai.INPUT_MESSAGES, input_messages(kwargs["messages"]))

    def record_response(self, span: Span, response: Any, capture: bool) -> None:
        usage = genai.plain(getattr(response, "usage", None)) or {}
        parts = content_parts(getattr(response, "content", None)) if capture else None
        _record_result(
            span, getattr(response, "id", None), getattr(response, "model", None),
            getattr(response, "stop_reason", None), usage, parts,
        )  # fmt: skip

    def new_accumulator(self) -> genai.StreamAccumulator:
        return _EventAccumulator()


def instrument(capture_content: bool | None) -> list[Patch]:
    from anthropic.resources.messages import AsyncMessages, Messages

    integration = AnthropicMessages(capture_content)
    return [
        patch_method(Messages, "create", integration.wrap_sync),
        patch_method(AsyncMessages, "create", integration.wrap_async),
    ]
