"""GET /v1/orderbook/{market} and GET /v1/bbo/{market}.

The book is ``responses.AskBidArray``: ``[price, size]`` string pairs, bids
best (highest) first, asks best (lowest) first, ``depth`` levels a side
(default 20, as the spec says), grouped to ``?price_tick=`` like the
``order_book`` snapshot feeds' ``@{tick}`` suffix. ``seq_no`` and
``last_updated_at`` are those of the ``order_book`` channels at the same
moment. The optional ``best_{bid,ask}_{api,interactive}`` fields are not sent
(their shape is not documented; UNCONFIRMED). The bbo is ``responses.BBOResp``,
the same payload a new ``bbo.{market}`` subscriber gets.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.app import SERVER_KEY
from mockserver.market.model import BUY
from mockserver.rest import view
from mockserver.rest.errors import RestError

DEFAULT_DEPTH = 20


def _depth(request: web.Request) -> int:
    raw = request.query.get("depth")
    if raw is None or raw == "":
        return DEFAULT_DEPTH
    if not raw.isdigit() or int(raw) < 1:
        raise RestError(f"depth must be a positive integer, not {raw!r}")
    return int(raw)


def ask_bid_array(market: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    """An ``order_book`` snapshot payload of ``market`` as GET /v1/orderbook shapes it."""
    levels = snapshot["inserts"]
    return {
        "market": market,
        "seq_no": snapshot.get("seq_no", 0),
        "last_updated_at": snapshot.get("last_updated_at", 0),
        "bids": [[lv["price"], lv["size"]] for lv in levels if lv["side"] == BUY],
        "asks": [[lv["price"], lv["size"]] for lv in levels if lv["side"] != BUY],
    }


async def orderbook(request: web.Request) -> dict[str, Any]:
    server = request.app[SERVER_KEY]
    market = request.match_info["market"]
    depth = _depth(request)
    snapshot = view.book(server, market, depth=depth, price_tick=request.query.get("price_tick"))
    return ask_bid_array(market, snapshot)


async def bbo(request: web.Request) -> dict[str, Any]:
    return view.bbo(request.app[SERVER_KEY], request.match_info["market"])


ROUTES = [
    ("GET", "/orderbook/{market}", orderbook),
    ("GET", "/bbo/{market}", bbo),
]
