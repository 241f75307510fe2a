"""AccountSim: the synthetic account's fills, positions, balance, funding and payloads.

The tests run the account against ``FakeMarket``, a small deterministic market
with the engine's interface (docs/market-design.md) that lets a test fabricate
taker trades walking the book, accounts' orders first in each level's queue.
Every payload is checked against Paradex's AsyncAPI schemas, which must be in
``../shared/paradex-spec`` (the tests fail, never skip, without them).
"""

from __future__ import annotations

import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import paradex_spec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from mockserver.market import private_payloads as pp
from mockserver.market.accounts import (
    MAINTENANCE_MARGIN_FRACTION,
    MAKER_FEE_RATE,
    ORDERS_PER_SIDE,
    TRANSACTION_SETTLE_MS,
    AccountEvent,
    AccountSim,
    Market,
)
from mockserver.market.engine import FUNDING_TICK_MS, MarketSim
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
    opposite,
)
from mockserver.market.specs import spec_for

# A module attribute, so the missing-file test can point it elsewhere.
ASYNCAPI = paradex_spec.ASYNCAPI
SCHEMAS = {
    "account": "ResponsesAccountSummaryResponse",
    "balance_events": "ResponsesBalanceEventResponse",
    "fills": "ResponsesFillResult",
    "funding_payments": "ResponsesFundingPayment",
    "orders": "ResponsesOrderResp",
    "positions": "ResponsesPositionResp",
    "transaction": "ResponsesTransactionResponse",
    "transfers": "ResponsesTransferResult",
}

ADDRESS = "0x5a6f1e2d3c4b"
OTHER = "0xother"
START_MS = 1_700_000_000_000
BTC = MarketSpec(
    symbol="BTC-USD-PERP",
    base_currency="BTC",
    price_tick=Decimal("0.1"),
    size_increment=Decimal("0.001"),
    initial_price=Decimal("65000"),
    min_notional=Decimal("10"),
)
ETH = MarketSpec(
    symbol="ETH-USD-PERP",
    base_currency="ETH",
    price_tick=Decimal("0.01"),
    size_increment=Decimal("0.01"),
    initial_price=Decimal("3000"),
)


# A fake market with the engine's interface


class FakeMarket:
    """A static crowd book around a mid; trades are fabricated by the test.

    A level's queue is the owners' orders first (FIFO between owners), then the
    crowd. A level the crowd and owners have emptied is refilled by the crowd, so
    the book keeps its shape.
    """

    def __init__(self, spec: MarketSpec, *, levels: int = 6, crowd_units: int = 40) -> None:
        self.spec = spec
        self.book = Book()
        self.seq_no = 100
        self.stats = MarketStats()
        self.now_ms = START_MS
        self.crowd_units = crowd_units
        self.crowd: dict[tuple[Side, int], int] = {}
        self.owners: dict[tuple[Side, int], dict[str, int]] = defaultdict(dict)
        self.trades = 0
        self.mid = spec.ticks_of(spec.initial_price)
        for i in range(1, levels + 1):
            self.crowd[(BUY, self.mid - i)] = crowd_units
            self.crowd[(SELL, self.mid + i)] = crowd_units
            self.book.set(BUY, self.mid - i, crowd_units)
            self.book.set(SELL, self.mid + i, crowd_units)

    def _total(self, side: Side, price: int) -> int:
        return self.crowd.get((side, price), 0) + sum(self.owners[(side, price)].values())

    def _delta(self, side: Side, price: int, at_ms: int) -> BookDelta:
        had = price in self.book.side(side)
        size = self._total(side, price)
        self.book.set(side, price, size)
        self.seq_no += 1
        level = Level(side, price, size)
        if size == 0:
            return BookDelta(self.spec.symbol, self.seq_no, at_ms, deletes=(level,))
        if had:
            return BookDelta(self.spec.symbol, self.seq_no, at_ms, updates=(level,))
        return BookDelta(self.spec.symbol, self.seq_no, at_ms, inserts=(level,))

    def add_liquidity(self, owner: str, side: Side, price: int, units: int) -> list[MarketEvent]:
        other = self.book.best(opposite(side))
        if other is not None and (price >= other.price if side == BUY else price <= other.price):
            raise ValueError(f"a {side} at {price} would cross {other}")  # as MarketSim does
        assert units > 0
        queue = self.owners[(side, price)]
        queue[owner] = queue.get(owner, 0) + units
        return [self._delta(side, price, self.now_ms)]

    def remove_liquidity(self, owner: str, side: Side, price: int, units: int) -> list[MarketEvent]:
        queue = self.owners[(side, price)]
        assert queue.get(owner, 0) >= units > 0
        queue[owner] -= units
        if queue[owner] == 0:
            del queue[owner]
        return [self._delta(side, price, self.now_ms)]

    def resting(self, owner: str) -> dict[tuple[Side, int], int]:
        return {key: q[owner] for key, q in self.owners.items() if q.get(owner)}

    def trade(
        self, taker: Side, units: int, at_ms: int, *, refill: bool = True
    ) -> list[MarketEvent]:
        """A taker of ``units`` walking the book (owners first at each level)."""
        self.now_ms = at_ms
        book_side = opposite(taker)
        before = (self.book.best(BUY), self.book.best(SELL))
        events: list[MarketEvent] = []
        fills: list[LevelFill] = []
        for level in self.book.levels(book_side):
            if units == 0:
                break
            taken, makers = 0, []
            queue = self.owners[(book_side, level.price)]
            for owner in list(queue):
                take = min(units - taken, queue[owner])
                if take:
                    makers.append((owner, take))
                    taken += take
                    queue[owner] -= take
                    if queue[owner] == 0:
                        del queue[owner]
            crowd = self.crowd.get((book_side, level.price), 0)
            from_crowd = min(units - taken, crowd)
            self.crowd[(book_side, level.price)] = crowd - from_crowd
            taken += from_crowd
            units -= taken
            fills.append(LevelFill(level.price, taken, tuple(makers)))
            events.append(self._delta(book_side, level.price, at_ms))
            if refill and self._total(book_side, level.price) == 0:  # the crowd refills it
                self.crowd[(book_side, level.price)] = self.crowd_units
                events.append(self._delta(book_side, level.price, at_ms))
        self.trades += 1
        trade = Trade(
            market=self.spec.symbol,
            trade_id=f"{self.spec.symbol}-{self.trades}",
            seq_no=self.seq_no,
            at_ms=at_ms,
            side=taker,
            price=fills[-1].price,
            size=sum(f.size for f in fills),
            fills=tuple(fills),
        )
        events.append(trade)
        after = (self.book.best(BUY), self.book.best(SELL))
        if after != before:
            events.append(TopOfBook(self.spec.symbol, self.seq_no, at_ms, *after))
        return events

    def shift(self, ticks: int, at_ms: int) -> list[MarketEvent]:
        """Move the crowd's book by ``ticks``; owners' orders it would cross trade against it."""
        self.now_ms = at_ms
        events: list[MarketEvent] = []
        old, self.crowd = self.crowd, {}
        for side, price in old:
            events.append(self._delta(side, price, at_ms))
        moved = {(side, price + ticks): units for (side, price), units in old.items()}
        best_bid = max(p for s, p in moved if s == BUY)
        best_ask = min(p for s, p in moved if s == SELL)
        for (side, price), queue in sorted(self.owners.items()):
            crossing = price >= best_ask if side == BUY else price <= best_bid
            if crossing and queue:
                makers = tuple(queue.items())
                queue.clear()
                events.append(self._delta(side, price, at_ms))
                self.trades += 1
                size = sum(units for _, units in makers)
                events.append(
                    Trade(
                        self.spec.symbol,
                        f"{self.spec.symbol}-{self.trades}",
                        self.seq_no,
                        at_ms,
                        opposite(side),
                        price,
                        size,
                        (LevelFill(price, size, makers),),
                    )
                )
        self.crowd = moved
        for side, price in moved:
            events.append(self._delta(side, price, at_ms))
        self.mid += ticks
        return events


