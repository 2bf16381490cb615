"""GenAI messages survive the trip SDK capture → span attribute → replay request: what the
server re-sends is what the application sent, tool calls and tool results included."""

from __future__ import annotations

import json

from vigil.instrumentation import anthropic as anthropic_capture
from vigil.instrumentation import openai as openai_capture
from vigil_query.replay.providers import anthropic_request, openai_request

OPENAI_MESSAGES = [
    {"role": "system", "content": "You are a calculator."},
    {"role": "user", "content": "what is 2+2?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "4"},
    {"role": "user", "content": "thanks", "name": "ada"},
]

ANTHROPIC_MESSAGES = [
    {"role": "user", "content": "what is 2+2?"},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2, "b": 2}},
        ],
    },
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}]},
]


def test_openai_messages_round_trip() -> None:
    captured = json.loads(json.dumps(openai_capture.input_messages(OPENAI_MESSAGES)))
    assert captured[2]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 2, "b": 2}}
    ]
    assert captured[3] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "4"}],
    }
    attributes = {
        "gen_ai.request.model": "gpt-x",
        "gen_ai.request.temperature": "0.2",
        "gen_ai.request.stop_sequences": '["END"]',
    }
    body = openai_request(attributes, captured)
    assert body["model"] == "gpt-x" and body["temperature"] == 0.2 and body["stop"] == ["END"]
    sent = body["messages"]
    assert sent[0] == {"role": "system", "content": "You are a calculator."}
    assert sent[2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 2}'}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "4"}
    assert sent[4] == {"role": "user", "content": "thanks", "name": "ada"}


def test_anthropic_messages_round_trip() -> None:
    captured = json.loads(json.dumps(anthropic_capture.input_messages(ANTHROPIC_MESSAGES)))
    system = anthropic_capture.content_parts("Be exact.")
    body = anthropic_request(
        {"gen_ai.request.model": "claude-x", "gen_ai.request.max_tokens": "64"}, captured, system
    )
    assert body["system"] == "Be exact." and body["max_tokens"] == 64
    assert body["messages"][0] == {"role": "user", "content": [{"type": "text", "text": "what is 2+2?"}]}
    assert body["messages"][1]["content"] == ANTHROPIC_MESSAGES[1]["content"]
    assert body["messages"][2]["content"] == ANTHROPIC_MESSAGES[2]["content"]
