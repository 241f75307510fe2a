"""Every payload builder of ``market/payloads.py`` against its family's schema.

For each family of the channel catalogue the builders make payloads from a
hand-built ``MarketSpec``, ``Book`` and events (no engine), and each is checked
against the family's AsyncAPI schema (``components.schemas`` of
``../shared/paradex-spec/asyncapi-2.6.0.yaml``, strict: the schemas forbid unknown
fields) or, for the families Paradex publishes no schema for, against
``payloads.UNPUBLISHED_SCHEMAS``. Decimal strings must parse, timestamps must be
13-digit millisecond integers, and the Faker-backed builders must give the same
payload for the same seed. Without the spec files these tests fail, never skip.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from jsonschema import Draft7Validator
from paradex_spec import ASYNCAPI, OPENAPI, document, payload_refs, problems, validator

from mockserver.channels import CATALOGUE
from mockserver.market import payloads
from mockserver.market.model import (
    BUY,
    SELL,
    Book,
    BookDelta,
    FundingTick,
    Level,
    LevelFill,
    MarketSpec,
    MarketStats,
    TopOfBook,
    Trade,
)
from mockserver.market.payloads import DEVIATIONS, UNPUBLISHED_SCHEMAS, Payload, fake_for

# Families whose payloads other modules build (and test): the account-driven ones
# are market/private_payloads.py's; mmp streams nothing (no source shows a payload).
BUILT_ELSEWHERE = frozenset(
    {"account", "balance_events", "fills", "funding_payments", "orders", "positions"}
)
SILENT = frozenset({"mmp"})

# Fields that carry decimal strings, wherever they appear in a payload.
DECIMAL_FIELDS = frozenset(
    {
        "amount",
        "ask",
        "ask_size",
        "auto_withdrawal_fee",
        "bid",
        "bid_size",
        "funding_index",
        "funding_premium",
        "funding_rate",
        "funding_rate_8h",
        "hourly_funding_rate",
        "last_traded_price",
        "mark_price",
        "max_order_size",
        "min_notional",
        "open_interest",
        "order_size_increment",
        "price",
        "price_change_rate_24h",
        "price_tick_size",
        "quantity",
        "relative_spread",
        "size",
        "socialized_loss_factor",
        "total_volume",
        "underlying_price",
        "vault_unwind_completion_percentage",
        "volume_24h",
    }
)
# Decimal fields that may be "" (each one a documented deviation).
MAY_BE_EMPTY = frozenset({"price_change_rate_24h"})
TIMESTAMP_FIELDS = frozenset({"expires_at", "block_expiration", "last_seen_notification"})
# Starknet addresses and hashes; external_account is an Ethereum address.
STARKNET_FIELDS = frozenset(
    {
        "account",
        "counterparty",
        "external_txn_hash",
        "hash",
        "initiator",
        "maker_account",
        "taker_account",
        "txn_hash",
        "vault_address",
    }
)
STARKNET_HEX = re.compile(r"0x[0-9a-f]{64}")
ETHEREUM_HEX = re.compile(r"0x[0-9a-f]{40}")
PLAIN_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")

SEED = 20240601
T0 = 1_718_179_273_230  # a 13-digit simulation time (ms)


# The spec files


def schema_validator(family: str) -> Draft7Validator:
    """The validator of ``family``'s payload, failing clearly when its schema is missing."""
    entry = next((f for f in CATALOGUE if f.family == family), None)
    assert entry is not None, f"{family} is not a family of the catalogue"
    if entry.schema is None:
        assert family in UNPUBLISHED_SCHEMAS, (
            f"{family}: the catalogue names no AsyncAPI schema and payloads.UNPUBLISHED_SCHEMAS "
            "has none either"
        )
        return Draft7Validator(UNPUBLISHED_SCHEMAS[family])
    if entry.schema not in document(ASYNCAPI).get("components", {}).get("schemas", {}):
        pytest.fail(
            f"{family}: schema {entry.schema} (channels.CATALOGUE) is missing from "
            f"components.schemas of {ASYNCAPI}",
            pytrace=False,
        )
    return validator(entry.schema)