def funding_tick(market: FakeMarket, index: Decimal, at_ms: int) -> FundingTick:
    market.stats.funding_index = index
    return FundingTick(market.spec.symbol, at_ms, index, Decimal(0), Decimal(0), Decimal(0))


def payloads(events: Iterable[MarketEvent | AccountEvent], family: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if isinstance(e, AccountEvent) and e.family == family]


def new_account(
    *markets: FakeMarket, seed: int = 7
) -> tuple[AccountSim, list[MarketEvent | AccountEvent]]:
    account = AccountSim(ADDRESS, {m.spec.symbol: m for m in markets}, seed=seed, start_ms=START_MS)
    return account, account.open(START_MS)


# One step of a fabricated run: (what, market index, taker side, units, Δ index in 1/1000,
# ms since the last step).
Action = tuple[str, int, Side, int, int, int]
KINDS = ("trade", "trade", "trade", "mark", "funding")


def run_actions(
    actions: Iterable[Action], *, seed: int = 7
) -> tuple[AccountSim, list[FakeMarket], list[MarketEvent | AccountEvent]]:
    """An account in BTC and ETH under fabricated trades, mark moves and funding ticks."""
    sims = [FakeMarket(BTC), FakeMarket(ETH)]
    account, events = new_account(*sims, seed=seed)
    index: dict[str, Decimal] = defaultdict(Decimal)
    at_ms = START_MS
    for kind, which, taker, units, index_step, wait_ms in actions:
        at_ms += wait_ms
        market = sims[which % len(sims)]
        symbol = market.spec.symbol
        if kind == "trade":
            taken = market.trade(taker, units, at_ms)
        elif kind == "mark":  # a mark move, re-marked on an unchanged-index tick
            market.stats.mark_price = market.mid + units % 7 - 3
            market.stats.underlying_price = market.stats.mark_price + units % 3 - 1
            taken = [funding_tick(market, index[symbol], at_ms)]
        else:
            index[symbol] += Decimal(index_step) / 1000
            taken = [funding_tick(market, index[symbol], at_ms)]
        events += account.settle(at_ms)
        events += taken
        events += account.on_market_events(taken)
    return account, sims, events


def run_random(
    seed: int, steps: int
) -> tuple[AccountSim, list[FakeMarket], list[MarketEvent | AccountEvent]]:
    """``run_actions`` with ``steps`` actions drawn from ``seed``."""
    rng = random.Random(seed)
    actions: list[Action] = [
        (
            rng.choice(KINDS),
            rng.randint(0, 1),
            rng.choice((BUY, SELL)),
            rng.randint(1, 120),
            rng.randint(-2000, 2000),
            rng.randint(1, 400),
        )
        for _ in range(steps)
    ]
    return run_actions(actions, seed=seed)


