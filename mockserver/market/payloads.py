"""Paradex payloads of the public channels and of the families no simulation drives.

Pure builders: model state or events in, the ``data`` dict of one Paradex
notification out. Each produces exactly the fields of its AsyncAPI schema
(``components.schemas`` of paradex-docs' ``asyncapi-2.6.0.yaml``, which all set
``additionalProperties: false``): every required field, optional ones only where
they mean something, nothing else. Decimals are strings (``MarketSpec.price_str``
/ ``size_str`` for prices and sizes, ``_decimal`` for rates and volumes),
timestamps integer milliseconds, enums spelled as the schema spells them
(paradex-ws.md §3).

Two kinds of builders:

- **Market-driven** (``bbo``, ``trade``, ``book_snapshot``, ``book_delta``,
  ``markets_summary``, ``funding_data``, ``market_event``): from the synthetic
  market's ``MarketSpec``, ``Book`` levels, events and ``MarketStats``
  (``model.py``). Same input, same dict.
- **Faker-backed** (``tradebust``, ``transaction``, ``transfer``, ``rfq``,
  ``block_trade``, ``funding_rate_comparison(s)``). The simulation drives
  three of them with a Faker of its own (``accounts.py``: ``transaction`` per
  fill, the ``transfer`` deposit at opening; ``runtime.py``:
  ``funding_rate_comparisons`` from each market's funding); the others are for
  scripts. Ids, addresses, hashes and client ids come from a ``Faker``
  made by ``fake_for(rng)``, whose randomness is that ``random.Random`` only, so
  one seed gives the same payloads byte for byte.

Families AsyncAPI does not publish (``funding_rate_comparison``,
``block_trades``) carry the JSON schema of what we send in
``UNPUBLISHED_SCHEMAS``, with where its shape comes from. Where the schema and
the live captures of paradex-ws.md disagree we follow live; ``DEVIATIONS`` lists
each case. The account-driven private families (account, fills, orders, ...)
are ``private_payloads.py``'s.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Literal, get_args

import faker

from mockserver.market.model import (
    BUY,
    SELL,
    BookDelta,
    FundingTick,
    Level,
    MarketSpec,
    MarketStats,
    Side,
    TopOfBook,
    Trade,
)

Payload = dict[str, Any]

# Decimal places of the rates we format (the live feeds' precision, paradex-ws.md §3.1:
# funding_index 18, funding_rate 14, funding_rate_8h 8; price_change_rate_24h is
# SBE's Rate8; hourly_funding_rate SBE's f12).
INDEX_PLACES = 18
PREMIUM_PLACES = 18
RATE_PLACES = 14
RATE_8H_PLACES = 8
CHANGE_RATE_PLACES = 8
HOURLY_RATE_PLACES = 12
VOLUME_PLACES = 12

_WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)


def _decimal(value: Decimal, places: int) -> str:
    """``value`` rounded to at most ``places`` decimals, without trailing zeros or ``-0``."""
    rounded = value.quantize(Decimal(1).scaleb(-places), context=_WIDE)
    if rounded.is_zero():
        return "0"
    return format(rounded.normalize(context=_WIDE), "f")


def _same_market(spec: MarketSpec, market: str) -> None:
    if market != spec.symbol:
        raise ValueError(f"an event of {market} formatted with the spec of {spec.symbol}")


# Deviations from the schemas (where live and AsyncAPI disagree, live wins).


@dataclass(frozen=True)
class Deviation:
    """One place where what we send differs from what the AsyncAPI schema says."""

    family: str
    field: str
    schema_says: str
    we_send: str
    why: str


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        family="markets_summary",
        field="price_change_rate_24h",
        schema_says='a decimal string (example "0.05")',
        we_send='"" until the market has both a 24h open reference and a trade',
        why="live sends an empty string when there is no reference (ccxt capture, "
        "paradex-ws.md §3.1)",
    ),
    Deviation(
        family="order_book",
        field="inserts (first frame of the deltas feeds)",
        schema_says="the channel streams depth-15 snapshots",
        we_send="the whole book in one update_type 's' frame, then deltas",
        why="live deltas feeds open with the whole book (115 bids/60 asks observed; "
        "paradex-ws.md §3.1, §8)",
    ),
    Deviation(
        family="tradebusts, transfers",
        field="account, counterparty, external_account, txn_hash, external_txn_hash, vault_address",
        schema_says="examples are decimal integers (felts as numbers)",
        we_send='hex strings: "0x" + 64 hex digits (40 for Ethereum addresses)',
        why="every live capture shows hex addresses (ccxt orders.ALL capture, "
        "paradex-ws.md §3.2); REST examples of hashes are hex too",
    ),
    Deviation(
        family="transaction",
        field="hash",
        schema_says="example is a decimal integer",
        we_send='"0x" + 64 hex digits',
        why="REST's responses.TransactionResponse example is a hex hash",
    ),
    Deviation(
        family="funding_rate_comparison",
        field="(the whole payload)",
        schema_says="absent from the current AsyncAPI",
        we_send="the June-2025 ResponsesFundingRateComparisonResp: asset_kind, symbol, "
        "source, last_updated_at, hourly_funding_rate",
        why="the SBE schema 1:1 still carries the channel (paradex-ws.md §3.1); UNCONFIRMED",
    ),
    Deviation(
        family="block_trades",
        field="(the whole payload)",
        schema_says="no schema anywhere (only paradex-py's channel enum)",
        we_send="REST's responses.BlockTradeDetailFullResponse without signatures",
        why="WS payloads elsewhere mirror the REST resources; UNCONFIRMED",
    ),
)


# Market-driven builders


def _price_size(spec: MarketSpec, level: Level | None) -> tuple[str, str]:
    # An empty side: Paradex's JSON for it is UNCONFIRMED (SBE sends null); "0"/"0"
    # keeps the fields decimal strings. The engine never empties a side.
    if level is None:
        return "0", "0"
    return spec.price_str(level.price), spec.size_str(level.size)


def _level(spec: MarketSpec, level: Level) -> Payload:
    return {
        "side": level.side,
        "price": spec.price_str(level.price),
        "size": spec.size_str(level.size),
    }


def bbo(spec: MarketSpec, top: TopOfBook) -> Payload:
    """``bbo.{m}``: the best bid and ask after a change (ResponsesBBOResp)."""
    _same_market(spec, top.market)
    bid, bid_size = _price_size(spec, top.bid)
    ask, ask_size = _price_size(spec, top.ask)
    return {
        "market": top.market,
        "seq_no": top.seq_no,
        "bid": bid,
        "bid_size": bid_size,
        "ask": ask,
        "ask_size": ask_size,
        "last_updated_at": top.at_ms,
    }


def trade(spec: MarketSpec, trade: Trade) -> Payload:
    """``trades.{m}``: one taker trade, ``side`` the taker's (ResponsesTradeResult)."""
    _same_market(spec, trade.market)
    return {
        "id": trade.trade_id,
        "market": trade.market,
        "side": trade.side,
        "size": spec.size_str(trade.size),
        "price": spec.price_str(trade.price),
        "created_at": trade.at_ms,
        "trade_type": trade.trade_type,
    }


