"""Paradex's REST endpoints on the mock's port, over real HTTP, checked against its OpenAPI.

Every response is validated (strictly: no field the schema does not declare)
against the schema ``openapi.json`` gives for that operation and status; the
book and bbo agree with the ``order_book`` deltas and ``bbo`` streams at the
same ``seq_no``; ``POST /v1/auth`` mints a JWT the socket's ``auth`` accepts.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from conftest import Client, Connect
from paradex_spec import problems, response_validator

from mockserver.scenario.loader import loads
from mockserver.server import MockServer

MARKET = "BTC-USD-PERP"
# A scenario with no synthetic market: the REST view falls back to specs and publishes.
QUIET = loads("markets: [BTC-USD-PERP, ETH-USD-PERP]")
ACCOUNT = "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7554d"
# The auth headers as each client sends them (paradex-py: decimal felts; ccxt: hex felts).
PARADEX_PY_HEADERS = {
    "PARADEX-STARKNET-ACCOUNT": ACCOUNT,
    "PARADEX-STARKNET-SIGNATURE": (
        '["1381323390094460587764867648394252677239485992175346764030313478865763678671",'
        '"396490140510115262427678549757564216013606350105112805717359873954984880589"]'
    ),
    "PARADEX-TIMESTAMP": str(int(time.time())),
    "PARADEX-SIGNATURE-EXPIRATION": str(int(time.time()) + 86_400),
}


def ccxt_headers() -> dict[str, str]:
    """The headers as ccxt sends them, made when the test runs: ccxt's signature
    expires 180 s after it is made, sooner than a long suite takes to get here."""
    return {
        "Accept": "application/json",
        "PARADEX-PARTNER": "CCXT",
        "PARADEX-STARKNET-ACCOUNT": ACCOUNT,
        "PARADEX-STARKNET-SIGNATURE": '["0x30dbfa9c5b2a5b7e0c5f8","0xe0467d0c6ab7b5b9f2e"]',
        "PARADEX-TIMESTAMP": str(int(time.time())),
        "PARADEX-SIGNATURE-EXPIRATION": str(int(time.time()) + 180),
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


async def request(
    http: aiohttp.ClientSession,
    server: MockServer,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``method`` ``/v1{path}`` on ``server``: (status, decoded JSON body)."""
    async with http.request(method, f"{server.url}/v1{path}", headers=headers) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def assert_matches(body: Any, operation: str, method: str = "get", status: int = 200) -> None:
    """``body`` is what OpenAPI declares for ``operation`` answering ``status``."""
    found = problems(response_validator(operation, method, status), body)
    assert not found, f"{method.upper()} {operation} {status}: {found}\n{json.dumps(body)[:2000]}"


# Every endpoint answers per its schema


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/system/config", "/system/config"),
        ("/system/state", "/system/state"),
        ("/system/time", "/system/time"),
        ("/markets", "/markets"),
        (f"/markets?market={MARKET}", "/markets"),
        (f"/markets/summary?market={MARKET}", "/markets/summary"),
        ("/markets/summary?market=ALL", "/markets/summary"),
        (f"/orderbook/{MARKET}", "/orderbook/{market}"),
        (f"/orderbook/{MARKET}?depth=5&price_tick=10", "/orderbook/{market}"),
        (f"/bbo/{MARKET}", "/bbo/{market}"),
    ],
)
async def test_endpoint_answers_per_openapi(
    paradex_mock: MockServer, http: aiohttp.ClientSession, path: str, operation: str
) -> None:
    """Each GET endpoint answers 200 with exactly the fields its OpenAPI schema declares."""
    status, body = await request(http, paradex_mock, path)
    assert status == 200, body
    assert_matches(body, operation)


