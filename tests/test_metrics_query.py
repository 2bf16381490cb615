"""ListMetrics and QueryMetrics on points sent by the stock SDK and by hand-built OTLP requests:
value aggregations, counter rates across a process restart, histogram quantiles against
numpy's on the same samples, and the errors of queries that do not fit the metric."""

from __future__ import annotations

import math
import time

import grpc
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from vigil import QueryClient
from vigil.query_client import QueryError
from vigil_query.metrics.histograms import Explicit, Exponential, quantile

from reference_payload import kv
from support import RunningApp, http_request

S = 10**9
CUMULATIVE = 2


@pytest.fixture(scope="module")
def client(app: RunningApp) -> QueryClient:
    with QueryClient(app.query_target) as c:
        yield c


def _provider(app: RunningApp, service: str, views: list[View] | None = None) -> MeterProvider:
    exporter = OTLPMetricExporter(endpoint=app.grpc_target, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": service}), views=views or []
    )


def _send(app: RunningApp, service: str, build: object) -> None:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    build(rm.scope_metrics.add())  # type: ignore[operator]
    status, _, body = http_request(
        f"{app.http_base}/v1/metrics", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200, body


def _points(response: object) -> list[tuple[int, float]]:
    (series,) = response.series  # type: ignore[attr-defined]
    return [(p.time_unix_nano, p.value) for p in series.points]


def test_counter_rate_across_a_process_restart_from_the_stock_sdk(
    app: RunningApp, client: QueryClient
) -> None:
    service = "metrics-restart"
    start = time.time_ns()
    for increments in ((5, 7), (3, 4)):  # two runs of the app: the second one's counter starts at 0
        provider = _provider(app, service)
        counter = provider.get_meter("m").create_counter("jobs")
        for amount in increments:
            counter.add(amount, {"queue": "q"})
            provider.force_flush()
        provider.shutdown()
    app.flush()
    end = time.time_ns()
    step_s = (end - start) / S + 2  # one bucket holding every point
    response = client.query_metrics("jobs", "rate", service=service, start=start - S, end=end, step_s=step_s)
    ((_, rate),) = _points(response)
    assert rate * response.step_nano / S == pytest.approx(5 + 7 + 3 + 4)
    # Without the reset, the second run's values (3, 7) would look like a fall from 12.
    (total,) = _points(
        client.query_metrics("jobs", "last", service=service, start=start - S, end=end, step_s=step_s)
    )
    assert total[1] == 7


def test_rate_per_bucket_of_hand_built_cumulative_and_delta_points(
    app: RunningApp, client: QueryClient
) -> None:
    minute = 60 * S
    base = (time.time_ns() - 30 * minute) // minute * minute
    first_start, restart = base - 60 * minute, base + 150 * S

    def build(sm: object) -> None:
        counter = sm.metrics.add(name="bytes.sent")  # type: ignore[attr-defined]
        counter.sum.is_monotonic = True
        counter.sum.aggregation_temporality = CUMULATIVE
        # An older series (started before the range), read every 30 s; the process restarts
        # at +150 s and its counter starts again.
        for offset_s, value, started in [
            (0, 100, first_start),
            (30, 160, first_start),
            (60, 220, first_start),
            (90, 280, first_start),
            (120, 340, first_start),
            (180, 30, restart),
            (210, 90, restart),
        ]:
            point = counter.sum.data_points.add(
                time_unix_nano=base + offset_s * S, start_time_unix_nano=started, as_int=value
            )
            point.attributes.append(kv("host", "a"))
        delta = sm.metrics.add(name="bytes.received")  # type: ignore[attr-defined]
        delta.sum.is_monotonic = True
        delta.sum.aggregation_temporality = 1
        for offset_s, value in ((0, 10), (30, 20), (60, 60)):
            delta.sum.data_points.add(
                time_unix_nano=base + offset_s * S,
                start_time_unix_nano=base + (offset_s - 30) * S,
                as_int=value,
            )

    _send(app, "metrics-hand", build)
    app.flush()
    window = {"service": "metrics-hand", "start": base, "end": base + 4 * minute - 1, "step_s": 60}
    rates = _points(client.query_metrics("bytes.sent", "rate", **window))
    # Minute 0: the first point of a series older than the range has no earlier one (unknown),
    # then +60; minute 1: +60 +60; minute 2: +60; minute 3: the restart's 30 in full, then +60.
    assert rates == [(base, 1.0), (base + minute, 2.0), (base + 2 * minute, 1.0), (base + 3 * minute, 1.5)]
    assert _points(client.query_metrics("bytes.received", "rate", **window)) == [
        (base, 0.5),
        (base + minute, 1.0),
    ]
    assert _points(client.query_metrics("bytes.sent", "max", **window))[0] == (base, 160.0)


def test_histogram_quantiles_are_within_bucket_resolution_of_numpy(
    app: RunningApp, client: QueryClient
) -> None:
    bounds = [float(b) for b in range(0, 2001, 20)]
    provider = _provider(
        app,
        "metrics-histogram",
        views=[
            View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation(bounds)),
            View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation()),
        ],
    )
    meter = provider.get_meter("m")
    latency, latency_exp = meter.create_histogram("latency"), meter.create_histogram("latency.exp")
    samples = np.random.default_rng(7).lognormal(mean=5.0, sigma=0.6, size=4000)
    start = time.time_ns()
    for half in (samples[:2000], samples[2000:]):  # two cumulative points: the second differenced
        for value in half:
            latency.record(float(value), {"route": "/chat"})
            latency_exp.record(float(value), {"route": "/chat"})
        provider.force_flush()
    provider.shutdown()
    app.flush()
    end = time.time_ns()
    window = {"service": "metrics-histogram", "start": start - S, "end": end, "step_s": (end - start) / S + 2}
    for aggregation, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        expected = float(np.percentile(samples, q))
        width = 20.0
        ((_, explicit),) = _points(client.query_metrics("latency", aggregation, **window))
        assert abs(explicit - expected) <= width, (aggregation, explicit, expected)
        ((_, exponential),) = _points(client.query_metrics("latency.exp", aggregation, **window))
        # Exponential buckets are relative: at the SDK's scale for these values ~2-3% wide.
        assert abs(exponential - expected) <= 0.05 * expected, (aggregation, exponential, expected)


