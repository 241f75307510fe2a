"""The synthetic market's vocabulary: specs, the order book, and the events it emits.

Everything is fixed-point: prices are integer **ticks** (``price = ticks *
spec.price_tick``) and sizes integer **units** (``size = units *
spec.size_increment``), so the book never accumulates float error and two runs
with one seed agree to the byte. Conversion to Paradex's decimal strings happens
only in ``payloads.py`` (``MarketSpec.price_str`` / ``size_str``).

Time is integer milliseconds of *simulation* time (``at_ms``); the runtime
decides whether that is the wall clock or a fixed scenario epoch.

Data flow (pure, no I/O)::

    MarketSim.step(now_ms) ──▶ [BookDelta | Trade | TopOfBook]   (engine.py)
           ▲  add_liquidity / remove_liquidity                   (accounts.py places
           │                                                      its resting orders)
    AccountSim.on_trade(trade) ──▶ [private events]              (accounts.py)
    payloads.*(spec, state/event) ──▶ Paradex payload dicts      (payloads.py)
    MarketRuntime: steps every market on the clock, publishes    (runtime.py)
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]  # BUY = bid side, SELL = ask side (Paradex's spelling)
BUY: Side = "BUY"
SELL: Side = "SELL"


def opposite(side: Side) -> Side:
    return SELL if side == BUY else BUY


@dataclass(frozen=True, kw_only=True)
class MarketSpec:
    """One market's static parameters (a scenario's ``markets:`` entry)."""

    symbol: str
    base_currency: str
    quote_currency: str = "USD"
    settlement_currency: str = "USDC"
    asset_kind: str = "PERP"
    price_tick: Decimal  # e.g. Decimal("0.1")
    size_increment: Decimal  # e.g. Decimal("0.001")
    initial_price: Decimal  # the mid-price the simulation starts from
    # Mid-price volatility: standard deviation of log-returns per sqrt(second).
    # 0.0003 is ~8.8 % a day (0.0003 * sqrt(86400)): lively, so short tests see moves.
    volatility_per_sqrt_s: float = 0.0003
    book_levels: int = 50  # price levels kept per side
    level_units: int = 1000  # typical size of one level, in size units
    trades_per_s: float = 3.0  # mean rate of taker trades (Poisson)
    requotes_per_s: float = 10.0  # mean rate of the crowd's requotes (Poisson)
    funding_period_hours: int = 8
    min_notional: Decimal = Decimal("10")
    max_order_size: Decimal = Decimal("100")
    open_interest_units: int = 5_000_000  # starting open interest, in size units

    def price_str(self, ticks: int) -> str:
        return format((self.price_tick * ticks).normalize(), "f") if ticks else "0"

    def size_str(self, units: int) -> str:
        return format((self.size_increment * units).normalize(), "f") if units else "0"

    def ticks_of(self, price: Decimal) -> int:
        return int((price / self.price_tick).to_integral_value())


@dataclass(frozen=True)
class Level:
    """One price level: price in ticks, size in units."""

    side: Side
    price: int
    size: int


@dataclass
class Book:
    """A price-level order book. Bids and asks: {price ticks: size units}.

    Kept with sorted price lists beside the dicts so the top and the first N
    levels are O(1)/O(N). Invariants the engine maintains: no zero or negative
    sizes, and best bid < best ask whenever both sides exist.
    """

    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    _bid_prices: list[int] = field(default_factory=list)  # ascending
    _ask_prices: list[int] = field(default_factory=list)  # ascending

    def side(self, side: Side) -> dict[int, int]:
        return self.bids if side == BUY else self.asks

    def prices(self, side: Side) -> list[int]:
        """The side's prices, ascending: the live sorted list, not a copy (do not modify)."""
        return self._bid_prices if side == BUY else self._ask_prices

    def set(self, side: Side, price: int, size: int) -> None:
        """Set a level's size; 0 removes it."""
        levels = self.side(side)
        prices = self._bid_prices if side == BUY else self._ask_prices
        if size <= 0:
            if levels.pop(price, None) is not None:
                prices.remove(price)
            return
        if price not in levels:
            insort(prices, price)
        levels[price] = size

    def best(self, side: Side) -> Level | None:
        prices = self._bid_prices if side == BUY else self._ask_prices
        if not prices:
            return None
        price = prices[-1] if side == BUY else prices[0]
        return Level(side, price, self.side(side)[price])

    def levels(self, side: Side, depth: int | None = None) -> list[Level]:
        """The side's levels best first (bids descending, asks ascending)."""
        prices = self._bid_prices if side == BUY else self._ask_prices
        ordered: Iterator[int] = reversed(prices) if side == BUY else iter(prices)
        found = []
        levels = self.side(side)
        for price in ordered:
            if depth is not None and len(found) >= depth:
                break
            found.append(Level(side, price, levels[price]))
        return found

    def aggregated(self, side: Side, depth: int, group_ticks: int) -> list[Level]:
        """Levels merged into buckets of ``group_ticks`` ticks, best ``depth`` buckets.

        Bids round down to the bucket, asks round up (the usual exchange rule, so an
        aggregated book is never crossed when the raw one is not).
        """
        if group_ticks <= 1:
            return self.levels(side, depth)
        buckets: dict[int, int] = {}
        order: list[int] = []
        for level in self.levels(side):
            if side == BUY:
                bucket = (level.price // group_ticks) * group_ticks
            else:
                bucket = -((-level.price) // group_ticks) * group_ticks
            if bucket not in buckets:
                if len(order) == depth:
                    break
                order.append(bucket)
                buckets[bucket] = 0
            buckets[bucket] += level.size
        return [Level(side, price, buckets[price]) for price in order]

    def copy(self) -> Book:
        return Book(
            dict(self.bids), dict(self.asks), list(self._bid_prices), list(self._ask_prices)
        )


# Events the engine emits (all carry the market symbol and the simulation time).


@dataclass(frozen=True)
class BookDelta:
    """One change of the book: exactly one ``order_book.{m}.deltas`` frame.

    ``seq_no`` is the market's book sequence after the change: each BookDelta is
    the previous one's + 1 (paradex-ws.md §8). Lists are of levels *after* the
    change; ``deletes`` carry size 0.
    """

    market: str
    seq_no: int
    at_ms: int
    inserts: tuple[Level, ...] = ()
    updates: tuple[Level, ...] = ()
    deletes: tuple[Level, ...] = ()


@dataclass(frozen=True)
class LevelFill:
    """What one resting level gave to a taker trade.

    ``makers`` names the synthetic accounts whose resting orders at that level
    were filled, with their units, in queue order; the rest of ``size`` came from
    the simulated crowd. Accounts rest at the front of a level's queue.
    """

    price: int
    size: int
    makers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Trade:
    """A taker trade that consumed resting liquidity (and emitted BookDeltas)."""

    market: str
    trade_id: str
    seq_no: int  # the book sequence after the trade's last BookDelta
    at_ms: int
    side: Side  # the taker's side
    price: int  # the (last) price in ticks it traded at
    size: int  # total units
    fills: tuple[LevelFill, ...]  # per resting level, best first
    trade_type: str = "FILL"


@dataclass(frozen=True)
class TopOfBook:
    """The best bid/ask changed (a ``bbo.{m}`` frame)."""

    market: str
    seq_no: int
    at_ms: int
    bid: Level | None
    ask: Level | None


@dataclass(frozen=True)
class FundingTick:
    """Funding state on its period (a ``funding_data.{m}`` frame)."""

    market: str
    at_ms: int
    funding_index: Decimal
    funding_premium: Decimal
    funding_rate: Decimal  # for the market's funding period
    funding_rate_8h: Decimal


MarketEvent = BookDelta | Trade | TopOfBook | FundingTick


@dataclass
class MarketStats:
    """Rolling values ``markets_summary`` reports (kept by the engine)."""

    last_trade_price: int = 0  # ticks; 0 before the first trade
    volume_24h_quote: Decimal = Decimal(0)  # quote-currency volume in the last 24h
    total_volume_quote: Decimal = Decimal(0)
    open_24h_price: int = 0  # ticks: the reference for price_change_rate_24h
    open_interest: int = 0  # units
    mark_price: int = 0  # ticks
    underlying_price: int = 0  # ticks (the index)
    funding_rate: Decimal = Decimal(0)
    funding_index: Decimal = Decimal(0)
