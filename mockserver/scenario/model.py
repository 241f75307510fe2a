"""A loaded scenario: plain frozen dataclasses, nothing here reads files."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from mockserver.errors import ErrorShape
from mockserver.faults.model import Fault
from mockserver.market.model import MarketSpec
from mockserver.market.specs import spec_for
from mockserver.protocol import AuthPolicy
from mockserver.scenario.templates import Template

Timeline = Literal["shared", "per_subscription"]
TIMELINES: tuple[Timeline, ...] = ("shared", "per_subscription")


@dataclass(frozen=True)
class Emission:
    """One entry of a channel's ``messages``: a payload at a time, maybe repeated."""

    data: Template
    at_s: float = 0.0
    every_s: float | None = None  # None: once
    count: int | None = None  # with every_s: how many times; None: forever
    account: str | None = None  # private channels: only this account's sessions
    line: int = 0


@dataclass(frozen=True)
class ChannelScript:
    """What a scenario publishes on one channel."""

    channel: str
    timeline: Timeline
    messages: tuple[Emission, ...] = ()
    # Sent to each new subscriber right after the subscribe reply.
    on_subscribe: tuple[Template, ...] = ()
    # `on_subscribe: last`: the latest message published on the channel instead.
    on_subscribe_last: bool = False
    loop_s: float | None = None  # the messages repeat with this period
    line: int = 0


@dataclass(frozen=True)
class CloseAction:
    """Close the WebSocket with a code and reason (rather than dropping TCP)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """The scenario's answers where paradex-ws.md says UNCONFIRMED."""

    # JSON-RPC 2.0: notifications (no "id") get no reply. True: acknowledge them.
    reply_to_notifications: bool = False
    # Subscribing to a market the scenario does not list: "reject" (invalid channel)
    # or "accept".
    unknown_markets: Literal["reject", "accept"] = "reject"
    # A missing pong: None drops TCP without a close frame (what a server that
    # simply times the connection out does); a CloseAction sends a close frame.
    on_pong_timeout: CloseAction | None = None


# The synthetic market (docs/market-design.md)

# What `synthetic.channels` may name; "private" is every account-driven family.
SYNTHETIC_FAMILIES = ("bbo", "trades", "order_book", "markets_summary", "funding_data", "private")
PRIVATE_FAMILIES = (
    "account", "balance_events", "fills", "funding_payments", "orders", "positions",
    "transaction", "transfers",
)  # fmt: skip
# Fed from another family's state, and with it: the comparison with other venues is
# built from the markets' funding.
DERIVED_FAMILIES = {"funding_rate_comparison": "funding_data"}
SyntheticClock = Literal["wall", "scenario"]
SYNTHETIC_CLOCKS: tuple[SyntheticClock, ...] = ("wall", "scenario")
DEFAULT_EPOCH = "2026-01-01T00:00:00Z"
DEFAULT_EPOCH_MS = 1_767_225_600_000  # DEFAULT_EPOCH in ms since 1970
DEFAULT_COLLATERAL = Decimal("100000")


@dataclass(frozen=True, kw_only=True)
class MarketSettings:
    """A ``markets:`` mapping entry: what it overrides of the market's built-in spec.

    None keeps the value of ``mockserver.market.specs.spec_for(symbol)``. Sizes are
    in the base currency (``level_size: 0.5`` is half a BTC), as on the wire.
    """

    price: Decimal | None = None
    tick: Decimal | None = None
    size_increment: Decimal | None = None
    volatility: float | None = None
    book_levels: int | None = None
    level_size: Decimal | None = None
    trades_per_s: float | None = None
    requotes_per_s: float | None = None
    funding_period_hours: int | None = None
    line: int = 0

    def spec_overrides(self) -> dict[str, Any]:
        """The given settings as ``MarketSpec`` fields (all but ``level_size``, which is
        in units of the effective ``size_increment``: see ``market_spec``)."""
        names = {
            "price": "initial_price",
            "tick": "price_tick",
            "size_increment": "size_increment",
            "volatility": "volatility_per_sqrt_s",
            "book_levels": "book_levels",
            "trades_per_s": "trades_per_s",
            "requotes_per_s": "requotes_per_s",
            "funding_period_hours": "funding_period_hours",
        }
        return {
            field_name: getattr(self, name)
            for name, field_name in names.items()
            if getattr(self, name) is not None
        }


def market_spec(symbol: str, settings: MarketSettings | None = None) -> MarketSpec:
    """The spec a synthetic market runs with: the built-in one, with the settings applied."""
    spec = spec_for(symbol, **(settings.spec_overrides() if settings else {}))
    if settings is not None and settings.level_size is not None:
        units = int(settings.level_size / spec.size_increment)
        spec = dataclasses.replace(spec, level_units=max(1, units))
    return spec


@dataclass(frozen=True)
class SeedBook:
    """A recorded book to start a market from: (price, size) levels, best first."""

    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class Synthetic:
    """The ``synthetic:`` section: a seeded market feeding the scenario's markets."""

    families: frozenset[str] = frozenset(SYNTHETIC_FAMILIES)
    # "wall": payload times are the wall clock (at start) plus the time elapsed;
    # "scenario": they count from ``epoch_ms``, so two runs agree byte for byte.
    clock: SyntheticClock = "wall"
    epoch_ms: int = DEFAULT_EPOCH_MS
    collateral: Decimal = DEFAULT_COLLATERAL  # each synthetic account's, in USDC
    books: Mapping[str, SeedBook] = field(default_factory=dict)
    line: int = 0

    def feeds(self, family: str) -> bool:
        """Whether the synthetic market publishes on this channel family."""
        if family in PRIVATE_FAMILIES:
            return "private" in self.families
        return DERIVED_FAMILIES.get(family, family) in self.families


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    source: str  # the file it came from, or "<string>"
    description: str = ""
    seed: int = 0
    markets: tuple[str, ...] = ()
    # Per market, what a `markets:` mapping sets (absent: the built-in spec).
    market_settings: Mapping[str, MarketSettings] = field(default_factory=dict)
    timeline: Timeline = "shared"
    channels: tuple[ChannelScript, ...] = ()
    behaviour: Behaviour = field(default_factory=Behaviour)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    errors: Mapping[str, ErrorShape] = field(default_factory=dict)
    synthetic: Synthetic | None = None  # None: no synthetic market, only the scripts
    # Armed when the scenario starts (docs/faults.md); `at` counts from then.
    faults: tuple[Fault, ...] = ()

    def script(self, channel: str) -> ChannelScript | None:
        return next((c for c in self.channels if c.channel == channel), None)