def relative_spread(spec: MarketSpec, bid: Level | None, ask: Level | None) -> str | None:
    """(ask − bid) / midpoint as a decimal string, or None without both sides."""
    if bid is None or ask is None:
        return None
    bid_price = spec.price_tick * bid.price
    ask_price = spec.price_tick * ask.price
    mid = (bid_price + ask_price) / 2
    return _decimal((ask_price - bid_price) / mid, CHANGE_RATE_PLACES) if mid else None


def book_snapshot(
    spec: MarketSpec,
    *,
    seq_no: int,
    at_ms: int,
    bids: Sequence[Level],
    asks: Sequence[Level],
    interactive: bool = False,
) -> Payload:
    """``order_book.{m}.*``: a whole book, ``update_type`` "s" (ResponsesPriceBookUpdate).

    Every level is in ``inserts`` (bids best first, then asks best first);
    ``updates`` and ``deletes`` are empty: ccxt resets its book on every snapshot
    frame (paradex-ws.md §8). ``interactive`` adds ``relative_spread``, which the
    schema includes "only for interactive feed".
    """
    payload: Payload = {
        "seq_no": seq_no,
        "market": spec.symbol,
        "last_updated_at": at_ms,
        "update_type": "s",
        "inserts": [_level(spec, level) for level in (*bids, *asks)],
        "updates": [],
        "deletes": [],
    }
    if interactive:
        spread = relative_spread(spec, bids[0] if bids else None, asks[0] if asks else None)
        if spread is not None:
            payload["relative_spread"] = spread
    return payload


