"""SDK overhead: a ``@vigil.span`` function with input/output capture next to a hand-written
OpenTelemetry ``start_as_current_span`` block that sets the same two attributes.

    make bench-sdk
    make bench-sdk BENCH_ARGS="--calls 20000 --rounds 15"

Both run on one real OpenTelemetry SDK TracerProvider with a BatchSpanProcessor, whose
exporter drops the spans (export cost is the same for both and is not what is compared).
Rounds alternate between the two so machine noise hits both alike; the figure reported per
variant is the median of its rounds, and the ratio is taken within the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

PROMPT = "Summarise the customer's last three support tickets and propose a next step. " * 2
LIMIT = 1.3


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def setup() -> tuple[Callable[[str, int], str], Callable[[str, int], str]]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    trace.set_tracer_provider(provider)
    import vigil  # after the provider, as an application would do with vigil.init

    tracer = trace.get_tracer("bench")

    def hand_written(prompt: str, max_tokens: int) -> str:
        with tracer.start_as_current_span("answer") as span:
            span.set_attribute("input.value", json.dumps({"prompt": prompt, "max_tokens": max_tokens}))
            result = prompt[:max_tokens]
            span.set_attribute("output.value", json.dumps(result))
            return result

    @vigil.span(name="answer")
    def decorated(prompt: str, max_tokens: int) -> str:
        return prompt[:max_tokens]

    return hand_written, decorated


def per_call_us(fn: Callable[[str, int], Any], calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        fn(PROMPT, 40 + (i & 7))
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=11, help="alternating rounds per variant")
    args = parser.parse_args()

    hand_written, decorated = setup()
    assert hand_written(PROMPT, 10) == decorated(PROMPT, 10)
    per_call_us(hand_written, 1000)  # warm-up: imports, caches, the processor's thread
    per_call_us(decorated, 1000)
    bare_rounds, vigil_rounds = [], []
    for _ in range(args.rounds):
        bare_rounds.append(per_call_us(hand_written, args.calls))
        vigil_rounds.append(per_call_us(decorated, args.calls))
    bare, ours = statistics.median(bare_rounds), statistics.median(vigil_rounds)
    ratios = [v / b for v, b in zip(vigil_rounds, bare_rounds, strict=True)]
    print(f"calls: {args.rounds} rounds x {args.calls} per variant, prompt {len(PROMPT)} chars")
    print(
        f"hand-written OpenTelemetry block: {bare:6.1f} us/call (median; rounds {min(bare_rounds):.1f}-{max(bare_rounds):.1f})"
    )
    print(
        f"@vigil.span with capture:         {ours:6.1f} us/call (median; rounds {min(vigil_rounds):.1f}-{max(vigil_rounds):.1f})"
    )
    print(f"ratio: {ours / bare:.2f} (per-round ratios {min(ratios):.2f}-{max(ratios):.2f}; limit {LIMIT})")


if __name__ == "__main__":
    main()
