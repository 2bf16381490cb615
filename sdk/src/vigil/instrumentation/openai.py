"""OpenAI chat completions (``client.chat.completions.create``, sync, async and streaming)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from vigil.instrumentation import genai
from vigil.instrumentation.patching import Patch, patch_method

_REQUEST_PARAMETERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "stop": "gen_ai.request.stop_sequences",
    "stream": "gen_ai.request.stream",
}


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in genai.plain(tool_calls) or []:
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": genai.arguments_json(function.get("arguments")),
            }
        )
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI chat messages in the conventions' ``{"role", "parts"}`` shape."""
    converted = []
    for message in genai.plain(list(messages)):
        role = message.get("role", "user")
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = genai.text_parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            entry["name"] = message["name"]
        converted.append(entry)
    return converted


def _output_message(message: Mapping[str, Any], finish_reason: Any) -> dict[str, Any]:
    parts = genai.text_parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
    return {"role": message.get("role") or "assistant", "parts": parts, "finish_reason": finish_reason}


def _record_usage(span: Span, usage: Any) -> None:
    usage = genai.plain(usage)
    if not isinstance(usage, Mapping):
        return
    if usage.get("prompt_tokens") is not None:
        span.set_attribute(genai.INPUT_TOKENS, usage["prompt_tokens"])
    if usage.get("completion_tokens") is not None:
        span.set_attribute(genai.OUTPUT_TOKENS, usage["completion_tokens"])
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached:
        span.set_attribute(genai.CACHE_READ_TOKENS, cached)


class _ChunkAccumulator(genai.StreamAccumulator):
    def __init__(self) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        self.response_id = self.response_id or getattr(chunk, "id", None)
        self.model = self.model or getattr(chunk, "model", None)
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            state = self.choices.setdefault(
                choice.index, {"text": [], "tool_calls": {}, "finish_reason": None}
            )
            delta = choice.delta
            if delta is not None and delta.content:
                state["text"].append(delta.content)
            for call in (delta.tool_calls if delta is not None else None) or []:
                slot = state["tool_calls"].setdefault(call.index, {"id": None, "name": None, "arguments": []})
                slot["id"] = slot["id"] or call.id
                if call.function is not None:
                    slot["name"] = slot["name"] or call.function.name
                    if call.function.arguments:
                        slot["arguments"].append(call.function.arguments)
            if choice.finish_reason:
                state["finish_reason"] = choice.finish_reason

    def finish(self, span: Span, capture: bool) -> None:
        if self.response_id:
            span.set_attribute(genai.RESPONSE_ID, self.response_id)
        if self.model:
            span.set_attribute(genai.RESPONSE_MODEL, self.model)
        ordered = [self.choices[i] for i in sorted(self.choices)]
        reasons = genai.finish_reasons([c["finish_reason"] for c in ordered])
        if reasons:
            span.set_attribute(genai.FINISH_REASONS, reasons)
        _record_usage(span, self.usage)
        if capture:
            messages = []
            for state in ordered:
                parts = [{"type": "text", "content": "".join(state["text"])}] if state["text"] else []
                for slot in (state["tool_calls"][i] for i in sorted(state["tool_calls"])):
                    arguments = genai.arguments_json("".join(slot["arguments"]))
                    parts.append(
                        {"type": "tool_call", "id": slot["id"], "name": slot["name"], "arguments": arguments}
                    )
                messages.append(
                    {"role": "assistant", "parts": parts, "finish_reason": state["finish_reason"]}
                )
            genai.set_content(span, genai.OUTPUT_MESSAGES, messages)


class OpenAIChat(genai.ChatIntegration):
    provider = "openai"

    def request_attributes(self, resource: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {**genai.server_attributes(resource), **genai.request_parameters(kwargs, _REQUEST_PARAMETERS)}

    def record_request_content(self, span: Span, kwargs: Mapping[str, Any]) -> None:
        if kwargs.get("messages") is not None:
            genai.set_content(span, genai.INPUT_MESSAGES, input_messages(kwargs["messages"]))

    def record_response(self, span: Span, response: Any, capture: bool) -> None:
        if getattr(response, "id", None):
            span.set_attribute(genai.RESPONSE_ID, response.id)
        if getattr(response, "model", None):
            span.set_attribute(genai.RESPONSE_MODEL, response.model)
        choices = getattr(response, "choices", None) or []
        reasons = genai.finish_reasons([c.finish_reason for c in choices])
        if reasons:
            span.set_attribute(genai.FINISH_REASONS, reasons)
        _record_usage(span, getattr(response, "usage", None))
        if capture:
            messages = [_output_message(genai.plain(c.message), c.finish_reason) for c in choices]
            genai.set_content(span, genai.OUTPUT_MESSAGES, messages)

    def new_accumulator(self) -> genai.StreamAccumulator:
        return _ChunkAccumulator()


def instrument(capture_content: bool | None) -> list[Patch]:
    from openai.resources.chat.completions import AsyncCompletions, Completions

    integration = OpenAIChat(capture_content)
    return [
        patch_method(Completions, "create", integration.wrap_sync),
        patch_method(AsyncCompletions, "create", integration.wrap_async),
    ]