def book_delta(spec: MarketSpec, delta: BookDelta, *, top: TopOfBook | None = None) -> Payload:
    """``order_book.{m}.deltas``: one change of the book, ``update_type`` "d".

    New levels in ``inserts``, changed sizes in ``updates``, removed levels in
    ``deletes`` with size "0" (SBE's "qty=0 means remove level"; the JSON value
    is UNCONFIRMED, paradex-ws.md §8). ``top`` (the interactive_deltas feed) adds
    ``relative_spread``.
    """
    _same_market(spec, delta.market)
    payload: Payload = {
        "seq_no": delta.seq_no,
        "market": delta.market,
        "last_updated_at": delta.at_ms,
        "update_type": "d",
        "inserts": [_level(spec, level) for level in delta.inserts],
        "updates": [_level(spec, level) for level in delta.updates],
        "deletes": [{**_level(spec, level), "size": "0"} for level in delta.deletes],
    }
    if top is not None:
        spread = relative_spread(spec, top.bid, top.ask)
        if spread is not None:
            payload["relative_spread"] = spread
    return payload


def price_change_rate_24h(stats: MarketStats) -> str:
    """(last − open) / open over 24 h, or "" without a reference (as live sends)."""
    if stats.open_24h_price <= 0 or stats.last_trade_price <= 0:
        return ""
    change = Decimal(stats.last_trade_price - stats.open_24h_price) / stats.open_24h_price
    return _decimal(change, CHANGE_RATE_PLACES)


def markets_summary(
    spec: MarketSpec,
    *,
    stats: MarketStats,
    bid: Level | None,
    ask: Level | None,
    at_ms: int,
) -> Payload:
    """``markets_summary.{m}``: the market's rolling values (ResponsesMarketSummaryResp).

    ``bid``/``ask`` are the book's top. ``funding_rate`` is the raw rate for the
    market's funding period, not 8 h (paradex-ws.md §3.1). The option-only fields
    (greeks, ivs, rates) are left out: the simulated markets are perpetuals. The
    legacy ``oracle_price`` of a 2024 capture is not sent: the schema forbids it.
    """
    bid_price, bid_size = _price_size(spec, bid)
    ask_price, ask_size = _price_size(spec, ask)
    return {
        "symbol": spec.symbol,
        "mark_price": spec.price_str(stats.mark_price),
        "last_traded_price": spec.price_str(stats.last_trade_price),
        "bid": bid_price,
        "bid_size": bid_size,
        "ask": ask_price,
        "ask_size": ask_size,
        "volume_24h": _decimal(stats.volume_24h_quote, VOLUME_PLACES),
        "total_volume": _decimal(stats.total_volume_quote, VOLUME_PLACES),
        "created_at": at_ms,
        "underlying_price": spec.price_str(stats.underlying_price),
        "open_interest": spec.size_str(stats.open_interest),
        "funding_rate": _decimal(stats.funding_rate, RATE_PLACES),
        "price_change_rate_24h": price_change_rate_24h(stats),
    }