# Invariants every stream must keep


def check_invariants(
    account: AccountSim,
    markets: Sequence[Market],
    events: Sequence[MarketEvent | AccountEvent],
    collateral: Decimal = Decimal("100000"),
) -> None:
    """Positions, balance, account values and orders agree with the fills, frame by frame."""
    increments = {m.spec.symbol: m.spec.size_increment for m in markets}
    balance = collateral
    filled: dict[str, Decimal] = defaultdict(Decimal)  # order id -> filled size
    position: dict[str, Decimal] = defaultdict(Decimal)  # market -> signed size from fills
    cash: dict[str, Decimal] = defaultdict(Decimal)  # market -> −Σ signed notional of fills
    realized: dict[str, Decimal] = defaultdict(Decimal)
    fills_by_id: dict[str, dict[str, Any]] = {}
    latest_position: dict[str, dict[str, Any]] = {}
    statuses: dict[str, list[str]] = defaultdict(list)
    transactions: dict[str, list[dict[str, Any]]] = defaultdict(list)  # fill id -> states
    last_seq = 0
    for event in events:
        if not isinstance(event, AccountEvent):
            continue
        data = event.payload
        assert event.market is None or event.market == data["market"]
        if "seq_no" in data and event.family in {"account", "orders", "positions"}:
            assert data["seq_no"] > last_seq, "seq_no must increase"
            last_seq = data["seq_no"]
        if event.family == "fills":
            size = Decimal(data["size"])
            signed = size if data["side"] == BUY else -size
            assert data["liquidity"] == "MAKER"
            assert data["account"] == ADDRESS
            assert Decimal(data["fee"]) == (
                Decimal(data["price"]) * size * MAKER_FEE_RATE
            ).quantize(Decimal("1e-8"))
            filled[data["order_id"]] += size
            position[data["market"]] += signed
            cash[data["market"]] -= signed * Decimal(data["price"])
            realized[data["market"]] += Decimal(data["realized_pnl"])
            fills_by_id[data["id"]] = data
        elif event.family == "orders":
            statuses[data["id"]].append(data["status"])
            remaining = Decimal(data["size"]) - filled[data["id"]]
            assert Decimal(data["remaining_size"]) == remaining
            if data["status"] == "CLOSED" and data["cancel_reason"] == "":
                assert remaining == 0
            if data["status"] == "OPEN":
                assert remaining > 0
        elif event.family == "positions":
            market = data["market"]
            size = Decimal(data["size"])
            assert size == position[market], "position size = signed sum of fills"
            assert data["status"] == ("OPEN" if size else "CLOSED")
            if size:
                assert data["side"] == ("LONG" if size > 0 else "SHORT")
                cost = Decimal(data["cost"])
                entry = Decimal(data["average_entry_price"])
                assert abs(size * entry - cost) <= abs(size) * Decimal("0.001")
            latest_position[market] = data
        elif event.family == "balance_events":
            before = Decimal(data["settlement_asset_balance_before"])
            after = Decimal(data["settlement_asset_balance_after"])
            assert before == balance, "balance events chain"
            assert after == (
                before
                - Decimal(data["fees"])
                + Decimal(data["realized_pnl"])
                + Decimal(data["realized_funding"])
            )
            if data["type"] == "TRANSACTION_FILL":
                fill = fills_by_id[data["fill_id"]]
                assert data["fees"] == fill["fee"]
                assert data["realized_pnl"] == fill["realized_pnl"]
            balance = after
        elif event.family == "account":
            assert Decimal(data["total_collateral"]) == balance
            unrealized = sum(
                (Decimal(p["unrealized_pnl"]) for p in latest_position.values()), Decimal(0)
            )
            value = Decimal(data["account_value"])
            assert value == balance + unrealized, "account value = balance + unrealized pnl"
            initial = Decimal(data["initial_margin_requirement"])
            maintenance = Decimal(data["maintenance_margin_requirement"])
            assert Decimal(data["free_collateral"]) == value - initial
            assert Decimal(data["margin_cushion"]) == value - maintenance
            assert initial == 2 * maintenance or abs(initial - 2 * maintenance) < Decimal("1e-7")
            assert data["status"] == "ACTIVE"
        elif event.family == "transaction":
            fill = fills_by_id[data["id"]]  # a fill's, after the fill
            assert data["type"] == "TRANSACTION_FILL"
            assert data["created_at"] == fill["created_at"]
            transactions[data["id"]].append(data)
        elif event.family == "transfers":
            assert (data["kind"], data["status"], data["direction"]) == (
                "DEPOSIT",
                "COMPLETED",
                "IN",
            )
            assert Decimal(data["amount"]) == collateral
            assert data["account"] == ADDRESS
    assert set(transactions) == set(fills_by_id), "one transaction per fill"
    for states in transactions.values():
        received, *accepted = states
        assert received["state"] == "RECEIVED"
        assert received["completed_at"] == received["created_at"]
        assert len(accepted) <= 1
        for later in accepted:
            assert later["state"] == "ACCEPTED_ON_L2"
            assert (later["id"], later["hash"]) == (received["id"], received["hash"])
            assert later["completed_at"] == received["created_at"] + TRANSACTION_SETTLE_MS
    for order_statuses in statuses.values():
        assert order_statuses[0] == "NEW"
        assert order_statuses[1:2] in (["OPEN"], ["CLOSED"], [])  # CLOSED: refused
        assert all(s in ("OPEN", "CLOSED") for s in order_statuses[1:])
        assert "CLOSED" not in order_statuses[:-1], "nothing follows CLOSED"
    for market in markets:
        symbol = market.spec.symbol
        units = position[symbol] / increments[symbol]
        assert account.position_units(symbol) == units
        # The realized pnl adds up: realized + (size × entry − cost) over the whole life
        # equals the cash the fills moved plus what the position is worth at entry.
        if symbol in latest_position:
            cost = Decimal(latest_position[symbol]["cost"])
            n_fills = sum(1 for f in fills_by_id.values() if f["market"] == symbol)
            assert abs(realized[symbol] - (cash[symbol] + cost)) <= Decimal("1e-8") * (n_fills + 1)
        # The engine's view of the account's resting orders is the account's own.
        own: dict[tuple[Side, int], int] = defaultdict(int)
        for side, price, left in account.open_orders(symbol):
            own[(side, price)] += left
        assert market.resting(ADDRESS) == dict(own)


