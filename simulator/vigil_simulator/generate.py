"""One agent turn as the real OpenTelemetry SDK records it: a trace (the agent span → LLM calls
with GenAI attributes → tool calls), its logs (correlated by trace id through the context) and
its metrics, from one (service, host) instance. Spans and logs are collected as the SDK hands
them to an exporter, so the stock OTLP exporters send exactly what an instrumented app would."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from vigil_simulator.plan import Incident, SimulationConfig

# The attribute names of Vigil's SDK (sdk/src/vigil/instrumentation/genai.py, context_attributes.py).
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
SESSION_ID = "session.id"
USER_ID = "user.id"

MODELS: list[tuple[str, str]] = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
]
# Typical latency of one call, seconds (the median of a log-normal).
MODEL_LATENCY_S = {"gpt-4o": 0.9, "gpt-4o-mini": 0.45, "claude-sonnet-4-5": 1.1, "claude-haiku-4-5": 0.4}
SERVER_ADDRESS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}
USERS = [f"user-{i:03d}" for i in range(1, 26)]
TOOLS = ["search_docs", "get_order", "lookup_customer", "run_sql", "send_email"]
ERROR_SPIKE_FAILURE_RATE = 0.7
LATENCY_REGRESSION_FACTOR = 6.0
COST_SPIKE_SHARE = 0.5  # of all turns during the window
COST_SPIKE_TOKEN_FACTOR = 20


class RateLimitError(Exception):
    """A provider's 429, as an LLM client library raises it."""


class APIConnectionError(Exception):
    """The provider could not be reached."""


class ToolError(Exception):
    """A tool call that failed inside the agent."""


class _SpanCollector(SpanExporter):
    def __init__(self) -> None:
        self.items: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.items.extend(spans)
        return SpanExportResult.SUCCESS

    def take(self) -> list[ReadableSpan]:
        items, self.items = self.items, []
        return items