def funding_data(spec: MarketSpec, tick: FundingTick) -> Payload:
    """``funding_data.{m}``: one funding tick; ``funding_period_hours`` is a number."""
    _same_market(spec, tick.market)
    return {
        "market": tick.market,
        "funding_index": _decimal(tick.funding_index, INDEX_PLACES),
        "funding_premium": _decimal(tick.funding_premium, PREMIUM_PLACES),
        "funding_rate": _decimal(tick.funding_rate, RATE_PLACES),
        "funding_rate_8h": _decimal(tick.funding_rate_8h, RATE_8H_PLACES),
        "funding_period_hours": spec.funding_period_hours,
        "created_at": tick.at_ms,
    }


MarketEventType = Literal["CREATED", "DELETED", "SETTLED", "UPDATED"]
MARKET_EVENT_TYPES: tuple[MarketEventType, ...] = get_args(MarketEventType)


def market_fields(spec: MarketSpec) -> Payload:
    """The ``changed_fields`` a spec defines, typed as ResponsesMarketEvent types them."""
    return {
        "asset_kind": spec.asset_kind,
        "base_currency": spec.base_currency,
        "quote_currency": spec.quote_currency,
        "settlement_currency": spec.settlement_currency,
        "price_tick_size": format(spec.price_tick.normalize(), "f"),
        "order_size_increment": format(spec.size_increment.normalize(), "f"),
        "min_notional": format(spec.min_notional.normalize(), "f"),
        "max_order_size": format(spec.max_order_size.normalize(), "f"),
        "funding_period_hours": spec.funding_period_hours,
    }


def market_event(
    spec: MarketSpec,
    *,
    at_ms: int,
    event_type: MarketEventType = "UPDATED",
    fields: Collection[str] | None = None,
) -> Payload:
    """``markets.{m}``: a change of the market's spec (ResponsesMarketEvent).

    ``changed_fields`` holds the spec's fields (``fields`` picks some: an UPDATED
    event names what changed), as "GET /markets/history" shapes them.
    """
    if event_type not in MARKET_EVENT_TYPES:
        raise ValueError(f"event_type must be one of {MARKET_EVENT_TYPES}, not {event_type!r}")
    changed = market_fields(spec)
    if fields is not None:
        unknown = set(fields) - set(changed)
        if unknown:
            raise ValueError(f"not a field of a market spec: {sorted(unknown)}")
        changed = {k: v for k, v in changed.items() if k in fields}
    return {
        "symbol": spec.symbol,
        "event_type": event_type,
        "updated_at": at_ms,
        "changed_fields": changed,
    }


# Faker-backed builders


# The builders use only the base provider and "misc" (sha256, uuid4). Loading
# just those makes a Faker in about 1 ms; the full set takes 50-110 ms (faker
# scans and imports every provider), which was most of a fixture's cold start.
MARKET_PROVIDERS = ["faker.providers.misc"]


def fake_for(rng: random.Random) -> faker.Faker:
    """A Faker whose every draw comes from ``rng`` (so a seed reproduces it)."""
    fake = faker.Faker(providers=MARKET_PROVIDERS)
    fake.random = rng
    return fake


def account_address(fake: faker.Faker) -> str:
    """A Starknet account address: "0x" and 64 hex digits."""
    return "0x" + fake.hexify("^" * 64)


def tx_hash(fake: faker.Faker) -> str:
    """A Starknet transaction hash: "0x" and 64 hex digits."""
    return "0x" + fake.sha256()


def eth_address(fake: faker.Faker) -> str:
    """An Ethereum address: "0x" and 40 hex digits."""
    return "0x" + fake.hexify("^" * 40)


def paradex_id(fake: faker.Faker, at_ms: int) -> str:
    """An id shaped like Paradex's: the ms timestamp then 15 digits (28 digits)."""
    return f"{at_ms}{fake.numerify('#' * 15)}"


