"""The catalogue of Paradex channels and the grammar of their names.

One table (``CATALOGUE``) lists every channel family of paradex-ws.md §3: whether
it is private, the forms its name takes, and the regular expression that
recognises them, the AsyncAPI schema of its payload and what feeds it.
``parse_channel`` turns a subscribed name into a ``Channel`` or
raises the error Paradex answers with. ``delivery_names`` says which subscribed
names a message published on one concrete channel reaches (``trades.BTC-USD-PERP``
also reaches ``trades.ALL``), so the hub can fan one publish out to aggregates.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from mockserver.errors import DeltasTakeNoParams, InvalidChannel

ALL = "ALL"

# Market symbols: BTC-USD-PERP, kBONK-USD-PERP, options such as BTC-USD-100000-C.
# Paradex's own old pattern cannot match three-part symbols (paradex-ws.md §3).
_SYMBOL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9_]+)+"
_MARKET_OR_ALL = rf"(?P<market>{_SYMBOL}|{ALL})"
_MARKET_ONLY = rf"(?P<market>{_SYMBOL})"

# order_book price ticks and refresh rates, as AsyncAPI v1.3.1 enumerates them.
PRICE_TICKS = (
    "0_0000001", "0_0000005", "0_000001", "0_00001", "0_0001",
    "0_001", "0_01", "0_1", "1", "10", "100",
)  # fmt: skip
BOOK_REFRESH_RATES = ("50ms", "100ms")
BOOK_DEPTH = "15"
FUNDING_COMPARISON_RATES = ("500ms", "1000ms")

# What produces a family's payloads: the synthetic market (market/engine.py), the
# synthetic account of the JWT's ``sub`` (market/accounts.py), Faker-backed
# builders seeded from the scenario's seed (market/payloads.py), or nothing.
FedBy = Literal["market", "account", "faker", "nothing"]


@dataclass(frozen=True)
class ChannelFamily:
    """One row of the catalogue: a kind of channel and how its names are formed."""

    family: str
    private: bool
    forms: tuple[str, ...]
    summary: str
    pattern: re.Pattern[str]
    # Subscribed names that a publish on a concrete name of this family also reaches,
    # as templates over the concrete name's parts ({market}, {rest}).
    aggregates: tuple[str, ...] = ()
    # The payload's schema in AsyncAPI's components.schemas; None: Paradex publishes
    # none (market/payloads.py's UNPUBLISHED_SCHEMAS has the shape we send).
    schema: str | None = None
    fed_by: FedBy = "nothing"


def _family(
    family: str,
    *,
    private: bool,
    forms: tuple[str, ...],
    summary: str,
    pattern: str,
    schema: str | None,
    fed_by: FedBy,
    aggregates: tuple[str, ...] = (),
) -> ChannelFamily:
    return ChannelFamily(
        family=family,
        private=private,
        forms=forms,
        summary=summary,
        # \Z, not $: "$" also matches before a trailing newline ("trades.X\n").
        pattern=re.compile(rf"^{pattern}\Z"),
        aggregates=aggregates,
        schema=schema,
        fed_by=fed_by,
    )


_RATES = "|".join(BOOK_REFRESH_RATES)
_TICKS = "|".join(re.escape(t) for t in PRICE_TICKS)

CATALOGUE: tuple[ChannelFamily, ...] = (
    # Public channels (paradex-ws.md §3.1)
    _family(
        "markets_summary",
        private=False,
        forms=("markets_summary", "markets_summary.ALL", "markets_summary.{market}"),
        summary="Market summaries: mark, last, best bid/ask, 24h volume, open interest, funding",
        pattern=rf"markets_summary(?:\.{_MARKET_OR_ALL})?",
        aggregates=("markets_summary", "markets_summary.ALL"),
        schema="ResponsesMarketSummaryResp",
        fed_by="market",
    ),
    _family(
        "markets",
        private=False,
        forms=("markets", "markets.{market}"),
        summary="Market specification changes (created, updated, settled, deleted)",
        pattern=rf"markets(?:\.{_MARKET_ONLY})?",
        aggregates=("markets",),
        schema="ResponsesMarketEvent",
        fed_by="market",
    ),
    _family(
        "bbo",
        private=False,
        forms=("bbo.{market}", "bbo.ALL", "bbo.{market}.interactive"),
        summary="Best bid and offer, on every change of the top of book",
        pattern=rf"bbo\.{_MARKET_OR_ALL}(?P<rest>\.interactive)?",
        aggregates=("bbo.ALL{rest}",),
        schema="ResponsesBBOResp",
        fed_by="market",
    ),
    _family(
        "trades",
        private=False,
        forms=("trades.{market}", "trades.ALL"),
        summary="Public trade prints",
        pattern=rf"trades\.{_MARKET_OR_ALL}",
        aggregates=("trades.ALL",),
        schema="ResponsesTradeResult",
        fed_by="market",
    ),
    _family(
        "funding_data",
        private=False,
        forms=("funding_data", "funding_data.ALL", "funding_data.{market}"),
        summary="Funding index, premium and rate",
        pattern=rf"funding_data(?:\.{_MARKET_OR_ALL})?",
        aggregates=("funding_data", "funding_data.ALL"),
        schema="ResponsesFundingDataResult",
        fed_by="market",
    ),
    _family(
        "funding_rate_comparison",
        private=False,
        forms=("funding_rate_comparison.ALL@{500ms|1000ms}",),
        summary="Funding rates across venues (absent from the current AsyncAPI; UNCONFIRMED)",
        pattern=rf"funding_rate_comparison\.ALL@(?:{'|'.join(FUNDING_COMPARISON_RATES)})",
        schema=None,
        fed_by="market",
    ),
    _family(
        "order_book",
        private=False,
        forms=(
            "order_book.{market}.snapshot@15@{50ms|100ms}[@{price_tick}]",
            "order_book.{market}.interactive@15@{50ms|100ms}[@{price_tick}]",
            "order_book.{market}.deltas",
            "order_book.{market}.interactive_deltas",
        ),
        summary="Order book: depth-15 snapshots at a refresh rate, or a snapshot then deltas",
        pattern=(
            rf"order_book\.(?:{_MARKET_OR_ALL}\.(?P<rest>(?:snapshot|interactive)"
            rf"@{BOOK_DEPTH}@(?:{_RATES})(?:@(?:{_TICKS}))?)"
            rf"|(?P<dmarket>{_SYMBOL})\.(?P<deltas>deltas|interactive_deltas))"
        ),
        aggregates=("order_book.ALL.{rest}",),
        schema="ResponsesPriceBookUpdate",
        fed_by="market",
    ),
    # Private channels (paradex-ws.md §3.2): `auth` first.
    _family(
        "account",
        private=True,
        forms=("account",),
        summary="Account value, collateral and margin",
        pattern="account",
        schema="ResponsesAccountSummaryResponse",
        fed_by="account",
    ),
    _family(
        "balance_events",
        private=True,
        forms=("balance_events",),
        summary="Every change of the settlement balance",
        pattern="balance_events",
        schema="ResponsesBalanceEventResponse",
        fed_by="account",
    ),
    _family(
        "fills",
        private=True,
        forms=("fills.{market}", "fills.ALL"),
        summary="The account's own fills",
        pattern=rf"fills\.{_MARKET_OR_ALL}",
        aggregates=("fills.ALL",),
        schema="ResponsesFillResult",
        fed_by="account",
    ),
    _family(
        "funding_payments",
        private=True,
        forms=("funding_payments.{market}", "funding_payments.ALL"),
        summary="Funding paid or received",
        pattern=rf"funding_payments\.{_MARKET_OR_ALL}",
        aggregates=("funding_payments.ALL",),
        schema="ResponsesFundingPayment",
        fed_by="account",
    ),
    _family(
        "orders",
        private=True,
        forms=("orders.{market}", "orders.ALL"),
        summary="The account's order updates",
        pattern=rf"orders\.{_MARKET_OR_ALL}",
        aggregates=("orders.ALL",),
        schema="ResponsesOrderResp",
        fed_by="account",
    ),
    _family(
        "positions",
        private=True,
        forms=("positions",),
        summary="The account's positions",
        pattern="positions",
        schema="ResponsesPositionResp",
        fed_by="account",
    ),
    _family(
        "tradebusts",
        private=True,
        forms=("tradebusts",),
        summary="Busted fills",
        pattern="tradebusts",
        schema="ResponsesTradebustResult",
        fed_by="faker",
    ),
    _family(
        "transaction",
        private=True,
        forms=("transaction",),
        summary="On-chain transaction states (singular name)",
        pattern="transaction",
        schema="ResponsesTransactionResponse",
        fed_by="account",
    ),
    _family(
        "transfers",
        private=True,
        forms=("transfers",),
        summary="Deposits, withdrawals and other transfers",
        pattern="transfers",
        schema="ResponsesTransferResult",
        fed_by="account",
    ),
    _family(
        "rfq",
        private=True,
        forms=("rfq", "rfq.{rfq_id}"),
        summary="Requests for quote, quotes and their results",
        pattern=r"rfq(?:\.[A-Za-z0-9_-]+)?",
        schema="ResponsesRfqEventResp",
        fed_by="faker",
    ),
    _family(
        "block_trades",
        private=True,
        forms=("block_trades",),
        summary="Block trades (only in paradex-py's enum; payload UNCONFIRMED)",
        pattern="block_trades",
        schema=None,
        fed_by="faker",
    ),
    _family(
        "mmp",
        private=True,
        forms=("mmp",),
        summary="Market-maker protection (only in paradex-py's enum; UNCONFIRMED)",
        pattern="mmp",
        schema=None,
        fed_by="nothing",
    ),
)

_BY_FAMILY = {f.family: f for f in CATALOGUE}


@dataclass(frozen=True)
class Channel:
    """A parsed channel name."""

    name: str
    family: str
    private: bool
    # The market symbol, "ALL" for an aggregate, or None for account-wide channels.
    market: str | None

    @property
    def is_aggregate(self) -> bool:
        return self.market == ALL or (self.market is None and self.family in _MARKET_FAMILIES)


# Families whose bare name (no market) means "every market".
_MARKET_FAMILIES = frozenset({"markets_summary", "markets", "funding_data"})


def family_of(name: str) -> str:
    """The family part of a channel name: everything before the first dot."""
    return name.split(".", 1)[0]


def parse_channel(name: str, *, markets: Collection[str] | None = None) -> Channel:
    """Parse a subscribed channel name as Paradex does.

    ``markets``, when given, is the set of markets that exist: a name naming
    another market is refused as an invalid channel (UNCONFIRMED: the live
    server's answer for an unknown market is not documented; refusing it is the
    plausible reading of "invalid channel", and a scenario can turn it off).
    """
    family = _BY_FAMILY.get(family_of(name))
    if family is None:
        raise InvalidChannel()
    match = family.pattern.match(name)
    if match is None:
        if family.family == "order_book" and re.match(
            rf"^order_book\.{_SYMBOL}\.(?:deltas|interactive_deltas)@", name
        ):
            # Live: the deltas feeds take no @depth@rate suffix (paradex-ws.md §3.1).
            raise DeltasTakeNoParams()
        raise InvalidChannel()
    groups = match.groupdict()
    market = groups.get("market") or groups.get("dmarket")
    if markets is not None and market not in (None, ALL) and market not in markets:
        raise InvalidChannel()
    return Channel(name=name, family=family.family, private=family.private, market=market)


@lru_cache(maxsize=4096)
def delivery_names(name: str) -> tuple[str, ...]:
    """Every subscribed name that a publish on ``name`` reaches, ``name`` first.

    A per-market name reaches its family's aggregates; an aggregate reaches the
    other spellings of the same aggregate (bare ``markets_summary`` and
    ``markets_summary.ALL`` are one audience), never a single market.
    """
    family = _BY_FAMILY.get(family_of(name))
    if family is None:
        return (name,)
    match = family.pattern.match(name)
    if match is None:
        return (name,)
    groups = match.groupdict()
    market = groups.get("market") or groups.get("dmarket")
    if groups.get("deltas"):
        return (name,)  # the per-market deltas feeds have no wider audience
    parts = {"market": market, "rest": groups.get("rest") or ""}
    names = [name]
    for template in family.aggregates:
        alias = template.format(**parts)
        if alias not in names:
            names.append(alias)
    return tuple(names)


def is_known_family(name: str) -> bool:
    return family_of(name) in _BY_FAMILY


def is_private(name: str) -> bool:
    """Whether ``name`` belongs to a private family: a dict lookup, for the publish path."""
    family = _BY_FAMILY.get(family_of(name))
    return family is not None and family.private
