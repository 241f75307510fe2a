"""The market engine: book operations, owners' liquidity, specs, and invariants over long runs.

The invariant tests replay every event against a copy of the starting book
(``Replay``): what a Paradex client applying ``order_book.{m}.deltas`` would
hold, checked against the engine's live book after every ``step``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from mockserver.market import engine
from mockserver.market.engine import FUNDING_TICK_MS, STEP_MS, MarketSim
from mockserver.market.model import (
    BUY,
    SELL,
    Book,
    BookDelta,
    FundingTick,
    Level,
    MarketEvent,
    MarketSpec,
    Side,
    TopOfBook,
    Trade,
)
from mockserver.market.specs import BUILTIN_SPECS, base_of, spec_for

START_MS = 1_700_000_000_000
SECOND_MS = 1000


def quiet_spec(**overrides: object) -> MarketSpec:
    """A small book with no random trades: unit tests drive it by hand."""
    values: dict[str, object] = {"book_levels": 10, "level_units": 100, "trades_per_s": 0.0}
    values.update(overrides)
    return spec_for("TEST-USD-PERP", **values)


def top(book: Book) -> tuple[Level | None, Level | None]:
    """The book's best bid and ask."""
    return book.best(BUY), book.best(SELL)


# The replay: a client's view of the feed, checked at every event


@dataclass
class Replay:
    """Applies a market's events to a copy of its first book and checks every invariant."""

    sim: MarketSim
    book: Book = field(init=False)
    seq_no: int = field(init=False)
    before_delta: Book | None = None  # the book before the last delta
    last_delta: BookDelta | None = None
    top_due: bool = False  # the last delta changed the top: a TopOfBook must follow
    first_open: int = field(init=False)  # open_24h_price before any trade
    trades: list[tuple[int, int, Decimal]] = field(default_factory=list)  # (at_ms, price, quote)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.book = self.sim.book.copy()
        self.seq_no = self.sim.seq_no
        self.first_open = self.sim.stats.open_24h_price
        check_book(self.book)

    def feed(self, events: list[MarketEvent]) -> None:
        for event in events:
            name = type(event).__name__
            self.counts[name] = self.counts.get(name, 0) + 1
            if isinstance(event, BookDelta):
                assert not self.top_due, "a delta changed the top and no TopOfBook followed"
                self.apply(event)
            elif isinstance(event, Trade):
                self.check_trade(event)
            elif isinstance(event, TopOfBook):
                assert self.top_due, f"TopOfBook without a change of the top: {event}"
                assert event.seq_no == self.seq_no
                assert (event.bid, event.ask) == top(self.book)
                assert event.bid is not None, "the bid side emptied"
                assert event.ask is not None, "the ask side emptied"
                self.top_due = False
            else:
                assert isinstance(event, FundingTick)
                assert not self.top_due
            if not isinstance(event, BookDelta):
                self.last_delta = None

    def apply(self, delta: BookDelta) -> None:
        assert delta.seq_no == self.seq_no + 1, f"seq_no {delta.seq_no} after {self.seq_no}"
        assert delta.inserts or delta.updates or delta.deletes, "an empty delta"
        assert delta.market == self.sim.spec.symbol
        self.seq_no = delta.seq_no
        self.before_delta = self.book.copy()
        old_top = top(self.book)
        for level in delta.inserts:
            assert level.price not in self.book.side(level.side)
            assert level.size > 0
            self.book.set(level.side, level.price, level.size)
        for level in delta.updates:
            assert self.book.side(level.side).get(level.price, 0) not in (0, level.size)
            assert level.size > 0
            self.book.set(level.side, level.price, level.size)
        for level in delta.deletes:
            assert level.price in self.book.side(level.side)
            assert level.size == 0
            self.book.set(level.side, level.price, 0)
        check_book(self.book)
        self.last_delta = delta
        self.top_due = top(self.book) != old_top

    def check_trade(self, trade: Trade) -> None:
        delta, before = self.last_delta, self.before_delta
        assert delta is not None, "a Trade not right after its delta"
        assert before is not None
        assert trade.seq_no == delta.seq_no == self.seq_no
        assert trade.size == sum(fill.size for fill in trade.fills) > 0
        assert trade.price == trade.fills[-1].price
        resting: Side = SELL if trade.side == BUY else BUY
        # Best first: the fills are the first levels of the resting side, all but the
        # last taken whole.
        levels = before.levels(resting, len(trade.fills))
        assert [fill.price for fill in trade.fills] == [level.price for level in levels]
        for fill, level in zip(trade.fills, levels, strict=True):
            assert 0 < fill.size <= level.size
            assert sum(units for _, units in fill.makers) <= fill.size
        for fill, level in zip(trade.fills[:-1], levels[:-1], strict=True):
            assert fill.size == level.size
        # The delta removed exactly what the fills took, and nothing else changed.
        changed = {(lv.side, lv.price) for lv in (*delta.inserts, *delta.updates, *delta.deletes)}
        assert changed == {(resting, fill.price) for fill in trade.fills}
        for fill in trade.fills:
            left = self.book.side(resting).get(fill.price, 0)
            assert before.side(resting)[fill.price] - left == fill.size
        spec = self.sim.spec
        quote = Decimal(sum(f.price * f.size for f in trade.fills))
        self.trades.append(
            (trade.at_ms, trade.price, quote * spec.price_tick * spec.size_increment)
        )
        self.last_delta = None

    def check_live(self) -> None:
        """Between steps: the replayed book is the live book and the stats add up."""
        sim = self.sim
        assert not self.top_due
        assert self.seq_no == sim.seq_no
        assert self.book.bids == sim.book.bids
        assert self.book.bids, "the bid side emptied"
        assert self.book.asks, "the ask side emptied"
        assert self.book.asks == sim.book.asks
        assert self.book.prices(BUY) == sorted(sim.book.bids)
        assert self.book.prices(SELL) == sorted(sim.book.asks)
        cutoff = sim.now_ms - engine.WINDOW_24H_MS
        assert sim.stats.volume_24h_quote == sum(q for at, _, q in self.trades if at > cutoff)
        assert sim.stats.total_volume_quote == sum(q for _, _, q in self.trades)
        gone = [price for at, price, _ in self.trades if at <= cutoff]
        opening = gone[-1] if gone else self.first_open
        if self.trades:
            assert sim.stats.last_trade_price == self.trades[-1][1]
        assert sim.stats.open_24h_price == opening
        assert sim.stats.open_interest >= 0