# Schemas


def validators() -> dict[str, Draft7Validator]:
    """One strict validator per private family, or a test failure naming the missing file."""
    return {family: paradex_spec.validator(name, spec=ASYNCAPI) for family, name in SCHEMAS.items()}


def schema_problems(events: Iterable[MarketEvent | AccountEvent]) -> list[str]:
    found = validators()
    report = []
    for event in events:
        if isinstance(event, AccountEvent):
            for error in found[event.family].iter_errors(event.payload):
                path = "/".join(map(str, error.absolute_path)) or "<root>"
                report.append(f"{event.family}: {error.message} at {path}: {event.payload}")
    return report


# Tests


def test_open_rests_orders_new_then_open() -> None:
    """open() rests ORDERS_PER_SIDE orders a side per market: NEW, its book delta, OPEN."""
    btc, eth = FakeMarket(BTC), FakeMarket(ETH)
    account, events = new_account(btc, eth)
    orders = payloads(events, "orders")
    assert len(orders) == 2 * 2 * ORDERS_PER_SIDE * 2
    for new, opened in zip(orders[::2], orders[1::2], strict=True):
        assert (new["status"], opened["status"]) == ("NEW", "OPEN")
        assert new["id"] == opened["id"]
        assert new["remaining_size"] == new["size"]
        assert new["avg_fill_price"] == ""
    deltas = [e for e in events if isinstance(e, BookDelta)]
    assert len(deltas) == len(orders) // 2
    for market in (btc, eth):
        bid, ask = market.book.best(BUY), market.book.best(SELL)
        assert bid is not None
        assert ask is not None
        assert bid.price < ask.price
        for side, price, _ in account.open_orders(market.spec.symbol):
            top = bid if side == BUY else ask
            assert abs(top.price - price) <= 3
    assert payloads(events, "account")[0]["account_value"] == "100000"
    assert account.open(START_MS + 1) == []


def test_fills_only_from_makers_naming_the_account() -> None:
    """A trade whose makers do not include the account gives it nothing."""
    btc = FakeMarket(BTC)
    account, _ = new_account(btc)
    level = btc.book.best(SELL)
    assert level is not None
    foreign = Trade(
        BTC.symbol, "t-x", btc.seq_no, START_MS + 5, BUY, level.price, 3,
        (LevelFill(level.price, 3, ((OTHER, 3),)),),
    )  # fmt: skip
    crowd = Trade(
        BTC.symbol, "t-y", btc.seq_no, START_MS + 6, BUY, level.price, 3,
        (LevelFill(level.price, 3, ()),),
    )  # fmt: skip
    assert account.on_market_events([foreign, crowd]) == []
    assert account.position_units(BTC.symbol) == 0


def test_maker_fill_updates_order_position_balance_account() -> None:
    """A fill naming the account emits fills, orders, positions, balance_events, account."""
    btc = FakeMarket(BTC)
    account, opened = new_account(btc)
    asks = sorted((p, u) for s, p, u in account.open_orders(BTC.symbol) if s == SELL)
    best_price, best_units = asks[0]
    # A taker buy that takes just the account's best ask (owners are first in the queue).
    btc.add_liquidity(OTHER, SELL, best_price, 5)
    events = btc.trade(BUY, 1, START_MS + 10)
    out = account.on_market_events(events)
    families = [e.family for e in out if isinstance(e, AccountEvent)]
    assert families[:6] == [
        "fills", "orders", "positions", "balance_events", "transaction", "account",
    ]  # fmt: skip
    (fill,) = payloads(out, "fills")
    assert fill["side"] == SELL
    assert fill["liquidity"] == "MAKER"
    assert fill["price"] == BTC.price_str(best_price)
    assert fill["size"] == BTC.size_str(1)
    assert fill["remaining_size"] == BTC.size_str(best_units - 1)
    assert Decimal(fill["fee"]) < 0  # a maker rebate
    (position,) = payloads(out, "positions")
    assert position["size"] == "-" + BTC.size_str(1)
    assert position["side"] == "SHORT"
    assert position["status"] == "OPEN"
    assert position["average_entry_price"] == BTC.price_str(best_price)
    assert Decimal(position["cost"]) == -Decimal(BTC.price_str(best_price)) * BTC.size_increment
    (balance,) = payloads(out, "balance_events")
    assert Decimal(balance["settlement_asset_balance_after"]) == Decimal(100000) - Decimal(
        fill["fee"]
    )
    check_invariants(account, [btc], [*opened, *events, *out])


