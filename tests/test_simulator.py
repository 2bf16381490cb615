"""``vigil simulate`` against a real Vigil (the session app on loopback): the counters add up,
malformed payloads are refused and never stored, each mode's rate shape shows in the stored
spans per second, and each scenario leaves its signature in the stored data.

The simulator runs as its own process (``python -m vigil_server.cli simulate``), as a user
would run it, so it does not share the interpreter with the server it loads."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from vigil_simulator import SimulationConfig, SimulatorConfigError
from vigil_simulator.plan import RateShape

from support import REPO, RunningApp, free_port, run_cli

ERROR = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')"


def simulate_args(target: str, *args: str) -> list[str]:
    return ["simulate", "--endpoint", target, "--quiet", "--hosts-per-service", "1", *args]


def simulate(app: RunningApp, *args: str, protocol: str = "grpc", timeout: float = 120) -> dict[str, Any]:
    target = app.grpc_target if protocol == "grpc" else app.http_base
    out = run_cli(
        *simulate_args(target, "--protocol", protocol, *args), env=dict(os.environ), timeout=timeout
    )
    assert out.stdout.strip(), out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    summary["returncode"] = out.returncode
    app.flush()
    return summary


def services(n: int = 1) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"sim-{tag}-{i}" for i in range(n)]


def rows(ch: Client, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ch.query(sql, parameters=params).result_rows]


def roots_per_second(ch: Client, service: str, start_ns: int, seconds: int) -> list[int]:
    counted = dict(
        rows(
            ch,
            "SELECT intDiv(toUnixTimestamp64Nano(Timestamp) - {s:Int64}, 1000000000) AS sec, count() "
            "FROM otel.otel_traces WHERE ServiceName = {svc:String} AND ParentSpanId = '' GROUP BY sec",
            s=start_ns,
            svc=service,
        )
    )
    return [counted.get(i, 0) for i in range(seconds)]


def assert_counters_add_up(summary: dict[str, Any]) -> None:
    parts = ("succeeded", "failed", "rate_limited", "timeout", "malformed")
    assert sum(summary[f"events_{p}"] for p in parts) == summary["events_generated"], summary


def test_chaos_with_malformed_payloads_counts_add_up_and_nothing_malformed_is_stored(
    app: RunningApp, ch: Client
) -> None:
    (service,) = services()
    s = simulate(
        app, "--mode", "chaos", "--rate", "15", "--duration", "3", "--malformed-rate", "0.2", "--seed", "7",
        "--services", service,
    )  # fmt: skip
    assert_counters_add_up(s)
    assert s["events_generated"] >= 20 and s["events_malformed"] >= 3, s
    assert s["malformed_refused"] == s["events_malformed"] and s["malformed_accepted"] == 0, s
    assert s["events_succeeded"] == s["events_generated"] - s["events_malformed"], s
    assert s["turns_with_injected_failure"] + s["turns_with_injected_timeout"] > 0, s  # chaos's defaults
    assert s["returncode"] == 0
    # Stored: exactly the acknowledged spans, and so none of the malformed requests' spans.
    (stored,) = rows(ch, "SELECT count() FROM otel.otel_traces WHERE ServiceName = {s:String}", s=service)[0]
    assert stored == s["spans_acknowledged"] < s["spans_generated"], (stored, s)
    (turns,) = rows(
        ch,
        "SELECT count() FROM otel.otel_traces WHERE ServiceName = {s:String} AND ParentSpanId = ''",
        s=service,
    )[0]
    assert turns == s["events_succeeded"]
    # Logs are correlated by trace id with stored traces; metrics arrived per host.
    logs, orphans = rows(
        ch,
        "SELECT count(), countIf(TraceId NOT IN (SELECT TraceId FROM otel.otel_traces "
        "WHERE ServiceName = {s:String})) FROM otel.otel_logs WHERE ServiceName = {s:String}",
        s=service,
    )[0]
    assert logs == s["logs_acknowledged"] > 0 and orphans == 0, (logs, orphans, s)
    metrics = {
        name
        for (name,) in rows(
            ch,
            "SELECT DISTINCT MetricName FROM merge('otel', '^otel_metrics_') WHERE ServiceName = {s:String}",
            s=service,
        )
    }
    assert {"cpu_percent", "agent.request.duration", "llm.token.usage"} <= metrics, metrics


def test_genai_attributes_are_those_vigil_reads(app: RunningApp, ch: Client) -> None:
    """LLM spans fill Vigil's GenAI columns (model, provider, tokens, session, user), over OTLP/HTTP."""
    (service,) = services()
    s = simulate(
        app, "--rate", "10", "--duration", "1.5", "--seed", "3", "--services", service, protocol="http"
    )
    assert_counters_add_up(s)
    assert s["events_succeeded"] == s["events_generated"] > 0, s
    calls, models, with_tokens, with_session, with_user = rows(
        ch,
        "SELECT count(), uniqExact(GenAiModel), countIf(GenAiInputTokens > 0 AND GenAiOutputTokens > 0), "
        "countIf(SessionId != ''), countIf(UserId != '') FROM otel.otel_traces "
        "WHERE ServiceName = {s:String} AND SpanName LIKE 'chat %'",
        s=service,
    )[0]
    assert calls > 0 and models >= 2 and with_tokens == calls and with_session == with_user == calls


