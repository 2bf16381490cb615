"""What a run does and when: its configuration, the rate shape of each mode and the timeline of
each scenario. Pure functions of time and the seeded generator, so a run is reproducible."""

from __future__ import annotations

import dataclasses
import math
import random

MODES = ("steady", "burst", "ramp", "chaos")
SCENARIOS = ("error-spike", "latency-regression", "cost-spike", "silent-service")
PROTOCOLS = ("grpc", "http")

# Chaos without explicit injection rates still injects some of each.
CHAOS_DEFAULT_RATES = {"failure_rate": 0.1, "timeout_rate": 0.05, "malformed_rate": 0.05}


class SimulatorConfigError(ValueError):
    """A simulation option out of range, with the option's name and the reason."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    endpoint: str | None = None  # None: the protocol's default port on localhost
    protocol: str = "grpc"
    api_key: str | None = None
    mode: str = "steady"
    rate: float = 10.0  # agent turns per second (the peak in ramp, the baseline in burst/chaos)
    duration_s: float = 10.0
    services: tuple[str, ...] = ("agent-api", "retriever", "billing")
    hosts_per_service: int = 2
    failure_rate: float | None = None  # None: 0, or CHAOS_DEFAULT_RATES in chaos
    timeout_rate: float | None = None
    malformed_rate: float | None = None
    seed: int | None = None
    scenario: str | None = None
    scenario_start: float = 0.4  # fractions of the duration: the incident's window
    scenario_end: float = 0.8
    burst_every_s: float = 5.0
    burst_length_s: float = 1.0
    burst_factor: float = 5.0
    ramp_from: float = 0.1  # ramp starts at this fraction of --rate and ends at --rate
    send_timeout_s: float = 10.0  # the exporters' deadline per request
    call_timeout_s: float = 30.0  # how long a simulated LLM/tool call hangs before it times out
    concurrency: int = 8  # sender threads
    print_interval_s: float = 1.0
    metrics_interval_s: float = 1.0
    tick_s: float = 0.005  # the pacing loop's granularity

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SimulatorConfigError(
                "--protocol", f"must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"
            )
        if self.mode not in MODES:
            raise SimulatorConfigError("--mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise SimulatorConfigError(
                "--scenario", f"must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}"
            )
        for name in ("failure_rate", "timeout_rate", "malformed_rate"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value <= 1.0):  # NaN fails it too
                raise SimulatorConfigError(_option(name), f"must be within 0.0 to 1.0, got {value}")
        positive = (
            "rate",
            "duration_s",
            "send_timeout_s",
            "call_timeout_s",
            "print_interval_s",
            "metrics_interval_s",
            "tick_s",
            "burst_every_s",
            "burst_length_s",
            "burst_factor",
        )
        for name in positive:
            value = getattr(self, name)
            if not (value > 0) or math.isinf(value):
                raise SimulatorConfigError(_option(name), f"must be a positive number, got {value}")
        if self.burst_length_s > self.burst_every_s:
            raise SimulatorConfigError("--burst-length", "must not exceed --burst-every")
        if not (0.0 <= self.ramp_from <= 1.0):
            raise SimulatorConfigError("--ramp-from", f"must be within 0.0 to 1.0, got {self.ramp_from}")
        if not (0.0 <= self.scenario_start < self.scenario_end <= 1.0):
            raise SimulatorConfigError(
                "--scenario-start/--scenario-end", "need 0 ≤ start < end ≤ 1 (fractions of the duration)"
            )
        if not self.services or any(not s.strip() for s in self.services):
            raise SimulatorConfigError("--services", "needs at least one non-empty service name")
        if self.hosts_per_service < 1:
            raise SimulatorConfigError("--hosts-per-service", "must be at least 1")
        if self.concurrency < 1:
            raise SimulatorConfigError("--concurrency", "must be at least 1")

    def injection(self, name: str) -> float:
        """The effective rate of one injection: given, else chaos's default, else 0."""
        value = getattr(self, name)
        if value is not None:
            return value
        return CHAOS_DEFAULT_RATES[name] if self.mode == "chaos" else 0.0

    @property
    def target(self) -> str:
        if self.endpoint:
            return self.endpoint
        return "http://localhost:4317" if self.protocol == "grpc" else "http://localhost:4318"


def _option(field: str) -> str:
    """The command-line option of a field (``duration_s`` → ``--duration``)."""
    return "--" + field.removesuffix("_s").replace("_", "-")


class RateShape:
    """Turns per second at a time into the run, for the configured mode."""

    def __init__(self, config: SimulationConfig, rng: random.Random) -> None:
        self.config = config
        # Chaos draws one factor per whole second, in order, so the same seed gives the same shape.
        self._chaos: list[float] = []
        self._rng = rng

    def at(self, t: float) -> float:
        c = self.config
        if c.mode == "steady":
            return c.rate
        if c.mode == "burst":
            in_burst = (t % c.burst_every_s) < c.burst_length_s
            return c.rate * c.burst_factor if in_burst else c.rate
        if c.mode == "ramp":
            progress = min(max(t / c.duration_s, 0.0), 1.0)
            return c.rate * (c.ramp_from + (1.0 - c.ramp_from) * progress)
        return c.rate * self.chaos_factor(int(t))

    def chaos_factor(self, second: int) -> float:
        while len(self._chaos) <= second:
            if self._rng.random() < 0.15:
                self._chaos.append(self._rng.uniform(3.0, 6.0))  # a spike
            else:
                self._chaos.append(self._rng.uniform(0.5, 1.5))
        return self._chaos[second]


@dataclasses.dataclass(frozen=True)
class Incident:
    """A scenario's target and window, in seconds into the run."""

    scenario: str
    target: str
    start_s: float
    end_s: float

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


def incident_for(
    config: SimulationConfig, models: list[tuple[str, str]], users: list[str]
) -> Incident | None:
    if config.scenario is None:
        return None
    target = {
        "error-spike": config.services[0],
        "latency-regression": models[0][1],
        "cost-spike": users[0],
        "silent-service": config.services[-1],
    }[config.scenario]
    return Incident(
        config.scenario,
        target,
        config.scenario_start * config.duration_s,
        config.scenario_end * config.duration_s,
    )