def test_gauges_grouped_and_filtered_and_listed(app: RunningApp, client: QueryClient) -> None:
    base = (time.time_ns() - 10 * 60 * S) // (60 * S) * (60 * S)

    def build(sm: object) -> None:
        gauge = sm.metrics.add(name="queue.depth", unit="1", description="jobs waiting")  # type: ignore[attr-defined]
        for host, values in (("a", (1, 5, 3)), ("b", (10, 20, 30))):
            for i, value in enumerate(values):
                point = gauge.gauge.data_points.add(time_unix_nano=base + i * 10 * S, as_double=value)
                point.attributes.append(kv("host", host))
                point.attributes.append(kv("region", "eu"))

    _send(app, "metrics-gauge", build)
    app.flush()
    window = {"service": "metrics-gauge", "start": base, "end": base + 59 * S, "step_s": 60}
    by_host = client.query_metrics("queue.depth", "avg", group_by=["host"], **window)
    assert [(dict(s.group), [p.value for p in s.points]) for s in by_host.series] == [
        ({"host": "a"}, [3.0]),
        ({"host": "b"}, [20.0]),
    ]
    assert by_host.unit == "1" and by_host.type == 1
    assert _points(client.query_metrics("queue.depth", "last", attributes={"host": "a"}, **window)) == [
        (base, 3.0)
    ]
    assert _points(client.query_metrics("queue.depth", "max", **window)) == [(base, 30.0)]
    (listed,) = client.list_metrics(service="metrics-gauge")
    assert (listed.name, listed.type, listed.unit, listed.description) == (
        "queue.depth",
        1,
        "1",
        "jobs waiting",
    )
    assert list(listed.attribute_keys) == ["host", "region"] and listed.points == 6


def test_queries_that_do_not_fit_the_metric_are_refused_with_the_reason(
    app: RunningApp, client: QueryClient
) -> None:
    provider = _provider(app, "metrics-refused")
    meter = provider.get_meter("m")
    meter.create_up_down_counter("in_flight").add(3)
    meter.create_histogram("size").record(1.0)
    provider.shutdown()
    app.flush()
    cases = [
        (("in_flight", "rate"), "RATE needs a monotonic sum"),
        (("size", "avg"), "AVG does not apply to 'size', a histogram; it takes P50, P90, P95, P99"),
        (("no.such.metric", "avg"), "no points of metric 'no.such.metric'"),
    ]
    for (name, aggregation), reason in cases:
        with pytest.raises(QueryError) as raised:
            client.query_metrics(name, aggregation, service="metrics-refused")
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT and reason in raised.value.message
    with pytest.raises(QueryError, match="at most 10000"):
        client.query_metrics("size", "p99", start=1, end=10**18, step_s=1)


def test_quantile_interpolation() -> None:
    # 10 values in (0, 10], 10 in (10, 20]: the median is the edge, p75 halfway up the second.
    counts = Explicit((10.0, 20.0), [10, 10, 0])
    assert quantile(0.5, counts.ranges()) == 10.0
    assert quantile(0.75, counts.ranges()) == 15.0
    assert quantile(0.99, Explicit((10.0,), [0, 5]).ranges(), high=12.0) == pytest.approx(11.98)
    assert math.isnan(quantile(0.5, []))
    # Exponential at scale 0: bucket i is (2^i, 2^(i+1)]; downscaling merges neighbours.
    fine = Exponential.of_point(1, 0, 2, [1, 1], 0, [])  # (2, 2.83], (2.83, 4]
    assert fine.at_scale(0).positive == {1: 2}
    assert fine.add(Exponential.of_point(0, 1, 1, [2], 0, [])).ranges() == [(0.0, 0.0, 1), (2.0, 4.0, 4)]
    assert Exponential.of_point(0, 0, 1, [3], 0, []).minus(Exponential.of_point(0, 0, 1, [4], 0, [])) is None