class _LogCollector(LogRecordExporter):
    """Whatever record type this SDK version hands its exporters, to hand on to the OTLP one."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def export(self, batch: Sequence[Any]) -> Any:
        self.items.extend(batch)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def take(self) -> list[Any]:
        items, self.items = self.items, []
        return items


class Instance:
    """One host of one service: its own resource, tracer, logger and meter."""

    def __init__(self, service: str, host: str, spans: _SpanCollector, logs: _LogCollector) -> None:
        self.service = service
        self.host = host
        resource = Resource.create(
            {"service.name": service, "host.name": host, "deployment.environment.name": "simulation"}
        )
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("vigil.simulator")
        self.logger = self.logger_provider.get_logger("vigil.simulator")
        meter = self.meter_provider.get_meter("vigil.simulator")
        self.cpu = meter.create_gauge("cpu_percent", unit="%", description="CPU use of the host")
        self.memory = meter.create_gauge("memory_percent", unit="%", description="memory use of the host")
        self.duration = meter.create_histogram(
            "agent.request.duration", unit="s", description="duration of an agent turn"
        )
        self.tokens = meter.create_counter("llm.token.usage", unit="{token}", description="LLM tokens used")
        self.turns_since_tick = 0

    def metrics(self) -> MetricsData | None:
        return self.reader.get_metrics_data()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


@dataclasses.dataclass
class Turn:
    instance: Instance
    spans: list[ReadableSpan]
    logs: list[Any]
    failed: bool  # an injected (or scenario) failure inside the agent
    timed_out: bool  # an injected call that hung until call_timeout_s


class Fleet:
    """Every instance, and the generator of turns over them. Used from one thread (the pacing
    loop): the collectors hand each turn's spans and logs over in order."""

    def __init__(
        self,
        config: SimulationConfig,
        rng: random.Random,
        gauge_rng: random.Random,
        incident: Incident | None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.gauge_rng = gauge_rng  # its own stream: the turns stay the same whatever the ticks
        self.incident = incident
        self._spans = _SpanCollector()
        self._logs = _LogCollector()
        self.instances = [
            Instance(service, f"{service}-{i + 1:02d}", self._spans, self._logs)
            for service in config.services
            for i in range(config.hosts_per_service)
        ]

    def silent(self, instance: Instance, t: float) -> bool:
        i = self.incident
        return bool(i and i.scenario == "silent-service" and i.active(t) and instance.service == i.target)

    def live_instances(self, t: float) -> list[Instance]:
        return [inst for inst in self.instances if not self.silent(inst, t)]

    def _scenario(self, name: str, t: float) -> str | None:
        i = self.incident
        return i.target if i and i.scenario == name and i.active(t) else None

    def turn(self, t: float, start_ns: int) -> Turn | None:
        """One agent turn starting at ``start_ns`` (``t`` seconds into the run); None when every
        instance is silent."""
        rng, c = self.rng, self.config
        live = self.live_instances(t)
        if not live:
            return None
        inst = rng.choice(live)
        cost_user = self._scenario("cost-spike", t)
        user = cost_user if cost_user and rng.random() < COST_SPIKE_SHARE else rng.choice(USERS)
        session = f"{user}-conversation-{rng.randrange(3)}"
        failure_rate = c.injection("failure_rate")
        if self._scenario("error-spike", t) == inst.service:
            failure_rate = max(failure_rate, ERROR_SPIKE_FAILURE_RATE)
        fail = rng.random() < failure_rate
        timeout = not fail and rng.random() < c.injection("timeout_rate")
        slow_model = self._scenario("latency-regression", t)

        n_llm = rng.randint(1, 3)
        steps = ["llm"]
        for _ in range(n_llm - 1):
            steps += ["tool", "llm"]
        bad_step = rng.randrange(len(steps)) if fail or timeout else -1
        context_attrs = {SESSION_ID: session, USER_ID: user}
        agent = f"{inst.service}-agent"
        root = inst.tracer.start_span(
            f"invoke_agent {agent}",
            kind=SpanKind.SERVER,
            start_time=start_ns,
            attributes={OPERATION: "invoke_agent", "gen_ai.agent.name": agent, **context_attrs},
        )
        root_ctx = trace.set_span_in_context(root)
        inst.logger.emit(
            timestamp=start_ns,
            context=root_ctx,
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body=f"agent turn started for {user}",
            attributes={**context_attrs, "steps": len(steps)},
        )
        cursor = start_ns + _ns(rng.uniform(0.002, 0.02))
        error: str | None = None
        for i, step in enumerate(steps):
            if step == "llm":
                provider, model = rng.choice(MODELS)
                latency = rng.lognormvariate(math.log(MODEL_LATENCY_S[model]), 0.35)
                if model == slow_model:
                    latency *= LATENCY_REGRESSION_FACTOR
                input_tokens = rng.randint(200, 3000) * (COST_SPIKE_TOKEN_FACTOR if user == cost_user else 1)
                output_tokens = rng.randint(20, 800)
                attrs: dict[str, Any] = {
                    OPERATION: "chat",
                    PROVIDER: provider,
                    SYSTEM: provider,
                    REQUEST_MODEL: model,
                    "server.address": SERVER_ADDRESS[provider],
                    **context_attrs,
                }
                span = inst.tracer.start_span(
                    f"chat {model}",
                    context=root_ctx,
                    kind=SpanKind.CLIENT,
                    start_time=cursor,
                    attributes=attrs,
                )
            else:
                tool = rng.choice(TOOLS)
                latency = rng.uniform(0.02, 0.4)
                span = inst.tracer.start_span(
                    f"execute_tool {tool}",
                    context=root_ctx,
                    kind=SpanKind.INTERNAL,
                    start_time=cursor,
                    attributes={OPERATION: "execute_tool", "gen_ai.tool.name": tool, **context_attrs},
                )
            if i == bad_step and timeout:
                latency = c.call_timeout_s
            end = cursor + _ns(latency)
            if i == bad_step:
                exc: Exception
                if timeout:
                    exc = TimeoutError(f"{span.name} timed out after {c.call_timeout_s:g}s")
                elif step == "llm":
                    exc = rng.choice([RateLimitError, APIConnectionError])(f"{span.name} failed")
                else:
                    exc = ToolError(f"{span.name} failed: upstream returned 500")
                span.record_exception(exc, timestamp=end)
                span.set_attribute("error.type", "timeout" if timeout else type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                error = str(exc)
                inst.logger.emit(
                    timestamp=end,
                    context=trace.set_span_in_context(span),
                    severity_number=SeverityNumber.ERROR,
                    severity_text="ERROR",
                    body=str(exc),
                    attributes={**context_attrs, "exception.type": type(exc).__name__},
                )
            elif step == "llm":
                span.set_attributes(
                    {
                        RESPONSE_MODEL: model,
                        INPUT_TOKENS: input_tokens,
                        OUTPUT_TOKENS: output_tokens,
                        FINISH_REASONS: ["tool_calls" if i < len(steps) - 1 else "stop"],
                    }
                )
                inst.tokens.add(input_tokens, {REQUEST_MODEL: model, "gen_ai.token.type": "input"})
                inst.tokens.add(output_tokens, {REQUEST_MODEL: model, "gen_ai.token.type": "output"})
            span.end(end_time=end)
            cursor = end + _ns(rng.uniform(0.001, 0.01))
            if i == bad_step:
                break
        if error:
            root.set_status(Status(StatusCode.ERROR, error))
        root.end(end_time=cursor)
        inst.logger.emit(
            timestamp=cursor,
            context=root_ctx,
            severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
            severity_text="ERROR" if error else "INFO",
            body=f"agent turn failed: {error}" if error else "agent turn finished",
            attributes=context_attrs,
        )
        inst.duration.record((cursor - start_ns) / 1e9, {"outcome": "error" if error else "ok"})
        inst.turns_since_tick += 1
        return Turn(inst, self._spans.take(), self._logs.take(), fail, timeout)

    def tick_host_gauges(self, interval_s: float, chaos: bool) -> None:
        """cpu_percent and memory_percent of every host, from its load since the last tick."""
        for inst in self.instances:
            load = inst.turns_since_tick / interval_s
            inst.turns_since_tick = 0
            cpu = 15.0 + 4.0 * load + self.gauge_rng.gauss(0, 3)
            if chaos and self.gauge_rng.random() < 0.1:
                cpu = self.gauge_rng.uniform(90, 99)
            inst.cpu.set(round(min(max(cpu, 0.0), 100.0), 1))
            inst.memory.set(round(min(max(45.0 + self.gauge_rng.gauss(0, 4), 0.0), 100.0), 1))

    def shutdown(self) -> None:
        for inst in self.instances:
            inst.shutdown()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
