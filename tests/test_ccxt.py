"""ccxt 4.5.90's Paradex websocket client (``ccxt.pro.paradex``), unmodified, against the mock.

ccxt is pointed at the mock by URL alone (``urls.api.ws`` and ``urls.api.v1``) and
keeps every default: SBE on, so it connects to ``/v1?sbeSchemaId=1&sbeSchemaVersion=3``
(the mock answers in JSON, which ccxt still reads); markets from its own
``load_markets()`` (GET /v1/markets); private channels after ``authenticate()``:
with a preset token (``options["authToken"]``, clients.md B.2) or by signing
POST /v1/auth itself with a throwaway key. What ccxt sends and reads:
/work/shared/clients.md, part B.

The unified structures ccxt returns are checked against the frames the mock sent:
a raw client (``Tap``) subscribes to the same channel first and records every
frame; ccxt's structure must come from one of them (same ``info``, or for a book
the same ``seq_no`` and time) and hold its values. ccxt's first frames on a
channel are its own current state, which no other client receives, so the check
takes the first structure built from a frame both got.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import ccxt.pro
import pytest
from conftest import Client, Connect
from serve_process import PARADEX_MOCK, Processes
from test_readme import readme, section

from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.session import Session
from mockserver.tokens import read_token

Data = dict[str, Any]
Exchange = ccxt.pro.paradex

MARKET = "BTC-USD-PERP"
SYMBOL = "BTC/USD:USDC"
SYMBOLS = {"BTC-USD-PERP": SYMBOL, "ETH-USD-PERP": "ETH/USD:USDC", "SOL-USD-PERP": "SOL/USD:USDC"}
ACCOUNT = "0x5c3e4bb1d1b9e0e4a0d4ad9a3c44e5d55a0cf8fe0b7b0e6b3b6c19e0bb1e6a1f"
# The README's throwaway key pair for the Docker recipe: ccxt signs POST /v1/auth with it.
RECIPE_KEYS = {"walletAddress": "0x" + "11" * 20, "privateKey": "0x" + "22" * 32}
# Markets and nothing else: every frame ccxt gets is one the test publishes.
QUIET = loads("markets: [BTC-USD-PERP]")
# Funding data comes every 5 s of the market's time: every wait allows for one tick.
WATCH_TIMEOUT_S = 10.0


def paradex(server: MockServer, **config: Any) -> Exchange:
    """ccxt's Paradex client pointed at ``server`` by URL alone; every option at its default."""
    urls = {"api": {"ws": server.ws_url, "v1": server.url + "/v1"}}
    return ccxt.pro.paradex({"urls": urls, **config})


def preset_token(exchange: Exchange, server: MockServer, account: str = ACCOUNT) -> None:
    """Give ccxt a token the mock accepts, so ``authenticate()`` needs no POST /v1/auth."""
    exchange.options["authToken"] = server.token(account, ttl_s=600)
    exchange.options["expires"] = exchange.seconds() + 600


@pytest.fixture
async def exchange(paradex_mock: MockServer) -> AsyncIterator[Exchange]:
    """ccxt's Paradex client for this test's server, with a preset token; closed at the end."""
    client = paradex(paradex_mock)
    preset_token(client, paradex_mock)
    try:
        yield client
    finally:
        await client.close()


class Tap:
    """A raw JSON-RPC client beside ccxt: it subscribes to ccxt's channels first and
    records every frame the mock sends on them, to check ccxt's results against."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.frames: list[tuple[str, Data]] = []  # (params.channel, params.data), in order
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, channels: tuple[str, ...], token: str | None) -> None:
        if token is not None:
            assert "result" in await self._client.call("auth", {"bearer": token})
        for channel in channels:
            reply = await self._client.subscribe(channel)
            assert reply.get("result") == {"channel": channel}, reply
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._client.ws:
            frame = json.loads(message.data)
            params = frame.get("params")
            if frame.get("method") == "subscription" and isinstance(params, dict):
                async with self._arrived:
                    self.frames.append((params["channel"], params["data"]))
                    self._arrived.notify_all()

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    def data(self, channel: str) -> list[Data]:
        """The payloads received on ``channel`` so far."""
        return [data for name, data in self.frames if name == channel]

    async def arrival(self, seen: int) -> None:
        """Return once more than ``seen`` frames have arrived."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.frames) > seen)

    async def until(self, channel: str, predicate: Callable[[Data], bool]) -> Data:
        """The first payload on ``channel`` that satisfies ``predicate``, waiting for it."""
        while True:
            seen = len(self.frames)
            found = next((d for d in self.data(channel) if predicate(d)), None)
            if found is not None:
                return found
            await asyncio.wait_for(self.arrival(seen), WATCH_TIMEOUT_S)


