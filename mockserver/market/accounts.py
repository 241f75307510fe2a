"""One synthetic account (the JWT's ``sub``) trading in the simulated markets.

``AccountSim`` is a small passive market maker: it rests a few limit orders near
the top of each market's book (``MarketSim.add_liquidity``), is filled only when
a ``Trade`` names it among a level's ``makers``, and after every fill rests a new
order so it keeps trading. From those fills (and the markets' funding ticks)
follow its orders, fills, positions, balance and account values, emitted as
``AccountEvent`` values carrying finished Paradex payloads (``private_payloads.py``).

Conventions (paradex-ws.md §3.2 names the members; the choices are ours):

- **Fees.** Every fill is a MAKER fill at ``MAKER_FEE_RATE`` = −0.005 %:
  ``fee = price × size × rate``, negative, i.e. a rebate the account receives
  (``fee`` is "Fee paid by the user").
- **Balance.** ``total_collateral`` is the USDC balance: the starting
  collateral plus every fill's ``realized_pnl − fee`` plus every funding
  payment. Each ``balance_events`` frame has ``after = before + realized_pnl −
  fees + realized_funding``, and the next frame's ``before`` is this ``after``.
- **Positions.** ``size`` is the signed sum of the account's fills (BUY +,
  SELL −). ``cost`` = signed entry notional (``size × average_entry_price``,
  negative for a short, as in the schema's example). Reducing realizes
  ``(exit − entry) × closed size`` (sign-adjusted for shorts); a fill larger
  than the position flips it. ``unrealized_pnl = size × mark − cost`` at the
  market's mark (``stats.mark_price``, else the book's mid).
- **Funding.** Settled on every ``FundingTick`` of a market where the account
  holds a position: ``payment = −size × (index_now − cached_funding_index)``,
  so with a rising index longs pay (payment < 0) and shorts receive; a tick
  that leaves the index where it was pays nothing and emits no payment. Paradex
  itself accrues funding continuously and realizes it at the next fill; settling
  per tick keeps ``unrealized_funding_pnl`` at 0 and feeds ``funding_payments``.
- **Margin.** Cross margin over position notional at the mark:
  initial = Σ |size| × mark × ``INITIAL_MARGIN_FRACTION`` (0.1, 10x),
  maintenance = Σ |size| × mark × ``MAINTENANCE_MARGIN_FRACTION`` (0.05).
  ``account_value = total_collateral + Σ unrealized_pnl`` (of the positions as
  last emitted), ``free_collateral = account_value − initial``,
  ``margin_cushion = account_value − maintenance``. ``leverage`` is the
  position's notional over the account value; ``liquidation_price`` is where
  the account value would meet the maintenance margin if only this market's
  mark moved ("0" when there is none).
- **Re-marking.** On a market's ``FundingTick`` the account also re-marks its
  position there (a ``positions`` and an ``account`` frame) and cancels and
  re-rests orders left more than ``REQUOTE_DISTANCE`` behind the top.
- **seq_no** (account, orders, positions): one increasing counter,
  ``max(previous + 1, at_ms × 10⁶)`` — Paradex's "unique increasing number
  (non-sequential)" like ``1681471234972000000``.
- **Ids** come from the account's own ``random.Random`` (seeded from ``seed`` and
  the address), so a seed reproduces every event. Transaction and transfer
  hashes and transfer ids come from a second generator of the account's,
  ``timeline_seed(seed, "account", address, "chain")``, so adding them left the
  trading stream (order and fill ids, sizes, prices) as it was.
- **Transactions.** Every fill settles in one ``transaction`` (its ``id`` the
  fill id, type ``TRANSACTION_FILL``): ``RECEIVED`` at the fill's time
  (``created_at`` = ``completed_at`` = the fill's), then the same id and hash
  ``ACCEPTED_ON_L2`` ``TRANSACTION_SETTLE_MS`` later (``completed_at`` then),
  emitted by ``settle(now_ms)``, which the runtime calls on every step.
- **Transfers.** ``open`` deposits the collateral: one ``transfers`` frame,
  ``DEPOSIT``, ``COMPLETED``, direction ``IN``, ``amount`` = the collateral,
  ``last_updated_at`` the opening time; ``snapshot`` repeats it.

USDC amounts are rounded to 8 decimals where they are computed (fee, realized
pnl, funding, unrealized pnl, margins), so the emitted strings add up exactly.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from mockserver.market import payloads
from mockserver.market import private_payloads as pp
from mockserver.market.model import (
    BUY,
    SELL,
    Book,
    FundingTick,
    MarketEvent,
    MarketSpec,
    MarketStats,
    Side,
    Trade,
    opposite,
)
from mockserver.seeds import timeline_seed

log = logging.getLogger(__name__)

# Fees and margin
MAKER_FEE_RATE = Decimal("-0.00005")  # a 0.5 bp maker rebate
INITIAL_MARGIN_FRACTION = Decimal("0.1")
MAINTENANCE_MARGIN_FRACTION = Decimal("0.05")
# Quoting
ORDERS_PER_SIDE = 2  # resting orders per side per market
MAX_BEHIND_TICKS = 2  # a new order rests at the top or up to this many ticks behind it
ORDER_NOTIONAL_SHARE = (Decimal("0.002"), Decimal("0.01"))  # of collateral, per order
MAX_POSITION_SHARE = Decimal("0.3")  # of collateral, per market: beyond it only reduce
REQUOTE_DISTANCE = Decimal("0.005")  # relative distance from the top that gets re-rested
# A fill's transaction is RECEIVED at the fill and ACCEPTED_ON_L2 this much later.
TRANSACTION_SETTLE_MS = 500

# The fill types a ``fills`` payload may carry (ResponsesFillResult.fill_type).
FILL_TYPES = frozenset(
    {"LIQUIDATION", "UNWIND_TRANSFER", "FILL", "SETTLE_MARKET", "RPI", "BLOCK_TRADE"}
)

USDC = Decimal("1e-8")  # the precision USDC amounts are kept at
COST_PRECISION = Decimal("1e-12")


class Market(Protocol):
    """What ``AccountSim`` needs of a market: ``engine.MarketSim`` has it."""

    @property
    def spec(self) -> MarketSpec: ...
    @property
    def book(self) -> Book: ...
    @property
    def seq_no(self) -> int: ...
    @property
    def stats(self) -> MarketStats: ...
    @property
    def now_ms(self) -> int: ...
    def add_liquidity(
        self, owner: str, side: Side, price: int, units: int
    ) -> list[MarketEvent]: ...
    def remove_liquidity(
        self, owner: str, side: Side, price: int, units: int
    ) -> list[MarketEvent]: ...
    def resting(self, owner: str) -> dict[tuple[Side, int], int]: ...


@dataclass(frozen=True)
class AccountEvent:
    """One private-channel message: ``family`` (e.g. ``orders``), its market, the payload.

    ``market`` is the symbol for the per-market families (orders, fills,
    funding_payments) and None for the account-wide ones (account,
    balance_events, positions, transaction, transfers).
    """

    family: str
    market: str | None
    payload: dict[str, Any]


@dataclass
class _Order:
    id: str
    client_id: str
    market: str
    side: Side
    price: int  # ticks
    size: int  # units
    created_at: int
    last_updated_at: int
    filled: int = 0  # units
    filled_notional: Decimal = Decimal(0)
    status: str = "NEW"
    cancel_reason: str = ""

    @property
    def remaining(self) -> int:
        return self.size - self.filled


@dataclass
class _Position:
    id: str
    market: str
    created_at: int
    cached_funding_index: Decimal
    units: int = 0  # signed
    cost: Decimal = Decimal(0)  # signed entry notional
    side: str = "LONG"
    last_fill_id: str = ""
    last_updated_at: int = 0
    closed_at: int | None = None
    realized_pnl: Decimal = Decimal(0)  # positional, funding included; reset on close/flip
    realized_funding: Decimal = Decimal(0)  # positional; reset on close/flip
    exit_units: int = 0
    exit_notional: Decimal = Decimal(0)
    mark: Decimal = Decimal(0)  # the mark of the last emission
    unrealized: Decimal = Decimal(0)  # at ``mark``


@dataclass
class _MarketState:
    """The account's own view of one market."""

    funding_index: Decimal
    orders: list[_Order] = field(default_factory=list)  # open orders, oldest first