def check_book(book: Book) -> None:
    """Never crossed, integer ticks and units, positive sizes."""
    for side in (BUY, SELL):
        for price, size in book.side(side).items():
            assert type(price) is int
            assert type(size) is int
            assert price > 0
            assert size > 0
    bid, ask = top(book)
    if bid is not None and ask is not None:
        assert bid.price < ask.price, f"crossed: {bid} / {ask}"


def run(sim: MarketSim, until_ms: int, chunk_ms: int) -> list[MarketEvent]:
    """Step ``sim`` every ``chunk_ms`` up to ``until_ms``; all the events."""
    events: list[MarketEvent] = []
    t = sim.now_ms
    while t < until_ms:
        t = min(until_ms, t + chunk_ms)
        events.extend(sim.step(t))
    return events


# Hypothesis strategies: a spec and a seed


@st.composite
def specs(draw: st.DrawFn) -> MarketSpec:
    """A market with any plausible parameters (small to BTC-sized prices, thin to deep books)."""
    tick = draw(st.sampled_from(["1", "0.1", "0.01", "0.0001", "0.000001"]))
    ticks = draw(st.integers(20, 10**7))
    return spec_for(
        "HYP-USD-PERP",
        price_tick=tick,
        initial_price=Decimal(ticks) * Decimal(tick),
        size_increment=draw(st.sampled_from(["1", "0.1", "0.001"])),
        volatility_per_sqrt_s=draw(st.sampled_from([0.0, 0.0001, 0.0003, 0.001, 0.003])),
        book_levels=draw(st.integers(1, 60)),
        level_units=draw(st.integers(1, 5000)),
        trades_per_s=draw(st.sampled_from([0.0, 0.5, 3.0, 20.0])),
        funding_period_hours=draw(st.sampled_from([1, 8])),
    )


seeds = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Invariants over long runs


