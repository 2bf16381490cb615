"""Cost at query time: the prices of the models a query's spans name, resolved from the price
book (prices/book.py) into SQL that each RPC selects beside its other columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil_query.analytics.prices.book import (
    LLM_CALL,
    MODEL_KEY,
    ROLLUP_TOKENS,
    SPAN_TOKENS,
    Period,
    cost_sql,
    range_cost_sql,
    resolve,
)
from vigil_query.analytics.prices.store import list_prices
from vigil_query.reader import Reader

MAX_MODELS = 10_000

__all__ = ["LLM_CALL", "Costing", "costing"]


@dataclass(frozen=True)
class Costing:
    index_sql: str  # a span's price number, 0 for none
    cost_sql: str  # its cost in USD, NULL when unpriced (refers to _price)
    params: dict[str, Any]
    unpriced_models: tuple[str, ...] = ()  # seen, with no price at any time
    # What the SQL was made of, for ``within``.
    periods: tuple[Period, ...] = ()
    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    time: str = "Timestamp"
    tokens: tuple[str, str, str, str] = SPAN_TOKENS

    @property
    def columns(self) -> str:
        """Two columns for a SELECT over otel_traces: ``_price`` and ``cost``."""
        return f"{self.index_sql} AS _price, {self.cost_sql} AS cost"

    def within(
        self,
        lo: int,
        hi: int,
        time: str | None = None,
        tokens: tuple[str, str, str, str] | None = None,
        tag: str = "",
    ) -> Costing:
        """The same prices for rows whose time lies in [lo, hi] only, cheaper per row
        (``range_cost_sql``): for queries that price many rows of one range; of rows with
        another time column and token columns when given; ``tag`` ends its parameters' names."""
        time, tokens = time or self.time, tokens or self.tokens
        if not self.periods:
            return Costing(*cost_sql([], {}, time, tokens), self.unpriced_models)
        sql = range_cost_sql(list(self.periods), self.keys, lo, hi, time, tokens, tag)
        return Costing(*sql, self.unpriced_models, self.periods, self.keys, time, tokens)


def costing(
    reader: Reader,
    where_sql: str,
    params: dict[str, Any],
    *,
    rollup: bool = False,
    databases: list[str] | None = None,
    rollup_table: str = "otel_genai_usage_hourly",
    priced: tuple[str, tuple[str, str, str, str]] | None = None,
) -> Costing:
    """Prices for the models of the spans ``where_sql`` selects (on reader's query thread),
    or of the rows of ``rollup_table`` (an LLM rollup) with ``rollup``; in reader's database,
    or in each of ``databases`` (quoted identifiers). ``priced``: the time column and the
    token columns of the rows the SQL prices, when not the spans' (or with ``rollup``, not an
    hourly rollup's)."""
    table = rollup_table if rollup else "otel_traces"
    each = " UNION DISTINCT ".join(
        f"SELECT DISTINCT GenAiProvider, GenAiModel FROM {db}.{table} WHERE ({where_sql}) AND GenAiModel != ''"
        for db in databases or [reader.db]
    )
    models = reader.rows(
        f"SELECT GenAiProvider, GenAiModel, {MODEL_KEY} FROM ({each}) LIMIT {MAX_MODELS}",
        params,
        "finding the models to price",
    )
    time, tokens = priced or (("Hour", ROLLUP_TOKENS) if rollup else ("Timestamp", SPAN_TOKENS))
    if not models:
        return Costing(*cost_sql([], {}, time, tokens))
    keys = {(provider, model): key for provider, model, key in models}
    pairs = list(keys)
    periods = resolve(list_prices(reader.client(), reader.system_database), pairs)
    priced = {(p.provider, p.model) for p in periods}
    unpriced = sorted({model for provider, model in pairs if (provider, model) not in priced})
    return Costing(
        *cost_sql(periods, keys, time, tokens), tuple(unpriced), tuple(periods), keys, time, tokens
    )