def openapi_validator(name: str) -> Draft7Validator:
    assert name in document(OPENAPI)["components"]["schemas"], f"{name} is missing from {OPENAPI}"
    return validator(name, spec=OPENAPI)


# A hand-built market


BTC = MarketSpec(
    symbol="BTC-USD-PERP",
    base_currency="BTC",
    price_tick=Decimal("0.1"),
    size_increment=Decimal("0.001"),
    initial_price=Decimal("65000"),
)
BONK = MarketSpec(
    symbol="kBONK-USD-PERP",
    base_currency="kBONK",
    price_tick=Decimal("0.000001"),
    size_increment=Decimal("1"),
    initial_price=Decimal("0.028776"),
    funding_period_hours=1,
)
SPECS = (BTC, BONK)
ACCOUNT = "0x" + "4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7512ab"


def book_of(spec: MarketSpec, levels: int = 20) -> Book:
    """A book of ``levels`` levels a side around the spec's initial price."""
    mid = spec.ticks_of(spec.initial_price)
    book = Book()
    for i in range(levels):
        book.set(BUY, mid - 1 - i, 100 + 7 * i)
        book.set(SELL, mid + 1 + i, 90 + 5 * i)
    return book


def stats_of(spec: MarketSpec, *, traded: bool = True) -> MarketStats:
    mid = spec.ticks_of(spec.initial_price)
    return MarketStats(
        last_trade_price=mid + 3 if traded else 0,
        volume_24h_quote=Decimal("1234567.8901"),
        total_volume_quote=Decimal("98765432.1"),
        open_24h_price=mid - 40 if traded else 0,
        open_interest=spec.open_interest_units,
        mark_price=mid,
        underlying_price=mid - 2,
        funding_rate=Decimal("0.0000123456789012345"),
        funding_index=Decimal("-0.551694014226244835"),
    )


def top_of(spec: MarketSpec, book: Book, seq_no: int = 41) -> TopOfBook:
    return TopOfBook(spec.symbol, seq_no, T0, book.best(BUY), book.best(SELL))


def a_trade(spec: MarketSpec, book: Book) -> Trade:
    ask = book.levels(SELL, 2)
    return Trade(
        market=spec.symbol,
        trade_id=f"{T0}201709233240002",
        seq_no=43,
        at_ms=T0,
        side=BUY,
        price=ask[1].price,
        size=ask[0].size + 3,
        fills=(LevelFill(ask[0].price, ask[0].size, ((ACCOUNT, 5),)), LevelFill(ask[1].price, 3)),
    )


def a_delta(spec: MarketSpec, book: Book) -> BookDelta:
    bid, ask = book.best(BUY), book.best(SELL)
    assert bid is not None
    assert ask is not None
    return BookDelta(
        market=spec.symbol,
        seq_no=42,
        at_ms=T0,
        inserts=(Level(BUY, bid.price + 1, 12),),
        updates=(Level(SELL, ask.price, ask.size - 4),),
        deletes=(Level(SELL, ask.price + 19, 0),),
    )


# Payloads per family

Builder = Callable[[], list[Payload]]


def _markets_summary() -> list[Payload]:
    found = []
    for spec in SPECS:
        book = book_of(spec)
        for traded in (True, False):
            found.append(
                payloads.markets_summary(
                    spec,
                    stats=stats_of(spec, traded=traded),
                    bid=book.best(BUY),
                    ask=book.best(SELL),
                    at_ms=T0,
                )
            )
    return found


def _markets() -> list[Payload]:
    return [
        payloads.market_event(spec, at_ms=T0, event_type=event_type)
        for spec in SPECS
        for event_type in payloads.MARKET_EVENT_TYPES
    ] + [payloads.market_event(BTC, at_ms=T0, fields=("min_notional", "funding_period_hours"))]


