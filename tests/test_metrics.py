"""OTLP metrics from the stock Python SDK (counter, up-down counter, histogram, exponential
histogram, observable gauge; cumulative and delta; gRPC and HTTP) through the write-ahead log
into the exporter's five otel_metrics_* tables, every field read back."""

from __future__ import annotations

import time

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableGauge, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from reference_payload import kv
from support import RunningApp, http_request

DELTA = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    Histogram: AggregationTemporality.DELTA,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}


def _query(ch: Client, table: str, service: str, columns: str) -> list[dict]:
    result = ch.query(
        f"SELECT {columns} FROM otel.otel_metrics_{table} WHERE ServiceName = {{s:String}} ORDER BY MetricName, TimeUnix",
        parameters={"s": service},
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.mark.parametrize(("transport", "temporality"), [("grpc", "cumulative"), ("http", "delta")])
def test_stock_sdk_metrics_are_stored_in_the_exporter_tables(
    app: RunningApp, ch: Client, transport: str, temporality: str
) -> None:
    service = f"metrics-{transport}-{temporality}"
    preferred = DELTA if temporality == "delta" else None
    exporter = (
        GrpcMetricExporter(endpoint=app.grpc_target, insecure=True, preferred_temporality=preferred)
        if transport == "grpc"
        else HttpMetricExporter(endpoint=f"{app.http_base}/v1/metrics", preferred_temporality=preferred)
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": service}),
        views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("vigil.tests.metrics", "0.3")
    requests = meter.create_counter("requests", unit="1", description="requests served")
    in_flight = meter.create_up_down_counter("in_flight")
    latency = meter.create_histogram("latency", unit="ms")
    latency_exp = meter.create_histogram("latency.exp", unit="ms")

    def temperature(options: CallbackOptions) -> list[Observation]:
        return [Observation(21.5, {"room": "lab"})]

    meter.create_observable_gauge("temperature", [temperature], unit="Cel")
    requests.add(3, {"route": "/a"})
    requests.add(2, {"route": "/a"})
    in_flight.add(5)
    in_flight.add(-2)
    for value in (5, 15, 150, 1500):
        latency.record(value, {"route": "/a"})
        latency_exp.record(value)
    provider.shutdown()  # one last collection and export
    app.flush()

    sums = {
        r["MetricName"]: r
        for r in _query(
            ch,
            "sum",
            service,
            "MetricName, MetricUnit, MetricDescription, Value, AggregationTemporality, IsMonotonic, Attributes,"
            " ScopeName, ScopeVersion",
        )
    }
    counter = sums["requests"]
    assert counter["MetricName"] == "requests" and counter["Value"] == 5.0
    assert (counter["MetricUnit"], counter["MetricDescription"]) == ("1", "requests served")
    assert (
        counter["AggregationTemporality"] == (1 if temporality == "delta" else 2) and counter["IsMonotonic"]
    )
    assert counter["Attributes"] == {"route": "/a"}
    assert (counter["ScopeName"], counter["ScopeVersion"]) == ("vigil.tests.metrics", "0.3")
    assert sums["in_flight"]["Value"] == 3.0 and not sums["in_flight"]["IsMonotonic"]
    (gauge,) = _query(ch, "gauge", service, "MetricName, Value, Attributes, MetricUnit")
    assert (gauge["MetricName"], gauge["Value"], gauge["Attributes"], gauge["MetricUnit"]) == (
        "temperature", 21.5, {"room": "lab"}, "Cel"
    )  # fmt: skip
    (hist,) = _query(ch, "histogram", service, "Count, Sum, Min, Max, BucketCounts, ExplicitBounds")
    assert (hist["Count"], hist["Sum"], hist["Min"], hist["Max"]) == (4, 1670.0, 5.0, 1500.0)
    assert len(hist["BucketCounts"]) == len(hist["ExplicitBounds"]) + 1 and sum(hist["BucketCounts"]) == 4
    (exp,) = _query(
        ch,
        "exponential_histogram",
        service,
        "Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, Min, Max",
    )
    assert (exp["Count"], exp["Sum"], exp["ZeroCount"], exp["Min"], exp["Max"]) == (4, 1670.0, 0, 5.0, 1500.0)
    assert sum(exp["PositiveBucketCounts"]) == 4
    # The buckets hold the values: bucket i covers (base^(offset+i), base^(offset+i+1)].
    base = 2 ** (2 ** -exp["Scale"])
    for value in (5, 15, 150, 1500):
        index = next(
            i
            for i in range(len(exp["PositiveBucketCounts"]))
            if value <= base ** (exp["PositiveOffset"] + i + 1)
        )
        assert exp["PositiveBucketCounts"][index] >= 1


def test_summaries_exemplars_and_bad_points(app: RunningApp, ch: Client) -> None:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "metrics-raw"))
    sm = rm.scope_metrics.add()
    now = time.time_ns()
    summary = sm.metrics.add(name="rpc.duration")
    point = summary.summary.data_points.add(time_unix_nano=now, count=10, sum=55.0)
    point.quantile_values.add(quantile=0.5, value=4.0)
    point.quantile_values.add(quantile=0.99, value=9.5)
    gauge = sm.metrics.add(name="queue.depth")
    good = gauge.gauge.data_points.add(time_unix_nano=now, as_int=7)
    exemplar = good.exemplars.add(
        time_unix_nano=now, as_double=7.0, trace_id=b"\x01" * 16, span_id=b"\x02" * 8
    )
    exemplar.filtered_attributes.append(kv("host", "a"))
    gauge.gauge.data_points.add(time_unix_nano=2**63, as_int=1)
    bad = gauge.gauge.data_points.add(time_unix_nano=now, as_int=1)
    bad.exemplars.add(time_unix_nano=now, trace_id=b"\x01" * 3)
    status, _, body = http_request(
        f"{app.http_base}/v1/metrics", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    assert status == 200
    partial = ExportMetricsServiceResponse.FromString(body).partial_success
    assert partial.rejected_data_points == 2 and "data_points[1]: time_unix_nano" in partial.error_message
    app.flush()
    (stored_summary,) = _query(
        ch, "summary", "metrics-raw", "Count, Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value"
    )
    assert list(stored_summary.values()) == [10, 55.0, [0.5, 0.99], [4.0, 9.5]]
    (stored_gauge,) = _query(
        ch,
        "gauge",
        "metrics-raw",
        "Value, Exemplars.Value, Exemplars.TraceId, Exemplars.SpanId, Exemplars.FilteredAttributes",
    )
    assert list(stored_gauge.values()) == [7.0, [7.0], ["01" * 16], ["02" * 8], [{"host": "a"}]]
