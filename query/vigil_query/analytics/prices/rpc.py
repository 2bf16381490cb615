"""The price book over the API: ListModelPrices (QueryService) and the ModelPrice messages
SetModelPrices (AdminService) takes."""

from __future__ import annotations

from vigil_proto.query.v1 import query_pb2
from vigil_query.analytics.prices.book import Price, PriceFileError, parse_prices
from vigil_query.analytics.prices.store import list_prices
from vigil_query.errors import InvalidQuery
from vigil_query.reader import Reader


def to_message(p: Price) -> query_pb2.ModelPrice:
    return query_pb2.ModelPrice(
        provider=p.provider,
        model_pattern=p.model,
        input=p.input,
        output=p.output,
        cache_read=p.cache_read,
        cache_creation=p.cache_creation,
        effective_from_unix_nano=p.effective_from_ns,
        effective_to_unix_nano=p.effective_to_ns,
        origin=p.origin,
    )


def from_messages(prices: list[query_pb2.ModelPrice]) -> list[Price]:
    """A user's prices, validated as a price file is (InvalidQuery with the reason)."""
    entries = [
        {
            "provider": m.provider,
            "model": m.model_pattern,
            "input": m.input,
            "output": m.output,
            "cache_read": m.cache_read if m.HasField("cache_read") else m.input,
            "cache_creation": m.cache_creation if m.HasField("cache_creation") else m.input,
            "effective_from": m.effective_from_unix_nano,
            "effective_to": m.effective_to_unix_nano,
        }
        for m in prices
    ]
    try:
        return parse_prices({"prices": entries})
    except PriceFileError as exc:
        raise InvalidQuery(str(exc)) from exc


def list_model_prices(
    reader: Reader, request: query_pb2.ListModelPricesRequest
) -> query_pb2.ListModelPricesResponse:
    return query_pb2.ListModelPricesResponse(
        prices=[to_message(p) for p in list_prices(reader.client(), reader.system_database)], currency="USD"
    )
