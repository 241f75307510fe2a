"""GET /v1/markets and GET /v1/markets/summary.

A market (``responses.MarketResp``) is its ``MarketSpec`` in the field
formatting of the ``markets`` channel (``payloads.market_fields``) plus the
risk parameters every Paradex perpetual lists, at typical values
(UNCONFIRMED per market: docs/behaviour.md). ccxt's ``parse_market`` reads
``symbol``, the three currencies, ``asset_kind``, ``expiry_at``, the tick and
the increment; paradex-py passes the dicts through.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.app import SERVER_KEY
from mockserver.channels import ALL
from mockserver.market import payloads
from mockserver.market.model import MarketSpec
from mockserver.rest.errors import RestError
from mockserver.rest.view import spec, specs, summary

# When every simulated market "opened": a fixed date, so a seed gives the same bytes.
OPEN_AT_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def market_resource(market: MarketSpec) -> dict[str, Any]:
    """One market as GET /v1/markets lists it."""
    fields = payloads.market_fields(market)
    return {
        "symbol": market.symbol,
        **{k: v for k, v in fields.items() if k != "funding_period_hours"},
        "open_at": OPEN_AT_MS,
        "expiry_at": 0,
        "market_kind": "cross",
        "trading_mode": "STANDARD",
        "position_limit": fields["max_order_size"],
        "price_bands_width": "0.05",
        "max_open_orders": 100,
        "max_slippage": "0.05",
        "max_tob_spread": "0.2",
        "funding_period_hours": market.funding_period_hours,
        "funding_multiplier": 1,
        "max_funding_rate": "0.05",
        "max_funding_rate_change": "0.0005",
        "interest_rate": "0.01",
        "clamp_rate": "0.05",
        "oracle_ewma_factor": "0.2",
        "delta1_cross_margin_params": {
            "imf_base": "0.11",
            "imf_shift": "0",
            "imf_factor": "0",
            "mmf_factor": "0.51",
        },
        "tags": [],
    }


async def list_markets(request: web.Request) -> dict[str, Any]:
    server = request.app[SERVER_KEY]
    market = request.query.get("market")
    if market:
        # The spec declares 404 for this operation (unknown market: UNCONFIRMED body).
        return {"results": [market_resource(spec(server, market, status=404))]}
    return {"results": [market_resource(s) for s in specs(server).values()]}


def _optional_int(request: web.Request, name: str) -> None:
    value = request.query.get(name)
    if value is not None and not value.lstrip("-").isdigit():
        raise RestError(f"{name} must be an integer (unix ms), not {value!r}")


async def markets_summary(request: web.Request) -> dict[str, Any]:
    server = request.app[SERVER_KEY]
    market = request.query.get("market")
    if not market:
        raise RestError("market is required (a symbol, or ALL for every market)")
    # start/end select history on Paradex; the mock keeps none and answers with now.
    _optional_int(request, "start")
    _optional_int(request, "end")
    symbols = list(specs(server)) if market == ALL else [market]
    return {"results": [summary(server, symbol) for symbol in symbols]}


ROUTES = [
    ("GET", "/markets", list_markets),
    ("GET", "/markets/summary", markets_summary),
]
