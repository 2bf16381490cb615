"""The pacing loop: turns generated at the mode's rate on one thread, sent by a pool of sender
threads, counted, printed live once per interval and summarised at the end."""

from __future__ import annotations

import dataclasses
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

import grpc

from vigil_simulator.generate import MODELS, USERS, Fleet, Turn
from vigil_simulator.plan import RateShape, SimulationConfig, incident_for
from vigil_simulator.send import MALFORMED_KINDS, SEVERITY, Outcome, Sender, malformed_body

EVENT_COUNTERS = (
    "events_generated",
    "events_succeeded",
    "events_failed",
    "events_rate_limited",
    "events_timeout",
    "events_malformed",
)


class Counters:
    """What happened to the run's events (one event = one agent turn), safe across threads.

    Every generated event ends in exactly one of succeeded, failed, rate_limited, timeout or
    malformed, so once the run has drained those five add up to ``events_generated``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = dict.fromkeys(
            (
                *EVENT_COUNTERS,
                "malformed_refused",
                "malformed_accepted",
                "spans_generated",
                "spans_acknowledged",
                "logs_acknowledged",
                "turns_with_injected_failure",
                "turns_with_injected_timeout",
                "metric_exports_succeeded",
                "metric_exports_failed",
            ),
            0,
        )

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self.values[name] += delta

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.values)


@dataclasses.dataclass
class _Progress:
    last_print: float
    last_generated: int = 0


def simulate(config: SimulationConfig, live: TextIO | None = sys.stderr) -> dict[str, Any]:
    """Run one simulation to its end (every event answered or timed out) and return the summary
    (the counters, the effective settings, the scenario's window in Unix nanoseconds)."""
    # Separate streams, so that the turns, the chaos shape, the malformed choices and the host
    # gauges each repeat for a seed whatever the timing does to the others.
    seed = config.seed if config.seed is not None else random.randrange(2**63)
    rngs = {name: random.Random(f"{seed}:{name}") for name in ("turns", "shape", "malformed", "gauges")}
    incident = incident_for(config, MODELS, USERS)
    fleet = Fleet(config, rngs["turns"], rngs["gauges"], incident)
    shape = RateShape(config, rngs["shape"])
    sender = Sender(config)
    counters = Counters()
    malformed_rate = config.injection("malformed_rate")
    slots = threading.BoundedSemaphore(config.concurrency * 8)  # backpressure: a slow server slows the run

    def deliver(turn: Turn, malformed: str | None) -> None:
        try:
            if malformed:
                answer, refused = sender.send_raw_spans(
                    malformed_body(turn.spans, malformed), len(turn.spans)
                )
                counters.add(
                    events_malformed=1,
                    malformed_refused=int(refused),
                    malformed_accepted=int(not refused and answer in (200, grpc.StatusCode.OK)),
                )
                return
            outcomes = [sender.send_spans(turn.spans)]
            if outcomes[0] is Outcome.SUCCEEDED:
                counters.add(spans_acknowledged=len(turn.spans))
            log_outcome = sender.send_logs(turn.logs)
            if log_outcome is Outcome.SUCCEEDED:
                counters.add(logs_acknowledged=len(turn.logs))
            outcomes.append(log_outcome)
            worst = max(outcomes, key=SEVERITY.index)
            counters.add(**{f"events_{worst.value}": 1})
        except Exception:
            counters.add(events_failed=1)  # never lose an event from the sum
        finally:
            slots.release()

    def export_metrics(t: float, chaos: bool) -> None:
        fleet.tick_host_gauges(config.metrics_interval_s, chaos)
        for inst in fleet.live_instances(t):
            data = inst.metrics()
            if data is None:
                continue
            ok = sender.send_metrics(data) is Outcome.SUCCEEDED
            counters.add(metric_exports_succeeded=int(ok), metric_exports_failed=int(not ok))

    pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="vigil-sim-send")
    start_ns = time.time_ns()
    start = time.monotonic()
    last = start
    budget = 0.0
    next_metrics = start + config.metrics_interval_s
    progress = _Progress(last_print=start)
    try:
        while True:
            now = time.monotonic()
            t = now - start
            if t >= config.duration_s:
                break
            budget += shape.at(t) * (now - last)
            last = now
            while budget >= 1.0:
                budget -= 1.0
                turn = fleet.turn(t, start_ns + int(t * 1e9))
                if turn is None:
                    continue
                malformed = None
                if rngs["malformed"].random() < malformed_rate:
                    malformed = rngs["malformed"].choice(MALFORMED_KINDS)
                counters.add(
                    events_generated=1,
                    spans_generated=len(turn.spans),
                    turns_with_injected_failure=int(turn.failed),
                    turns_with_injected_timeout=int(turn.timed_out),
                )
                slots.acquire()
                pool.submit(deliver, turn, malformed)
            if now >= next_metrics:
                next_metrics += config.metrics_interval_s
                pool.submit(export_metrics, t, config.mode == "chaos")
            if live is not None and now - progress.last_print >= config.print_interval_s:
                _print_live(live, t, counters, progress, now)
            time.sleep(config.tick_s)
        pool.shutdown(wait=True)
        export_metrics(config.duration_s, False)  # the last points of every live instance
    finally:
        pool.shutdown(wait=True)
        sender.shutdown()
        fleet.shutdown()
    elapsed = time.monotonic() - start
    summary: dict[str, Any] = counters.snapshot()
    summary.update(
        {
            "mode": config.mode,
            "protocol": config.protocol,
            "endpoint": config.target,
            "rate": config.rate,
            "duration_s": config.duration_s,
            "elapsed_s": round(elapsed, 3),
            "seed": seed,
            "services": list(config.services),
            "failure_rate": config.injection("failure_rate"),
            "timeout_rate": config.injection("timeout_rate"),
            "malformed_rate": malformed_rate,
            "start_unix_nano": start_ns,
        }
    )
    if incident is not None:
        summary["scenario"] = {
            "name": incident.scenario,
            "target": incident.target,
            "start_unix_nano": start_ns + int(incident.start_s * 1e9),
            "end_unix_nano": start_ns + int(incident.end_s * 1e9),
        }
    return summary


def _print_live(out: TextIO, t: float, counters: Counters, progress: _Progress, now: float) -> None:
    values = counters.snapshot()
    rate = (values["events_generated"] - progress.last_generated) / max(now - progress.last_print, 1e-9)
    progress.last_print, progress.last_generated = now, values["events_generated"]
    answered = sum(values[name] for name in EVENT_COUNTERS[1:])
    fields = " ".join(f"{name.removeprefix('events_')}={values[name]}" for name in EVENT_COUNTERS)
    out.write(f"t={t:5.1f}s rate={rate:6.1f}/s {fields} in_flight={values['events_generated'] - answered}\n")
    out.flush()
