"""One market's simulation: mid-price process, order book, trades, stats and funding.

``MarketSim`` is pure and deterministic (docs/market-design.md): every random draw
comes from one ``random.Random`` seeded with ``timeline_seed(seed, "market",
symbol)``, and time advances only in fixed ``STEP_MS`` increments, so the events
depend on the seed and the simulated time reached, never on how often ``step`` is
called. Draws happen only inside those increments.

The model, per 10 ms step::

    fair ─ log-normal random walk (spec.volatility_per_sqrt_s); mark = its EMA
      │
      ├─ fair through an owner's order?  ──▶ crowd taker trade against it
      ├─ crowd requote (Poisson, spec.requotes_per_s) ──▶ one BookDelta: the top moves to
      │    fair ± 1-3 ticks of spread, levels appear/disappear as the fair moves, the
      │    side is trimmed/extended to spec.book_levels, 1-3 levels change size
      ├─ taker trade (Poisson, spec.trades_per_s) ──▶ BookDelta, Trade [, TopOfBook]
      └─ every FUNDING_TICK_MS ──▶ FundingTick

**Delta granularity.** One ``BookDelta`` per book *event*: a trade is one delta
holding every level it touched (a trade walking 2 levels is one frame with two
entries), a crowd requote is one delta, an ``add_liquidity`` /
``remove_liquidity`` is one delta. Deltas are never empty: a change that leaves
the book as it was emits nothing and does not advance ``seq_no``.

**Levels.** The crowd's levels sit ``1..2g-1`` ticks apart, ``g`` the larger of
0.2 bp of the price and half the fair price's typical move between requotes (BTC
32 ticks, ETH 22, SOL 12, DOGE 2), so ``book_levels`` levels span a realistic
depth and a requote moves the top by a level or two. A level's queue is the
owners' units first (FIFO between owners), then the crowd's; the crowd never
shrinks or moves the owners' units.

``seq_no`` starts at 1 (the starting book); ``now_ms`` is the last internal step
reached, so ``step(1005)`` from 0 leaves ``now_ms == 1000``.
"""

from __future__ import annotations

import math
import random
import zlib
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from mockserver.market.model import (
    BUY,
    SELL,
    Book,
    BookDelta,
    FundingTick,
    Level,
    LevelFill,
    MarketEvent,
    MarketSpec,
    MarketStats,
    Side,
    TopOfBook,
    Trade,
)
from mockserver.seeds import timeline_seed

STEP_MS = 10  # the simulation's fixed internal increment
FUNDING_TICK_MS = 5_000  # a FundingTick every 5 s of simulated time

# The crowd
# Mean gap between crowd levels, relative to the price: at least this, and at least
# half the fair price's typical move between two requotes.
LEVEL_GAP_REL = 2e-5
SPREADS_TICKS = (1, 1, 1, 2, 2, 3)  # the requoted spread is drawn from these
MAX_WALK_LEVELS = 5  # a random taker trade consumes at most this many levels

# Stats
WINDOW_24H_MS = 24 * 3600 * 1000
MARK_SMOOTHING_S = 2.0  # time constant of the mark price's EMA of the fair price
BASIS_UPDATE_MS = 1_000  # the underlying's noise around the mark moves once a second
BASIS_STEP = 3e-5  # ... by this (relative) sd, mean-reverting (stationary sd ~1e-4)
BASIS_REVERSION = 0.95
BASIS_CAP = 0.002
FUNDING_PLACES = Decimal("1e-12")  # premium, rates and index are rounded to 12 places

_INF = float("inf")


@dataclass(slots=True)
class _Order:
    """An owner's resting units in a level's queue (one entry per consecutive add)."""

    owner: str
    units: int