@pytest.mark.parametrize(
    ("mode", "args", "check"),
    [
        ("steady", ["--rate", "20"], "flat"),
        (
            "burst",
            ["--rate", "8", "--burst-every", "2", "--burst-length", "1", "--burst-factor", "4"],
            "spikes",
        ),
        ("ramp", ["--rate", "40", "--ramp-from", "0.1"], "rising"),
    ],
)
def test_each_mode_shape_shows_in_stored_spans_per_second(
    app: RunningApp, ch: Client, mode: str, args: list[str], check: str
) -> None:
    (service,) = services()
    s = simulate(app, "--mode", mode, "--duration", "4", "--seed", "11", "--services", service, *args)
    assert_counters_add_up(s)
    assert s["events_succeeded"] == s["events_generated"], s
    per_second = roots_per_second(ch, service, s["start_unix_nano"], 4)
    if check == "flat":  # 20/s in every second, loosely
        assert all(12 <= n <= 28 for n in per_second), per_second
    elif check == "spikes":  # 32/s in seconds 0 and 2, 8/s in 1 and 3
        assert min(per_second[0], per_second[2]) > 2 * max(per_second[1], per_second[3]), per_second
    else:  # about 8.5, 17.5, 26.5, 35.5
        assert all(a < b for a, b in itertools.pairwise(per_second)), per_second
        assert per_second[-1] > 2.5 * per_second[0], per_second