OpenTap = Callable[..., Awaitable[Tap]]


@pytest.fixture
async def tap(connect: Connect) -> AsyncIterator[OpenTap]:
    """``await tap(*channels, token=None)``: a raw client subscribed to ``channels``."""
    taps: list[Tap] = []

    async def open_tap(*channels: str, token: str | None = None) -> Tap:
        taps.append(Tap(await connect()))
        await taps[-1].start(channels, token)
        return taps[-1]

    yield open_tap
    for opened in taps:
        opened.stop()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Done callback for a watch left pending: ccxt's close() ends it with an error."""
    if not task.cancelled():
        task.exception()


async def shared_frame(
    watch: Callable[[], Awaitable[Any]],
    latest: Callable[[Any], Data],
    tap: Tap,
    channel: str,
    same: Callable[[Data, Data], bool],
) -> tuple[Data, Data]:
    """Watch until ccxt returns a structure built from a frame the tap received too:
    (a copy of that structure, the frame's data).

    ccxt may be a frame ahead of the tap, so a new ccxt result and a new tap frame
    are awaited together; every structure ccxt returned is kept and re-matched."""
    returned: list[Data] = []
    pending = asyncio.ensure_future(watch())

    async def search() -> tuple[Data, Data]:
        nonlocal pending
        while True:
            seen = len(tap.frames)
            for value in returned:
                for data in tap.data(channel):
                    if same(value, data):
                        return value, data
            arrived = asyncio.ensure_future(tap.arrival(seen))
            await asyncio.wait({pending, arrived}, return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
            if pending.done():
                # A copy: ccxt updates its order book (and caches) in place.
                returned.append(copy.deepcopy(latest(pending.result())))
                pending = asyncio.ensure_future(watch())

    try:
        return await asyncio.wait_for(search(), WATCH_TIMEOUT_S)
    finally:
        pending.add_done_callback(_retrieve)


def number(text: str) -> float:
    """A payload's decimal string as ccxt's unified number (a float)."""
    return float(text)


# What each unified structure must hold, from the payload it was built from.


def book_fields(data: Data) -> Data:
    levels = data["inserts"]
    return {
        "symbol": SYMBOLS[data["market"]],
        "nonce": data["seq_no"],
        "timestamp": data["last_updated_at"],
        "bids": [[number(lv["price"]), number(lv["size"])] for lv in levels if lv["side"] == "BUY"],
        "asks": [
            [number(lv["price"]), number(lv["size"])] for lv in levels if lv["side"] == "SELL"
        ],
    }


def trade_fields(data: Data) -> Data:
    return {
        "id": data["id"],
        "symbol": SYMBOLS[data["market"]],
        "timestamp": data["created_at"],
        "side": data["side"].lower(),
        "price": number(data["price"]),
        "amount": number(data["size"]),
        "takerOrMaker": "taker",
    }


def ticker_fields(data: Data) -> Data:
    rate = data["price_change_rate_24h"]  # "" until the market has a 24 h reference
    return {
        "symbol": SYMBOLS[data["symbol"]],
        "timestamp": data["created_at"],
        "bid": number(data["bid"]),
        "ask": number(data["ask"]),
        "last": number(data["last_traded_price"]),
        "markPrice": number(data["mark_price"]),
        "quoteVolume": number(data["volume_24h"]),
        **({"percentage": float(Decimal(rate) * 100)} if rate else {}),
    }


def funding_fields(data: Data) -> Data:
    return {
        "symbol": SYMBOLS[data["market"]],
        "timestamp": data["created_at"],
        "fundingRate": number(data["funding_rate"]),
        "interval": f"{data['funding_period_hours']}h",
    }


ORDER_STATUSES = {"NEW": "open", "OPEN": "open", "CLOSED": "closed"}


def order_fields(data: Data) -> Data:
    return {
        "id": data["id"],
        "clientOrderId": data["client_id"] or None,
        "symbol": SYMBOLS[data["market"]],
        # ccxt reads any cancel_reason as canceled; the mock sends "" for the others.
        "status": "canceled" if data["cancel_reason"] else ORDER_STATUSES[data["status"]],
        "type": data["type"].lower(),
        "side": data["side"].lower(),
        "price": number(data["price"]),
        "amount": number(data["size"]),
        "timeInForce": {"POST_ONLY": "PO", "GTC": "GTC", "IOC": "IOC"}[data["instruction"]],
        "timestamp": data["created_at"],
        "lastUpdateTimestamp": data["last_updated_at"],
    }


def fill_fields(data: Data) -> Data:
    return {
        "id": data["id"],
        "order": data["order_id"],
        "symbol": SYMBOLS[data["market"]],
        "timestamp": data["created_at"],
        "side": data["side"].lower(),
        "takerOrMaker": data["liquidity"].lower(),
        "price": number(data["price"]),
        "amount": number(data["size"]),
        "fee": {"cost": number(data["fee"]), "currency": data["fee_currency"]},
    }


def position_fields(data: Data) -> Data:
    return {
        "id": data["id"],
        "symbol": SYMBOLS[data["market"]],
        "side": data["side"].lower(),
        "contracts": abs(number(data["size"])),
        "entryPrice": number(data["average_entry_price"]),
        "unrealizedPnl": number(data["unrealized_pnl"]),
        "notional": abs(number(data["cost_usd"])),
        "leverage": number(data["leverage"]),
        "timestamp": data["created_at"],
        "lastUpdateTimestamp": data["last_updated_at"],
    }


def balance_fields(data: Data) -> Data:
    asset = {
        "free": number(data["free_collateral"]),
        "used": number(data["initial_margin_requirement"]),
        "total": number(data["account_value"]),
    }
    return {"timestamp": data["updated_at"], data["settlement_asset"]: asset}


def same_info(value: Data, data: Data) -> bool:
    return value["info"] == data


def same_book(value: Data, data: Data) -> bool:
    # A book has no info: a snapshot frame is known by its seq_no and time.
    return (value["nonce"], value["timestamp"]) == (data["seq_no"], data["last_updated_at"])


def last(items: list[Data]) -> Data:
    assert items, "ccxt returned no new entries"
    return items[-1]


def only(tickers: dict[str, Data]) -> Data:
    (ticker,) = tickers.values()  # with newUpdates: the one ticker this frame carried
    return ticker


@dataclass(frozen=True)
class Case:
    """One ccxt watch method, the channel it subscribes to, and what it must return."""

    watch: Callable[[Exchange], Awaitable[Any]]
    channel: str
    latest: Callable[[Any], Data]  # the structure built from the latest frame
    fields: Callable[[Data], Data]  # what that structure must hold, from the frame
    same: Callable[[Data, Data], bool] = same_info
    private: bool = False


CASES = {
    "watch_order_book": Case(
        lambda ex: ex.watch_order_book(SYMBOL),
        f"order_book.{MARKET}.snapshot@15@100ms",
        lambda book: {k: book[k] for k in ("symbol", "nonce", "timestamp", "bids", "asks")},
        book_fields,
        same=same_book,
    ),
    "watch_trades": Case(
        lambda ex: ex.watch_trades(SYMBOL), f"trades.{MARKET}", last, trade_fields
    ),
    "watch_trades(None)": Case(lambda ex: ex.watch_trades(None), "trades.ALL", last, trade_fields),
    "watch_ticker": Case(
        lambda ex: ex.watch_ticker(SYMBOL), f"markets_summary.{MARKET}", dict, ticker_fields
    ),
    "watch_tickers": Case(lambda ex: ex.watch_tickers(), "markets_summary", only, ticker_fields),
    "watch_funding_rate": Case(
        lambda ex: ex.watch_funding_rate(SYMBOL), "funding_data", dict, funding_fields
    ),
    "watch_orders": Case(
        lambda ex: ex.watch_orders(), "orders.ALL", last, order_fields, private=True
    ),
    "watch_my_trades": Case(
        lambda ex: ex.watch_my_trades(), "fills.ALL", last, fill_fields, private=True
    ),
    "watch_my_trades(symbol)": Case(
        lambda ex: ex.watch_my_trades(SYMBOL),
        f"fills.{MARKET}",
        last,
        fill_fields,
        private=True,
    ),
    "watch_positions": Case(
        lambda ex: ex.watch_positions(), "positions", last, position_fields, private=True
    ),
    "watch_balance": Case(
        lambda ex: ex.watch_balance(), "account", dict, balance_fields, private=True
    ),
}


def subset(value: Data, fields: Data) -> Data:
    """The entries of ``value`` named in ``fields``, for a readable diff on failure."""
    return {key: value.get(key) for key in fields}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_watch_returns_what_the_mock_sent(
    paradex_mock: MockServer, exchange: Exchange, tap: OpenTap, case: Case
) -> None:
    """Each watch method's unified structure holds the values of a frame the mock sent."""
    token = paradex_mock.token(ACCOUNT) if case.private else None
    recorder = await tap(case.channel, token=token)
    value, data = await shared_frame(
        lambda: case.watch(exchange), case.latest, recorder, case.channel, case.same
    )
    expected = case.fields(data)
    assert subset(value, expected) == expected
    assert case.channel in ccxt_session(paradex_mock).subscriptions


def ccxt_session(server: MockServer) -> Session:
    """The server's session of ccxt's connection (the one with SBE in its query string)."""
    (session,) = (s for s in server.sessions.values() if "sbeSchemaId" in s.path)
    return session


async def test_load_markets_reads_the_mocks_markets(
    paradex_mock: MockServer, exchange: Exchange
) -> None:
    """ccxt's own load_markets() (GET /v1/markets) lists the scenario's markets, in their specs."""
    markets = await exchange.load_markets()
    assert paradex_mock.market is not None
    specs = paradex_mock.market.specs
    assert sorted(markets) == sorted(SYMBOLS[symbol] for symbol in specs)
    for symbol, spec in specs.items():
        market = markets[SYMBOLS[symbol]]
        expected = {
            "id": symbol,
            "base": spec.base_currency,
            "quote": "USD",
            "settle": "USDC",
            "type": "swap",
            "linear": True,
        }
        assert subset(market, expected) == expected
        assert market["precision"]["price"] == float(spec.price_tick)
        assert market["precision"]["amount"] == float(spec.size_increment)


async def test_connects_with_its_default_sbe_query_string(
    paradex_mock: MockServer, exchange: Exchange
) -> None:
    """With its default options (SBE on) ccxt puts the SBE schema in the URL; the mock
    accepts it and answers in JSON, which ccxt reads."""
    assert exchange.options["sbe"] is True
    book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), WATCH_TIMEOUT_S)
    assert book["bids"][0][0] < book["asks"][0][0]
    session = ccxt_session(paradex_mock)
    assert session.path == "/v1?sbeSchemaId=1&sbeSchemaVersion=3"
    assert "aiohttp/" in session.user_agent


@pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=0.2)
async def test_answers_the_mocks_pings(paradex_mock: MockServer, exchange: Exchange) -> None:
    """ccxt answers the mock's protocol pings from its receive loop (autoping is off in
    ccxt), so the pong deadline never drops it."""
    await asyncio.wait_for(exchange.watch_order_book(SYMBOL), WATCH_TIMEOUT_S)
    session = ccxt_session(paradex_mock)
    await paradex_mock.wait_for(lambda: session.keepalive.stats.pongs_received >= 5)
    assert not session.closed
    book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), WATCH_TIMEOUT_S)
    assert book["bids"][0][0] < book["asks"][0][0]


async def test_every_watch_shares_one_connection_and_ccxt_keeps_reading(
    paradex_mock: MockServer, exchange: Exchange
) -> None:
    """Every watch at once on one socket, ccxt's repeated bare subscribes included, draws
    no error (which would stop ccxt reading: clients.md B.5); ccxt still reads afterwards."""
    await exchange.load_markets()
    watches = [case.watch(exchange) for case in CASES.values()]
    # A second symbol's funding rate and tickers subscribe to the bare channels again.
    watches += [
        exchange.watch_funding_rate("ETH/USD:USDC"),
        exchange.watch_tickers(["ETH/USD:USDC"]),
    ]
    results = await asyncio.wait_for(asyncio.gather(*watches), WATCH_TIMEOUT_S)
    assert all(results)

    session = ccxt_session(paradex_mock)
    assert sorted(session.subscriptions) == sorted(case.channel for case in CASES.values())
    requests = paradex_mock.requests()
    assert [r for r in requests if r["method"] == "auth"] == [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "auth",
            "params": {"bearer": exchange.options["authToken"]},
        }
    ]
    subscribes = [r for r in requests if r["method"] == "subscribe"]
    assert all("id" not in r for r in subscribes)  # notifications: never answered
    sent = [r["params"]["channel"] for r in subscribes]
    assert sent.count("funding_data") == sent.count("markets_summary") == 2

    # Still reading: a book frame newer than the one it had.
    nonce = exchange.orderbooks[SYMBOL]["nonce"]
    timestamp = exchange.orderbooks[SYMBOL]["timestamp"]
    book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), WATCH_TIMEOUT_S)
    assert (book["nonce"], book["timestamp"]) > (nonce, timestamp)