def _bbo() -> list[Payload]:
    found = [payloads.bbo(spec, top_of(spec, book_of(spec))) for spec in SPECS]
    found.append(payloads.bbo(BTC, TopOfBook(BTC.symbol, 1, T0, None, None)))
    return found


def _trades() -> list[Payload]:
    return [payloads.trade(spec, a_trade(spec, book_of(spec))) for spec in SPECS]


def _funding_data() -> list[Payload]:
    return [
        payloads.funding_data(
            spec,
            FundingTick(
                market=spec.symbol,
                at_ms=T0,
                funding_index=Decimal("-0.551694014226244835"),
                funding_premium=Decimal("-0.000509914923994872836"),
                funding_rate=Decimal("-0.00014969570582"),
                funding_rate_8h=Decimal("-0.00014969"),
            ),
        )
        for spec in SPECS
    ]


def _order_book() -> list[Payload]:
    found = []
    for spec in SPECS:
        book = book_of(spec)
        for interactive in (False, True):
            found.append(
                payloads.book_snapshot(
                    spec,
                    seq_no=42,
                    at_ms=T0,
                    bids=book.levels(BUY, 15),
                    asks=book.levels(SELL, 15),
                    interactive=interactive,
                )
            )
        found.append(payloads.book_delta(spec, a_delta(spec, book)))
        found.append(payloads.book_delta(spec, a_delta(spec, book), top=top_of(spec, book)))
    empty = payloads.book_snapshot(BTC, seq_no=1, at_ms=T0, bids=[], asks=[], interactive=True)
    return [*found, empty]


