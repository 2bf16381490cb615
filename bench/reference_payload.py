"""The fixed reference payload of the ingest benchmark: LLM-like spans, 512 per request.

Each span (~850 bytes as protobuf) carries 9 attributes, among them ``gen_ai.system``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens`` and
a ~300-character prompt; one event; the resource has ``service.name``. Traces are 8 spans
(a root and 7 children). Generated from a fixed seed, so every run sends the same bytes
except for ids and timestamps, which are made unique per request.
"""

from __future__ import annotations

import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SPANS_PER_REQUEST = 512
SPANS_PER_TRACE = 8
SERVICES = ("agent-api", "retriever", "planner", "tool-runner")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "llama-3.1-70b")
OPERATIONS = ("chat", "text_completion", "embeddings", "execute_tool")
PROMPT_TEXT = (
    "summarise the following customer conversation and list the open questions the agent "
    "must answer before the ticket can be closed include product names order numbers and "
    "any promised delivery dates keep the tone friendly and concise"
)
WORDS = PROMPT_TEXT.split()


def kv(key: str, value: object) -> KeyValue:
    """An OTLP attribute from a Python value (bool, int, float, list of str, or str)."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(
            key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
        )
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def build_request(rng: random.Random, start_ns: int | None = None) -> ExportTraceServiceRequest:
    """One export request of SPANS_PER_REQUEST spans from one service."""
    start_ns = start_ns or time.time_ns()
    request = ExportTraceServiceRequest()
    service = rng.choice(SERVICES)
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [
            kv("service.name", service),
            kv("service.version", "1.4.2"),
            kv("deployment.environment", "bench"),
        ]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "vigil.bench"
    ss.scope.version = "1.0.0"
    for t in range(SPANS_PER_REQUEST // SPANS_PER_TRACE):
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        for i in range(SPANS_PER_TRACE):
            model = rng.choice(MODELS)
            operation = rng.choice(OPERATIONS)
            begin = start_ns + (t * SPANS_PER_TRACE + i) * 1_000_000
            duration = int(rng.lognormvariate(18.5, 0.6))  # ~100 ms median
            prompt = " ".join(rng.choice(WORDS) for _ in range(48))[:300]
            span = Span(
                trace_id=trace_id,
                span_id=root_id if i == 0 else rng.randbytes(8),
                parent_span_id=b"" if i == 0 else root_id,
                name=f"{operation} {model}",
                kind=Span.SPAN_KIND_CLIENT if i else Span.SPAN_KIND_SERVER,
                start_time_unix_nano=begin,
                end_time_unix_nano=begin + duration,
                attributes=[
                    kv("gen_ai.system", "openai" if model.startswith("gpt") else "anthropic"),
                    kv("gen_ai.operation.name", operation),
                    kv("gen_ai.request.model", model),
                    kv("gen_ai.usage.input_tokens", rng.randint(50, 4000)),
                    kv("gen_ai.usage.output_tokens", rng.randint(10, 1000)),
                    kv("gen_ai.request.temperature", round(rng.random(), 2)),
                    kv("gen_ai.request.stream", rng.random() < 0.3),
                    kv("gen_ai.response.finish_reasons", ["stop"]),
                    kv("gen_ai.prompt", prompt),
                ],
                status=Status(
                    code=Status.STATUS_CODE_ERROR if rng.random() < 0.02 else Status.STATUS_CODE_OK
                ),
            )
            event = span.events.add()
            event.time_unix_nano = begin + duration // 2
            event.name = "gen_ai.choice"
            event.attributes.append(
                kv("gen_ai.completion", " ".join(rng.choice(WORDS) for _ in range(14))[:80])
            )
            ss.spans.append(span)
    return request


if __name__ == "__main__":
    req = build_request(random.Random(7))
    size = len(req.SerializeToString())
    print(f"{size} bytes per request, {size / SPANS_PER_REQUEST:.0f} bytes per span")
