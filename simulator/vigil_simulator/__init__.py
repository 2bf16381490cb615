"""``vigil simulate``: realistic LLM-agent telemetry (traces, correlated logs, metrics) sent to a
Vigil endpoint through the stock OpenTelemetry SDK and OTLP exporters, at a shaped rate, with
injected failures, malformed payloads and named incident scenarios (see docs/simulator.md)."""

from vigil_simulator.plan import MODES, SCENARIOS, SimulationConfig, SimulatorConfigError
from vigil_simulator.run import Counters, simulate

__all__ = ["MODES", "SCENARIOS", "Counters", "SimulationConfig", "SimulatorConfigError", "simulate"]
