"""Cost over many distinct model names (issue 31, item 14): every fine-tuned name an open price
pattern matches used to add a branch to the cost SQL until it passed ClickHouse's
max_query_size; now the SQL is the same whatever the number of models, and the answers stay
those of a hand computation."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil import QueryClient
from vigil_query.analytics.prices import store as price_book
from vigil_query.analytics.prices.book import Period, Price, cost_sql

from reference_payload import kv
from support import RunningApp, export_otlp

HOUR_NS = 3600 * 10**9
MODELS = 5_000
SERVICE = "many-models"


def test_cost_sql_does_not_grow_with_the_number_of_models() -> None:
    price = Price("acme", "acme-.*", 1.0, 2.0, 1.0, 1.0)

    def sql(n: int) -> str:
        periods = [Period("acme", f"acme-{i}", 0, 2**63 - 1, price) for i in range(n)]
        index, cost, _ = cost_sql(periods, {("acme", f"acme-{i}"): i for i in range(n)})
        return index + cost

    assert len(sql(MODELS)) == len(sql(2))


@pytest.fixture
def acme_prices(app: RunningApp, ch: Client) -> Iterator[int]:
    """An open pattern whose price changes at an hour boundary; yields that boundary."""
    change = (time.time_ns() - 3 * HOUR_NS) // HOUR_NS * HOUR_NS
    db = app.settings.system_database
    price_book.set_prices(
        ch,
        db,
        [
            Price("acme", "acme-.*", 1.0, 2.0, 1.0, 1.0),
            Price("acme", "acme-.*", 3.0, 4.0, 3.0, 3.0, effective_from_ns=change),
        ],
    )
    yield change
    price_book.set_prices(ch, db, [], replace=True)


def test_five_thousand_models_are_priced_like_a_hand_computation(app: RunningApp, acme_prices: int) -> None:
    change = acme_prices
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", SERVICE))
    ss = rs.scope_spans.add()
    rng = random.Random(SERVICE)
    expected = 0.0
    for i in range(MODELS + 3):
        # Half before the price change, half after; three calls of a model nothing prices.
        at = change - HOUR_NS // 2 if i % 2 else change + HOUR_NS // 2
        model = f"acme-ft-{i}" if i < MODELS else f"zeta-{i}"
        span = Span(
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
            name="chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=at + i * 1000,
            end_time_unix_nano=at + i * 1000 + 10**6,
        )
        for key, value in {
            "gen_ai.provider.name": "acme",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 100,
        }.items():
            span.attributes.append(kv(key, value))
        ss.spans.append(span)
        if i < MODELS:
            expected += (1000 * 3.0 + 100 * 4.0) / 1e6 if at >= change else (1000 * 1.0 + 100 * 2.0) / 1e6
    export_otlp(app.grpc_target, request.SerializeToString())
    app.flush()

    with QueryClient(app.query_target) as client:
        start, end = change - HOUR_NS, change + HOUR_NS
        for step_s in (0, 3600):  # the spans themselves, and the hourly rollup
            usage = client.usage(group_by="model", service=SERVICE, start=start, end=end, step_s=step_s)
            assert usage.total.calls == MODELS + 3
            assert usage.total.unpriced_calls == 3
            assert usage.total.cost_usd == pytest.approx(expected)
            assert sorted(usage.unpriced_models) == [f"zeta-{i}" for i in range(MODELS, MODELS + 3)]
        # Trace summaries price only their own spans' models, each at its time.
        for lo, hi, cost in ((start, change - 1, 0.0012), (change, end, 0.0034)):
            traces = client.search_traces(service=SERVICE, start=lo, end=hi, page_size=200).traces
            assert len(traces) == 200 and all(t.llm_calls == 1 for t in traces)
            assert {round(t.cost_usd, 9) for t in traces if not t.unpriced_calls} == {cost}
