"""``vigil simulate``: the command line of the simulator (options → SimulationConfig → run)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from vigil_simulator.plan import MODES, PROTOCOLS, SCENARIOS, SimulationConfig, SimulatorConfigError
from vigil_simulator.run import simulate

# The exporters log every failed export; the simulator counts them instead.
_QUIET_LOGGERS = ("opentelemetry.exporter", "opentelemetry.sdk")


def add_simulate_command(sub: Any) -> None:
    """The ``simulate`` sub-command on the ``vigil`` parser."""
    p = sub.add_parser(
        "simulate",
        help="send realistic LLM-agent traces, logs and metrics to a Vigil endpoint (docs/simulator.md)",
    )
    d = SimulationConfig()
    p.add_argument("--endpoint", help="OTLP endpoint (default localhost:4317 for grpc, :4318 for http)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol)
    p.add_argument("--api-key", help="an API key of the project (default: $VIGIL_API_KEY)")
    p.add_argument("--mode", choices=MODES, default=d.mode)
    p.add_argument("--rate", type=float, default=d.rate, help="agent turns per second (ramp: the end rate)")
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds to run")
    p.add_argument("--services", default=",".join(d.services), help="comma-separated service names")
    p.add_argument("--hosts-per-service", type=int, default=d.hosts_per_service)
    p.add_argument("--failure-rate", type=float, help="share of turns that fail inside the agent, 0.0 to 1.0")
    p.add_argument("--timeout-rate", type=float, help="share of turns where a call hangs until it times out")
    p.add_argument("--malformed-rate", type=float, help="share of turns sent as malformed OTLP, 0.0 to 1.0")
    p.add_argument("--seed", type=int, help="makes the generated turns, shapes and choices repeat")
    p.add_argument("--scenario", choices=SCENARIOS, help="play a named incident during the run")
    p.add_argument("--scenario-start", type=float, default=d.scenario_start, help="fraction of the run")
    p.add_argument("--scenario-end", type=float, default=d.scenario_end, help="fraction of the run")
    p.add_argument("--burst-every", type=float, default=d.burst_every_s, help="burst: seconds between spikes")
    p.add_argument("--burst-length", type=float, default=d.burst_length_s, help="burst: seconds per spike")
    p.add_argument("--burst-factor", type=float, default=d.burst_factor, help="burst: rate multiplier")
    p.add_argument("--ramp-from", type=float, default=d.ramp_from, help="ramp: start as a fraction of --rate")
    p.add_argument("--send-timeout", type=float, default=d.send_timeout_s, help="seconds per request")
    p.add_argument("--call-timeout", type=float, default=d.call_timeout_s, help="a hung call's duration, s")
    p.add_argument("--concurrency", type=int, default=d.concurrency, help="sender threads")
    p.add_argument("--print-interval", type=float, default=d.print_interval_s, help="seconds between lines")
    p.add_argument("--metrics-interval", type=float, default=d.metrics_interval_s, help="seconds")
    p.add_argument("--quiet", action="store_true", help="no live lines, only the final JSON")


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        endpoint=args.endpoint,
        protocol=args.protocol,
        api_key=args.api_key or os.environ.get("VIGIL_API_KEY") or None,
        mode=args.mode,
        rate=args.rate,
        duration_s=args.duration,
        services=tuple(s.strip() for s in args.services.split(",")),
        hosts_per_service=args.hosts_per_service,
        failure_rate=args.failure_rate,
        timeout_rate=args.timeout_rate,
        malformed_rate=args.malformed_rate,
        seed=args.seed,
        scenario=args.scenario,
        scenario_start=args.scenario_start,
        scenario_end=args.scenario_end,
        burst_every_s=args.burst_every,
        burst_length_s=args.burst_length,
        burst_factor=args.burst_factor,
        ramp_from=args.ramp_from,
        send_timeout_s=args.send_timeout,
        call_timeout_s=args.call_timeout,
        concurrency=args.concurrency,
        print_interval_s=args.print_interval,
        metrics_interval_s=args.metrics_interval,
    )


def run_simulate(args: argparse.Namespace) -> int:
    """Live lines on stderr, the summary as one JSON object on stdout. Exit 0 when every event
    was answered as expected (well-formed ones acknowledged, malformed ones refused), else 1;
    2 for invalid options."""
    try:
        config = config_from_args(args)
    except SimulatorConfigError as exc:
        print(f"vigil simulate: {exc}", file=sys.stderr)
        return 2
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    summary = simulate(config, live=None if args.quiet else sys.stderr)
    print(json.dumps(summary))
    lost = summary["events_generated"] - summary["events_succeeded"] - summary["events_malformed"]
    return 0 if lost == 0 and summary["malformed_refused"] == summary["events_malformed"] else 1