def test_every_fill_settles_in_one_transaction() -> None:
    """Each fill: a RECEIVED transaction at its time, then ACCEPTED_ON_L2 500 ms on, same hash."""
    btc = FakeMarket(BTC)
    account, opened = new_account(btc)
    events = btc.trade(BUY, 150, START_MS + 10) + btc.trade(SELL, 150, START_MS + 20)
    out = account.on_market_events(events)
    fills = payloads(out, "fills")
    received = payloads(out, "transaction")
    assert len(fills) >= 2
    assert [(t["id"], t["created_at"], t["completed_at"]) for t in received] == [
        (f["id"], f["created_at"], f["created_at"]) for f in fills
    ]
    assert {t["state"] for t in received} == {"RECEIVED"}
    assert len({t["hash"] for t in received}) == len(received)
    assert account.settle(START_MS + 10 + TRANSACTION_SETTLE_MS - 1) == []
    first = account.settle(START_MS + 10 + TRANSACTION_SETTLE_MS)
    rest = account.settle(START_MS + 10**6)
    assert account.settle(START_MS + 10**6) == []
    accepted = [e.payload for e in [*first, *rest]]
    assert [a["state"] for a in accepted] == ["ACCEPTED_ON_L2"] * len(received)
    assert [{**a, "state": "RECEIVED", "completed_at": a["created_at"]} for a in accepted] == (
        received
    )
    assert all(a["completed_at"] == a["created_at"] + TRANSACTION_SETTLE_MS for a in accepted)
    assert {a["created_at"] for a in payloads(first, "transaction")} == {START_MS + 10}
    assert schema_problems([*out, *first, *rest]) == []
    check_invariants(account, [btc], [*opened, *events, *out, *first, *rest])

    # Another run with the seed: the same ids and hashes.
    again = FakeMarket(BTC)
    other, _ = new_account(again)
    repeat = other.on_market_events(
        again.trade(BUY, 150, START_MS + 10) + again.trade(SELL, 150, START_MS + 20)
    )
    assert payloads(repeat, "transaction") == received


def test_open_deposits_the_collateral() -> None:
    """open() emits one COMPLETED DEPOSIT of the collateral, and the snapshot repeats it."""
    btc = FakeMarket(BTC)
    account = AccountSim(
        ADDRESS, {BTC.symbol: btc}, seed=4, start_ms=START_MS, collateral=Decimal("2500.5")
    )
    opened = account.open(START_MS)
    (deposit,) = payloads(opened, "transfers")
    assert (deposit["kind"], deposit["status"], deposit["direction"]) == (
        "DEPOSIT", "COMPLETED", "IN",
    )  # fmt: skip
    assert Decimal(deposit["amount"]) == Decimal("2500.5")
    assert deposit["account"] == ADDRESS
    assert deposit["created_at"] <= deposit["last_updated_at"] == START_MS
    assert payloads(account.snapshot(START_MS + 99), "transfers") == [deposit]
    assert schema_problems(opened) == []
    check_invariants(account, [btc], opened, collateral=Decimal("2500.5"))


def test_order_lifecycle_new_open_partial_closed() -> None:
    """An order is NEW, OPEN, OPEN with less remaining after a partial fill, CLOSED when done."""
    btc = FakeMarket(BTC)
    account, events = new_account(btc)
    best = max(p for s, p, _ in account.open_orders(BTC.symbol) if s == BUY)
    # The oldest order at the account's best bid is first in the queue.
    order = next(
        o
        for o in payloads(events, "orders")
        if o["side"] == BUY and o["price"] == BTC.price_str(best)
    )
    units = int(Decimal(order["size"]) / BTC.size_increment)
    history = list(events)
    at_ms = START_MS
    while (top := btc.book.best(BUY)) is not None and top.price > best:  # clear the crowd above
        at_ms += 10
        history += (taken := btc.trade(SELL, top.size, at_ms, refill=False))
        history += account.on_market_events(taken)
    history += (first := btc.trade(SELL, 1, START_MS + 20_000))
    history += account.on_market_events(first)
    history += (rest := btc.trade(SELL, units - 1, START_MS + 20_010))
    history += account.on_market_events(rest)
    updates = [o for o in payloads(history, "orders") if o["id"] == order["id"]]
    assert [o["status"] for o in updates] == ["NEW", "OPEN", "OPEN", "CLOSED"]
    assert [o["remaining_size"] for o in updates] == [
        BTC.size_str(units),
        BTC.size_str(units),
        BTC.size_str(units - 1),
        "0",
    ]
    assert updates[2]["avg_fill_price"] == updates[3]["avg_fill_price"] == BTC.price_str(best)
    assert updates[-1]["cancel_reason"] == ""
    # The account re-rested: it still has ORDERS_PER_SIDE orders a side in all.
    assert len(account.open_orders(BTC.symbol)) == 2 * ORDERS_PER_SIDE
    assert order["id"] not in {o["id"] for o in payloads(account.snapshot(START_MS), "orders")}
    check_invariants(account, [btc], history)