def client_id(fake: faker.Faker) -> str:
    """A client order id, as a client library would make one."""
    return fake.bothify("????-########").lower()


def tradebust(
    fake: faker.Faker, *, account: str, at_ms: int, busted_fill_id: str | None = None
) -> Payload:
    """``tradebusts``: a fill of ``account`` was busted (ResponsesTradebustResult)."""
    return {
        "account": account,
        "busted_fill_id": busted_fill_id or paradex_id(fake, at_ms - 1_000),
        "created_at": at_ms,
    }


TransactionType = Literal["TRANSACTION_FILL", "TRANSACTION_LIQUIDATE", "TRANSACTION_SETTLE_MARKET"]
TransactionState = Literal[
    "ACCEPTED_ON_L1", "ACCEPTED_ON_L2", "NOT_RECEIVED", "RECEIVED", "REJECTED", "REVERTED"
]
TRANSACTION_TYPES: tuple[TransactionType, ...] = get_args(TransactionType)
TRANSACTION_STATES: tuple[TransactionState, ...] = get_args(TransactionState)


def transaction(
    fake: faker.Faker,
    *,
    at_ms: int,
    tx_type: TransactionType = "TRANSACTION_FILL",
    state: TransactionState = "ACCEPTED_ON_L2",
    event_id: str | None = None,
) -> Payload:
    """``transaction``: an on-chain transaction reached ``state`` at ``at_ms``.

    ``id`` is the event that caused it (a fill id by default). ``completed_at`` is
    required even before the chain settles; we send the time the state was
    reached, ``created_at`` a little earlier (UNCONFIRMED: no live capture).
    """
    if tx_type not in TRANSACTION_TYPES:
        raise ValueError(f"tx_type must be one of {TRANSACTION_TYPES}, not {tx_type!r}")
    if state not in TRANSACTION_STATES:
        raise ValueError(f"state must be one of {TRANSACTION_STATES}, not {state!r}")
    created_at = at_ms - fake.random_int(200, 5_000)
    return {
        "id": event_id or paradex_id(fake, created_at),
        "type": tx_type,
        "hash": tx_hash(fake),
        "state": state,
        "created_at": created_at,
        "completed_at": at_ms,
    }


TransferKind = Literal[
    "DEPOSIT",
    "WITHDRAWAL",
    "UNWINDING",
    "VAULT_DEPOSIT",
    "VAULT_WITHDRAWAL",
    "AUTO_WITHDRAWAL",
    "AIRDROP",
]
TransferStatus = Literal["PENDING", "AVAILABLE", "COMPLETED", "FAILED"]
TRANSFER_KINDS: tuple[TransferKind, ...] = get_args(TransferKind)
TRANSFER_STATUSES: tuple[TransferStatus, ...] = get_args(TransferStatus)
BRIDGES = ("STARKGATE", "LAYERSWAP", "RHINOFI", "HYPERLANE")
_BRIDGED = frozenset({"DEPOSIT", "WITHDRAWAL", "AUTO_WITHDRAWAL"})
_VAULT = frozenset({"VAULT_DEPOSIT", "VAULT_WITHDRAWAL", "UNWINDING"})
_OUTGOING = frozenset({"WITHDRAWAL", "AUTO_WITHDRAWAL", "VAULT_DEPOSIT"})