@FAST
@given(spec=specs(), seed=seeds, seconds=st.integers(1, 40), chunk_ms=st.integers(1, 1500))
def test_replayed_deltas_reproduce_the_live_book_and_every_invariant_holds(
    spec: MarketSpec, seed: int, seconds: int, chunk_ms: int
) -> None:
    """Uncrossed, +1 seq_no, TopOfBook on every top change, trades match the deltas, 24 h volume."""
    sim = MarketSim(spec, seed=seed, start_ms=START_MS)
    replay = Replay(sim)
    until = START_MS + min(seconds * SECOND_MS, 3000 * chunk_ms)  # at most 3000 step calls
    t = START_MS
    while t < until:
        t += chunk_ms
        events = sim.step(t)
        replay.feed(events)
        if events:  # (an unchanged book is compared at the next change, and at the end)
            replay.check_live()
            check_book(sim.book)
    replay.check_live()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(spec=specs(), seed=seeds)
def test_24h_volume_expires_by_simulated_time(
    spec: MarketSpec, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the window shortened to 3 s: the volume of the trades inside it, the open before it."""
    monkeypatch.setattr(engine, "WINDOW_24H_MS", 3 * SECOND_MS)
    sim = MarketSim(spec, seed=seed, start_ms=START_MS)
    replay = Replay(sim)
    for t in range(START_MS + 250, START_MS + 12 * SECOND_MS, 250):
        replay.feed(sim.step(t))
        replay.check_live()  # checks volume_24h_quote and open_24h_price against the trades


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), seed=seeds, actions_seed=seeds)
@example(  # found by hypothesis: a one-level book once left a whole side to the owners
    spec=spec_for(
        "HYP-USD-PERP",
        price_tick="1",
        initial_price="20",
        size_increment="1",
        volatility_per_sqrt_s=0.0,
        book_levels=1,
        level_units=5,
        trades_per_s=20.0,
    ),
    seed=0,
    actions_seed=1,
)
@example(  # found by hypothesis: a sweep left the bids to an owner, who then took them back
    spec=spec_for(
        "HYP-USD-PERP",
        price_tick="1",
        initial_price="148407",
        size_increment="1",
        volatility_per_sqrt_s=0.0001,
        book_levels=1,
        level_units=1,
        trades_per_s=0.5,
        funding_period_hours=1,
    ),
    seed=1,
    actions_seed=0,
)
def test_owners_are_filled_only_through_makers_and_never_cross(
    spec: MarketSpec, seed: int, actions_seed: int
) -> None:
    """Owners' resting units change only by their own add/remove and by fills naming them."""
    actions = random.Random(actions_seed)
    sim = MarketSim(spec, seed=seed, start_ms=START_MS)
    replay = Replay(sim)
    owners = ["0xa", "0xb"]
    expected: dict[str, dict[tuple[Side, int], int]] = {owner: {} for owner in owners}
    fills = 0
    for t in range(START_MS + 100, START_MS + 30 * SECOND_MS, 100):
        owner = actions.choice(owners)
        mine = expected[owner]
        if mine and actions.random() < 0.3:
            (side, price), units = actions.choice(sorted(mine.items()))
            take = actions.randint(1, units + 1)  # sometimes more than rests there
            size_before = sim.book.side(side)[price]
            events = sim.remove_liquidity(owner, side, price, take)
            # (no event only when the crowd took over the side's last level at the same size)
            assert bool(events) == (sim.book.side(side).get(price) != size_before)
            mine[(side, price)] = units - min(take, units)
        elif actions.random() < 0.5:
            side = actions.choice([BUY, SELL])
            best = sim.book.best(side)
            other = sim.book.best(SELL if side == BUY else BUY)
            if best is None or other is None:
                continue
            if side == BUY:  # at the top, inside the spread, or deeper
                price = actions.randint(max(1, best.price - 5), other.price - 1)
            else:
                price = actions.randint(other.price + 1, best.price + 5)
            units = actions.randint(1, 50)
            events = sim.add_liquidity(owner, side, price, units)
            assert isinstance(events[0], BookDelta)
            mine[(side, price)] = mine.get((side, price), 0) + units
        else:
            events = []
        replay.feed(events)
        events = sim.step(t)
        replay.feed(events)
        for event in events:
            if isinstance(event, Trade):
                resting = SELL if event.side == BUY else BUY
                for fill in event.fills:
                    # Owners are at the front of the queue: the crowd fills only after them.
                    key = (resting, fill.price)
                    owned = sum(expected[who].get(key, 0) for who in owners)
                    assert sum(units for _, units in fill.makers) == min(fill.size, owned)
                    for who, units in fill.makers:
                        expected[who][key] -= units
                        fills += 1
        for who in owners:
            expected[who] = {key: units for key, units in expected[who].items() if units}
            assert sim.resting(who) == expected[who]
            for (side, price), units in expected[who].items():
                assert sim.book.side(side)[price] >= units
        replay.check_live()
    hypothesis_event(f"owners filled: {'yes' if fills else 'no'}")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), seed=seeds, chunks=st.lists(st.integers(1, 2500), min_size=1, max_size=30))
