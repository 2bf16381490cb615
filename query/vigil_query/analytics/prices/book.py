"""The price book: model prices per million tokens, which price holds for a model at a time,
and the SQL that prices a span from its GenAI columns.

Cost is computed when a query runs, never stored: a price added or changed re-prices every
span it covers, old ones included. A price is chosen per span by its provider, its model
(a regular expression matched against the whole model name) and its time (effective_from ≤
start < effective_to); where several match, a user's price beats a default, then the later
effective_from, then the longer pattern (the more specific). A span that is an LLM call
(it has a model or token counts) with no price is *unpriced*: counted apart, never $0.

Cached input tokens are counted inside the input tokens (the GenAI conventions' rule), so a
span costs (input - cache read - cache creation) * input + cache read * cache_read + cache
creation * cache_creation + output * output, per million. A price without its own cache
prices charges them as input (OpenAI bills cache writes at the input price).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULTS_FILE = Path(__file__).with_name("default_model_prices.json")
DEFAULT, USER = "default", "user"
FOREVER_NS = 2**63 - 1
_FIELDS = {
    "provider",
    "model",
    "input",
    "output",
    "cache_read",
    "cache_creation",
    "effective_from",
    "effective_to",
}


@dataclass(frozen=True)
class Price:
    provider: str  # '' = any provider
    model: str  # a regular expression, matched against the whole model name
    input: float  # USD per million tokens
    output: float
    cache_read: float
    cache_creation: float
    effective_from_ns: int = 0
    effective_to_ns: int = 0  # 0 = no end
    origin: str = USER

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.model))

    def matches(self, provider: str, model: str) -> bool:
        if self.provider and provider and self.provider != provider:
            return False
        return self._regex.fullmatch(model) is not None  # type: ignore[attr-defined]

    def covers(self, t_ns: int) -> bool:
        return self.effective_from_ns <= t_ns < (self.effective_to_ns or FOREVER_NS)

    @property
    def rank(self) -> tuple[bool, int, int]:
        return (self.origin == USER, self.effective_from_ns, len(self.model))


class PriceFileError(ValueError):
    pass


def _time(value: Any, where: str) -> int:
    if value in (None, "", 0):
        return 0
    if isinstance(value, int):
        return value
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise PriceFileError(f"{where}: {value!r} is not a date (YYYY-MM-DD or an ISO time)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9


def parse_prices(document: Any, origin: str = USER) -> list[Price]:
    """Prices from a price file's document: ``{"prices": [{"provider", "model", "input",
    "output", "cache_read"?, "cache_creation"?, "effective_from"?, "effective_to"?}, ...]}``
    (or the list alone). Raises PriceFileError naming the entry and the reason."""
    entries = document.get("prices") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise PriceFileError('a price file holds {"prices": [...]} or a list of prices')
    currency = document.get("currency", "USD") if isinstance(document, dict) else "USD"
    if currency != "USD":
        raise PriceFileError(f"prices must be in USD, got currency {currency!r}")
    prices = []
    for i, entry in enumerate(entries):
        where = f"prices[{i}]"
        if not isinstance(entry, dict):
            raise PriceFileError(f"{where}: an object with model, input and output expected")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise PriceFileError(f"{where}: unknown fields {sorted(unknown)}; known: {sorted(_FIELDS)}")
        model = entry.get("model")
        if not isinstance(model, str) or not model:
            raise PriceFileError(f"{where}: model (a regular expression) is required")
        try:
            re.compile(model)
        except re.error as exc:
            raise PriceFileError(f"{where}: model {model!r} is not a regular expression: {exc}") from exc
        amounts = {}
        for name in ("input", "output", "cache_read", "cache_creation"):
            value = entry.get(name, entry.get("input") if name.startswith("cache") else None)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
                raise PriceFileError(f"{where}: {name} must be a price per million tokens ≥ 0, got {value!r}")
            amounts[name] = float(value)
        start = _time(entry.get("effective_from"), f"{where}.effective_from")
        end = _time(entry.get("effective_to"), f"{where}.effective_to")
        if end and end <= start:
            raise PriceFileError(f"{where}: effective_to is not after effective_from")
        provider = entry.get("provider", "")
        if not isinstance(provider, str):
            raise PriceFileError(f"{where}: provider must be a string")
        prices.append(
            Price(provider, model, **amounts, effective_from_ns=start, effective_to_ns=end, origin=origin)
        )
    return prices


def load_file(path: Path, origin: str = USER) -> list[Price]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PriceFileError(f"cannot read price file {path}: {exc}") from exc
    return parse_prices(document, origin)


def default_prices() -> list[Price]:
    return load_file(DEFAULTS_FILE, DEFAULT)


@dataclass(frozen=True)
class Period:
    """The price of one (provider, model) from start to end (ns)."""

    provider: str
    model: str
    start_ns: int
    end_ns: int
    price: Price


def resolve(prices: list[Price], models: list[tuple[str, str]]) -> list[Period]:
    """For each (provider, model) seen, the prices that hold over time, as periods."""
    periods = []
    for provider, model in models:
        matching = [p for p in prices if p.matches(provider, model)]
        if not matching:
            continue
        edges = sorted(
            {
                0,
                *(p.effective_from_ns for p in matching),
                *(p.effective_to_ns for p in matching if p.effective_to_ns),
            }
        )
        edges.append(FOREVER_NS)
        current: Period | None = None
        for start, end in itertools.pairwise(edges):
            holding = [p for p in matching if p.covers(start)]
            winner = max(holding, key=lambda p: p.rank) if holding else None
            if current is not None and winner is current.price:
                current = Period(provider, model, current.start_ns, end, winner)
                periods[-1] = current
                continue
            current = None
            if winner is not None:
                current = Period(provider, model, start, end, winner)
                periods.append(current)
    return periods


# A span is an LLM call when it names a model or counts tokens.
LLM_CALL = "(GenAiModel != '' OR GenAiInputTokens IS NOT NULL OR GenAiOutputTokens IS NOT NULL)"
# The four token counts a price applies to (input less cached, cache read, cache creation,
# output), for one span and for a row of otel_genai_usage_hourly.
SPAN_TOKENS = (
    "greatest(toInt64(ifNull(GenAiInputTokens, 0)) - toInt64(GenAiCacheReadTokens) - toInt64(GenAiCacheCreationTokens), 0)",
    "GenAiCacheReadTokens",
    "GenAiCacheCreationTokens",
    "ifNull(GenAiOutputTokens, 0)",
)
ROLLUP_TOKENS = ("UncachedInputTokens", "CacheReadTokens", "CacheCreationTokens", "OutputTokens")


# A row's (provider, model) as the price lookup's key: computed by ClickHouse both when the
# models to price are listed and when rows are priced, so the two always agree.
MODEL_KEY = "cityHash64(GenAiProvider, GenAiModel)"


def cost_sql(
    periods: list[Period],
    keys: dict[tuple[str, str], int],
    time: str = "Timestamp",
    tokens: tuple[str, str, str, str] = SPAN_TOKENS,
) -> tuple[str, str, dict[str, Any]]:
    """(the index of a row's price, 0 for none; its cost in USD or NULL when unpriced; the
    parameters), for rows with the GenAi provider and model columns, a ``time`` column and
    the ``tokens`` expressions. The first is meant to be bound as ``_price``. ``keys``: each
    priced (provider, model)'s MODEL_KEY.

    The SQL is the same whatever the number of models: a row's model is looked up (by its
    key, in a hash table ClickHouse builds once per query from constant arrays) to its
    *schedule* — the list of periods and prices its price book entries make — and the period
    holding at the row's time is found among that schedule's few periods. Models with the same
    schedule (every fine-tuned name an open pattern matches) share it, so what grows with the
    number of models is one key and one number each, in parameters, never the query text."""
    if not periods:
        return "toUInt32(0)", "CAST(NULL, 'Nullable(Float64)')", {}
    by_model: dict[tuple[str, str], list[Period]] = {}
    for period in periods:
        by_model.setdefault((period.provider, period.model), []).append(period)
    schedules: dict[tuple[tuple[int, int, float, float, float, float], ...], int] = {}
    params: dict[str, list[Any]] = {
        name: [] for name in ("pk", "ps", "sfirst", "scount", "pf", "pt", "pin", "pout", "pcr", "pcc")
    }
    for model, model_periods in by_model.items():
        schedule = tuple(
            (p.start_ns, p.end_ns, p.price.input, p.price.output, p.price.cache_read, p.price.cache_creation)
            for p in sorted(model_periods, key=lambda p: p.start_ns)
        )
        number = schedules.get(schedule)
        if number is None:
            number = schedules[schedule] = len(schedules) + 1
            params["sfirst"].append(len(params["pf"]) + 1)
            params["scount"].append(len(schedule))
            for start, end, pin, pout, pcr, pcc in schedule:
                for name, value in zip(
                    ("pf", "pt", "pin", "pout", "pcr", "pcc"), (start, end, pin, pout, pcr, pcc), strict=True
                ):
                    params[name].append(value)
        params["pk"].append(keys[model])
        params["ps"].append(number)
    schedule = f"transform({MODEL_KEY}, {{pk:Array(UInt64)}}, {{ps:Array(UInt32)}}, toUInt32(0))"
    first, count = f"{{sfirst:Array(UInt32)}}[{schedule}]", f"{{scount:Array(UInt32)}}[{schedule}]"
    at = f"toUnixTimestamp64Nano(toDateTime64({time}, 9))"
    # Index 0 of a ClickHouse array is the default (0): no schedule → no periods → no price.
    found = (
        f"arrayFirstIndex((f, t) -> f <= {at} AND {at} < t,"
        f" arraySlice({{pf:Array(Int64)}}, {first}, {count}), arraySlice({{pt:Array(Int64)}}, {first}, {count}))"
    )
    index = f"toUInt32(if({found} = 0, 0, {first} + {found} - 1))"
    uncached, cache_read, cache_creation, output = tokens
    formula = (
        f"({uncached} * {{pin:Array(Float64)}}[_price] + {cache_read} * {{pcr:Array(Float64)}}[_price]"
        f" + {cache_creation} * {{pcc:Array(Float64)}}[_price] + {output} * {{pout:Array(Float64)}}[_price]) / 1e6"
    )
    return index, f"if(_price = 0, NULL, {formula})", dict(params)


def range_cost_sql(
    periods: list[Period],
    keys: dict[tuple[str, str], int],
    lo: int,
    hi: int,
    time: str = "Timestamp",
    tokens: tuple[str, str, str, str] = SPAN_TOKENS,
    tag: str = "",
) -> tuple[str, str, dict[str, Any]]:
    """``cost_sql`` for rows whose ``time`` lies in [lo, hi]: the same prices, looked up
    cheaper. Over a range, a model's price changes only at the few period edges inside it, so
    the price of each (model, stretch between those edges) is chosen here, once, and a row
    finds its own by two array lookups instead of searching its schedule's periods (that
    search, per row, was most of the cost of ranking 1.25M session-hour rows). ``tag`` ends
    the parameters' names: two such prices in one query (say, of rollup rows and of spans)."""
    if not periods:
        return "toUInt32(0)", "CAST(NULL, 'Nullable(Float64)')", {}
    edges = sorted({e for p in periods for e in (p.start_ns, p.end_ns) if lo < e <= hi})
    # A stretch's earliest time: a row in stretch s has exactly s of the edges at or before it.
    starts = [lo, *edges]
    models = sorted({(p.provider, p.model) for p in periods})
    params: dict[str, list[Any]] = {name: [] for name in ("pk", "pslot", "pidx", "pin", "pout", "pcr", "pcc")}
    params["pidx"].extend([0] * len(starts))  # slot 0: a model with no price
    for slot, model in enumerate(models, 1):
        params["pk"].append(keys[model])
        params["pslot"].append(slot)
        for start in starts:
            holding = [
                p for p in periods if (p.provider, p.model) == model and p.start_ns <= start < p.end_ns
            ]
            if not holding:
                params["pidx"].append(0)
                continue
            price = holding[0].price
            params["pidx"].append(len(params["pin"]) + 1)
            for name, value in zip(
                ("pin", "pout", "pcr", "pcc"),
                (price.input, price.output, price.cache_read, price.cache_creation),
                strict=True,
            ):
                params[name].append(value)
    slot = f"transform({MODEL_KEY}, {{pk{tag}:Array(UInt64)}}, {{pslot{tag}:Array(UInt32)}}, toUInt32(0))"
    stretch = "0"
    if edges:
        params["pedges"] = edges
        stretch = f"arrayCount(e -> e <= toUnixTimestamp64Nano(toDateTime64({time}, 9)), {{pedges{tag}:Array(Int64)}})"
    index = f"{{pidx{tag}:Array(UInt32)}}[{slot} * {len(starts)} + {stretch} + 1]"
    uncached, cache_read, cache_creation, output = tokens
    formula = (
        f"({uncached} * {{pin{tag}:Array(Float64)}}[_price] + {cache_read} * {{pcr{tag}:Array(Float64)}}[_price]"
        f" + {cache_creation} * {{pcc{tag}:Array(Float64)}}[_price] + {output} * {{pout{tag}:Array(Float64)}}[_price]) / 1e6"
    )
    return (
        index,
        f"if(_price = 0, NULL, {formula})",
        {f"{name}{tag}": value for name, value in params.items()},
    )