def transfer(
    fake: faker.Faker,
    *,
    account: str,
    at_ms: int,
    amount: Decimal,
    kind: TransferKind = "DEPOSIT",
    status: TransferStatus = "COMPLETED",
    token: str = "USDC",
) -> Payload:
    """``transfers``: a deposit, withdrawal or other transfer (ResponsesTransferResult).

    The schema requires all 20 fields; those that do not apply to ``kind`` are
    empty strings ("0" for the numeric ones): bridges and the external chain only
    for deposits and withdrawals, the vault only for vault kinds, a failure
    reason only when FAILED.
    """
    if kind not in TRANSFER_KINDS:
        raise ValueError(f"kind must be one of {TRANSFER_KINDS}, not {kind!r}")
    if status not in TRANSFER_STATUSES:
        raise ValueError(f"status must be one of {TRANSFER_STATUSES}, not {status!r}")
    bridged = kind in _BRIDGED
    vault = account_address(fake) if kind in _VAULT else ""
    created_at = at_ms if status == "PENDING" else at_ms - fake.random_int(1_000, 120_000)
    unwound = "0"
    if kind == "UNWINDING":
        done = 100 if status == "COMPLETED" else fake.random_int(1, 99)
        unwound = _decimal(Decimal(done) / 100, 2)
    return {
        "id": fake.numerify("%" + "#" * 8),
        "account": account,
        "kind": kind,
        "status": status,
        "amount": _decimal(amount, 6),
        "token": token,
        "created_at": created_at,
        "last_updated_at": at_ms,
        "txn_hash": "" if status == "PENDING" else tx_hash(fake),
        "external_txn_hash": tx_hash(fake) if bridged else "",
        "socialized_loss_factor": "0",
        "bridge": fake.random_element(BRIDGES) if bridged else "",
        "external_chain": "ETHEREUM" if bridged else "",
        "external_account": eth_address(fake) if bridged else "",
        "failure_reason": "Gas fee too low" if status == "FAILED" else "",
        "direction": "OUT" if kind in _OUTGOING else "IN",
        "vault_address": vault,
        "vault_unwind_completion_percentage": unwound,
        "counterparty": vault,
        "auto_withdrawal_fee": "4.5" if kind == "AUTO_WITHDRAWAL" else "0",
    }


RfqEventType = Literal["RFQ", "QUOTE", "TRADE", "RESULT"]
RfqOperation = Literal["RFQ_CREATE", "RFQ_DELETE", "RFQ_EXECUTE"]
RFQ_TYPES: tuple[RfqEventType, ...] = get_args(RfqEventType)


def rfq(
    fake: faker.Faker,
    spec: MarketSpec,
    *,
    account: str,
    at_ms: int,
    seq: int,
    kind: RfqEventType = "RFQ",
    rfq_id: str | None = None,
    side: Side = BUY,
    price: int | None = None,
    size: int | None = None,
    closed: bool = False,
    operation: RfqOperation = "RFQ_CREATE",
    success: bool = True,
) -> Payload:
    """``rfq``: one RFQ event; exactly the sub-object ``kind`` names (ResponsesRfqEventResp).

    RFQ: the request (OPENED, or CLOSED as FILLED); QUOTE: a maker's quote on it;
    TRADE: the executed block trade; RESULT: the outcome of a REST command
    (``operation``), correlated by ``request_id``. ``price``/``size`` are ticks and
    units of ``spec`` (default: the spec's initial price, ten minimum lots).
    Fields the schema describes as "empty otherwise" are sent empty.
    """
    if kind not in RFQ_TYPES:
        raise ValueError(f"kind must be one of {RFQ_TYPES}, not {kind!r}")
    ticks = spec.ticks_of(spec.initial_price) if price is None else price
    quantity = spec.size_str(10 if size is None else size)
    failed_create = kind == "RESULT" and operation == "RFQ_CREATE" and not success
    event: Payload = {
        "type": kind,
        "account": account,
        "rfq_id": "" if failed_create else (rfq_id or fake.uuid4()),
        "seq": seq,
        "created_at": at_ms,
    }
    if kind == "RFQ":
        event["rfq"] = {
            "state": "CLOSED" if closed else "OPENED",
            "quantity": quantity,
            "expires_at": at_ms + 30_000,
            **({"close_reason": "FILLED"} if closed else {}),
        }
    elif kind == "QUOTE":
        event["quote"] = {
            "order_id": paradex_id(fake, at_ms),
            "state": "CLOSED" if closed else "OPENED",
            "role": "MAKER",
            "side": SELL if side == BUY else BUY,
            "price": spec.price_str(ticks),
            "quantity": quantity,
            "counterparty": account_address(fake),
            "close_reason": "NO_MATCH" if closed else "",
        }
    elif kind == "TRADE":
        event["trade"] = {
            "trade_id": paradex_id(fake, at_ms),
            "state": "EXECUTED",
            "side": side,
            "price": spec.price_str(ticks),
            "quantity": quantity,
            "counterparty": account_address(fake),
            "reason": "",
        }
    else:
        result: Payload = {
            "status": "SUCCESS" if success else "FAILED",
            "operation": operation,
            "request_id": fake.uuid4(),
            "http_status": 200 if success else 400,
            "message": "" if success else "risk check failed",
        }
        if operation == "RFQ_CREATE" and success:
            result["allowed_side"] = "TWO_WAY"
        if operation == "RFQ_EXECUTE" and success:
            result["order_id"] = paradex_id(fake, at_ms)
        event["result"] = result
    return event


