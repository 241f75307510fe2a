"""``MarketRuntime``: the synthetic market of a running server (docs/market-design.md).

It owns one ``MarketSim`` per scenario market and the ``AccountSim`` of every
account that has subscribed to a private channel, steps them all on the
server's ``Clock`` and turns what they emit into publishes on the ``Hub``:

==================  =====================================================
event / period      published on
==================  =====================================================
``BookDelta``       ``order_book.{m}.deltas``, ``order_book.{m}.interactive_deltas``
``TopOfBook``       ``bbo.{m}``, ``bbo.{m}.interactive``
``Trade``           ``trades.{m}``
``FundingTick``     ``funding_data.{m}``
every 50 / 100 ms   each ``order_book.{m}.{snapshot,interactive}@15@{rate}[@{tick}]``
                    someone is subscribed to (directly or through ``ALL``)
every 500 / 1000 ms ``funding_rate_comparison.ALL@{rate}`` if subscribed: per market,
                    one frame per venue from its latest funding state
every 1 s           ``markets_summary.{m}``
``AccountEvent``    its private channel, ``account=`` its owner (fills, orders,
                    positions, account, balance_events, funding_payments,
                    transaction: RECEIVED per fill and ACCEPTED_ON_L2 500 ms
                    later, transfers: the deposit at opening)
==================  =====================================================

**Time.** One task wakes every ``STEP_MS`` of the clock, at absolute deadlines
(``start + k * STEP_MS``, so no drift builds up), and steps every market to
the simulated time ``start_ms + k * STEP_MS``. A late wake-up catches up by
stepping through each missed ``STEP_MS`` in order, so the frames of simulated
time ``t`` are the same whenever the loop gets to them; only periodic frames
(snapshots, summaries) more than ``STALE_MS`` old are dropped rather than sent
late in a burst. While no session is subscribed to anything the task wakes
only every ``IDLE_WAKE_MS`` (the markets still go through every step: the
first subscription catches them up to now, publishing nothing, before it is
answered), so an idle server costs next to nothing. ``start_ms`` is the wall
clock at start (``clock: wall``) or the scenario's ``epoch`` (``clock:
scenario``: two runs with one seed then send the same bytes for the same
simulated time).

**Determinism.** Each market's randomness is its own ``random.Random``, seeded
from ``timeline_seed(seed, "market", symbol)``; an account's from
``timeline_seed(seed, "account", address)``. Whether a frame is published (it
is built only when someone would receive it) never touches a generator:
payload builders only read the state. The one exception is
``funding_rate_comparison``: the other venues' jitter is drawn, only while the
channel is subscribed, from the runtime's own generator
(``timeline_seed(seed, "funding_rate_comparison")``), never the sims'. What
does change the market is an account joining (its resting orders enter the
book), which happens when that account first subscribes to a private channel.

**New subscribers** get the current state right after the subscribe reply,
delivered to them alone: a deltas subscriber the whole book (``update_type:
"s"``, the current ``seq_no``) and then the live deltas, ``seq_no`` + 1 each;
bbo, markets_summary, funding_data and snapshot-feed subscribers the current
frame; a private subscriber its account's current state (``AccountSim.snapshot``).

A concrete channel that the scenario scripts (``channels:``) is left to its
script, and only the families ``synthetic.channels`` names are fed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from mockserver.channels import ALL, Channel, delivery_names, family_of, is_private
from mockserver.clock import Clock
from mockserver.hub import Hub
from mockserver.market import payloads
from mockserver.market.accounts import AccountEvent, AccountSim
from mockserver.market.engine import STEP_MS, MarketSim
from mockserver.market.model import (
    BUY,
    SELL,
    Book,
    BookDelta,
    FundingTick,
    MarketEvent,
    MarketSpec,
    TopOfBook,
    Trade,
)
from mockserver.player import Recipient
from mockserver.protocol import dumps, encode_notification
from mockserver.scenario.model import Scenario, SeedBook, Synthetic, market_spec
from mockserver.seeds import timeline_seed

log = logging.getLogger(__name__)

SUMMARY_EVERY_MS = 1000
BOOK_RATES_MS = {"50ms": 50, "100ms": 100}
FUNDING_COMPARISON_RATES_MS = {"500ms": 500, "1000ms": 1000}
BOOK_DEPTH = 15
STALE_MS = 1000  # periodic frames further behind than this are skipped, not sent late
IDLE_WAKE_MS = 1000  # how often the task wakes while nobody is subscribed to anything
MAX_STEP_MS = 100  # the most market time one busy wake-up simulates before yielding
BEHIND_WARN_MS = 2000  # lagging the clock by more than this is logged (once per spell)
# An account no session holds a private subscription of is simulated this long
# more (a client that reconnects finds its orders as it left them), then retired:
# otherwise every account that ever authenticated would trade on forever, and a
# long run with many accounts would grow in memory and in CPU per tick.
ACCOUNT_IDLE_S = 300.0
MAX_ACCOUNTS = 1000  # past this, idle accounts are retired early, the longest idle first
# Accounts react to trades by re-resting orders, which may move the book again:
# rounds of reaction per step, a bound against a feedback loop.
MAX_REACTION_ROUNDS = 8
# Families that name a market in the channel (``orders.{m}``); the other private
# families are account-wide (``positions`` carries the market in its payload).
_PER_MARKET_PRIVATE = frozenset({"fills", "orders", "funding_payments"})

Owned = tuple[str | None, MarketEvent | AccountEvent]  # (account that caused it, event)


def _at_ms(event: MarketEvent) -> int:
    return event.at_ms


class MarketRuntime:
    """The synthetic market of one server: its sims, accounts and publishing task."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        hub: Hub,
        clock: Clock,
        seed: int,
        pace_ms: int = STEP_MS,
    ) -> None:
        """``pace_ms``: how often the task wakes while someone is subscribed (a
        multiple of ``STEP_MS``; the server's virtual clock uses 100 ms, so that an
        advance settles once per 100 ms of market, not per 10 ms step)."""
        if scenario.synthetic is None:
            raise ValueError("the scenario has no synthetic: section")
        self.scenario = scenario
        self.synthetic: Synthetic = scenario.synthetic
        self._hub = hub
        self._clock = clock
        self._seed = seed
        if pace_ms < STEP_MS or pace_ms % STEP_MS:
            raise ValueError(f"pace_ms must be a multiple of {STEP_MS}, not {pace_ms}")
        self._pace_ms = pace_ms
        self.specs = {m: self._spec(m) for m in scenario.markets}
        self.sims: dict[str, MarketSim] = {}
        self.accounts: dict[str, AccountSim] = {}
        self._behind = False  # warned that the market lags the clock
        # Whose private subscriptions hold which account: (id(session), name) -> address;
        # and since when each account nobody holds has been idle (clock seconds).
        self._held: dict[tuple[int, str], str] = {}
        self._idle_since: dict[str, float] = {}
        # Concrete channels a script owns: the synthetic market leaves them alone.
        self._scripted = frozenset(c.channel for c in scenario.channels)
        self._fed: dict[str, bool] = {}  # concrete channel -> published on by the market
        # The order_book snapshot feeds subscribed to, by the part after the market
        # ("snapshot@15@50ms@0_1"); checked against the hub at each period.
        self._book_feeds: dict[str, BookFeed] = {}
        self._funding: dict[str, FundingTick] = {}  # the latest, per market
        self._tops: dict[str, TopOfBook] = {}  # the latest, per market
        # The other venues' funding jitter: its own generator, drawn only when subscribed.
        self._comparison_fake = payloads.fake_for(
            random.Random(timeline_seed(seed, "funding_rate_comparison"))
        )
        self._start_ms = 0
        self._start_s = 0.0
        self._elapsed_ms = 0
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._subscriptions = 0  # live subscriptions to any channel, of any session
        self._muted = False  # catching up after an idle spell: publish nothing

    def _spec(self, symbol: str) -> MarketSpec:
        settings = self.scenario.market_settings.get(symbol)
        spec = market_spec(symbol, settings)
        seeded = self.synthetic.books.get(symbol)
        if seeded is not None and (settings is None or settings.price is None):
            # A recorded book starts the market at its own mid, not the built-in price.
            mid = (seeded.bids[0][0] + seeded.asks[0][0]) / 2
            spec = dataclasses.replace(spec, initial_price=mid)
        return spec

    # Lifecycle

    @property
    def now_ms(self) -> int:
        """The simulated time the markets have reached (epoch ms)."""
        return self._start_ms + self._elapsed_ms

    def start(self) -> None:
        if self.synthetic.clock == "scenario":
            self._start_ms = self.synthetic.epoch_ms
        else:
            self._start_ms = self._clock.wall_us() // 1000
        self._start_s = self._clock.monotonic()
        self._elapsed_ms = 0
        for symbol, spec in self.specs.items():
            seeded = self.synthetic.books.get(symbol)
            self.sims[symbol] = MarketSim(
                spec,
                seed=self._seed,  # it derives its own: timeline_seed(seed, "market", symbol)
                start_ms=self._start_ms,
                initial_book=None if seeded is None else seed_book(spec, seeded),
            )
            self._tops[symbol] = self._current_top(symbol)
        self._task = asyncio.create_task(self._run(), name="market")
        self._task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            # Nobody subscribed to anything: nothing to send, so wake once a second
            # (the markets step through the same STEP_MS increments all the same).
            pace_ms = self._pace_ms if self._subscriptions else IDLE_WAKE_MS
            target = self._elapsed_ms + pace_ms
            if self._subscriptions and not self.accounts:
                # Nothing to publish before the next frame: sleep until then.
                target = max(target, self._next_frame_ms())
            woken = await self._sleep_until(self._start_s + target / 1000)
            goal = self._due_ms() if woken else max(target, self._due_ms())
            # With accounts trading, at most MAX_STEP_MS of market time per wake-up:
            # a market that cannot keep up (many accounts on a slow machine) falls
            # behind the clock, it never holds the event loop (the next wake-up is
            # due at once, after whatever else is ready). Without, the markets go
            # from frame to frame at a cost that is the frames', not the steps'.
            reach = goal if not self.accounts else self._elapsed_ms + max(pace_ms, MAX_STEP_MS)
            lag_ms = goal - reach
            if lag_ms > BEHIND_WARN_MS and not self._behind:
                self._behind = True
                log.warning(
                    "the synthetic market is %d ms behind the clock (%d accounts trading): "
                    "it runs slower than real time until it catches up",
                    lag_ms,
                    len(self.accounts),
                )
            elif lag_ms <= 0:
                self._behind = False
            self.advance(min(goal, reach))

    def _next_frame_ms(self) -> int:
        """When (ms since the start, on a step) the next frame may be published: the
        next event of a market, or the next periodic frame."""
        every = self._periodic_ms()
        periodic = (self._elapsed_ms // every + 1) * every
        event_at = min(sim.next_event_ms for sim in self.sims.values()) - self._start_ms
        if event_at >= periodic:
            return periodic
        return max(self._elapsed_ms + STEP_MS, -(-int(event_at) // STEP_MS) * STEP_MS)

    async def _sleep_until(self, when: float) -> bool:
        """Sleep to ``when`` (clock time); True if ``_wake_up`` ended it early."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def due() -> None:
            if not waiter.done():
                waiter.set_result(False)

        timer = self._clock.call_at(when, due)
        self._waiter = waiter
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake_up(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    def _due_ms(self) -> int:
        """The last STEP_MS boundary the clock has passed, in ms since the start."""
        elapsed = int((self._clock.monotonic() - self._start_s) * 1000)
        return elapsed - elapsed % STEP_MS

    def advance(self, elapsed_ms: int) -> None:
        """Step every market to ``elapsed_ms`` after the start.

        Accounts react to each step's events, so with accounts trading the markets
        go ``STEP_MS`` at a time. Without, they go from one periodic frame to the
        next in one stretch: the same events (a sim's events depend only on the
        time reached), published in the same order (merged by time, then by
        market, as step by step), at a fraction of the cost, which is what lets a
        virtual clock run ten minutes of market in well under a second.
        """
        while self._elapsed_ms < elapsed_ms:
            if self.accounts:
                to = self._elapsed_ms + STEP_MS
            else:
                every = self._periodic_ms()
                to = min(elapsed_ms, (self._elapsed_ms // every + 1) * every)
            self._elapsed_ms = to
            self._tick(stale=elapsed_ms - to > STALE_MS)

    def _periodic_ms(self) -> int:
        """How often a periodic frame may be due: the fastest snapshot feed or funding
        comparison someone is subscribed to, else the summaries' period."""
        rates = [feed.rate_ms for feed in self._book_feeds.values()]
        rates.extend(
            rate_ms
            for rate, rate_ms in FUNDING_COMPARISON_RATES_MS.items()
            if self._hub.subscriber_count(f"funding_rate_comparison.{ALL}@{rate}")
        )
        return min(rates, default=SUMMARY_EVERY_MS)

    def _tick(self, *, stale: bool) -> None:
        now_ms, elapsed = self.now_ms, self._elapsed_ms
        streams = [sim.step(now_ms) for sim in self.sims.values()]
        events = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_at_ms)
        # The accounts' transactions that reach L2 by now, then the markets' events.
        owned: list[Owned] = [
            (address, e)
            for address, account in self.accounts.items()
            for e in account.settle(now_ms)
        ]
        self._dispatch([*owned, *((None, e) for e in events)])
        if elapsed % 1000 == 0 and self._idle_since:
            self.retire_idle_accounts()
        if stale:
            return
        for rate_ms in (50, 100):
            if elapsed % rate_ms == 0:
                self._publish_book_feeds(rate_ms)
        for rate, rate_ms in FUNDING_COMPARISON_RATES_MS.items():
            if elapsed % rate_ms == 0:
                self._publish_comparisons(f"funding_rate_comparison.{ALL}@{rate}")
        if elapsed % SUMMARY_EVERY_MS == 0:
            for symbol in self.sims:
                self._publish(f"markets_summary.{symbol}", partial(self._summary, symbol))

    # Events to publishes

    def _dispatch(self, events: Sequence[Owned]) -> None:
        """Publish ``events``, let the accounts react to them, publish that, and so on."""
        pending = list(events)
        for _ in range(MAX_REACTION_ROUNDS):
            if not pending:
                return
            for index, (owner, event) in enumerate(pending):
                self._publish_event(owner, event, pending, index)
            market_events = [e for _, e in pending if not isinstance(e, AccountEvent)]
            pending = []
            if market_events and self.accounts:
                for address, events in self._audiences(market_events):
                    account = self.accounts[address]
                    pending.extend((address, e) for e in account.on_market_events(events))
        if pending:
            log.warning("accounts kept reacting to each other; %d events dropped", len(pending))

    def _audiences(self, events: Sequence[MarketEvent]) -> list[tuple[str, list[MarketEvent]]]:
        """Which accounts must react to which of ``events`` (in account order, each
        account's events in their order): funding ticks reach every account, a trade
        the accounts that made it (a resting order of theirs) or caused it.

        An account ignores every other event, so handing it only these changes
        nothing but the cost: O(events + accounts) instead of O(events x accounts),
        which with a hundred accounts was more than a 10 ms step of real time.
        """
        funding_at: set[int] = set()
        trades_at: list[tuple[int, Trade]] = []
        for index, event in enumerate(events):
            if isinstance(event, FundingTick):
                funding_at.add(index)
            elif isinstance(event, Trade):
                trades_at.append((index, event))
        if not funding_at and not trades_at:
            return []
        takers = {
            key: address
            for address, account in self.accounts.items()
            for key in account.handled_trades
        }
        reached: dict[str, set[int]] = {}  # address -> indexes of its trades
        for index, trade in trades_at:
            owners = {o for level in trade.fills for o, units in level.makers if units > 0}
            taker = takers.get((trade.market, trade.trade_id))
            if taker is not None:
                owners.add(taker)
            for owner in owners:
                reached.setdefault(owner, set()).add(index)
        audiences = []
        for address in self.accounts:
            indexes = reached.get(address, set()) | funding_at
            if indexes:
                audiences.append((address, [events[i] for i in sorted(indexes)]))
        return audiences

    def _publish_event(
        self,
        owner: str | None,
        event: MarketEvent | AccountEvent,
        batch: Sequence[Owned],
        index: int,
    ) -> None:
        if isinstance(event, AccountEvent):
            if owner is not None:  # never None: account events come from an account
                self._publish(account_channel(event), lambda: event.payload, account=owner)
            return
        market = event.market
        spec = self.specs[market]
        if isinstance(event, BookDelta):
            self._publish(f"order_book.{market}.deltas", lambda: payloads.book_delta(spec, event))
            self._publish(
                f"order_book.{market}.interactive_deltas",
                lambda: payloads.book_delta(spec, event, top=self._top_after(batch, index)),
            )
        elif isinstance(event, TopOfBook):
            self._tops[market] = event
            for suffix in ("", ".interactive"):
                self._publish(f"bbo.{market}{suffix}", lambda: payloads.bbo(spec, event))
        elif isinstance(event, Trade):
            self._publish(f"trades.{market}", lambda: payloads.trade(spec, event))
        elif isinstance(event, FundingTick):
            self._funding[market] = event
            self._publish(f"funding_data.{market}", lambda: payloads.funding_data(spec, event))

    def _top_after(self, batch: Sequence[Owned], index: int) -> TopOfBook | None:
        """The top of book once the BookDelta ``batch[index]`` is applied.

        The engine follows a delta that moved the top with a TopOfBook (after the
        Trade, for a trade's deltas); no TopOfBook: the top is the one we had.
        """
        delta = batch[index][1]
        for _, event in batch[index + 1 :]:
            if isinstance(event, (BookDelta, Trade, TopOfBook)) and event.market == delta.market:
                if isinstance(event, TopOfBook):
                    return event
                if isinstance(event, BookDelta):
                    break
        return self._tops.get(delta.market)

    def _publish(
        self, channel: str, build: Callable[[], Any], *, account: str | None = None
    ) -> None:
        """Publish on ``channel`` if the market feeds it and someone would receive it.

        ``build`` runs only then: a frame nobody receives costs nothing.
        """
        if self._wanted(channel):
            self._hub.publish(channel, build(), account=account)

    def _wanted(self, channel: str) -> bool:
        """Whether the market feeds ``channel`` and someone would receive a publish on it."""
        if self._muted or not self._feeds(channel):
            return False
        return any(self._hub.subscriber_count(name) for name in delivery_names(channel))

    def _feeds(self, channel: str) -> bool:
        fed = self._fed.get(channel)
        if fed is None:
            fed = channel not in self._scripted and self.synthetic.feeds(family_of(channel))
            self._fed[channel] = fed
        return fed

    def _publish_book_feeds(self, rate_ms: int) -> None:
        for rest, feed in list(self._book_feeds.items()):
            if feed.rate_ms != rate_ms:
                continue
            for symbol in self.sims:
                frame = partial(self._book_frame, symbol, feed)
                self._publish(f"order_book.{symbol}.{rest}", frame)

    def _publish_comparisons(self, channel: str) -> None:
        """Every market's funding compared across venues, if someone listens to ``channel``."""
        if not self._wanted(channel):
            return
        for symbol in self.sims:
            frames = payloads.funding_rate_comparisons(
                self._comparison_fake,
                self.specs[symbol],
                at_ms=self.now_ms,
                funding_rate=self._funding_now(symbol).funding_rate,
            )
            for frame in frames:
                self._hub.publish(channel, frame)

    # The current state, as payloads

    def _book_frame(self, symbol: str, feed: BookFeed) -> dict[str, Any]:
        """A depth-15 snapshot-feed frame (levels grouped to the channel's price tick)."""
        group = feed.group_ticks(self.specs[symbol])
        return self.snapshot(symbol, depth=BOOK_DEPTH, group=group, interactive=feed.interactive)

    def snapshot(
        self, symbol: str, *, depth: int, group: int, interactive: bool = False
    ) -> dict[str, Any]:
        """The market's book now as a snapshot payload: ``depth`` levels a side, in
        groups of ``group`` ticks (what the snapshot feeds and ``GET /v1/orderbook`` send)."""
        sim, spec = self.sims[symbol], self.specs[symbol]
        return payloads.book_snapshot(
            spec,
            seq_no=sim.seq_no,
            at_ms=self.now_ms,
            bids=sim.book.aggregated(BUY, depth, group),
            asks=sim.book.aggregated(SELL, depth, group),
            interactive=interactive,
        )

    def _whole_book(self, symbol: str, *, interactive: bool) -> dict[str, Any]:
        """The opening frame of a deltas feed: every level, ``update_type: "s"``."""
        sim = self.sims[symbol]
        return payloads.book_snapshot(
            self.specs[symbol],
            seq_no=sim.seq_no,
            at_ms=self.now_ms,
            bids=sim.book.levels(BUY),
            asks=sim.book.levels(SELL),
            interactive=interactive,
        )

    # Read-only views for the REST endpoints (mockserver/rest/view.py)

    def catch_up(self) -> None:
        """Step idle markets (nobody subscribed) to now, publishing nothing (as ``subscribed``)."""
        if self._subscriptions or not self.sims:
            return  # stepping at full pace: at most STEP_MS behind
        self._muted = True
        try:
            self.advance(self._due_ms())
        finally:
            self._muted = False

    def top_of_book(self, symbol: str) -> TopOfBook:
        """The market's top of book now, as a new ``bbo`` subscriber gets it."""
        return self._current_top(symbol)

    def summary(self, symbol: str) -> dict[str, Any]:
        """The market's ``markets_summary`` payload now."""
        return self._summary(symbol)

    def _current_top(self, symbol: str) -> TopOfBook:
        sim = self.sims[symbol]
        return TopOfBook(symbol, sim.seq_no, self.now_ms, sim.book.best(BUY), sim.book.best(SELL))

    def _summary(self, symbol: str) -> dict[str, Any]:
        sim = self.sims[symbol]
        return payloads.markets_summary(
            self.specs[symbol],
            stats=sim.stats,
            bid=sim.book.best(BUY),
            ask=sim.book.best(SELL),
            at_ms=self.now_ms,
        )

    # Subscriptions

    def subscribed(self, recipient: Recipient, channel: Channel) -> None:
        """Send a new subscriber the current state of what it subscribed to."""
        if not self._subscriptions and self.sims:
            # The first subscription after an idle spell: catch the markets up to
            # now, silently (nobody listened), then step at full pace again.
            self._muted = True
            try:
                self.advance(self._due_ms())
            finally:
                self._muted = False
            self._wake_up()
        self._subscriptions += 1
        if channel.private and recipient.account is not None:
            self._held[(id(recipient), channel.name)] = recipient.account
            self._idle_since.pop(recipient.account, None)
        if not self.sims or not self.synthetic.feeds(channel.family):
            return
        try:
            self._answer(recipient, channel)
        except Exception:
            # A bug here must not take the session down: it just gets no state.
            log.exception("the synthetic market could not answer %s", channel.name)

    def _answer(self, recipient: Recipient, channel: Channel) -> None:
        if channel.private:
            self._subscribed_private(recipient, channel)
            return
        for symbol, data in self._current(channel):
            if self._feeds(_concrete(channel, symbol)):
                recipient.deliver(encode_notification(channel.name, dumps(data)), channel.name)

    def _current(self, channel: Channel) -> Iterator[tuple[str, dict[str, Any]]]:
        """(market, payload) of the state a new subscriber of ``channel`` gets."""
        family = channel.family
        for symbol in self._markets_of(channel):
            if family == "order_book":
                rest = channel.name.split(".", 2)[2]
                if rest in ("deltas", "interactive_deltas"):
                    interactive = rest == "interactive_deltas"
                    yield symbol, self._whole_book(symbol, interactive=interactive)
                else:
                    feed = self._book_feeds.setdefault(rest, BookFeed.parse(rest))
                    yield symbol, self._book_frame(symbol, feed)
            elif family == "bbo":
                yield symbol, payloads.bbo(self.specs[symbol], self._current_top(symbol))
            elif family == "markets_summary":
                yield symbol, self._summary(symbol)
            elif family == "funding_data":
                yield symbol, payloads.funding_data(self.specs[symbol], self._funding_now(symbol))

    def _funding_now(self, symbol: str) -> FundingTick:
        """The latest FundingTick; before the first (5 s in), the same values from the stats."""
        tick = self._funding.get(symbol)
        if tick is not None:
            return tick
        stats, spec = self.sims[symbol].stats, self.specs[symbol]
        premium = (
            Decimal(stats.mark_price - stats.underlying_price) / stats.underlying_price
            if stats.underlying_price
            else Decimal(0)
        )
        rate_8h = stats.funding_rate * 8 / spec.funding_period_hours
        return FundingTick(
            symbol, self.now_ms, stats.funding_index, premium, stats.funding_rate, rate_8h
        )

    def _markets_of(self, channel: Channel) -> list[str]:
        if channel.market in (None, ALL):
            return list(self.sims)
        return [channel.market] if channel.market in self.sims else []

    def _subscribed_private(self, recipient: Recipient, channel: Channel) -> None:
        address = recipient.account
        if address is None:
            return
        account = self.accounts.get(address)
        if account is None:
            account = self.account(address, superseded=channel.name)
        for event in account.snapshot(self.now_ms):
            concrete = account_channel(event)
            if channel.name in delivery_names(concrete) and self._feeds(concrete):
                recipient.deliver(
                    encode_notification(channel.name, dumps(event.payload)), channel.name
                )

    def account(self, address: str, *, superseded: str | None = None) -> AccountSim:
        """The account's ``AccountSim``, created (and its orders rested) on first use.

        The opening's account events that would reach the subscription ``superseded``
        are not published: its subscriber gets the account's snapshot instead.
        """
        account = self.accounts.get(address)
        if account is not None:
            return account
        account = AccountSim(
            address,
            self.sims,
            seed=self._seed,  # it derives its own: timeline_seed(seed, "account", address)
            start_ms=self.now_ms,
            collateral=self.synthetic.collateral,
        )
        self.accounts[address] = account
        if address not in self._held.values():
            self._idle_since[address] = self._clock.monotonic()
        opening = [
            (address, e)
            for e in account.open(self.now_ms)
            if not (
                isinstance(e, AccountEvent)
                and superseded is not None
                and superseded in delivery_names(account_channel(e))
            )
        ]
        self._dispatch(opening)
        return account

    def unsubscribed(self, recipient: Recipient, name: str) -> None:
        self._subscriptions -= 1
        self._release(recipient, name)
        self._forget_book_feeds()

    def closed(self, recipient: Recipient, names: Iterable[str]) -> None:
        names = list(names)
        self._subscriptions -= len(names)
        for name in names:
            self._release(recipient, name)
        self._forget_book_feeds()

    # Accounts nobody holds

    def _release(self, recipient: Recipient, name: str) -> None:
        """A private subscription ended: its account may now be held by nobody."""
        if not is_private(name):
            return
        address = self._held.pop((id(recipient), name), None)
        if address is not None and address not in self._held.values():
            self._idle_since[address] = self._clock.monotonic()

    def retire_idle_accounts(self) -> list[str]:
        """Stop simulating the accounts idle past ACCOUNT_IDLE_S (and, past
        MAX_ACCOUNTS, the longest idle); returns their addresses."""
        now = self._clock.monotonic()
        idle = sorted(self._idle_since.items(), key=lambda item: item[1])
        excess = len(self.accounts) - MAX_ACCOUNTS
        retired = []
        for address, since in idle:
            if now - since < ACCOUNT_IDLE_S and len(retired) >= excess:
                break
            self.accounts.pop(address, None)
            del self._idle_since[address]
            retired.append(address)
        if retired:
            log.debug("retired %d idle accounts", len(retired))
        return retired

    def _forget_book_feeds(self) -> None:
        """Drop the snapshot feeds nobody listens to any more (the hub is already updated)."""
        for rest in list(self._book_feeds):
            names = [f"order_book.{ALL}.{rest}", *(f"order_book.{m}.{rest}" for m in self.sims)]
            if not any(self._hub.subscriber_count(n) for n in names):
                del self._book_feeds[rest]


@dataclasses.dataclass(frozen=True)
class BookFeed:
    """The part of an order_book snapshot-feed name after the market, parsed."""

    rate_ms: int
    interactive: bool
    tick: str | None  # the channel's price tick ("0_1"), None: the market's own

    @classmethod
    def parse(cls, rest: str) -> BookFeed:
        """``snapshot@15@50ms`` or ``interactive@15@100ms@0_1``."""
        kind, _depth, rate, *tick = rest.split("@")
        return cls(BOOK_RATES_MS[rate], kind == "interactive", tick[0] if tick else None)

    def group_ticks(self, spec: MarketSpec) -> int:
        """How many of the market's ticks one level of this feed spans (at least 1)."""
        if self.tick is None:
            return 1
        return max(1, int(Decimal(self.tick.replace("_", ".")) / spec.price_tick))


def _concrete(channel: Channel, symbol: str) -> str:
    """The per-market channel that feeds a subscription to ``channel`` for ``symbol``."""
    if channel.market is None:  # bare markets_summary, funding_data
        return f"{channel.family}.{symbol}"
    if channel.market == ALL:
        return channel.name.replace(f".{ALL}", f".{symbol}", 1)
    return channel.name


def account_channel(event: AccountEvent) -> str:
    """The concrete private channel an account event is published on."""
    if event.family in _PER_MARKET_PRIVATE and event.market is not None:
        return f"{event.family}.{event.market}"
    return event.family


def seed_book(spec: MarketSpec, seeded: SeedBook) -> Book:
    """A scenario's recorded book in the market's ticks and units."""
    book = Book()
    for side, levels in ((BUY, seeded.bids), (SELL, seeded.asks)):
        for price, size in levels:
            book.set(side, spec.ticks_of(price), int(size / spec.size_increment))
    return book


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the synthetic market failed", exc_info=task.exception())