def test_reducing_realizes_pnl_and_closing_closes() -> None:
    """Buying at the bid and selling higher at the ask realizes the spread; flat is CLOSED."""
    btc = FakeMarket(BTC)
    account, history = new_account(btc)
    at_ms = START_MS
    # Alternate takers until the position has been long and come back to flat.
    rng = random.Random(3)
    seen_realized = False
    for _ in range(400):
        at_ms += 50
        units = account.position_units(BTC.symbol)
        taker = SELL if units <= 0 else BUY  # sellers hit our bids, buyers lift our asks
        events = btc.trade(taker, rng.randint(1, 4), at_ms)
        history += events
        out = account.on_market_events(events)
        history += out
        seen_realized |= any(Decimal(f["realized_pnl"]) > 0 for f in payloads(out, "fills"))
        if seen_realized and account.position_units(BTC.symbol) == 0:
            break
    assert seen_realized
    assert account.position_units(BTC.symbol) == 0
    last = payloads(history, "positions")[-1]
    assert last["status"] == "CLOSED"
    assert last["size"] == "0"
    assert "closed_at" in last
    assert last["unrealized_pnl"] == "0"
    assert Decimal(last["average_exit_price"]) > 0
    check_invariants(account, [btc], history)


def test_funding_payment_sign_and_balance() -> None:
    """A rising funding index makes a long pay −size × Δindex, booked in balance and account."""
    btc = FakeMarket(BTC)
    account, history = new_account(btc)
    history += (events := btc.trade(SELL, 200, START_MS + 10))  # sweeps our bids: long
    history += account.on_market_events(events)
    units = account.position_units(BTC.symbol)
    assert units > 0
    history += (tick := [funding_tick(btc, Decimal("12.5"), START_MS + 5000)])
    out = account.on_market_events(tick)
    history += out
    (payment,) = payloads(out, "funding_payments")
    expected = -(BTC.size_increment * units) * Decimal("12.5")
    assert Decimal(payment["payment"]) == expected < 0
    assert payment["index"] == "12.5"
    assert payment["fill_id"] == ""
    (balance,) = payloads(out, "balance_events")
    assert balance["type"] == "FUNDING_PAYMENT"
    assert Decimal(balance["realized_funding"]) == expected
    (position,) = payloads(out, "positions")
    assert position["cached_funding_index"] == "12.5"
    assert Decimal(position["realized_positional_funding_pnl"]) == expected
    assert Decimal(payloads(out, "account")[0]["total_collateral"]) == Decimal(
        balance["settlement_asset_balance_after"]
    )
    # The same index again pays nothing; a falling one pays the long.
    out = account.on_market_events([funding_tick(btc, Decimal("12.5"), START_MS + 10_000)])
    history += out
    assert payloads(out, "funding_payments") == []
    assert payloads(out, "balance_events") == []
    assert len(payloads(out, "positions")) == len(payloads(out, "account")) == 1  # re-marked
    out = account.on_market_events([funding_tick(btc, Decimal("10"), START_MS + 15_000)])
    history += out
    assert Decimal(payloads(out, "funding_payments")[0]["payment"]) > 0
    check_invariants(account, [btc], history)


def test_no_funding_without_a_position() -> None:
    """A funding tick in a market where the account is flat emits no payment."""
    btc = FakeMarket(BTC)
    account, _ = new_account(btc)
    out = account.on_market_events([funding_tick(btc, Decimal("3"), START_MS + 5000)])
    assert payloads(out, "funding_payments") == []
    assert payloads(out, "balance_events") == []


def test_stale_orders_are_cancelled_and_rested_again() -> None:
    """When the book runs away from its orders, the account cancels and re-rests them."""
    btc = FakeMarket(BTC)
    account, history = new_account(btc)
    # 1 % down: the crowd trades against our bids, our asks are left behind.
    history += (moved := btc.shift(-btc.mid // 100, START_MS + 10))
    out = account.on_market_events(moved)
    history += out
    assert len(payloads(out, "fills")) >= ORDERS_PER_SIDE
    asks_behind = [p for s, p, _ in account.open_orders(BTC.symbol) if s == SELL]
    assert min(asks_behind) > btc.mid + btc.mid // 200
    history += (tick := [funding_tick(btc, Decimal(0), START_MS + 5000)])
    out = account.on_market_events(tick)
    history += out
    cancelled = [o for o in payloads(out, "orders") if o["cancel_reason"] == "USER_CANCELED"]
    assert len(cancelled) == ORDERS_PER_SIDE
    assert all(o["status"] == "CLOSED" and o["side"] == SELL for o in cancelled)
    for side, price, _ in account.open_orders(BTC.symbol):
        best = btc.book.best(side)
        assert best is not None
        assert abs(best.price - price) <= 3
    assert len(account.open_orders(BTC.symbol)) == 2 * ORDERS_PER_SIDE
    check_invariants(account, [btc], history)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 1),
        st.sampled_from((BUY, SELL)),
        st.integers(1, 150),
        st.integers(-2000, 2000),
        st.integers(0, 2000),
    ),
    max_size=120,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS, seed=st.integers(0, 2**32 - 1))