async def test_system_config_has_what_the_clients_read(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """The config carries every field paradex-py's SystemConfig requires and ccxt signs with."""
    _, config = await request(http, paradex_mock, "/system/config")
    required = {  # paradex_py/api/models.py SystemConfig, without its defaulted fields
        "starknet_fullnode_rpc_url", "starknet_fullnode_rpc_base_url", "starknet_chain_id",
        "block_explorer_url", "paraclear_address", "paraclear_decimals",
        "paraclear_account_proxy_hash", "paraclear_account_hash", "oracle_address",
        "bridged_tokens", "l1_core_contract_address", "l1_operator_address", "l1_chain_id",
        "liquidation_fee",
    }  # fmt: skip
    assert required <= set(config)
    token_fields = {"name", "symbol", "decimals", "l1_token_address", "l1_bridge_address"}
    assert all(token_fields <= set(token) for token in config["bridged_tokens"])
    # ccxt's retrieve_stark_account parses the class hashes as hex integers.
    assert int(config["paraclear_account_hash"], 16)
    assert int(config["paraclear_account_proxy_hash"], 16)


async def test_system_state_and_time(paradex_mock: MockServer, http: aiohttp.ClientSession) -> None:
    """The system is "ok" and its time is the market's clock, in ms (the wall clock here),
    caught up to now although nothing is subscribed (an idle market steps once a second)."""
    _, state = await request(http, paradex_mock, "/system/state")
    assert state == {"status": "ok"}
    before_ms = time.time() * 1000
    _, clock = await request(http, paradex_mock, "/system/time")
    after_ms = time.time() * 1000
    assert before_ms - 500 < int(clock["server_time"]) <= after_ms + 5


async def test_markets_list_the_scenario_markets(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """GET /v1/markets lists the scenario's markets with their specs; ?market= picks one."""
    _, listed = await request(http, paradex_mock, "/markets")
    assert [m["symbol"] for m in listed["results"]] == list(paradex_mock.scenario.markets)
    _, one = await request(http, paradex_mock, "/markets?market=ETH-USD-PERP")
    (eth,) = one["results"]
    assert (eth["base_currency"], eth["quote_currency"], eth["settlement_currency"]) == (
        "ETH",
        "USD",
        "USDC",
    )
    assert (eth["price_tick_size"], eth["order_size_increment"], eth["asset_kind"]) == (
        "0.01",
        "0.001",
        "PERP",
    )


async def test_summary_is_the_channel_payload(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """GET /v1/markets/summary gives the markets_summary payload of each market, ALL for all."""
    _, every = await request(http, paradex_mock, "/markets/summary?market=ALL")
    assert [s["symbol"] for s in every["results"]] == list(paradex_mock.scenario.markets)
    market = paradex_mock.market
    assert market is not None
    for _ in range(5):  # the market may step between the response and our look at it
        _, one = await request(http, paradex_mock, f"/markets/summary?market={MARKET}")
        (summary,) = one["results"]
        expected = market.summary(MARKET)
        if expected["created_at"] == summary["created_at"]:
            break
    assert summary == expected


# Errors: responses.ApiError, with the status the operation declares


@pytest.mark.parametrize(
    ("path", "operation", "status", "error"),
    [
        ("/markets?market=NOPE-USD-PERP", "/markets", 404, "MARKET_NOT_FOUND"),
        ("/markets/summary", "/markets/summary", 400, "VALIDATION_ERROR"),
        ("/markets/summary?market=NOPE-USD-PERP", "/markets/summary", 400, "MARKET_NOT_FOUND"),
        (f"/markets/summary?market={MARKET}&start=yesterday", "/markets/summary", 400,
         "VALIDATION_ERROR"),
        ("/orderbook/NOPE-USD-PERP", "/orderbook/{market}", 400, "MARKET_NOT_FOUND"),
        (f"/orderbook/{MARKET}?depth=0", "/orderbook/{market}", 400, "VALIDATION_ERROR"),
        (f"/orderbook/{MARKET}?depth=ten", "/orderbook/{market}", 400, "VALIDATION_ERROR"),
        (f"/orderbook/{MARKET}?price_tick=0.05", "/orderbook/{market}", 400, "VALIDATION_ERROR"),
        (f"/orderbook/{MARKET}?price_tick=x", "/orderbook/{market}", 400, "VALIDATION_ERROR"),
        ("/bbo/NOPE-USD-PERP", "/bbo/{market}", 400, "MARKET_NOT_FOUND"),
    ],
)  # fmt: skip
async def test_bad_request_is_an_api_error(
    paradex_mock: MockServer,
    http: aiohttp.ClientSession,
    path: str,
    operation: str,
    status: int,
    error: str,
) -> None:
    """A bad market or parameter is refused with Paradex's ApiError and the declared status."""
    got, body = await request(http, paradex_mock, path)
    assert (got, body["error"]) == (status, error), body
    assert body["message"]
    assert_matches(body, operation, status=status)


# The REST book is the streams' book


def apply(book: dict[str, dict[str, str]], frame: dict[str, Any]) -> None:
    """Apply one order_book deltas-feed payload to ``book`` ({"BUY"|"SELL": {price: size}})."""
    if frame["update_type"] == "s":
        book["BUY"].clear()
        book["SELL"].clear()
    for level in (*frame["inserts"], *frame["updates"]):
        book[level["side"]][level["price"]] = level["size"]
    for level in frame["deletes"]:
        book[level["side"]].pop(level["price"], None)


def sides(book: dict[str, dict[str, str]], depth: int) -> tuple[list[list[str]], list[list[str]]]:
    """(bids best first, asks best first) of a reconstructed book, ``depth`` levels each."""
    bids = sorted(book["BUY"].items(), key=lambda kv: -float(kv[0]))[:depth]
    asks = sorted(book["SELL"].items(), key=lambda kv: float(kv[0]))[:depth]
    return [list(level) for level in bids], [list(level) for level in asks]


class Streams:
    """The deltas and bbo streams of one market, replayed to any seq_no."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.book: dict[str, dict[str, str]] = {"BUY": {}, "SELL": {}}
        self.seq_no = -1
        self.books: dict[int, tuple[list[list[str]], list[list[str]]]] = {}
        self.bbos: list[dict[str, Any]] = []

    async def read_past(self, seq_no: int) -> None:
        """Read both streams until a delta beyond ``seq_no`` (so every bbo up to it is in)."""
        while self.seq_no <= seq_no:
            frame = (await self.client.notification())["params"]
            data = frame["data"]
            if frame["channel"].startswith("bbo."):
                self.bbos.append(data)
                continue
            assert self.seq_no < 0 or data["seq_no"] == self.seq_no + 1, "a gap in the deltas"
            apply(self.book, data)
            self.seq_no = data["seq_no"]
            self.books[self.seq_no] = sides(self.book, 1000)

    def bbo_at(self, seq_no: int) -> dict[str, Any]:
        """The latest bbo frame the stream had sent when the book was at ``seq_no``."""
        return [b for b in self.bbos if b["seq_no"] <= seq_no][-1]


async def test_rest_book_and_bbo_equal_the_streams_at_their_seq_no(
    paradex_mock: MockServer, connect: Connect, http: aiohttp.ClientSession
) -> None:
    """The REST book is the deltas stream's book at its seq_no; the REST bbo is its top and
    the bbo channel's latest frame at that seq_no."""
    client = await connect()
    # Sent together, replies unread: ``Client.subscribe`` would skip the opening frames.
    for number, channel in enumerate((f"bbo.{MARKET}", f"order_book.{MARKET}.deltas")):
        request_ = {"id": number, "method": "subscribe", "params": {"channel": channel}}
        await client.send({"jsonrpc": "2.0", **request_})
    streams = Streams(client)
    await streams.read_past(-1)  # the opening whole book
    for _ in range(3):  # at three moments, while the market moves
        _, book = await request(http, paradex_mock, f"/orderbook/{MARKET}?depth=1000")
        _, bbo = await request(http, paradex_mock, f"/bbo/{MARKET}")
        await streams.read_past(max(book["seq_no"], bbo["seq_no"]))
        assert (book["bids"], book["asks"]) == streams.books[book["seq_no"]]
        bids, asks = streams.books[bbo["seq_no"]]
        top = {"bid": bids[0][0], "bid_size": bids[0][1], "ask": asks[0][0], "ask_size": asks[0][1]}
        assert {k: bbo[k] for k in top} == top
        assert {k: streams.bbo_at(bbo["seq_no"])[k] for k in top} == top
    assert streams.seq_no > 1, "the market did not move during the test"


async def test_depth_and_price_tick_shape_the_book(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """?depth= limits each side; ?price_tick= groups levels as the snapshot feeds' @tick does."""
    _, book = await request(http, paradex_mock, f"/orderbook/{MARKET}")
    assert len(book["bids"]) == len(book["asks"]) == 20  # the spec's default depth
    _, top = await request(http, paradex_mock, f"/orderbook/{MARKET}?depth=3&price_tick=10")
    assert len(top["bids"]) == len(top["asks"]) == 3
    prices = [float(p) for p, _ in (*top["bids"], *top["asks"])]
    assert all(p % 10 == 0 for p in prices), prices
    assert prices[:3] == sorted(prices[:3], reverse=True)
    assert prices[3:] == sorted(prices[3:])


# Scripted scenarios: specs and the latest publishes


@pytest.mark.paradex_mock(scenario=QUIET)
async def test_scripted_scenario_serves_specs_and_published_book(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """Without a synthetic market the book is empty until one is published, then it is that."""
    _, listed = await request(http, paradex_mock, "/markets")
    assert [m["symbol"] for m in listed["results"]] == ["BTC-USD-PERP", "ETH-USD-PERP"]
    _, empty = await request(http, paradex_mock, f"/orderbook/{MARKET}")
    assert (empty["bids"], empty["asks"], empty["seq_no"]) == ([], [], 0)
    snapshot = {
        "seq_no": 7,
        "market": MARKET,
        "last_updated_at": 1_700_000_000_000,
        "update_type": "s",
        "inserts": [
            {"side": "BUY", "price": "100.5", "size": "1"},
            {"side": "SELL", "price": "101.5", "size": "2"},
        ],
        "updates": [],
        "deletes": [],
    }
    paradex_mock.publish(f"order_book.{MARKET}.snapshot@15@100ms", snapshot)
    _, book = await request(http, paradex_mock, f"/orderbook/{MARKET}")
    assert book == {
        "market": MARKET,
        "seq_no": 7,
        "last_updated_at": 1_700_000_000_000,
        "bids": [["100.5", "1"]],
        "asks": [["101.5", "2"]],
    }
    _, bbo = await request(http, paradex_mock, f"/bbo/{MARKET}")
    assert (bbo["bid"], bbo["ask"], bbo["seq_no"]) == ("100.5", "101.5", 7)
    assert_matches(bbo, "/bbo/{market}")
    _, summaries = await request(http, paradex_mock, "/markets/summary?market=ALL")
    assert_matches(summaries, "/markets/summary")


TRADES_ONLY = loads("markets: [BTC-USD-PERP]\nsynthetic:\n  channels: [trades]\n")


@pytest.mark.paradex_mock(scenario=TRADES_ONLY)
async def test_families_the_market_does_not_feed_come_from_publishes(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """A synthetic market that feeds only trades leaves the REST book and bbo to publishes."""
    assert paradex_mock.market is not None
    _, empty = await request(http, paradex_mock, f"/orderbook/{MARKET}")
    assert (empty["bids"], empty["asks"]) == ([], [])
    top = {"market": MARKET, "seq_no": 3, "bid": "1", "bid_size": "2", "ask": "3", "ask_size": "4"}
    paradex_mock.publish(f"bbo.{MARKET}", {**top, "last_updated_at": 1_700_000_000_000})
    _, bbo = await request(http, paradex_mock, f"/bbo/{MARKET}")
    assert {k: bbo[k] for k in top} == top


# POST /v1/auth


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/auth", ccxt_headers),
        ("/auth", lambda: PARADEX_PY_HEADERS),
        ("/auth/0x3e2a1b8c9d", lambda: PARADEX_PY_HEADERS),  # paradex-py: auth/{public key}
    ],
    ids=["ccxt", "spec", "paradex-py"],
)
async def test_auth_mints_a_jwt_the_socket_accepts(
    paradex_mock: MockServer,
    http: aiohttp.ClientSession,
    connect: Connect,
    path: str,
    headers: Callable[[], dict[str, str]],
) -> None:
    """Well-formed signature headers get a JWT; the socket's auth accepts it for that account."""
    status, body = await request(http, paradex_mock, path, method="POST", headers=headers())
    assert status == 200, body
    assert_matches(body, "/auth", "post")
    client = await connect()
    reply = await client.call("auth", {"bearer": body["jwt_token"]})
    assert isinstance(reply.get("result"), dict), reply
    await client.subscribe("account")
    frame = await client.notification("account")
    assert frame["params"]["data"]["account"] == ACCOUNT


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in PARADEX_PY_HEADERS.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 400, "VALIDATION_ERROR"),
        (without("PARADEX-STARKNET-ACCOUNT"), 400, "VALIDATION_ERROR"),
        (without("PARADEX-STARKNET-SIGNATURE"), 400, "VALIDATION_ERROR"),
        (without("PARADEX-TIMESTAMP"), 400, "VALIDATION_ERROR"),
        ({**PARADEX_PY_HEADERS, "PARADEX-STARKNET-ACCOUNT": "alice"}, 400,
         "INVALID_STARKNET_ADDRESS"),
        ({**PARADEX_PY_HEADERS, "PARADEX-STARKNET-SIGNATURE": "0xdeadbeef"}, 400,
         "INVALID_STARKNET_SIGNATURE"),
        ({**PARADEX_PY_HEADERS, "PARADEX-STARKNET-SIGNATURE": '["1"]'}, 400,
         "INVALID_STARKNET_SIGNATURE"),
        ({**PARADEX_PY_HEADERS, "PARADEX-STARKNET-SIGNATURE": '["1","zz"]'}, 400,
         "INVALID_STARKNET_SIGNATURE"),
        ({**PARADEX_PY_HEADERS, "PARADEX-TIMESTAMP": "2024-01-01"}, 400, "INVALID_TIMESTAMP"),
        ({**PARADEX_PY_HEADERS, "PARADEX-SIGNATURE-EXPIRATION": "soon"}, 400,
         "INVALID_TIMESTAMP"),
        ({**PARADEX_PY_HEADERS, "PARADEX-SIGNATURE-EXPIRATION": "1600000000"}, 401,
         "INVALID_TIMESTAMP"),
    ],
    ids=[
        "none", "no-account", "no-signature", "no-timestamp", "bad-account",
        "signature-not-json", "signature-one-felt", "signature-not-felts", "bad-timestamp",
        "bad-expiration", "expired",
    ],
)  # fmt: skip
async def test_auth_refuses_missing_or_malformed_headers(
    paradex_mock: MockServer,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    """Missing or malformed signature headers are refused with the spec's ApiError."""
    got, body = await request(http, paradex_mock, "/auth", method="POST", headers=headers)
    assert (got, body["error"]) == (status, error), body
    assert_matches(body, "/auth", "post", status=status)


async def test_a_path_not_served_is_a_json_not_found(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """A REST path the mock does not serve answers 404 NOT_FOUND naming it, in JSON."""
    got, body = await request(http, paradex_mock, "/trades?market=BTC-USD-PERP")
    assert (got, body["error"]) == (404, "NOT_FOUND"), body
    assert "GET /v1/trades" in body["message"]


async def test_auth_refuses_a_malformed_public_key(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """paradex-py's auth/{public_key} path needs a hex key in the path."""
    got, body = await request(
        http, paradex_mock, "/auth/not-a-key", method="POST", headers=PARADEX_PY_HEADERS
    )
    assert (got, body["error"]) == (400, "PUBLIC_KEY_INVALID"), body
    assert_matches(body, "/auth", "post", status=400)