class MarketSim:
    """One market: a seeded fair-price walk, a crowd order book, takers, stats, funding."""

    spec: MarketSpec
    book: Book  # the live book: read it, never modify it
    seq_no: int  # the book sequence: +1 per BookDelta
    now_ms: int  # the last internal step reached
    stats: MarketStats  # updated in place

    def __init__(
        self,
        spec: MarketSpec,
        *,
        seed: int,
        start_ms: int,
        initial_book: Book | None = None,
    ) -> None:
        if spec.book_levels < 1 or spec.level_units < 1:
            raise ValueError(f"{spec.symbol}: book_levels and level_units must be at least 1")
        if min(spec.trades_per_s, spec.requotes_per_s, spec.volatility_per_sqrt_s) < 0:
            raise ValueError(
                f"{spec.symbol}: trades_per_s, requotes_per_s and volatility must not be negative"
            )
        self.spec = spec
        self.now_ms = start_ms  # the last internal step reached (a multiple of STEP_MS from start)
        self.seq_no = 1
        self._rng = random.Random(timeline_seed(seed, "market", spec.symbol))
        self._trade_count = 0
        # Trade ids: the ms, 8 digits of the symbol, a counter (Paradex's are ~28 digits too).
        self._trade_tag = zlib.crc32(spec.symbol.encode()) % 100_000_000

        if initial_book is not None:
            self.book = initial_book.copy()
            bid, ask = self.book.best(BUY), self.book.best(SELL)
            if bid is not None and ask is not None and bid.price >= ask.price:
                raise ValueError(f"{spec.symbol}: the initial book is crossed ({bid} >= {ask})")
            if any(s <= 0 for s in (*self.book.bids.values(), *self.book.asks.values())):
                raise ValueError(f"{spec.symbol}: the initial book has a non-positive size")
            if bid is not None and ask is not None:
                fair = (bid.price + ask.price) / 2
            elif bid is not None:
                fair = bid.price + 1.0
            elif ask is not None:
                fair = ask.price - 1.0
            else:
                fair = float(spec.initial_price / spec.price_tick)
        else:
            self.book = Book()
            fair = float(spec.initial_price / spec.price_tick)
        if fair < 2:
            raise ValueError(f"{spec.symbol}: the initial price must be at least 2 ticks")
        self._fair = fair
        self._mark = fair
        # Levels are spread so that a requote moves the top by a level or two, not ten.
        requotes_per_s = spec.requotes_per_s or MarketSpec.requotes_per_s  # 0: never
        per_requote = spec.volatility_per_sqrt_s * math.sqrt(1 / requotes_per_s) / 2
        self._gap = max(1, round(fair * max(LEVEL_GAP_REL, per_requote)))
        self._sigma = spec.volatility_per_sqrt_s * math.sqrt(STEP_MS / 1000)
        self._drift = -self._sigma * self._sigma / 2  # keeps exp(walk) a martingale
        self._alpha = 1 - math.exp(-STEP_MS / 1000 / MARK_SMOOTHING_S)
        self._basis = 0.0  # underlying = mark * (1 - basis)

        # Owners' liquidity: per level a FIFO queue of [owner, units], and its total.
        self._queues: dict[tuple[Side, int], list[_Order]] = {}
        self._owner_units: dict[tuple[Side, int], int] = {}
        self._owner_max_bid = -_INF
        self._owner_min_ask = _INF

        # The change recorder: (side, price) -> size before the pending delta.
        self._pending: dict[tuple[Side, int], int] = {}

        if initial_book is None:
            self._requote()  # build both sides; the starting book is not a delta
        else:
            for side in (BUY, SELL):
                if not self.book.side(side):
                    self._requote()
                    break
        self._pending.clear()

        self._next_trade_at = self._after(start_ms, spec.trades_per_s)
        self._next_requote_at = self._after(start_ms, spec.requotes_per_s)
        self._next_funding_at = start_ms + FUNDING_TICK_MS
        self._next_basis_at = start_ms + BASIS_UPDATE_MS

        self._window: deque[tuple[int, int, Decimal]] = deque()  # (at_ms, price, quote)
        self._tick_x_increment = spec.price_tick * spec.size_increment
        self._oi_reference = spec.open_interest_units
        self.stats = MarketStats(
            open_24h_price=round(fair),
            open_interest=spec.open_interest_units,
            mark_price=round(fair),
            underlying_price=round(fair),
        )

    # The public surface

    def step(self, now_ms: int) -> list[MarketEvent]:
        """Advance in STEP_MS increments up to ``now_ms``; the events, in order."""
        events: list[MarketEvent] = []
        t = self.now_ms
        if now_ms - t < STEP_MS:
            return events
        gauss = self._rng.gauss
        exp = math.exp
        sigma, drift, alpha = self._sigma, self._drift, self._alpha
        fair, mark = self._fair, self._mark
        next_event = self._next_event_at()
        low, high = self._owner_max_bid, self._owner_min_ask
        while t + STEP_MS <= now_ms:
            t += STEP_MS
            fair *= exp(sigma * gauss(0.0, 1.0) + drift)
            mark += alpha * (fair - mark)
            if t >= next_event or fair > high or fair < low:
                self._fair, self._mark, self.now_ms = fair, mark, t
                self._events_at(t, events)
                fair = self._fair
                next_event = self._next_event_at()
                low, high = self._owner_max_bid, self._owner_min_ask
        self._fair, self._mark, self.now_ms = fair, mark, t
        self._refresh_stats()
        return events

    @property
    def next_event_ms(self) -> float:
        """When the next trade, requote, funding or basis move is due (epoch ms;
        infinite for none). With owners resting orders, the fair price crossing
        one of them is an event that may come sooner."""
        return self._next_event_at()

    def add_liquidity(self, owner: str, side: Side, price: int, units: int) -> list[MarketEvent]:
        """Rest ``units`` of ``owner`` at ``price``: behind the other owners, ahead of the crowd.

        A price that would cross the book (a bid at or above the best ask, an ask at
        or below the best bid) raises ``ValueError``: the account places maker orders.
        """
        if units <= 0:
            raise ValueError(f"add_liquidity: units must be positive, got {units}")
        if price <= 0:
            raise ValueError(f"add_liquidity: price must be positive, got {price}")
        against = self.book.best(SELL if side == BUY else BUY)
        if against is not None and (
            price >= against.price if side == BUY else price <= against.price
        ):
            raise ValueError(
                f"add_liquidity: a {side} at {price} would cross the book (best {against})"
            )
        key = (side, price)
        queue = self._queues.setdefault(key, [])
        if queue and queue[-1].owner == owner:
            queue[-1].units += units
        else:
            queue.append(_Order(owner, units))
        self._owner_units[key] = self._owner_units.get(key, 0) + units
        self._owner_bounds()
        events: list[MarketEvent] = []
        top = self._top()
        self._set(side, price, self.book.side(side).get(price, 0) + units)
        self._flush(self.now_ms, top, events)
        return events

    def remove_liquidity(self, owner: str, side: Side, price: int, units: int) -> list[MarketEvent]:
        """Take back up to ``units`` of ``owner``'s resting units at ``price`` (newest first).

        Removing more than the owner rests there removes what there is; nothing
        resting there gives no events. Were it the last liquidity of its side, the
        crowd takes over the level (``level_units``) so that no side is ever empty.
        """
        if units <= 0:
            raise ValueError(f"remove_liquidity: units must be positive, got {units}")
        key = (side, price)
        queue = self._queues.get(key, [])
        removed = 0
        for i in range(len(queue) - 1, -1, -1):
            if removed == units:
                break
            order = queue[i]
            if order.owner != owner:
                continue
            take = min(order.units, units - removed)
            removed += take
            order.units -= take
            if not order.units:
                del queue[i]
        if not removed:
            return []
        self._owner_units_sub(key, removed)
        events: list[MarketEvent] = []
        top = self._top()
        left = self.book.side(side)[price] - removed
        # A sweep can leave a side to the owners until the next requote: taking back
        # its last units hands the level to the crowd (no delta if the size is the same).
        if not left and len(self.book.side(side)) == 1:
            left = self.spec.level_units
        self._set(side, price, left)
        self._flush(self.now_ms, top, events)
        return events

    def resting(self, owner: str) -> dict[tuple[Side, int], int]:
        """``owner``'s resting units per ``(side, price)`` level."""
        found: dict[tuple[Side, int], int] = {}
        for key, queue in self._queues.items():
            for order in queue:
                if order.owner == owner:
                    found[key] = found.get(key, 0) + order.units
        return found

    # One step's events

    def _events_at(self, t: int, events: list[MarketEvent]) -> None:
        """Everything due at step ``t`` (the slow path of ``step``)."""
        fair = self._fair
        if fair > self._owner_min_ask:
            self._sweep_owners(BUY, t, events)
        if fair < self._owner_max_bid:
            self._sweep_owners(SELL, t, events)
        while t >= self._next_requote_at:
            self._next_requote_at += self._interval(self.spec.requotes_per_s)
            top = self._top()
            self._resize_some()
            self._requote()
            self._flush(t, top, events)
        while t >= self._next_trade_at:
            self._next_trade_at += self._interval(self.spec.trades_per_s)
            self._random_trade(t, events)
        if t >= self._next_basis_at:
            self._next_basis_at += BASIS_UPDATE_MS
            basis = BASIS_REVERSION * self._basis + self._rng.gauss(0.0, BASIS_STEP)
            self._basis = max(-BASIS_CAP, min(BASIS_CAP, basis))
        if t >= self._next_funding_at:
            self._next_funding_at += FUNDING_TICK_MS
            events.append(self._funding(t))
        if not self.book.bids or not self.book.asks:  # (only if an owner rests at 1 tick)
            top = self._top()
            self._requote()
            self._flush(t, top, events)

    def _next_event_at(self) -> float:
        return min(
            self._next_trade_at,
            self._next_requote_at,
            self._next_funding_at,
            self._next_basis_at,
        )

    def _interval(self, rate_per_s: float) -> float:
        """A Poisson inter-arrival time in ms (infinite for a zero rate)."""
        return self._rng.expovariate(rate_per_s) * 1000 if rate_per_s > 0 else _INF

    def _after(self, t: int, rate_per_s: float) -> float:
        return t + self._interval(rate_per_s)

    # Book changes: every change goes through _set, and _flush turns them into one delta

    def _set(self, side: Side, price: int, size: int) -> None:
        key = (side, price)
        pending = self._pending
        if key not in pending:
            book = self.book
            pending[key] = (book.bids if side == BUY else book.asks).get(price, 0)
        self.book.set(side, price, size)

    def _top(self) -> tuple[int, int, int, int]:
        """The best bid and ask as (price, size) ints, 0 for none: cheap to compare."""
        book = self.book
        bids, asks = book.prices(BUY), book.prices(SELL)
        bid = bids[-1] if bids else 0
        ask = asks[0] if asks else 0
        return bid, book.bids.get(bid, 0), ask, book.asks.get(ask, 0)

    def _flush(
        self,
        t: int,
        top: tuple[int, int, int, int],
        events: list[MarketEvent],
        trade: Trade | None = None,
    ) -> None:
        """Emit the pending changes as one BookDelta (if any), the trade, then TopOfBook."""
        inserts: list[Level] = []
        updates: list[Level] = []
        deletes: list[Level] = []
        bids, asks = self.book.bids, self.book.asks
        for (side, price), before in self._pending.items():
            after = (bids if side == BUY else asks).get(price, 0)
            if after == before:
                continue
            if not before:
                inserts.append(Level(side, price, after))
            elif not after:
                deletes.append(Level(side, price, 0))
            else:
                updates.append(Level(side, price, after))
        self._pending.clear()
        if inserts or updates or deletes:
            self.seq_no += 1
            events.append(
                BookDelta(
                    self.spec.symbol, self.seq_no, t, tuple(inserts), tuple(updates), tuple(deletes)
                )
            )
        if trade is not None:
            events.append(trade)
        if self._top() != top:
            book = self.book
            events.append(
                TopOfBook(self.spec.symbol, self.seq_no, t, book.best(BUY), book.best(SELL))
            )

    # The crowd

    def _new_units(self, rank: int) -> int:
        """A fresh crowd level's size: around level_units, larger further from the top."""
        spec = self.spec
        scale = 0.5 + rank / max(1, spec.book_levels)
        return max(1, round(spec.level_units * scale * math.exp(self._rng.gauss(0.0, 0.5))))

    def _gap_ticks(self) -> int:
        g = self._gap
        return 1 if g == 1 else 1 + int(self._rng.random() * (2 * g - 1))

    def _requote(self) -> None:
        """Move the crowd's top to the fair price ± the spread; keep ~book_levels a side."""
        rng = self._rng
        spread = SPREADS_TICKS[int(rng.random() * len(SPREADS_TICKS))]
        bid_top = max(1, math.floor(self._fair - spread / 2))
        ask_top = bid_top + spread
        # Never cross an owner's order (the fair has not gone through it: see step).
        if self._owner_min_ask < _INF:
            bid_top = min(bid_top, int(self._owner_min_ask) - 1)
        if self._owner_max_bid > -_INF:
            ask_top = max(ask_top, int(self._owner_max_bid) + 1)

        book, owners = self.book, self._owner_units
        bids, asks = book.prices(BUY), book.prices(SELL)
        # The crowd leaves the prices the fair moved past (owners' units stay).
        for price in bids[bisect_right(bids, bid_top) :]:
            self._set(BUY, price, owners.get((BUY, price), 0))
        for price in asks[: bisect_left(asks, ask_top)]:
            self._set(SELL, price, owners.get((SELL, price), 0))

        levels = self.spec.book_levels
        # New levels between the new top and what is left.
        best_bid = bids[-1] if bids else 0
        price, rank = bid_top, 0
        while price > best_bid and rank < levels:
            self._set(BUY, price, self._new_units(rank))
            price -= self._gap_ticks()
            rank += 1
        if asks:
            best_ask = asks[0]
            price, rank = ask_top, 0
            while price < best_ask and rank < levels:
                self._set(SELL, price, self._new_units(rank))
                price += self._gap_ticks()
                rank += 1
        else:
            for rank in range(levels):
                self._set(SELL, ask_top, self._new_units(rank))
                ask_top += self._gap_ticks()
        self._fit_depth(BUY)
        self._fit_depth(SELL)

    def _fit_depth(self, side: Side) -> None:
        """Keep book_levels crowd levels a side: trim the farthest, or extend the far end.

        Owner-only levels do not count and are never trimmed.
        """
        sizes, owners = self.book.side(side), self._owner_units
        prices = self.book.prices(side)
        far_first = list(prices) if side == BUY else prices[::-1]
        if owners:
            far_first = [p for p in far_first if sizes[p] > owners.get((side, p), 0)]
        levels = self.spec.book_levels
        excess = len(far_first) - levels
        if excess > 0:
            for price in far_first[:excess]:
                self._set(side, price, owners.get((side, price), 0))
        elif excess < 0 and prices:
            # From the farthest crowd level (or owners' level, if the crowd has none left).
            rank = len(far_first)
            price = far_first[0] if far_first else (prices[0] if side == BUY else prices[-1])
            outwards = -1 if side == BUY else 1
            while rank < levels:
                price += outwards * self._gap_ticks()
                if price < 1:
                    break
                if price not in sizes:  # (an owner-only level is left as it is)
                    self._set(side, price, self._new_units(rank))
                    rank += 1

    def _resize_some(self) -> None:
        """A few crowd levels change size (the owners' part never does)."""
        rng = self._rng
        for _ in range(1 + int(rng.random() * 3)):
            side = BUY if rng.random() < 0.5 else SELL
            prices = self.book.prices(side)
            if not prices:
                continue
            price = prices[int(rng.random() * len(prices))]
            size = self.book.side(side)[price]
            owned = self._owner_units.get((side, price), 0)
            crowd = max(size - owned, self.spec.level_units // 4, 1)
            self._set(side, price, owned + max(1, round(crowd * math.exp(rng.gauss(0.0, 0.35)))))

    # Takers

    def _random_trade(self, t: int, events: list[MarketEvent]) -> None:
        """A Poisson taker: mostly part of the top level, sometimes walking 2-3 levels."""
        rng = self._rng
        bid, ask = self.book.best(BUY), self.book.best(SELL)
        if bid is not None and ask is not None:
            # Takers lean towards the fair price: buyers when it is above the book's mid.
            width = 2 * self._gap + ask.price - bid.price
            lean = (self._fair - (bid.price + ask.price) / 2) / width
            p_buy = 0.5 + 0.4 * math.tanh(lean)
        else:
            p_buy = 0.5
        taker = BUY if rng.random() < p_buy else SELL
        resting = SELL if taker == BUY else BUY
        prices = self.book.prices(resting)
        if not prices:
            return
        sizes = self.book.side(resting)
        near = prices[:MAX_WALK_LEVELS] if resting == SELL else prices[: -MAX_WALK_LEVELS - 1 : -1]
        available = sum(sizes[p] for p in near)
        if len(near) == len(prices):
            available -= 1  # never empty the side
        units = min(available, max(1, round(self.spec.level_units * 0.25 * rng.expovariate(1.0))))
        if units > 0:
            self._take(taker, t, events, units=units)

    def _sweep_owners(self, taker: Side, t: int, events: list[MarketEvent]) -> None:
        """The fair went through owners' orders: a crowd taker trades through them.

        It takes every level up to the farthest owner order the fair passed, and at
        that level only the owners' units (they are at the front of its queue).
        """
        resting = SELL if taker == BUY else BUY
        fair = self._fair
        crossed = [
            price
            for (side, price) in self._owner_units
            if side == resting and (price < fair if resting == SELL else price > fair)
        ]
        if not crossed:
            return
        last = max(crossed) if resting == SELL else min(crossed)
        prices = self.book.prices(resting)
        sizes = self.book.side(resting)
        owned = self._owner_units[(resting, last)]
        if sizes[last] == owned and last == (prices[-1] if resting == SELL else prices[0]):
            # The sweep would empty the side: the crowd first quotes beyond it (its own
            # delta; the top does not change), so the book always has both sides.
            beyond = last + self._gap_ticks() if resting == SELL else last - self._gap_ticks()
            if beyond >= 1:
                self._set(resting, beyond, self._new_units(0))
                self._flush(t, self._top(), events)
        if resting == SELL:
            units = sum(sizes[p] for p in prices[: bisect_left(prices, last)])
        else:
            units = sum(sizes[p] for p in prices[bisect_right(prices, last) :])
        units += owned
        self._take(taker, t, events, units=units)

    def _take(self, taker: Side, t: int, events: list[MarketEvent], *, units: int) -> None:
        """Consume ``units`` of the opposite side best first: deltas, Trade, TopOfBook."""
        resting = SELL if taker == BUY else BUY
        prices = self.book.prices(resting)
        sizes = self.book.side(resting)
        top = self._top()
        fills: list[LevelFill] = []
        remaining = units
        while remaining > 0 and prices:
            price = prices[0] if resting == SELL else prices[-1]
            size = sizes[price]
            take = min(size, remaining)
            makers = self._fill_owners(resting, price, take)
            self._set(resting, price, size - take)
            fills.append(LevelFill(price, take, makers))
            remaining -= take
        if not fills:
            return
        size = units - remaining
        self._trade_count += 1
        trade_id = f"{t}{self._trade_tag:08d}{self._trade_count:07d}"
        # _flush emits the delta first, so the trade's seq_no is the one after it.
        pending_trade = Trade(
            market=self.spec.symbol,
            trade_id=trade_id,
            seq_no=self.seq_no + 1,
            at_ms=t,
            side=taker,
            price=fills[-1].price,
            size=size,
            fills=tuple(fills),
        )
        self._record_trade(pending_trade)
        self._flush(t, top, events, trade=pending_trade)

    def _fill_owners(self, side: Side, price: int, take: int) -> tuple[tuple[str, int], ...]:
        """Fill the owners at the front of a level's queue; what each got, in queue order."""
        key = (side, price)
        queue = self._queues.get(key)
        if not queue:
            return ()
        got: dict[str, int] = {}
        filled = 0
        while queue and filled < take:
            order = queue[0]
            n = min(order.units, take - filled)
            got[order.owner] = got.get(order.owner, 0) + n
            filled += n
            order.units -= n
            if not order.units:
                queue.pop(0)
        if filled:
            self._owner_units_sub(key, filled)
        return tuple(got.items())

    def _owner_units_sub(self, key: tuple[Side, int], units: int) -> None:
        left = self._owner_units[key] - units
        if left:
            self._owner_units[key] = left
        else:
            del self._owner_units[key]
            self._queues.pop(key, None)
        self._owner_bounds()

    def _owner_bounds(self) -> None:
        bids = [price for side, price in self._owner_units if side == BUY]
        asks = [price for side, price in self._owner_units if side == SELL]
        self._owner_max_bid = max(bids) if bids else -_INF
        self._owner_min_ask = min(asks) if asks else _INF

    # Stats and funding

    def _record_trade(self, trade: Trade) -> None:
        stats = self.stats
        quote = Decimal(sum(f.price * f.size for f in trade.fills)) * self._tick_x_increment
        stats.last_trade_price = trade.price
        stats.volume_24h_quote += quote
        stats.total_volume_quote += quote
        self._window.append((trade.at_ms, trade.price, quote))
        # Open interest follows trades: opening or closing a fraction of the size,
        # pulled back towards its starting level.
        reference = max(1, self._oi_reference)
        pull = 0.2 * (stats.open_interest - reference) / reference
        change = round(trade.size * (self._rng.random() - 0.5 - pull))
        stats.open_interest = max(0, stats.open_interest + change)

    def _refresh_stats(self) -> None:
        """Stats that follow from the state (no random draws: chunking cannot change them)."""
        stats = self.stats
        stats.mark_price = max(1, round(self._mark))
        stats.underlying_price = max(1, round(self._mark * (1 - self._basis)))
        cutoff = self.now_ms - WINDOW_24H_MS
        window = self._window
        while window and window[0][0] <= cutoff:
            _, price, quote = window.popleft()
            stats.volume_24h_quote -= quote
            stats.open_24h_price = price  # the last price at or before 24 h ago

    def _funding(self, t: int) -> FundingTick:
        """premium = (mark - underlying) / underlying; rate = premium scaled to the period.

        ``rate = premium * period_hours / 8`` (the premium read as an 8 h figure),
        ``rate_8h = rate * 8 / period_hours``, and the index accumulates
        ``rate * mark * elapsed / period`` (quote per unit of base).
        """
        self._refresh_stats()
        spec, stats = self.spec, self.stats
        mark, underlying = stats.mark_price, stats.underlying_price
        hours = spec.funding_period_hours
        premium = Decimal(mark - underlying) / Decimal(underlying)
        rate = (premium * hours / 8).quantize(FUNDING_PLACES)
        rate_8h = (premium * hours / 8 * 8 / hours).quantize(FUNDING_PLACES)
        premium = premium.quantize(FUNDING_PLACES)
        period_ms = hours * 3600 * 1000
        accrued = rate * mark * spec.price_tick * FUNDING_TICK_MS / period_ms
        stats.funding_index = (stats.funding_index + accrued).quantize(FUNDING_PLACES)
        stats.funding_rate = rate
        return FundingTick(spec.symbol, t, stats.funding_index, premium, rate, rate_8h)