def test_invariants_hold_under_random_trading(actions: list[Action], seed: int) -> None:
    """Positions, balance, account value and orders stay consistent under any trades."""
    account, markets, events = run_actions(actions, seed=seed)
    check_invariants(account, markets, events)


def test_long_random_run_trades_and_stays_consistent() -> None:
    """Over many trades the account keeps trading both ways, flips, and stays consistent."""
    account, markets, events = run_random(11, 1500)
    fills = payloads(events, "fills")
    assert len(fills) > 100
    assert {f["side"] for f in fills} == {BUY, SELL}
    assert any(Decimal(f["realized_pnl"]) != 0 for f in fills)
    assert payloads(events, "funding_payments")
    check_invariants(account, markets, events)
    for market in markets:
        assert len(account.open_orders(market.spec.symbol)) == 2 * ORDERS_PER_SIDE


def test_every_payload_matches_its_asyncapi_schema() -> None:
    """Every private payload validates against its AsyncAPI schema (no unknown members)."""
    account, _, events = run_random(5, 600)
    events += account.snapshot(START_MS + 10**6)
    assert {e.family for e in events if isinstance(e, AccountEvent)} == set(SCHEMAS)
    problems = schema_problems(events)
    assert problems == [], "\n".join(problems[:10])


def test_payloads_carry_every_schema_member() -> None:
    """Each payload has every property its schema lists (optional ones too, but request_info)."""
    validators()  # fails the test if the spec file is missing
    _, _, events = run_random(5, 600)
    schemas = paradex_spec.document(ASYNCAPI)["components"]["schemas"]
    optional_left_out = {("orders", "request_info"), ("positions", "closed_at")}
    for family, name in SCHEMAS.items():
        members = set(schemas[name]["properties"])
        for payload in payloads(events, family):
            missing = {m for m in members - set(payload) if (family, m) not in optional_left_out}
            assert not missing, (family, missing)


def test_snapshot_is_the_latest_state() -> None:
    """snapshot() gives the latest account, every position and the open orders, unchanged."""
    account, markets, events = run_random(9, 300)
    snapshot = account.snapshot(START_MS + 10**6)
    (latest_account,) = payloads(snapshot, "account")
    assert latest_account == payloads(events, "account")[-1]
    positions = {p["market"]: p for p in payloads(events, "positions")}
    assert {p["market"]: p for p in payloads(snapshot, "positions")} == positions
    open_ids = {o["id"] for o in payloads(snapshot, "orders")}
    assert all(o["status"] == "OPEN" for o in payloads(snapshot, "orders"))
    n_open = sum(len(account.open_orders(m.spec.symbol)) for m in markets)
    assert len(open_ids) == n_open
    assert account.snapshot(START_MS + 10**6) == snapshot


def test_snapshot_before_any_fill_is_the_collateral() -> None:
    """Before trading, the snapshot is the account at its collateral, no positions or orders."""
    account = AccountSim(ADDRESS, {BTC.symbol: FakeMarket(BTC)}, seed=1, start_ms=START_MS)
    (event,) = account.snapshot(START_MS)
    assert event.family == "account"
    assert event.payload["account_value"] == event.payload["total_collateral"] == "100000"
    assert event.payload["free_collateral"] == "100000"


def test_same_seed_same_events() -> None:
    """One seed gives the same events to the byte; another seed other ids."""
    first = run_random(21, 300)[2]
    second = run_random(21, 300)[2]
    assert first == second
    other = run_random(22, 300)[2]
    ids = {o["id"] for o in payloads(first, "orders")}
    assert ids.isdisjoint({o["id"] for o in payloads(other, "orders")})


def test_seq_no_is_ms_scaled_and_increasing() -> None:
    """seq_no of account/orders/positions is at_ms × 10⁶ or just above, and increases."""
    _, _, events = run_random(4, 200)
    numbers = [
        e.payload["seq_no"]
        for e in events
        if isinstance(e, AccountEvent) and e.family in {"account", "orders", "positions"}
    ]
    assert numbers == sorted(set(numbers))
    assert all(n >= START_MS * 10**6 for n in numbers)


def test_liquidation_price_is_where_the_cushion_runs_out() -> None:
    """A leveraged long's liquidation price is below the mark, where value meets maintenance."""
    btc = FakeMarket(BTC)
    btc.stats.mark_price = btc.mid
    account = AccountSim(
        ADDRESS, {BTC.symbol: btc}, seed=2, start_ms=START_MS, collateral=Decimal("100")
    )
    history = account.open(START_MS)
    history += (events := btc.trade(SELL, 500, START_MS + 10))  # sweeps every bid
    history += account.on_market_events(events)
    position = payloads(history, "positions")[-1]
    size = Decimal(position["size"])
    mark = BTC.price_tick * btc.mid
    assert size * mark > 100  # leveraged
    liquidation = Decimal(position["liquidation_price"])
    assert 0 < liquidation < mark
    account_value = Decimal(payloads(history, "account")[-1]["account_value"])
    # At the liquidation price the account value equals the maintenance margin (±1 tick).
    value_there = account_value + size * (liquidation - mark)
    maintenance_there = size * liquidation * MAINTENANCE_MARGIN_FRACTION
    assert abs(value_there - maintenance_there) <= size * BTC.price_tick
    assert Decimal(position["leverage"]) == (size * mark / account_value).quantize(Decimal("0.01"))
    check_invariants(account, [btc], history, collateral=Decimal("100"))