def test_events_depend_only_on_the_seed_and_the_time_reached(
    spec: MarketSpec, seed: int, chunks: list[int]
) -> None:
    """Calling step every 10 ms, every 1 s or at random chunks gives identical events."""
    until = START_MS + sum(chunks)
    fine = run(MarketSim(spec, seed=seed, start_ms=START_MS), until, STEP_MS)
    coarse = run(MarketSim(spec, seed=seed, start_ms=START_MS), until, SECOND_MS)
    sim = MarketSim(spec, seed=seed, start_ms=START_MS)
    chunked: list[MarketEvent] = []
    t = START_MS
    for chunk in chunks:
        t += chunk
        chunked.extend(sim.step(t))
    assert repr(fine) == repr(coarse) == repr(chunked)


def test_same_seed_same_events_and_different_seeds_differ() -> None:
    """Two runs with one seed agree to the repr; another seed gives another market."""
    spec = spec_for("BTC-USD-PERP")
    one = run(MarketSim(spec, seed=7, start_ms=START_MS), START_MS + 20 * SECOND_MS, 100)
    two = run(MarketSim(spec, seed=7, start_ms=START_MS), START_MS + 20 * SECOND_MS, 100)
    other = run(MarketSim(spec, seed=8, start_ms=START_MS), START_MS + 20 * SECOND_MS, 100)
    assert repr(one) == repr(two)
    assert repr(one) != repr(other)
    assert MarketSim(spec, seed=7, start_ms=0).book != MarketSim(spec, seed=8, start_ms=0).book