BlockTradeStatus = Literal[
    "CREATED",
    "OFFER_COLLECTION",
    "READY_TO_EXECUTE",
    "EXECUTING",
    "PENDING_SETTLEMENT",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
]
BLOCK_TRADE_STATUSES: tuple[BlockTradeStatus, ...] = get_args(BlockTradeStatus)
_EXECUTED = frozenset({"PENDING_SETTLEMENT", "COMPLETED"})


def block_trade(
    fake: faker.Faker,
    spec: MarketSpec,
    *,
    account: str,
    at_ms: int,
    price: int,
    size: int,
    status: BlockTradeStatus = "COMPLETED",
    counterparty: str | None = None,
) -> Payload:
    """``block_trades``: a direct block trade of ``account`` with one counterparty.

    The payload is UNCONFIRMED (paradex-py names the channel, nobody documents
    it): we send REST's ``responses.BlockTradeDetailFullResponse`` (GET
    /block-trades/{id}) without ``signatures``, one market in ``trades``;
    ``executed_at`` once executed, ``failure_reason`` when FAILED (naming the
    party by role, as REST does). ``account`` is the initiator and the maker.
    """
    if status not in BLOCK_TRADE_STATUSES:
        raise ValueError(f"status must be one of {BLOCK_TRADE_STATUSES}, not {status!r}")
    other = counterparty or account_address(fake)
    created_at = at_ms - fake.random_int(1_000, 30_000)
    detail: Payload = {
        "trade_id": paradex_id(fake, at_ms),
        "market": spec.symbol,
        "price": spec.price_str(price),
        "size": spec.size_str(size),
        "maker_account": account,
        "taker_account": other,
    }
    if status in _EXECUTED:
        detail["executed_at"] = at_ms
    payload: Payload = {
        "block_id": paradex_id(fake, created_at),
        "block_type": "DIRECT",
        "status": status,
        "initiator": account,
        "required_signers": [account, other],
        "nonce": fake.numerify("%" + "#" * 9),
        "created_at": created_at,
        "last_updated_at": at_ms,
        "block_expiration": created_at + 300_000,
        "trades": {spec.symbol: detail},
    }
    if status == "FAILED":
        payload["failure_reason"] = "<taker> has insufficient margin"
        detail["failure_reason"] = payload["failure_reason"]
    return payload


# funding_rate_comparison: Paradex's own rate and other venues'.
FUNDING_SOURCES = (
    "SOURCE_PARADEX",
    "SOURCE_BINANCE",
    "SOURCE_BYBIT",
    "SOURCE_OKX",
    "SOURCE_HYPERLIQUID",
)
_ASSET_KINDS = {"PERP": "ASSET_KIND_PERPETUAL_FUTURE", "PERP_OPTION": "ASSET_KIND_OPTION"}


