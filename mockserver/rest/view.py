"""What the REST endpoints read: the same state the channels are built from.

With a synthetic market (``server.market``) every answer comes from its
engine state at the moment of the request, formatted by the channels' own
payload builders, so a book fetched over REST is the book the ``order_book``
and ``bbo`` streams carry at that ``seq_no``. A market that idles (nobody
subscribed to anything) is first caught up to now, silently, as a new
subscription would.

Without one, or for a family the synthetic market does not feed
(``synthetic.channels``), the markets are the scenario's, with their
specs (``market_spec``), and the book is the whole book with the highest
``seq_no`` among the latest published on the market's ``order_book`` channels
(a snapshot feed, or a deltas feed's ``update_type: "s"`` frame), else empty;
the bbo and summary the latest published ones, else derived from that book
(docs/behaviour.md).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from mockserver.market import payloads
from mockserver.market.model import BUY, SELL, MarketSpec
from mockserver.rest.errors import MarketNotFound, RestError
from mockserver.scenario.model import market_spec

if TYPE_CHECKING:
    from mockserver.market.runtime import MarketRuntime
    from mockserver.server import MockServer

Payload = dict[str, Any]

# The whole-book channels of a scripted market, in the order they are looked at.
_BOOK_FEEDS = ("snapshot@15@50ms", "snapshot@15@100ms", "deltas")


def now_ms(server: MockServer) -> int:
    """The time payloads are stamped with: the synthetic market's clock, else the wall's."""
    runtime = server.market
    if runtime is not None:
        runtime.catch_up()
        return runtime.now_ms
    return server.clock.wall_us() // 1000


def specs(server: MockServer) -> dict[str, MarketSpec]:
    """Every market of the running scenario, by symbol, in the scenario's order."""
    if server.market is not None:
        return server.market.specs
    settings = server.scenario.market_settings
    return {m: market_spec(m, settings.get(m)) for m in server.scenario.markets}


def spec(server: MockServer, market: str, *, status: int = 400) -> MarketSpec:
    """The spec of ``market``; ``MarketNotFound`` (with ``status``) if it is not traded."""
    found = specs(server).get(market)
    if found is None:
        raise MarketNotFound(market, status=status)
    return found


def group_ticks(spec: MarketSpec, price_tick: str | None) -> int:
    """How many of the market's ticks one level spans for ``?price_tick=`` (at least 1)."""
    if price_tick is None or price_tick == "":
        return 1
    try:
        tick = Decimal(price_tick.replace("_", "."))
    except InvalidOperation:
        raise RestError(f"price_tick must be a decimal, not {price_tick!r}") from None
    if not tick.is_finite() or tick <= 0 or tick % spec.price_tick != 0:
        raise RestError(
            f"price_tick must be a positive multiple of the market's tick "
            f"{payloads.market_fields(spec)['price_tick_size']}, not {price_tick!r}"
        )
    return max(1, int(tick / spec.price_tick))


def _engine(server: MockServer, family: str) -> MarketRuntime | None:
    """The synthetic market, caught up to now, if it feeds ``family``'s channels."""
    runtime = server.market
    if runtime is None or not runtime.synthetic.feeds(family):
        return None
    runtime.catch_up()
    return runtime


def book(server: MockServer, market: str, *, depth: int, price_tick: str | None) -> Payload:
    """``market``'s book as an ``order_book`` snapshot payload (every level in ``inserts``)."""
    market_spec_ = spec(server, market)
    group = group_ticks(market_spec_, price_tick)
    runtime = _engine(server, "order_book")
    if runtime is not None:
        return runtime.snapshot(market, depth=depth, group=group)
    published = _latest_book(server, market)
    if published is None:
        return payloads.book_snapshot(
            market_spec_, seq_no=0, at_ms=now_ms(server), bids=[], asks=[]
        )
    # A scripted book is served as published: depth applies, price_tick does not.
    levels = published.get("inserts", [])
    bids = [lv for lv in levels if lv.get("side") == BUY][:depth]
    asks = [lv for lv in levels if lv.get("side") != BUY][:depth]
    return {**published, "inserts": [*bids, *asks]}


def bbo(server: MockServer, market: str) -> Payload:
    """``market``'s best bid and ask as a ``bbo`` payload."""
    market_spec_ = spec(server, market)
    runtime = _engine(server, "bbo")
    if runtime is not None:
        return payloads.bbo(market_spec_, runtime.top_of_book(market))
    published = _latest(server, f"bbo.{market}")
    if published is not None:
        return published
    top = _top_of(book(server, market, depth=1, price_tick=None))
    return {"market": market, **top}


def summary(server: MockServer, market: str) -> Payload:
    """``market``'s rolling values as a ``markets_summary`` payload."""
    spec(server, market)
    runtime = _engine(server, "markets_summary")
    if runtime is not None:
        return runtime.summary(market)
    published = _latest(server, f"markets_summary.{market}")
    if published is not None:
        return published
    top = _top_of(book(server, market, depth=1, price_tick=None))
    return {
        "symbol": market,
        "bid": top["bid"],
        "bid_size": top["bid_size"],
        "ask": top["ask"],
        "ask_size": top["ask_size"],
        "created_at": top["last_updated_at"],
    }


def _top_of(snapshot: Payload) -> Payload:
    """The bbo fields of a book snapshot payload ("0" for an empty side)."""
    top: Payload = {
        "seq_no": snapshot.get("seq_no", 0),
        "bid": "0",
        "bid_size": "0",
        "ask": "0",
        "ask_size": "0",
        "last_updated_at": snapshot.get("last_updated_at", 0),
    }
    for side, prefix in ((BUY, "bid"), (SELL, "ask")):
        level = next((lv for lv in snapshot["inserts"] if lv["side"] == side), None)
        if level is not None:
            top[prefix], top[f"{prefix}_size"] = level["price"], level["size"]
    return top


def _latest(server: MockServer, channel: str) -> Payload | None:
    """The latest payload published on exactly ``channel``, if any."""
    for name, data in server.hub.latest_for(channel):
        if name == channel:
            decoded = json.loads(data)
            return decoded if isinstance(decoded, dict) else None
    return None


def _latest_book(server: MockServer, market: str) -> Payload | None:
    """The newest (highest ``seq_no``) whole book published for a scripted ``market``."""
    books = [
        found
        for feed in _BOOK_FEEDS
        if (found := _latest(server, f"order_book.{market}.{feed}")) is not None
        and found.get("update_type", "s") == "s"
        and isinstance(found.get("inserts"), list)
    ]
    return max(books, key=lambda b: b.get("seq_no", 0) or 0, default=None)