@pytest.mark.parametrize("symbol", sorted(BUILTIN_SPECS))
def test_every_builtin_market_runs_a_realistic_book(symbol: str) -> None:
    """A minute of each built-in market: ~book_levels a side, a tight spread, trades, funding."""
    sim = MarketSim(spec_for(symbol), seed=1, start_ms=START_MS)
    replay = Replay(sim)
    spreads = []
    for t in range(START_MS + 100, START_MS + 60 * SECOND_MS, 100):
        replay.feed(sim.step(t))
        bid, ask = top(sim.book)
        assert bid is not None
        assert ask is not None
        spreads.append(ask.price - bid.price)
        assert abs(len(sim.book.bids) - sim.spec.book_levels) <= 10
        assert abs(len(sim.book.asks) - sim.spec.book_levels) <= 10
    replay.check_live()
    spreads.sort()
    assert spreads[len(spreads) // 2] <= 3 * sim._gap + 3  # the median spread: a few levels
    expected_trades = 60 * sim.spec.trades_per_s
    assert 0.5 * expected_trades <= replay.counts["Trade"] <= 1.5 * expected_trades
    assert replay.counts["FundingTick"] == 60 * SECOND_MS // FUNDING_TICK_MS - 1
    mid = (bid.price + ask.price) / 2
    assert abs(sim.stats.mark_price - mid) / mid < 0.01


def test_most_trades_take_part_of_the_top_level_and_some_walk() -> None:
    """Trades mostly take one level; a minority walk two or three."""
    sim = MarketSim(spec_for("ETH-USD-PERP", trades_per_s=20.0), seed=3, start_ms=START_MS)
    trades = [e for e in run(sim, START_MS + 60 * SECOND_MS, 500) if isinstance(e, Trade)]
    walks = [len(trade.fills) for trade in trades]
    assert walks.count(1) > 0.6 * len(walks)
    assert 0 < sum(1 for w in walks if w in (2, 3)) < 0.4 * len(walks)


# Unit tests: the Book


def test_book_set_keeps_sorted_prices_and_zero_removes() -> None:
    """Book.set inserts in price order, updates in place, and size 0 deletes the level."""
    book = Book()
    for price, size in [(100, 5), (98, 2), (99, 7)]:
        book.set(BUY, price, size)
    book.set(SELL, 102, 1)
    book.set(SELL, 101, 3)
    assert book.prices(BUY) == [98, 99, 100]
    assert book.best(BUY) == Level(BUY, 100, 5)
    assert book.best(SELL) == Level(SELL, 101, 3)
    assert book.levels(BUY, 2) == [Level(BUY, 100, 5), Level(BUY, 99, 7)]
    book.set(BUY, 100, 0)
    book.set(BUY, 97, 0)  # removing a missing level is a no-op
    assert book.prices(BUY) == [98, 99]
    assert book.best(BUY) == Level(BUY, 99, 7)


def test_book_aggregation_rounds_bids_down_and_asks_up() -> None:
    """Aggregated buckets: bids floor to the bucket, asks ceil, sizes summed, depth capped."""
    book = Book()
    for price, size in [(1009, 1), (1005, 2), (999, 4), (990, 8)]:
        book.set(BUY, price, size)
    for price, size in [(1011, 1), (1019, 2), (1020, 4), (1031, 8)]:
        book.set(SELL, price, size)
    assert book.aggregated(BUY, 5, 10) == [Level(BUY, 1000, 3), Level(BUY, 990, 12)]
    assert book.aggregated(SELL, 2, 10) == [Level(SELL, 1020, 7), Level(SELL, 1040, 8)]
    assert book.aggregated(SELL, 1, 10) == [Level(SELL, 1020, 7)]
    assert book.aggregated(BUY, 2, 1) == book.levels(BUY, 2)


# Unit tests: the engine's book and owners' liquidity


def test_a_new_market_starts_with_book_levels_a_side_around_the_price() -> None:
    """The starting book: book_levels a side, a spread of a few ticks, around initial_price."""
    spec = spec_for("BTC-USD-PERP")
    sim = MarketSim(spec, seed=1, start_ms=START_MS)
    assert len(sim.book.bids) == len(sim.book.asks) == spec.book_levels
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    assert 1 <= ask.price - bid.price <= 3
    assert abs((bid.price + ask.price) / 2 - 670_000) <= 2
    sizes = [level.size for level in sim.book.levels(BUY)]
    assert sum(sizes[-10:]) > sum(sizes[:10])  # larger further out
    assert sim.now_ms == START_MS
    assert sim.step(START_MS + STEP_MS - 1) == []


def test_initial_book_seeds_the_book_and_the_mid() -> None:
    """A recorded snapshot is the starting book; the mid (and mark) is its midpoint."""
    recorded = Book()
    for i in range(20):
        recorded.set(BUY, 50_000 - 3 * i, 100 + i)
        recorded.set(SELL, 50_004 + 3 * i, 100 + i)
    spec = quiet_spec(initial_price=Decimal(900), volatility_per_sqrt_s=0.0001)
    sim = MarketSim(spec, seed=1, start_ms=START_MS, initial_book=recorded)
    assert sim.book == recorded
    assert sim.book is not recorded
    assert sim.stats.mark_price == 50_002
    replay = Replay(sim)
    replay.feed(sim.step(START_MS + 10 * SECOND_MS))
    replay.check_live()
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    assert 49_900 < bid.price < ask.price < 50_100
    crossed = Book()
    crossed.set(BUY, 10, 1)
    crossed.set(SELL, 10, 1)
    with pytest.raises(ValueError, match="crossed"):
        MarketSim(spec, seed=1, start_ms=0, initial_book=crossed)


def test_add_liquidity_rests_at_the_front_and_reports_the_delta() -> None:
    """add_liquidity: an insert (or an update) with seq_no + 1, and a TopOfBook when it improves."""
    sim = MarketSim(quiet_spec(), seed=1, start_ms=START_MS)
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    seq = sim.seq_no
    events = sim.add_liquidity("0xa", BUY, bid.price, 5)
    bigger = Level(BUY, bid.price, bid.size + 5)
    assert events == [
        BookDelta("TEST-USD-PERP", seq + 1, START_MS, updates=(bigger,)),
        TopOfBook("TEST-USD-PERP", seq + 1, START_MS, bigger, ask),
    ]
    assert sim.resting("0xa") == {(BUY, bid.price): 5}
    deeper = sim.book.levels(BUY)[-1].price - 1
    events = sim.add_liquidity("0xb", BUY, deeper, 3)
    assert events == [BookDelta("TEST-USD-PERP", seq + 2, START_MS, (Level(BUY, deeper, 3),))]
    if ask.price - bid.price > 1:
        events = sim.add_liquidity("0xa", SELL, ask.price - 1, 2)
        assert isinstance(events[1], TopOfBook)
        assert events[1].ask == Level(SELL, ask.price - 1, 2)
        assert events[1].seq_no == seq + 3


def test_add_liquidity_refuses_a_price_that_would_cross() -> None:
    """A bid at or above the best ask (or an ask at or below the best bid) is not a maker order."""
    sim = MarketSim(quiet_spec(), seed=1, start_ms=START_MS)
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    with pytest.raises(ValueError, match="cross"):
        sim.add_liquidity("0xa", BUY, ask.price, 1)
    with pytest.raises(ValueError, match="cross"):
        sim.add_liquidity("0xa", SELL, bid.price, 1)
    with pytest.raises(ValueError, match="positive"):
        sim.add_liquidity("0xa", SELL, ask.price, 0)
    assert sim.resting("0xa") == {}


def test_remove_liquidity_takes_back_the_owners_units_only() -> None:
    """remove_liquidity: the level shrinks by the owner's units, at most what rests there."""
    sim = MarketSim(quiet_spec(), seed=1, start_ms=START_MS)
    bid = sim.book.levels(BUY)[3]
    sim.add_liquidity("0xa", BUY, bid.price, 5)
    sim.add_liquidity("0xb", BUY, bid.price, 7)
    assert sim.remove_liquidity("0xc", BUY, bid.price, 5) == []
    events = sim.remove_liquidity("0xa", BUY, bid.price, 99)
    assert [type(e) for e in events] == [BookDelta]
    assert events[0].updates == (Level(BUY, bid.price, bid.size + 7),)  # type: ignore[union-attr]
    assert sim.resting("0xa") == {}
    assert sim.resting("0xb") == {(BUY, bid.price): 7}
    lone = sim.book.levels(BUY)[-1].price - 10
    sim.add_liquidity("0xa", BUY, lone, 4)
    events = sim.remove_liquidity("0xa", BUY, lone, 4)
    assert events[0].deletes == (Level(BUY, lone, 0),)  # type: ignore[union-attr]


def test_takers_fill_owners_first_in_fifo_order() -> None:
    """A taker fills the owners at a level before the crowd, the first to rest first."""
    spec = quiet_spec(trades_per_s=30.0, volatility_per_sqrt_s=0.0)
    sim = MarketSim(spec, seed=2, start_ms=START_MS)
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    sim.add_liquidity("0xa", SELL, ask.price, 3)
    sim.add_liquidity("0xb", SELL, ask.price, 4)
    sim.add_liquidity("0xa", BUY, bid.price, 2)
    makers: list[tuple[str, int]] = []
    t = START_MS
    while sim.resting("0xa").get((SELL, ask.price)) or sim.resting("0xb").get((SELL, ask.price)):
        t += 100
        assert t < START_MS + 60 * SECOND_MS, "no taker reached the owners"
        for event in sim.step(t):
            if isinstance(event, Trade) and event.side == BUY:
                for fill in event.fills:
                    if fill.price == ask.price:
                        makers.extend(fill.makers)
    merged: list[tuple[str, int]] = []
    for who, units in makers:
        if merged and merged[-1][0] == who:
            merged[-1] = (who, merged[-1][1] + units)
        else:
            merged.append((who, units))
    assert merged == [("0xa", 3), ("0xb", 4)]


def test_the_crowd_trades_through_an_owners_order_the_mid_passes() -> None:
    """When the fair price moves through an owner's order, a crowd taker fills it: no crossing."""
    spec = quiet_spec(volatility_per_sqrt_s=0.003)
    sim = MarketSim(spec, seed=5, start_ms=START_MS)
    replay = Replay(sim)
    bid, ask = top(sim.book)
    assert bid is not None
    assert ask is not None
    replay.feed(sim.add_liquidity("0xa", SELL, ask.price, 5))
    replay.feed(sim.add_liquidity("0xa", BUY, bid.price, 5))
    swept: list[Trade] = []
    t = START_MS
    while sim.resting("0xa"):
        t += 50
        assert t < START_MS + 120 * SECOND_MS, "the mid never reached the owner's orders"
        events = sim.step(t)
        replay.feed(events)
        replay.check_live()
        swept += [e for e in events if isinstance(e, Trade) and e.fills[-1].makers]
    assert {trade.side for trade in swept} == {BUY, SELL}
    for trade in swept:
        assert trade.fills[-1].makers == (("0xa", 5),)


def test_the_crowd_never_moves_or_shrinks_an_owners_deep_order() -> None:
    """An order far from the mid stays, unchanged, through a minute of requotes."""
    sim = MarketSim(quiet_spec(trades_per_s=5.0), seed=4, start_ms=START_MS)
    far = sim.book.levels(BUY)[-1].price - 500  # 5 % below: a minute's walk never gets there
    sim.add_liquidity("0xa", BUY, far, 9)
    run(sim, START_MS + 60 * SECOND_MS, 100)
    assert sim.resting("0xa") == {(BUY, far): 9}
    assert sim.book.bids[far] >= 9


# Stats and funding


def test_funding_ticks_every_5s_with_the_documented_formulas() -> None:
    """premium = (mark - underlying) / underlying, rate scaled to the period, index accumulates."""
    spec = spec_for("ETH-USD-PERP", funding_period_hours=1)
    sim = MarketSim(spec, seed=1, start_ms=START_MS)
    ticks: list[FundingTick] = []
    index = Decimal(0)
    for t in range(START_MS + FUNDING_TICK_MS, START_MS + 12 * FUNDING_TICK_MS, FUNDING_TICK_MS):
        events = sim.step(t)
        tick = [e for e in events if isinstance(e, FundingTick)]
        assert len(tick) == 1
        assert tick[0].at_ms == t
        stats = sim.stats
        mark, underlying = stats.mark_price, stats.underlying_price
        assert tick[0].funding_premium == (Decimal(mark - underlying) / underlying).quantize(
            Decimal("1e-12")
        )
        assert abs(tick[0].funding_rate - tick[0].funding_premium / 8) <= Decimal("1e-12")
        assert tick[0].funding_rate_8h == tick[0].funding_premium
        index += tick[0].funding_rate * mark * spec.price_tick * FUNDING_TICK_MS / 3_600_000
        assert abs(tick[0].funding_index - index) < Decimal("1e-10")
        assert stats.funding_index == tick[0].funding_index
        assert stats.funding_rate == tick[0].funding_rate
        assert abs(mark - underlying) / mark < 0.003
        ticks.append(tick[0])
    assert len({tick.funding_premium for tick in ticks}) > 1


def test_stats_follow_trades() -> None:
    """last trade price, total volume, open interest and mark price move with the market."""
    spec = spec_for("SOL-USD-PERP", trades_per_s=10.0)
    sim = MarketSim(spec, seed=9, start_ms=START_MS)
    assert sim.stats.last_trade_price == 0
    assert sim.stats.open_interest == spec.open_interest_units
    events = run(sim, START_MS + 30 * SECOND_MS, 200)
    trades = [e for e in events if isinstance(e, Trade)]
    assert sim.stats.last_trade_price == trades[-1].price
    assert sim.stats.volume_24h_quote == sim.stats.total_volume_quote > 0
    assert sim.stats.open_interest != spec.open_interest_units
    assert sim.stats.open_24h_price == 150_000
    assert abs(sim.stats.mark_price - trades[-1].price) / trades[-1].price < 0.005


# Specs


def test_builtin_specs_have_the_paradex_grids() -> None:
    """BTC, ETH and SOL carry their tick and size increment; base_of takes the first part."""
    btc, eth, sol = (spec_for(s) for s in ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"))
    assert (btc.initial_price, btc.price_tick, btc.size_increment) == (
        Decimal(67000),
        Decimal("0.1"),
        Decimal("0.001"),
    )
    assert (eth.price_tick, eth.size_increment) == (Decimal("0.01"), Decimal("0.001"))
    assert (sol.price_tick, sol.size_increment) == (Decimal("0.001"), Decimal("0.01"))
    assert {"ARB-USD-PERP", "DOGE-USD-PERP", "kBONK-USD-PERP"} <= set(BUILTIN_SPECS)
    assert spec_for("kBONK-USD-PERP").base_currency == "kBONK"
    assert base_of("kBONK-USD-PERP") == "kBONK"
    assert base_of("BTC") == "BTC"
    for spec in BUILTIN_SPECS.values():
        assert spec.initial_price % spec.price_tick == 0
        assert spec.base_currency == base_of(spec.symbol)


def test_spec_for_derives_an_unknown_symbol_and_applies_overrides_last() -> None:
    """An unknown symbol gets price 100, tick 0.01; overrides win and decimals may be strings."""
    spec = spec_for("FOO-USD-PERP")
    assert (spec.base_currency, spec.quote_currency) == ("FOO", "USD")
    assert (spec.initial_price, spec.price_tick) == (Decimal(100), Decimal("0.01"))
    cheap = spec_for("FOO-USD-PERP", initial_price="0.002")
    assert cheap.price_tick == Decimal("1e-7")
    assert cheap.initial_price / cheap.price_tick == 20_000
    btc = spec_for("BTC-USD-PERP", initial_price=60000, book_levels=5)
    assert (btc.initial_price, btc.book_levels, btc.price_tick) == (
        Decimal(60000),
        5,
        Decimal("0.1"),
    )
    assert spec_for("BTC-USD-PERP", price_tick="1").price_tick == Decimal(1)
    with pytest.raises(TypeError, match="unknown market parameter"):
        spec_for("BTC-USD-PERP", tick_size="0.1")
    with pytest.raises(TypeError, match="decimal"):
        spec_for("BTC-USD-PERP", price_tick=[1])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exponent=st.integers(-6, 6), mantissa=st.integers(1, 99))
def test_a_derived_spec_is_a_usable_market_at_any_price(exponent: int, mantissa: int) -> None:
    """An unknown symbol at any price gets ~10^4 ticks to the price and runs a sane book."""
    price = Decimal(mantissa) * Decimal(10) ** exponent
    spec = spec_for("ANY-USD-PERP", initial_price=price)
    assert 1_000 <= price / spec.price_tick < 1_000_000
    assert spec.level_units >= 10
    sim = MarketSim(spec, seed=1, start_ms=START_MS)
    replay = Replay(sim)
    replay.feed(sim.step(START_MS + 5 * SECOND_MS))
    replay.check_live()
    assert len(sim.book.bids) >= spec.book_levels // 2


def test_step_advances_on_the_step_grid_and_never_backwards() -> None:
    """now_ms is the last 10 ms step reached; an earlier or too-close time does nothing."""
    sim = MarketSim(quiet_spec(), seed=1, start_ms=1005)
    sim.step(2009)
    assert sim.now_ms == 2005
    assert sim.step(1500) == []
    assert sim.step(2014) == []
    assert sim.now_ms == 2005


def test_a_spec_the_engine_cannot_run_is_refused() -> None:
    """No levels, no size, negative rates, or a price under 2 ticks raise ValueError."""
    for bad in (
        {"book_levels": 0},
        {"level_units": 0},
        {"trades_per_s": -1.0},
        {"volatility_per_sqrt_s": -0.1},
        {"initial_price": Decimal("0.01"), "price_tick": Decimal("0.01")},
    ):
        with pytest.raises(ValueError, match="TEST-USD-PERP"):
            MarketSim(quiet_spec(**bad), seed=1, start_ms=0)