async def test_authenticate_signs_in_through_rest(paradex_mock: MockServer) -> None:
    """With a throwaway key and no token, ccxt signs POST /v1/auth itself (after GET
    /v1/system/config) and the socket accepts the JWT it gets, for the account it derived."""
    exchange = paradex(paradex_mock, **RECIPE_KEYS)
    try:
        balance = await asyncio.wait_for(exchange.watch_balance(), WATCH_TIMEOUT_S)
        account = exchange.options["paradexAccount"]["address"]
        assert ccxt_session(paradex_mock).account == account
    finally:
        await exchange.close()
    assert read_token(exchange.options["authToken"], now_s=time.time()).account == account
    assert balance["info"]["account"] == account
    assert paradex_mock.scenario.synthetic is not None
    collateral = float(paradex_mock.scenario.synthetic.collateral)
    assert balance["USDC"] == {"free": collateral, "used": 0.0, "total": collateral}


async def test_the_readmes_docker_recipe(processes: Processes) -> None:
    """The README's recipe for Docker: ccxt with its key pair against ``paradex-mock serve
    --host 0.0.0.0`` (what the image runs) loads the markets, signs in and streams."""
    recipe = " ".join(section(readme(), "### ccxt").split())
    assert '"walletAddress": "0x" + "11" * 20, "privateKey": "0x" + "22" * 32' in recipe
    server = await processes.start([PARADEX_MOCK, "serve", "--host", "0.0.0.0", "--port", "0"])
    urls = {"api": {"ws": server.ws_url, "v1": server.http_url + "/v1"}}
    exchange = ccxt.pro.paradex({"urls": urls, **RECIPE_KEYS})
    try:
        book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), WATCH_TIMEOUT_S)
        balance = await asyncio.wait_for(exchange.watch_balance(), WATCH_TIMEOUT_S)
    finally:
        await exchange.close()
    assert book["bids"][0][0] < book["asks"][0][0]
    assert balance["info"]["account"] == exchange.options["paradexAccount"]["address"]
    assert balance["USDC"]["total"] > 0