def funding_rate_comparison(
    spec: MarketSpec,
    *,
    at_ms: int,
    hourly_funding_rate: Decimal,
    source: str = "SOURCE_PARADEX",
) -> Payload:
    """``funding_rate_comparison.ALL@{rate}``: one venue's hourly rate for the market.

    The June-2025 ResponsesFundingRateComparisonResp (absent from the current
    AsyncAPI; UNCONFIRMED): enums in their protobuf spelling, as the JSON feed
    sends them (paradex-py's SBE codec restores the prefixes to match).
    """
    return {
        "asset_kind": _ASSET_KINDS.get(spec.asset_kind, "ASSET_KIND_PERPETUAL_FUTURE"),
        "symbol": spec.symbol,
        "source": source,
        "last_updated_at": at_ms,
        "hourly_funding_rate": _decimal(hourly_funding_rate, HOURLY_RATE_PLACES),
    }


def funding_rate_comparisons(
    fake: faker.Faker, spec: MarketSpec, *, at_ms: int, funding_rate: Decimal
) -> list[Payload]:
    """One comparison per venue: Paradex's from the simulated ``funding_rate`` (per
    funding period), the other venues' the same rate jittered by ``fake``.
    """
    hourly = funding_rate / spec.funding_period_hours
    frames = [funding_rate_comparison(spec, at_ms=at_ms, hourly_funding_rate=hourly)]
    for source in FUNDING_SOURCES[1:]:
        jitter = Decimal(fake.random_int(-40, 40)) / 100  # ±40 % of Paradex's rate
        offset = Decimal(fake.random_int(-5, 5)) / 1_000_000  # ±0.5 bp an hour
        frames.append(
            funding_rate_comparison(
                spec, at_ms=at_ms, hourly_funding_rate=hourly * (1 + jitter) + offset, source=source
            )
        )
    return frames


# The schemas of what we send where AsyncAPI publishes none (draft 7, strict).

_STR = {"type": "string"}
_INT = {"type": "integer"}

UNPUBLISHED_SCHEMAS: dict[str, dict[str, Any]] = {
    # Copied from paradex-docs' asyncapi-2.6.0.yaml @f4c45dc7 (2025-06-19),
    # components.schemas.ResponsesFundingRateComparisonResp.
    "funding_rate_comparison": {
        "type": "object",
        "additionalProperties": False,
        "required": ["asset_kind", "symbol", "source", "last_updated_at", "hourly_funding_rate"],
        "properties": {
            "asset_kind": _STR,
            "symbol": _STR,
            "source": _STR,
            "last_updated_at": _INT,
            "hourly_funding_rate": _STR,
        },
    },
    # Fields and types of openapi.json's responses.BlockTradeDetailFullResponse and
    # responses.BlockTradeDetailResponse; which of them are required is our choice.
    "block_trades": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "block_id",
            "block_type",
            "status",
            "initiator",
            "required_signers",
            "nonce",
            "created_at",
            "last_updated_at",
            "block_expiration",
            "trades",
        ],
        "properties": {
            "block_id": _STR,
            "block_type": {"type": "string", "enum": ["DIRECT", "OFFER_BASED"]},
            "status": {"type": "string", "enum": list(BLOCK_TRADE_STATUSES)},
            "initiator": _STR,
            "required_signers": {"type": "array", "items": _STR},
            "nonce": _STR,
            "created_at": _INT,
            "last_updated_at": _INT,
            "block_expiration": _INT,
            "parent_block_id": _STR,
            "failure_reason": _STR,
            "trades": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "trade_id",
                        "market",
                        "price",
                        "size",
                        "maker_account",
                        "taker_account",
                    ],
                    "properties": {
                        "trade_id": _STR,
                        "market": _STR,
                        "price": _STR,
                        "size": _STR,
                        "maker_account": _STR,
                        "taker_account": _STR,
                        "executed_at": _INT,
                        "failure_reason": _STR,
                    },
                },
            },
        },
    },
}