def _funding_rate_comparison(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    return [
        frame
        for spec in SPECS
        for frame in payloads.funding_rate_comparisons(
            fake, spec, at_ms=T0, funding_rate=Decimal("-0.00014969570582")
        )
    ]


def _tradebusts(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    return [
        payloads.tradebust(fake, account=ACCOUNT, at_ms=T0),
        payloads.tradebust(fake, account=ACCOUNT, at_ms=T0, busted_fill_id="8615262148007718462"),
    ]


def _transaction(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    return [
        payloads.transaction(fake, at_ms=T0, tx_type=tx_type, state=state)
        for tx_type in payloads.TRANSACTION_TYPES
        for state in payloads.TRANSACTION_STATES
    ]


def _transfers(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    return [
        payloads.transfer(
            fake, account=ACCOUNT, at_ms=T0, amount=Decimal("1500.25"), kind=kind, status=status
        )
        for kind in payloads.TRANSFER_KINDS
        for status in payloads.TRANSFER_STATUSES
    ]


def _rfq(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    found = []
    seq = 0
    for kind in payloads.RFQ_TYPES:
        for closed in (False, True):
            seq += 1
            found.append(
                payloads.rfq(
                    fake, BTC, account=ACCOUNT, at_ms=T0, seq=seq, kind=kind, closed=closed
                )
            )
    for operation in ("RFQ_CREATE", "RFQ_DELETE", "RFQ_EXECUTE"):
        for success in (True, False):
            seq += 1
            found.append(
                payloads.rfq(
                    fake,
                    BTC,
                    account=ACCOUNT,
                    at_ms=T0,
                    seq=seq,
                    kind="RESULT",
                    operation=operation,  # type: ignore[arg-type]
                    success=success,
                )
            )
    return found


def _block_trades(seed: int = SEED) -> list[Payload]:
    fake = fake_for(random.Random(seed))
    return [
        payloads.block_trade(
            fake, BTC, account=ACCOUNT, at_ms=T0, price=650_000, size=10_500, status=status
        )
        for status in payloads.BLOCK_TRADE_STATUSES
    ]


BUILDERS: dict[str, Builder] = {
    "markets_summary": _markets_summary,
    "markets": _markets,
    "bbo": _bbo,
    "trades": _trades,
    "funding_data": _funding_data,
    "funding_rate_comparison": _funding_rate_comparison,
    "order_book": _order_book,
    "tradebusts": _tradebusts,
    "transaction": _transaction,
    "transfers": _transfers,
    "rfq": _rfq,
    "block_trades": _block_trades,
}
# Built by payloads.py, but driven by the synthetic account (market/accounts.py).
ACCOUNT_DRIVEN = frozenset({"transaction", "transfers"})
SEEDED: dict[str, Callable[[int], list[Payload]]] = {
    "funding_rate_comparison": _funding_rate_comparison,
    "tradebusts": _tradebusts,
    "transaction": _transaction,
    "transfers": _transfers,
    "rfq": _rfq,
    "block_trades": _block_trades,
}


def fields(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of a payload, nested objects and arrays included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}/{key}", key, item
            yield from fields(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from fields(item, f"{path}/{i}")


# The catalogue and the schemas


def test_every_family_is_built_here_or_accounted_for() -> None:
    """Each catalogue family is built by these tests, by private_payloads, or streams nothing."""
    families = {f.family for f in CATALOGUE}
    assert set(BUILDERS) | BUILT_ELSEWHERE | SILENT == families
    assert not set(BUILDERS) & (BUILT_ELSEWHERE | SILENT)


@pytest.mark.parametrize("family", [f.family for f in CATALOGUE])
def test_every_family_has_a_schema(family: str) -> None:
    """A family names an AsyncAPI schema that exists, or is one we publish ourselves."""
    entry = next(f for f in CATALOGUE if f.family == family)
    if family in SILENT:
        assert entry.schema is None
        assert entry.fed_by == "nothing"
        return
    schema_validator(family)  # fails with the missing schema's name
    assert (entry.schema is None) == (family in UNPUBLISHED_SCHEMAS), family


def test_catalogue_schemas_are_asyncapis_channel_payloads() -> None:
    """The catalogue's schema of each family AsyncAPI documents is the one its channel carries."""
    refs = payload_refs()
    catalogue = {f.family: f.schema for f in CATALOGUE}
    assert {family: catalogue.get(family) for family in refs} == refs
    published = {family for family, schema in catalogue.items() if schema is not None}
    assert published == set(refs), published ^ set(refs)


def test_unpublished_schemas_are_strict_draft7() -> None:
    """Our own schemas are valid draft 7 and forbid unknown fields, as Paradex's do."""
    for family, schema in UNPUBLISHED_SCHEMAS.items():
        Draft7Validator.check_schema(schema)
        assert schema["additionalProperties"] is False, family
        assert set(schema["required"]) <= set(schema["properties"]), family


def test_fed_by_matches_the_builders() -> None:
    """Families built by payloads.py are fed by the market or Faker; account ones by accounts."""
    for entry in CATALOGUE:
        if entry.family in BUILT_ELSEWHERE or entry.family in ACCOUNT_DRIVEN:
            assert entry.fed_by == "account", entry.family
        elif entry.family in SEEDED and entry.family != "funding_rate_comparison":
            assert entry.fed_by == "faker", entry.family
        elif entry.family in BUILDERS:
            assert entry.fed_by == "market", entry.family


# The payloads


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_payloads_match_the_schema(family: str) -> None:
    """Every payload a builder makes validates strictly against its family's schema."""
    validator = schema_validator(family)
    built = BUILDERS[family]()
    assert built, family
    report = [
        f"{problem}; data={json.dumps(payload)[:300]}"
        for payload in built
        for problem in problems(validator, payload)
    ]
    assert not report, f"{family} payloads that do not match the schema:\n" + "\n".join(report)


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_decimals_are_plain_decimal_strings(family: str) -> None:
    """Decimal fields are strings that parse as finite Decimals, in plain notation."""
    for payload in BUILDERS[family]():
        for path, key, value in fields(payload):
            if key not in DECIMAL_FIELDS or isinstance(value, (dict, list)):
                continue
            assert isinstance(value, str), f"{family}{path}: {value!r} is not a string"
            if value == "" and key in MAY_BE_EMPTY:
                continue
            try:
                number = Decimal(value)
            except InvalidOperation:
                pytest.fail(f"{family}{path}: {value!r} is not a decimal")
            assert number.is_finite(), f"{family}{path}: {value!r}"
            # Plain notation, no exponent, no trailing zeros, no "-0".
            assert PLAIN_DECIMAL.fullmatch(value), f"{family}{path}: {value!r}"
            assert value != "-0", f"{family}{path}"


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_timestamps_are_millisecond_integers(family: str) -> None:
    """Every timestamp is an int of 13 digits (milliseconds), never a string or a float."""
    seen = 0
    for payload in BUILDERS[family]():
        for path, key, value in fields(payload):
            if key.endswith("_at") or key in TIMESTAMP_FIELDS:
                seen += 1
                assert type(value) is int, f"{family}{path}: {value!r} is not an int"
                assert len(str(value)) == 13, f"{family}{path}: {value} is not in ms"
    assert seen, f"{family}: no timestamp found"


@pytest.mark.parametrize("family", sorted(SEEDED))
def test_addresses_and_hashes_are_hex(family: str) -> None:
    """Accounts and Starknet hashes are 0x and 64 hex digits; Ethereum accounts 0x and 40."""
    for payload in SEEDED[family](SEED):
        for path, key, value in fields(payload):
            if key == "required_signers":
                assert all(STARKNET_HEX.fullmatch(v) for v in value), f"{family}{path}: {value}"
            elif key in STARKNET_FIELDS and value != "":  # "": does not apply to this kind
                assert STARKNET_HEX.fullmatch(value), f"{family}{path}: {value}"
            elif key == "external_account" and value != "":
                assert ETHEREUM_HEX.fullmatch(value), f"{family}{path}: {value}"


@pytest.mark.parametrize("family", sorted(SEEDED))
def test_faker_builders_are_deterministic(family: str) -> None:
    """The same seed gives the same payloads; another seed gives other ids."""
    first = SEEDED[family](SEED)
    assert first == SEEDED[family](SEED)
    assert json.dumps(first) == json.dumps(SEEDED[family](SEED))
    assert first != SEEDED[family](SEED + 1)


def test_faker_draws_only_from_the_given_rng() -> None:
    """Reseeding the global random module does not change a seeded Faker's draws."""
    random.seed(1)
    first = payloads.account_address(fake_for(random.Random(5)))
    random.seed(2)
    assert payloads.account_address(fake_for(random.Random(5))) == first


# What the payloads say


def test_bbo_is_the_top_of_book() -> None:
    """bbo carries the book's best bid and ask, the book seq_no and the event time."""
    book = book_of(BTC)
    payload = payloads.bbo(BTC, top_of(BTC, book, seq_no=20784))
    assert payload == {
        "market": "BTC-USD-PERP",
        "seq_no": 20784,
        "bid": "64999.9",
        "bid_size": "0.1",
        "ask": "65000.1",
        "ask_size": "0.09",
        "last_updated_at": T0,
    }


def test_trade_is_the_taker_print() -> None:
    """A trade prints the taker's side, the last price reached and the total size."""
    book = book_of(BTC)
    payload = payloads.trade(BTC, a_trade(BTC, book))
    assert payload["side"] == "BUY"
    assert payload["price"] == "65000.2"
    assert payload["size"] == "0.093"
    assert payload["trade_type"] == "FILL"
    assert payload["id"] == f"{T0}201709233240002"


def test_snapshot_holds_the_whole_book_in_inserts() -> None:
    """A snapshot lists every level, bids then asks best first, with empty updates/deletes."""
    book = book_of(BONK, levels=30)
    bids, asks = book.levels(BUY), book.levels(SELL)
    payload = payloads.book_snapshot(BONK, seq_no=7, at_ms=T0, bids=bids, asks=asks)
    assert payload["update_type"] == "s"
    assert payload["updates"] == payload["deletes"] == []
    assert len(payload["inserts"]) == 60
    assert payload["inserts"][0] == {"side": "BUY", "price": "0.028775", "size": "100"}
    assert payload["inserts"][30] == {"side": "SELL", "price": "0.028777", "size": "90"}
    assert "relative_spread" not in payload


def test_delta_lists_each_kind_of_change() -> None:
    """A delta is update_type d, with new levels, changed sizes and removals (size "0")."""
    book = book_of(BTC)
    payload = payloads.book_delta(BTC, a_delta(BTC, book))
    assert payload["update_type"] == "d"
    assert payload["seq_no"] == 42
    assert payload["inserts"] == [{"side": "BUY", "price": "65000", "size": "0.012"}]
    assert payload["updates"] == [{"side": "SELL", "price": "65000.1", "size": "0.086"}]
    assert payload["deletes"] == [{"side": "SELL", "price": "65002", "size": "0"}]


def test_interactive_feeds_carry_the_relative_spread() -> None:
    """relative_spread is (ask - bid) / mid, only on the interactive feeds."""
    book = book_of(BTC)
    snapshot = payloads.book_snapshot(
        BTC, seq_no=1, at_ms=T0, bids=book.levels(BUY), asks=book.levels(SELL), interactive=True
    )
    expected = (Decimal("65000.1") - Decimal("64999.9")) / Decimal("65000")
    assert abs(Decimal(snapshot["relative_spread"]) - expected) < Decimal("1e-8")
    delta = payloads.book_delta(BTC, a_delta(BTC, book), top=top_of(BTC, book))
    assert delta["relative_spread"] == snapshot["relative_spread"]


def test_markets_summary_reports_the_stats() -> None:
    """markets_summary names the market in symbol and reports book top, stats and 24h change."""
    book = book_of(BTC)
    stats = stats_of(BTC)
    payload = payloads.markets_summary(
        BTC, stats=stats, bid=book.best(BUY), ask=book.best(SELL), at_ms=T0
    )
    assert payload["symbol"] == "BTC-USD-PERP"
    assert (payload["bid"], payload["ask"]) == ("64999.9", "65000.1")
    assert payload["last_traded_price"] == "65000.3"
    assert payload["mark_price"] == "65000"
    assert payload["underlying_price"] == "64999.8"
    assert payload["open_interest"] == "5000"
    assert payload["volume_24h"] == "1234567.8901"
    assert payload["total_volume"] == "98765432.1"
    assert payload["funding_rate"] == "0.0000123456789"
    change = (Decimal("65000.3") - Decimal("64996")) / Decimal("64996")
    assert Decimal(payload["price_change_rate_24h"]) == round(change, 8)


def test_price_change_without_a_reference_is_empty() -> None:
    """Before a trade or a 24h open there is no change rate: "" as live sends."""
    assert payloads.price_change_rate_24h(MarketStats()) == ""
    assert payloads.price_change_rate_24h(MarketStats(open_24h_price=1000)) == ""
    rate = payloads.price_change_rate_24h(MarketStats(open_24h_price=1000, last_trade_price=950))
    assert rate == "-0.05"


def test_funding_period_hours_is_a_number() -> None:
    """funding_data's funding_period_hours is the spec's period as a JSON number."""
    btc, bonk = _funding_data()
    assert btc["funding_period_hours"] == 8
    assert type(btc["funding_period_hours"]) is int
    assert bonk["funding_period_hours"] == 1
    assert btc["funding_rate_8h"] == "-0.00014969"


def test_market_event_carries_the_spec() -> None:
    """markets' changed_fields are the spec's values; fields picks the ones that changed."""
    full = payloads.market_event(BONK, at_ms=T0, event_type="CREATED")
    assert full["changed_fields"]["price_tick_size"] == "0.000001"
    assert full["changed_fields"]["order_size_increment"] == "1"
    assert full["changed_fields"]["funding_period_hours"] == 1
    some = payloads.market_event(BTC, at_ms=T0, fields=["min_notional"])
    assert some["changed_fields"] == {"min_notional": "10"}
    assert some["event_type"] == "UPDATED"
    with pytest.raises(ValueError, match="not a field"):
        payloads.market_event(BTC, at_ms=T0, fields=["colour"])


def test_events_of_another_market_are_refused() -> None:
    """Formatting an event with another market's spec is a bug, raised at once."""
    with pytest.raises(ValueError, match="BTC-USD-PERP"):
        payloads.trade(BONK, a_trade(BTC, book_of(BTC)))


def test_rfq_events_carry_exactly_their_sub_object() -> None:
    """An rfq event holds the one sub-object its type names, as the schema requires."""
    for payload in _rfq():
        subs = {"rfq", "quote", "trade", "result"} & set(payload)
        assert subs == {payload["type"].lower()}, payload
    failed_create = [
        p
        for p in _rfq()
        if p["type"] == "RESULT"
        and p["result"]["operation"] == "RFQ_CREATE"
        and p["result"]["status"] == "FAILED"
    ]
    assert failed_create
    assert all(p["rfq_id"] == "" for p in failed_create)


def test_transfer_fields_follow_the_kind() -> None:
    """Deposits come in over a bridge, withdrawals go out; vault fields only for vaults."""
    by_kind = {(p["kind"], p["status"]): p for p in _transfers()}
    deposit = by_kind["DEPOSIT", "COMPLETED"]
    assert deposit["direction"] == "IN"
    assert deposit["bridge"] in payloads.BRIDGES
    assert deposit["vault_address"] == ""
    assert deposit["failure_reason"] == ""
    assert by_kind["WITHDRAWAL", "FAILED"]["failure_reason"] != ""
    assert by_kind["WITHDRAWAL", "PENDING"]["direction"] == "OUT"
    vault = by_kind["VAULT_DEPOSIT", "COMPLETED"]
    assert vault["bridge"] == ""
    assert vault["vault_address"].startswith("0x")
    assert by_kind["UNWINDING", "COMPLETED"]["vault_unwind_completion_percentage"] == "1"


def test_block_trades_agree_with_the_rest_resource() -> None:
    """block_trades payloads validate against OpenAPI's BlockTradeDetailFullResponse too."""
    validator = openapi_validator("responses.BlockTradeDetailFullResponse")
    for payload in _block_trades():
        assert problems(validator, payload) == [], payload
        (detail,) = payload["trades"].values()
        assert ("executed_at" in detail) == (
            payload["status"] in {"COMPLETED", "PENDING_SETTLEMENT"}
        )


def test_funding_rate_comparison_has_one_frame_per_venue() -> None:
    """Paradex's hourly rate is the period rate / period hours; other venues are jittered."""
    frames = _funding_rate_comparison()[: len(payloads.FUNDING_SOURCES)]
    assert [f["source"] for f in frames] == list(payloads.FUNDING_SOURCES)
    assert frames[0]["asset_kind"] == "ASSET_KIND_PERPETUAL_FUTURE"
    hourly = Decimal("-0.00014969570582") / 8
    assert Decimal(frames[0]["hourly_funding_rate"]) == round(hourly, 12)


def test_deviations_name_catalogue_families() -> None:
    """Each deviation is about a family of the catalogue and says what and why."""
    families = {f.family for f in CATALOGUE}
    for deviation in DEVIATIONS:
        for family in deviation.family.split(", "):
            assert family in families, deviation
        assert deviation.field
        assert deviation.schema_says
        assert deviation.we_send
        assert deviation.why