def test_dec_formats_like_paradex() -> None:
    """Decimals are plain strings without exponent or trailing zeros; zero is "0"."""
    assert pp.dec(Decimal("1E+3")) == "1000"
    assert pp.dec(Decimal("0.00000100")) == "0.000001"
    assert pp.dec(Decimal("-0")) == "0"
    assert pp.dec(Decimal("-12.50")) == "-12.5"


def test_deviations_table_is_well_formed() -> None:
    """Each DEVIATIONS row names a family, a field, both sides and a reason."""
    families = set(SCHEMAS)
    for row in pp.DEVIATIONS:
        assert len(row) == 5
        assert all(row)
        assert {f.strip() for f in row[0].split("/")} <= families


def test_with_the_real_engine_for_simulated_minutes() -> None:
    """With MarketSim, the account trades for 3 simulated minutes and every invariant holds."""
    symbols = ("BTC-USD-PERP", "ETH-USD-PERP")
    sims = {s: MarketSim(spec_for(s), seed=3, start_ms=START_MS) for s in symbols}
    account = AccountSim(ADDRESS, sims, seed=3, start_ms=START_MS)
    events: list[MarketEvent | AccountEvent] = list(account.open(START_MS))
    for now_ms in range(START_MS + 100, START_MS + 3 * 60_000 + 1, 100):
        market_events = [e for sim in sims.values() for e in sim.step(now_ms)]
        events += account.settle(now_ms)
        out = account.on_market_events(market_events)
        events += market_events + out
        # As the runtime does: the account sees the book events it caused, and ignores them.
        assert account.on_market_events([e for e in out if not isinstance(e, AccountEvent)]) == []
        for sim in sims.values():
            bid, ask = sim.book.best(BUY), sim.book.best(SELL)
            assert bid is not None
            assert ask is not None
            assert bid.price < ask.price
    check_invariants(account, list(sims.values()), events)
    fills = payloads(events, "fills")
    assert len(fills) > 50
    assert {f["market"] for f in fills} == set(symbols)
    assert {f["side"] for f in fills} == {BUY, SELL}
    ticks = [e for e in events if isinstance(e, FundingTick)]
    assert len(ticks) == len(symbols) * (3 * 60_000 // FUNDING_TICK_MS)
    assert payloads(events, "funding_payments")
    # Each fill is the account's share of a level of one of the engine's trades.
    trades = {(t.market, t.seq_no): t for t in events if isinstance(t, Trade)}
    filled: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for fill in fills:
        trade = trades[(fill["market"], fill["orderbook_seq_no"])]
        assert fill["side"] == opposite(trade.side)
        assert fill["price"] in {sims[trade.market].spec.price_str(lf.price) for lf in trade.fills}
        filled[(trade.market, trade.seq_no)] += Decimal(fill["size"])
    for key, size in filled.items():
        trade = trades[key]
        mine = sum(u for lf in trade.fills for owner, u in lf.makers if owner == ADDRESS)
        assert size == sims[trade.market].spec.size_increment * mine
    sample = [e for e in events if isinstance(e, AccountEvent)][::20]
    problems = schema_problems(sample)
    assert problems == [], "\n".join(problems[:10])


def test_a_missing_spec_file_fails_the_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the AsyncAPI file the schema checks fail, naming the path; they never skip."""
    missing = tmp_path / "asyncapi-2.6.0.yaml"
    monkeypatch.setattr(sys.modules[__name__], "ASYNCAPI", missing)
    with pytest.raises(pytest.fail.Exception, match=re.escape(str(missing))):
        validators()


def test_the_real_engine_and_one_seed_give_the_same_account_stream() -> None:
    """MarketSim plus AccountSim stepped alike twice give identical events."""

    def run() -> list[MarketEvent | AccountEvent]:
        sims = {"BTC-USD-PERP": MarketSim(spec_for("BTC-USD-PERP"), seed=8, start_ms=START_MS)}
        account = AccountSim(ADDRESS, sims, seed=8, start_ms=START_MS)
        events = list(account.open(START_MS))
        for now_ms in range(START_MS + 10, START_MS + 20_001, 10):
            market_events = sims["BTC-USD-PERP"].step(now_ms)
            events += market_events + account.on_market_events(market_events)
        return events

    first = run()
    assert payloads(first, "fills")
    assert first == run()


def test_an_order_the_market_refuses_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """An order the market refuses as crossing is CLOSED with POST_ONLY_WOULD_CROSS."""
    btc = FakeMarket(BTC)
    account = AccountSim(ADDRESS, {BTC.symbol: btc}, seed=1, start_ms=START_MS)
    ask = btc.book.best(SELL)
    assert ask is not None
    monkeypatch.setattr(account, "_quote_price", lambda market, side: ask.price)
    events = account.open(START_MS)
    bids = [o for o in payloads(events, "orders") if o["side"] == BUY]
    assert [o["status"] for o in bids] == ["NEW", "CLOSED"] * ORDERS_PER_SIDE
    assert {o["cancel_reason"] for o in bids if o["status"] == "CLOSED"} == {
        "POST_ONLY_WOULD_CROSS"
    }
    assert [s for s, _, _ in account.open_orders(BTC.symbol)] == [SELL] * ORDERS_PER_SIDE
    check_invariants(account, [btc], events)