async def same_moment(
    exchange: Exchange, http: aiohttp.ClientSession, url: str
) -> tuple[Data, Data, Data]:
    """ccxt's book, then GET /v1/orderbook and /v1/bbo, retried until all three show one seq_no.

    The book moves ~10 times a second; right after a book frame reaches ccxt the
    REST calls usually find the same seq_no."""
    while True:
        book = await exchange.watch_order_book(SYMBOL)
        seen = {"nonce": book["nonce"], "bid": book["bids"][0], "ask": book["asks"][0]}
        async with http.get(f"{url}/v1/orderbook/{MARKET}") as response:
            rest_book = await response.json()
        async with http.get(f"{url}/v1/bbo/{MARKET}") as response:
            rest_bbo = await response.json()
        if seen["nonce"] == rest_book["seq_no"] == rest_bbo["seq_no"]:
            return seen, rest_book, rest_bbo


async def test_watch_order_book_agrees_with_rest_and_the_bbo_channel(
    paradex_mock: MockServer, exchange: Exchange, tap: OpenTap
) -> None:
    """At one seq_no, ccxt's watch_order_book, GET /v1/orderbook, GET /v1/bbo and the bbo
    channel show the same top of book."""
    channel = f"bbo.{MARKET}"
    bbo = await tap(channel)
    async with aiohttp.ClientSession() as http:
        book, rest_book, rest_bbo = await asyncio.wait_for(
            same_moment(exchange, http, paradex_mock.url), WATCH_TIMEOUT_S
        )
    seq_no = book["nonce"]
    # bbo is sent on every change of the top, so the top at seq_no is the last frame at
    # or before it; it is known to be the last once the stream has moved past seq_no.
    await bbo.until(channel, lambda data: data["seq_no"] > seq_no)
    streamed = [data for data in bbo.data(channel) if data["seq_no"] <= seq_no][-1]

    top = [book["bid"], book["ask"]]
    assert [[number(p) for p in rest_book[side][0]] for side in ("bids", "asks")] == top
    for source in (rest_bbo, streamed):
        assert [
            [number(source[side]), number(source[f"{side}_size"])] for side in ("bid", "ask")
        ] == top