class AccountSim:
    """A synthetic account making markets in ``markets`` (symbol -> market sim)."""

    def __init__(
        self,
        address: str,
        markets: Mapping[str, Market],
        *,
        seed: int,
        start_ms: int,
        collateral: Decimal = Decimal("100000"),
    ) -> None:
        self.address = address
        self.markets = markets
        self.collateral = collateral
        self.balance = collateral
        self.now_ms = start_ms
        self._rng = random.Random(timeline_seed(seed, "account", address))
        # Hashes and transfer ids: the account's second generator (see the module doc).
        self._chain = payloads.fake_for(
            random.Random(timeline_seed(seed, "account", address, "chain"))
        )
        # Transactions RECEIVED and not yet ACCEPTED_ON_L2: (due ms, RECEIVED payload).
        self._unsettled: list[tuple[int, dict[str, Any]]] = []
        self._transfers: list[dict[str, Any]] = []
        self._seq = 0
        self._opened = False
        self._state = {
            s: _MarketState(funding_index=m.stats.funding_index) for s, m in markets.items()
        }
        self._positions: dict[str, _Position] = {}
        self._handled_trades: set[tuple[str, str]] = set()
        # The latest payload of each thing, for snapshot(): account, per market, per order.
        self._last_account: dict[str, Any] | None = None
        self._last_positions: dict[str, dict[str, Any]] = {}
        self._last_orders: dict[str, dict[str, Any]] = {}

    # The contract (docs/market-design.md)

    def open(self, now_ms: int) -> list[MarketEvent | AccountEvent]:
        """Rest ``ORDERS_PER_SIDE`` orders a side in every market; once (later calls: [])."""
        if self._opened:
            return []
        self._opened = True
        self.now_ms = max(self.now_ms, now_ms)
        deposit = payloads.transfer(
            self._chain, account=self.address, at_ms=now_ms, amount=self.collateral
        )
        self._transfers.append(deposit)
        out: list[MarketEvent | AccountEvent] = [
            self._account_event(now_ms),
            AccountEvent("transfers", None, deposit),
        ]
        for symbol in self.markets:
            for _ in range(ORDERS_PER_SIDE):
                for side in (BUY, SELL):
                    self._place(symbol, side, now_ms, out)
        return out

    @property
    def handled_trades(self) -> AbstractSet[tuple[str, str]]:
        """(market, trade_id) of trades this account already handled (its own orders
        caused them): it must still see each once, to skip it. A read-only view, not
        a copy: the runtime asks every account on every dispatch."""
        return self._handled_trades

    def on_market_events(self, events: Sequence[MarketEvent]) -> list[MarketEvent | AccountEvent]:
        """The account's reaction to what the markets did: private events and its new orders.

        The book events of orders it rests are returned for the runtime to publish;
        a Trade this account already handled (one its own order caused) is skipped.
        """
        out: list[MarketEvent | AccountEvent] = []
        for event in events:
            if isinstance(event, Trade):
                key = (event.market, event.trade_id)
                if key in self._handled_trades:
                    self._handled_trades.discard(key)
                    continue
                self._on_trade(event, out)
            elif isinstance(event, FundingTick):
                self._on_funding(event, out)
        return out

    def settle(self, now_ms: int) -> list[AccountEvent]:
        """The ``ACCEPTED_ON_L2`` transactions due by ``now_ms``, oldest first."""
        due = [tx for at_ms, tx in self._unsettled if at_ms <= now_ms]
        if not due:
            return []
        self._unsettled = [(at_ms, tx) for at_ms, tx in self._unsettled if at_ms > now_ms]
        return [
            AccountEvent(
                "transaction",
                None,
                {
                    **tx,
                    "state": "ACCEPTED_ON_L2",
                    "completed_at": tx["created_at"] + TRANSACTION_SETTLE_MS,
                },
            )
            for tx in due
        ]

    def snapshot(self, now_ms: int) -> list[AccountEvent]:
        """What a new subscriber gets first: the account, its transfers, every position, the
        open orders."""
        if self._last_account is None:
            self._account_event(now_ms)
        assert self._last_account is not None
        events = [AccountEvent("account", None, dict(self._last_account))]
        events += [AccountEvent("transfers", None, dict(t)) for t in self._transfers]
        events += [AccountEvent("positions", None, dict(p)) for p in self._last_positions.values()]
        for book in self._state.values():
            for order in book.orders:
                events.append(
                    AccountEvent("orders", order.market, dict(self._last_orders[order.id]))
                )
        return events

    # State, for callers and tests

    def position_units(self, market: str) -> int:
        """The signed position in ``market``, in size units."""
        position = self._positions.get(market)
        return position.units if position else 0

    def open_orders(self, market: str) -> list[tuple[Side, int, int]]:
        """``(side, price ticks, remaining units)`` of the open orders in ``market``."""
        return [(o.side, o.price, o.remaining) for o in self._state[market].orders]

    # Orders

    def _place(
        self, symbol: str, side: Side, at_ms: int, out: list[MarketEvent | AccountEvent]
    ) -> None:
        """Rest a new limit order near the top of ``side``; emit NEW, its book events, OPEN.

        Its time is the market's own when that is later than ``at_ms`` (the engine may
        have stepped past the trade that made the account re-rest).
        """
        market = self.markets[symbol]
        at_ms = max(at_ms, market.now_ms)
        price = self._quote_price(market, side)
        units = self._order_units(market.spec, price)
        order = _Order(
            id=self._long_id(at_ms),
            client_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            market=symbol,
            side=side,
            price=price,
            size=units,
            created_at=at_ms,
            last_updated_at=at_ms,
        )
        self._state[symbol].orders.append(order)
        out.append(self._order_event(order, at_ms))
        try:
            caused = market.add_liquidity(self.address, side, price, units)
        except ValueError:  # the engine refuses a crossing price: a post-only order is cancelled
            log.warning("%s: %s %s at %d would cross; cancelled", symbol, self.address, side, price)
            self._state[symbol].orders.remove(order)
            order.status, order.cancel_reason = "CLOSED", "POST_ONLY_WOULD_CROSS"
            out.append(self._order_event(order, at_ms))
            return
        out.extend(caused)
        order.status = "OPEN"
        out.append(self._order_event(order, at_ms))
        # Resting never crosses, but if the market traded against the new order anyway,
        # its Trade is this account's to handle now (and to skip if it comes back).
        for event in caused:
            if isinstance(event, Trade):
                self._handled_trades.add((event.market, event.trade_id))
                self._on_trade(event, out)

    def _quote_price(self, market: Market, side: Side) -> int:
        """At the top of ``side`` or a few ticks behind it, never crossing the other side."""
        book = market.book
        same, other = book.best(side), book.best(opposite(side))
        behind = self._rng.randint(0, MAX_BEHIND_TICKS)
        step = -1 if side == BUY else 1  # the direction away from the spread
        if same is not None:
            price = same.price + step * behind
        elif other is not None:
            price = other.price + step * (1 + behind)
        else:
            price = market.spec.ticks_of(self._mark(market)) + step * (1 + behind)
        if other is not None:
            price = min(price, other.price - 1) if side == BUY else max(price, other.price + 1)
        return max(price, 1)

    def _order_units(self, spec: MarketSpec, price: int) -> int:
        """A size worth a small share of the collateral, within the market's limits."""
        low, high = ORDER_NOTIONAL_SHARE
        share = low + (high - low) * Decimal(self._rng.randint(0, 1000)) / 1000
        unit_value = spec.price_tick * price * spec.size_increment
        units = int((self.collateral * share / unit_value).to_integral_value(ROUND_FLOOR))
        least = int((spec.min_notional / unit_value).to_integral_value(ROUND_CEILING))
        most = max(1, int(spec.max_order_size / spec.size_increment))
        return max(1, min(max(units, least), most))

    def _replacement_side(self, symbol: str, side: Side) -> Side:
        """``side``, unless the position is at its limit in that direction."""
        position = self._positions.get(symbol)
        if position is None or position.units == 0:
            return side
        market = self.markets[symbol]
        notional = abs(position.units) * market.spec.size_increment * self._mark(market)
        if notional < self.collateral * MAX_POSITION_SHARE:
            return side
        growing = (position.units > 0) == (side == BUY)
        return opposite(side) if growing else side

    def _cancel(self, order: _Order, at_ms: int, out: list[MarketEvent | AccountEvent]) -> None:
        market = self.markets[order.market]
        resting = market.resting(self.address).get((order.side, order.price), 0)
        units = min(order.remaining, resting)
        if units > 0:
            out.extend(market.remove_liquidity(self.address, order.side, order.price, units))
        order.status = "CLOSED"
        order.cancel_reason = "USER_CANCELED"
        order.last_updated_at = at_ms
        self._state[order.market].orders.remove(order)
        out.append(self._order_event(order, at_ms))

    def _requote(self, symbol: str, at_ms: int, out: list[MarketEvent | AccountEvent]) -> None:
        """Cancel and re-rest the orders the top of the book has left far behind."""
        market = self.markets[symbol]
        for order in list(self._state[symbol].orders):
            best = market.book.best(order.side)
            if best is None or abs(best.price - order.price) <= best.price * REQUOTE_DISTANCE:
                continue
            self._cancel(order, at_ms, out)
            self._place(symbol, self._replacement_side(symbol, order.side), at_ms, out)

    # Fills

    def _on_trade(self, trade: Trade, out: list[MarketEvent | AccountEvent]) -> None:
        symbol = trade.market
        if symbol not in self.markets:
            return
        mine = [
            (level.price, units)
            for level in trade.fills
            for owner, units in level.makers
            if owner == self.address and units > 0
        ]
        if not mine:
            return
        at_ms = trade.at_ms
        self.now_ms = max(self.now_ms, at_ms)
        side = opposite(trade.side)  # the resting side the taker traded against
        closed: list[_Order] = []
        for price, units in mine:
            # Own orders at a level are filled oldest first.
            for order in [
                o for o in self._state[symbol].orders if (o.side, o.price) == (side, price)
            ]:
                if units == 0:
                    break
                take = min(units, order.remaining)
                units -= take
                self._fill(order, take, price, trade, out)
                if order.remaining == 0:
                    closed.append(order)
            if units:
                log.warning(
                    "%s: trade %s filled %d units of %s at %d that no open order holds",
                    symbol, trade.trade_id, units, self.address, price,
                )  # fmt: skip
        out.append(self._account_event(at_ms))
        for order in closed:
            self._place(symbol, self._replacement_side(symbol, order.side), at_ms, out)

    def _fill(
        self,
        order: _Order,
        units: int,
        price: int,
        trade: Trade,
        out: list[MarketEvent | AccountEvent],
    ) -> None:
        """Apply one maker fill of ``units`` at ``price`` to the order, position and balance."""
        symbol, at_ms = order.market, trade.at_ms
        market = self.markets[symbol]
        spec = market.spec
        fill_price = spec.price_tick * price
        notional = fill_price * spec.size_increment * units
        fee = (notional * MAKER_FEE_RATE).quantize(USDC)
        fill_id = str(self._rng.randrange(10**18, 10**19))

        order.filled += units
        order.filled_notional += notional
        order.last_updated_at = at_ms
        if order.remaining == 0:
            order.status = "CLOSED"
            self._state[symbol].orders.remove(order)

        signed = units if order.side == BUY else -units
        realized = self._apply_to_position(symbol, signed, fill_price, fill_id, at_ms)
        before = self.balance
        self.balance = before + realized - fee

        underlying = market.stats.underlying_price
        out.append(
            AccountEvent(
                "fills",
                symbol,
                pp.fill(
                    id=fill_id,
                    address=self.address,
                    market=symbol,
                    side=order.side,
                    liquidity="MAKER",
                    order_id=order.id,
                    client_id=order.client_id,
                    price=spec.price_str(price),
                    size=spec.size_str(units),
                    remaining_size=spec.size_str(order.remaining),
                    fee=fee,
                    realized_pnl=realized,
                    realized_funding=Decimal(0),
                    underlying_price=(
                        spec.price_str(underlying)
                        if underlying > 0
                        else pp.dec(self._mark(market).quantize(spec.price_tick))
                    ),
                    created_at=at_ms,
                    orderbook_seq_no=trade.seq_no,
                    fill_type=trade.trade_type if trade.trade_type in FILL_TYPES else "FILL",
                ),
            )
        )
        out.append(self._order_event(order, at_ms))
        out.append(self._position_event(symbol, at_ms))
        out.append(
            AccountEvent(
                "balance_events",
                None,
                pp.balance_event(
                    type="TRANSACTION_FILL",
                    fill_id=fill_id,
                    market=symbol,
                    balance_before=before,
                    balance_after=self.balance,
                    funding_index=self._state[symbol].funding_index,
                    realized_pnl=realized,
                    fees=fee,
                    realized_funding=Decimal(0),
                    created_at=at_ms,
                ),
            )
        )
        received = {
            **payloads.transaction(self._chain, at_ms=at_ms, state="RECEIVED", event_id=fill_id),
            "created_at": at_ms,
        }
        self._unsettled.append((at_ms + TRANSACTION_SETTLE_MS, received))
        out.append(AccountEvent("transaction", None, received))

    def _apply_to_position(
        self, symbol: str, signed: int, price: Decimal, fill_id: str, at_ms: int
    ) -> Decimal:
        """Add a signed fill to the position; the realized pnl (USDC, rounded)."""
        increment = self.markets[symbol].spec.size_increment
        position = self._positions.get(symbol)
        if position is None:
            position = _Position(
                id=str(self._rng.randrange(10**18, 10**19)),
                market=symbol,
                created_at=at_ms,
                cached_funding_index=self._state[symbol].funding_index,
            )
            self._positions[symbol] = position
        if position.units == 0:
            self._reset_position(position, at_ms)
        position.last_fill_id = fill_id
        position.last_updated_at = at_ms
        realized = Decimal(0)
        units = position.units
        if units == 0 or (units > 0) == (signed > 0):
            position.units += signed
            position.cost += price * increment * signed
        else:
            closing = min(abs(signed), abs(units))
            direction = 1 if units > 0 else -1
            closed_cost = (position.cost * closing / abs(units)).quantize(COST_PRECISION)
            if closing == abs(units):
                closed_cost = position.cost
            realized = (direction * price * increment * closing - closed_cost).quantize(USDC)
            position.cost -= closed_cost
            position.units -= direction * closing
            position.realized_pnl += realized
            position.exit_units += closing
            position.exit_notional += price * increment * closing
            rest = abs(signed) - closing
            if position.units == 0:
                position.cost = Decimal(0)
                position.closed_at = at_ms
                position.realized_pnl = Decimal(0)  # "Reset to 0 when position is closed"
                position.realized_funding = Decimal(0)
            if rest:  # flipped: what is left opens the other way
                self._reset_position(position, at_ms)
                position.units = -direction * rest
                position.cost = price * increment * position.units
        if position.units:
            position.side = "LONG" if position.units > 0 else "SHORT"
        return realized

    def _reset_position(self, position: _Position, at_ms: int) -> None:
        """A new position from flat (or the far side of a flip)."""
        position.created_at = at_ms
        position.closed_at = None
        position.cost = Decimal(0)
        position.realized_pnl = Decimal(0)
        position.realized_funding = Decimal(0)
        position.exit_units = 0
        position.exit_notional = Decimal(0)
        position.cached_funding_index = self._state[position.market].funding_index

    # Funding

    def _on_funding(self, tick: FundingTick, out: list[MarketEvent | AccountEvent]) -> None:
        symbol = tick.market
        if symbol not in self.markets:
            return
        at_ms = tick.at_ms
        self.now_ms = max(self.now_ms, at_ms)
        self._state[symbol].funding_index = tick.funding_index
        position = self._positions.get(symbol)
        if position is not None and position.units != 0:
            spec = self.markets[symbol].spec
            delta = tick.funding_index - position.cached_funding_index
            payment = (-(position.units * spec.size_increment) * delta).quantize(USDC)
            position.cached_funding_index = tick.funding_index
            position.realized_funding += payment
            position.realized_pnl += payment
            position.last_updated_at = at_ms
            if payment:  # a tick that moved nothing pays nothing
                before = self.balance
                self.balance = before + payment
                out.append(
                    AccountEvent(
                        "funding_payments",
                        symbol,
                        pp.funding_payment(
                            id=self._long_id(at_ms),
                            address=self.address,
                            market=symbol,
                            payment=payment,
                            index=tick.funding_index,
                            fill_id="",
                            created_at=at_ms,
                        ),
                    )
                )
                out.append(
                    AccountEvent(
                        "balance_events",
                        None,
                        pp.balance_event(
                            type="FUNDING_PAYMENT",
                            fill_id="",
                            market=symbol,
                            balance_before=before,
                            balance_after=self.balance,
                            funding_index=tick.funding_index,
                            realized_pnl=Decimal(0),
                            fees=Decimal(0),
                            realized_funding=payment,
                            created_at=at_ms,
                        ),
                    )
                )
            out.append(self._position_event(symbol, at_ms))
            out.append(self._account_event(at_ms))
        self._requote(symbol, at_ms, out)

    # Payloads

    def _next_seq(self, at_ms: int) -> int:
        self._seq = max(self._seq + 1, at_ms * 1_000_000)
        return self._seq

    def _long_id(self, at_ms: int) -> str:
        """A Paradex-shaped 28-digit id: the ms time and 15 random digits."""
        return f"{at_ms}{self._rng.randrange(10**15):015d}"

    def _mark(self, market: Market) -> Decimal:
        """The market's mark price: the engine's, else the book's mid, else its start price."""
        spec = market.spec
        if market.stats.mark_price > 0:
            return spec.price_tick * market.stats.mark_price
        bid, ask = market.book.best(BUY), market.book.best(SELL)
        if bid is not None and ask is not None:
            return spec.price_tick * (bid.price + ask.price) / 2
        if bid is not None or ask is not None:
            level = bid or ask
            assert level is not None
            return spec.price_tick * level.price
        return spec.initial_price

    def _order_event(self, order: _Order, at_ms: int) -> AccountEvent:
        spec = self.markets[order.market].spec
        average = ""
        if order.filled:
            average = pp.dec(
                (order.filled_notional / (spec.size_increment * order.filled)).quantize(
                    spec.price_tick
                )
            )
        payload = pp.order(
            id=order.id,
            address=self.address,
            market=order.market,
            side=order.side,
            size=spec.size_str(order.size),
            remaining_size=spec.size_str(order.remaining),
            price=spec.price_str(order.price),
            status=order.status,
            created_at=order.created_at,
            last_updated_at=order.last_updated_at,
            published_at=at_ms,
            client_id=order.client_id,
            seq_no=self._next_seq(at_ms),
            avg_fill_price=average,
            cancel_reason=order.cancel_reason,
        )
        if order.status == "CLOSED":
            self._last_orders.pop(order.id, None)
        else:
            self._last_orders[order.id] = payload
        return AccountEvent("orders", order.market, payload)

    def _position_event(self, symbol: str, at_ms: int) -> AccountEvent:
        """The position re-marked at the market's current mark."""
        position = self._positions[symbol]
        market = self.markets[symbol]
        spec = market.spec
        mark = self._mark(market)
        size = spec.size_increment * position.units
        position.mark = mark
        position.unrealized = (size * mark - position.cost).quantize(USDC)
        account_value, _, maintenance = self._totals()

        entry = exit_ = liquidation = leverage = "0"
        if position.units:
            entry = pp.dec((position.cost / size).quantize(spec.price_tick / 1000))
            if account_value > 0:
                leverage = pp.dec((abs(size) * mark / account_value).quantize(Decimal("0.01")))
            denominator = size - abs(size) * MAINTENANCE_MARGIN_FRACTION
            price = mark + (maintenance - account_value) / denominator
            if price > 0:
                liquidation = pp.dec(price.quantize(spec.price_tick))
        if position.exit_units:
            exit_ = pp.dec(
                (position.exit_notional / (spec.size_increment * position.exit_units)).quantize(
                    spec.price_tick / 1000
                )
            )
        payload = pp.position(
            id=position.id,
            address=self.address,
            market=symbol,
            status="OPEN" if position.units else "CLOSED",
            side=position.side,
            size=spec.size_str(position.units),
            average_entry_price=entry,
            average_exit_price=exit_,
            unrealized_pnl=position.unrealized,
            unrealized_funding_pnl=Decimal(0),
            cost=position.cost.quantize(USDC),
            cached_funding_index=position.cached_funding_index,
            last_fill_id=position.last_fill_id,
            seq_no=self._next_seq(at_ms),
            liquidation_price=liquidation,
            leverage=leverage,
            realized_positional_pnl=position.realized_pnl,
            realized_positional_funding_pnl=position.realized_funding,
            created_at=position.created_at,
            last_updated_at=position.last_updated_at,
            closed_at=None if position.units else position.closed_at,
        )
        self._last_positions[symbol] = payload
        return AccountEvent("positions", None, payload)

    def _totals(self) -> tuple[Decimal, Decimal, Decimal]:
        """Account value, initial and maintenance margin, from the positions as last marked."""
        account_value = self.balance + sum(
            (p.unrealized for p in self._positions.values()), Decimal(0)
        )
        initial = maintenance = Decimal(0)
        for p in self._positions.values():
            notional = abs(p.units) * self.markets[p.market].spec.size_increment * p.mark
            initial += (notional * INITIAL_MARGIN_FRACTION).quantize(USDC)
            maintenance += (notional * MAINTENANCE_MARGIN_FRACTION).quantize(USDC)
        return account_value, initial, maintenance

    def _account_event(self, at_ms: int) -> AccountEvent:
        account_value, initial, maintenance = self._totals()
        payload = pp.account(
            address=self.address,
            account_value=account_value,
            free_collateral=account_value - initial,
            initial_margin_requirement=initial,
            maintenance_margin_requirement=maintenance,
            margin_cushion=account_value - maintenance,
            total_collateral=self.balance,
            updated_at=at_ms,
            seq_no=self._next_seq(at_ms),
        )
        self._last_account = payload
        return AccountEvent("account", None, payload)