def test_scenarios_leave_their_signature_in_the_stored_data(app: RunningApp, ch: Client) -> None:
    """All four at once (each its own process and services): the incident fills the second half."""
    names = ["error-spike", "latency-regression", "cost-spike", "silent-service"]
    svc = {name: services(2) for name in names}
    common = [
        "--scenario-start",
        "0.5",
        "--scenario-end",
        "1.0",
        "--rate",
        "16",
        "--duration",
        "4",
        "--seed",
        "5",
    ]
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil_server.cli",
                *simulate_args(
                    app.grpc_target, "--scenario", name, *common, "--services", ",".join(svc[name])
                ),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    summaries = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summaries[name] = json.loads(out.strip().splitlines()[-1])
        assert_counters_add_up(summaries[name])
    app.flush()

    def split(name: str, select: str, where: str = "1") -> tuple[Any, Any]:
        """``select`` over the spans before and inside the incident window."""
        sc = summaries[name]["scenario"]
        (before, inside) = rows(
            ch,
            f"SELECT {select.format(w='Timestamp < fromUnixTimestamp64Nano({t:Int64})')}, "
            f"{select.format(w='Timestamp >= fromUnixTimestamp64Nano({t:Int64})')} "
            f"FROM otel.otel_traces WHERE ServiceName IN {{svc:Array(String)}} AND {where}",
            t=sc["start_unix_nano"],
            svc=svc[name],
        )[0]
        return before, inside

    sc = summaries["error-spike"]["scenario"]
    assert sc["target"] == svc["error-spike"][0]
    # The target's roots: no failures before (steady, no --failure-rate), most failing inside.
    before_t, inside_t = rows(
        ch,
        f"SELECT countIf(Timestamp < fromUnixTimestamp64Nano({{t:Int64}}) AND {ERROR}) / "
        "countIf(Timestamp < fromUnixTimestamp64Nano({t:Int64})), "
        f"countIf(Timestamp >= fromUnixTimestamp64Nano({{t:Int64}}) AND {ERROR}) / "
        "countIf(Timestamp >= fromUnixTimestamp64Nano({t:Int64})) "
        "FROM otel.otel_traces WHERE ServiceName = {svc:String} AND ParentSpanId = ''",
        t=sc["start_unix_nano"],
        svc=sc["target"],
    )[0]
    assert before_t == 0 and inside_t > 0.4, (before_t, inside_t)
    (other_inside,) = rows(
        ch,
        f"SELECT countIf({ERROR}) FROM otel.otel_traces WHERE ServiceName = {{svc:String}} "
        "AND Timestamp >= fromUnixTimestamp64Nano({t:Int64})",
        t=sc["start_unix_nano"],
        svc=svc["error-spike"][1],
    )[0]
    assert other_inside == 0

    model = summaries["latency-regression"]["scenario"]["target"]
    before, inside = split("latency-regression", "avgIf(Duration, {w})", f"SpanName = 'chat {model}'")
    assert inside > 3 * before, (model, before, inside)
    other_before, other_inside = split(
        "latency-regression", "avgIf(Duration, {w})", f"SpanName != 'chat {model}' AND SpanName LIKE 'chat %'"
    )
    assert other_inside < 2 * other_before

    user = summaries["cost-spike"]["scenario"]["target"]
    before, inside = split("cost-spike", "sumIf(GenAiInputTokens, {w})", f"UserId = '{user}'")
    assert inside > 5 * max(before, 1), (user, before, inside)

    silent = summaries["silent-service"]["scenario"]["target"]
    assert silent == svc["silent-service"][1]
    # Turns (roots) by start: a turn begun just before the window ends inside it.
    before, inside = split(
        "silent-service", "countIf({w})", f"ServiceName = '{silent}' AND ParentSpanId = ''"
    )
    assert before > 0 and inside == 0, (before, inside)
    before, inside = split(
        "silent-service", "countIf({w})", f"ServiceName = '{svc['silent-service'][0]}' AND ParentSpanId = ''"
    )
    assert before > 0 and inside > 0


def test_bad_options_are_refused_with_the_reason() -> None:
    with pytest.raises(SimulatorConfigError, match=r"--malformed-rate: must be within 0\.0 to 1\.0"):
        SimulationConfig(malformed_rate=1.5)
    with pytest.raises(SimulatorConfigError, match="--mode"):
        SimulationConfig(mode="sideways")
    with pytest.raises(SimulatorConfigError, match="--duration"):
        SimulationConfig(duration_s=0)
    out = run_cli("simulate", "--failure-rate", "-0.1", env=dict(os.environ), timeout=60)
    assert out.returncode == 2 and "--failure-rate: must be within 0.0 to 1.0" in out.stderr


def test_rate_shapes() -> None:
    import random

    burst = RateShape(
        SimulationConfig(mode="burst", rate=10, burst_every_s=5, burst_length_s=1), random.Random(1)
    )
    assert burst.at(0.5) == 50 and burst.at(1.5) == 10 and burst.at(5.2) == 50
    ramp = RateShape(SimulationConfig(mode="ramp", rate=10, duration_s=10, ramp_from=0.1), random.Random(1))
    assert ramp.at(0) == pytest.approx(1) and ramp.at(10) == pytest.approx(10)
    a = RateShape(SimulationConfig(mode="chaos", rate=10), random.Random(4))
    b = RateShape(SimulationConfig(mode="chaos", rate=10), random.Random(4))
    assert [a.at(t) for t in range(30)] == [b.at(t) for t in range(30)]
    assert max(a.at(t) for t in range(30)) >= 30  # at least one spike in 30 s


def test_an_unreachable_endpoint_is_counted_as_failed_and_the_exit_status_says_so() -> None:
    port = free_port()  # bound and released: nothing listens there
    out = run_cli(
        *simulate_args(f"127.0.0.1:{port}", "--rate", "5", "--duration", "1", "--send-timeout", "1"),
        "--malformed-rate", "0.3", "--seed", "2",
        env=dict(os.environ), timeout=60,
    )  # fmt: skip
    s = json.loads(out.stdout.strip().splitlines()[-1])
    assert_counters_add_up(s)
    assert s["events_failed"] == s["events_generated"] - s["events_malformed"] > 0, s
    assert s["spans_acknowledged"] == s["malformed_refused"] == 0 and out.returncode == 1