def book_frame(seq_no: int, bid: str, ask: str) -> Data:
    """A snapshot-feed payload: one level a side, the whole book in ``inserts``."""
    return {
        "seq_no": seq_no,
        "market": MARKET,
        "last_updated_at": 1_796_000_000_000 + seq_no,
        "update_type": "s",
        "inserts": [
            {"side": "BUY", "price": bid, "size": "1.5"},
            {"side": "SELL", "price": ask, "size": "2.5"},
        ],
        "updates": [],
        "deletes": [],
    }


@pytest.mark.paradex_mock(scenario=QUIET)
async def test_next_watch_after_a_drop_dials_again_and_resubscribes(
    paradex_mock: MockServer, exchange: Exchange
) -> None:
    """ccxt does not reconnect by itself: when the mock drops it, the pending watch fails
    with NetworkError, and the next watch dials again and sends its subscribe again."""
    channel = CASES["watch_order_book"].channel

    async def book_after_publishing(frame: Data) -> Data:
        watching = asyncio.ensure_future(exchange.watch_order_book(SYMBOL))
        await paradex_mock.wait_for(lambda: paradex_mock.hub.subscriber_count(channel) == 1)
        paradex_mock.publish(channel, frame)
        book: Data = await asyncio.wait_for(watching, WATCH_TIMEOUT_S)
        return {key: book[key] for key in ("nonce", "bids", "asks")}

    assert await book_after_publishing(book_frame(1, "100.5", "101.5")) == {
        "nonce": 1,
        "bids": [[100.5, 1.5]],
        "asks": [[101.5, 2.5]],
    }
    first = ccxt_session(paradex_mock)
    # Nothing is published, so only the drop can end this watch.
    pending = asyncio.ensure_future(exchange.watch_order_book(SYMBOL))
    with paradex_mock.drop_all(), pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(pending, WATCH_TIMEOUT_S)
    # Gone from the server too (and from the hub): the next subscriber is the new connection.
    await paradex_mock.wait_for(lambda: first.id not in paradex_mock.sessions)

    assert await book_after_publishing(book_frame(2, "100.0", "102.0")) == {
        "nonce": 2,
        "bids": [[100.0, 1.5]],
        "asks": [[102.0, 2.5]],
    }
    second = ccxt_session(paradex_mock)
    assert second is not first
    assert second.subscriptions == [channel]
