"""The price book's table, ``vigil_model_prices`` in the system database (one book for every
project: a model costs the same whoever calls it; see vigil_auth.registry on what the system
database holds).

Rows are replaced by key (origin, provider, model pattern, effective_from) and read FINAL;
removing one writes it again marked deleted. The defaults (origin ``default``) are the
repository's data file, written again at every start when they differ from it; a user's
prices (origin ``user``, from ``vigil prices import`` or the SetModelPrices RPC) are never
touched by that and win where both match.
"""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from vigil_query.analytics.prices.book import DEFAULT, Price, default_prices
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

TABLE = "vigil_model_prices"
_DDL = """
CREATE TABLE IF NOT EXISTS {db}.vigil_model_prices (
    Origin LowCardinality(String),
    Provider LowCardinality(String),
    ModelPattern String,
    EffectiveFrom Int64,
    EffectiveTo Int64,
    InputPerMTok Float64,
    OutputPerMTok Float64,
    CacheReadPerMTok Float64,
    CacheCreationPerMTok Float64,
    Currency LowCardinality(String) DEFAULT 'USD',
    UpdatedNs Int64,
    Deleted UInt8
) ENGINE = ReplacingMergeTree(UpdatedNs, Deleted)
ORDER BY (Origin, Provider, ModelPattern, EffectiveFrom)
"""
_COLUMNS = [
    "Origin",
    "Provider",
    "ModelPattern",
    "EffectiveFrom",
    "EffectiveTo",
    "InputPerMTok",
    "OutputPerMTok",
    "CacheReadPerMTok",
    "CacheCreationPerMTok",
    "UpdatedNs",
    "Deleted",
]


def _row(p: Price, deleted: bool = False) -> list[object]:
    return [
        p.origin,
        p.provider,
        p.model,
        p.effective_from_ns,
        p.effective_to_ns,
        p.input,
        p.output,
        p.cache_read,
        p.cache_creation,
        time.time_ns(),
        int(deleted),
    ]


def ensure(client: Client, db: str) -> None:
    """The table, with the repository's default prices in it."""
    with translate_errors("creating the price book"):
        client.command(_DDL.format(db=quote_identifier(db)))
    stored = {
        (p.provider, p.model, p.effective_from_ns): p for p in list_prices(client, db) if p.origin == DEFAULT
    }
    wanted = {(p.provider, p.model, p.effective_from_ns): p for p in default_prices()}
    rows = [_row(p) for key, p in wanted.items() if stored.get(key) != p]
    rows += [_row(p, deleted=True) for key, p in stored.items() if key not in wanted]
    if rows:
        _insert(client, db, rows)


def list_prices(client: Client, db: str) -> list[Price]:
    with translate_errors("reading the price book"):
        rows = client.query(
            f"SELECT Origin, Provider, ModelPattern, EffectiveFrom, EffectiveTo, InputPerMTok, OutputPerMTok,"
            f" CacheReadPerMTok, CacheCreationPerMTok FROM {quote_identifier(db)}.{TABLE} FINAL"
            " WHERE NOT Deleted ORDER BY Origin DESC, Provider, ModelPattern, EffectiveFrom"
        ).result_rows
    return [
        Price(provider, model, i, o, cr, cc, effective_from_ns=f, effective_to_ns=t, origin=origin)
        for origin, provider, model, f, t, i, o, cr, cc in rows
    ]


def set_prices(client: Client, db: str, prices: list[Price], *, replace: bool = False) -> int:
    """Add or change a user's prices (same provider, pattern and effective_from: changed);
    with ``replace``, a user's prices not among them are removed. Returns the rows written."""
    rows = [_row(p) for p in prices]
    if replace:
        keep = {(p.provider, p.model, p.effective_from_ns) for p in prices}
        rows += [
            _row(p, deleted=True)
            for p in list_prices(client, db)
            if p.origin != DEFAULT and (p.provider, p.model, p.effective_from_ns) not in keep
        ]
    if rows:
        _insert(client, db, rows)
    return len(rows)


def _insert(client: Client, db: str, rows: list[list[object]]) -> None:
    with translate_errors("writing the price book"):
        client.insert(f"{quote_identifier(db)}.{TABLE}", rows, column_names=_COLUMNS)
