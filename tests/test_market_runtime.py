"""The synthetic market over real sockets: every channel, coherent, seeded.

Each test starts a server on a synthetic scenario and reads what real WebSocket
clients receive. Every wait is bounded: a test reads until what it needs has
arrived (failing after ``RECEIVE_TIMEOUT_S``), never for a fixed time; where it
shows that something does *not* arrive, it does so while another channel's
frames keep flowing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from conftest import RECEIVE_TIMEOUT_S, Client, Connect
from jsonschema import Draft7Validator
from paradex_spec import payload_refs, problems, validator

from mockserver.channels import CATALOGUE, family_of, parse_channel
from mockserver.clock import RealClock
from mockserver.hub import Hub
from mockserver.market import runtime
from mockserver.market.accounts import TRANSACTION_SETTLE_MS
from mockserver.market.engine import MarketSim
from mockserver.market.model import BUY, SELL
from mockserver.market.payloads import FUNDING_SOURCES, UNPUBLISHED_SCHEMAS
from mockserver.market.runtime import MarketRuntime, seed_book
from mockserver.pytest_plugin import MockServerFactory
from mockserver.scenario.loader import loads
from mockserver.scenario.model import DEFAULT_EPOCH_MS
from mockserver.server import MockServer

BTC, ETH = "BTC-USD-PERP", "ETH-USD-PERP"
# Busy markets (20 taker trades a second), so fills and trades come within a second.
FAST_TEXT = f"""
name: fast-synthetic
seed: 7
markets:
  {BTC}: {{trades_per_s: 20}}
  {ETH}: {{trades_per_s: 20}}
synthetic: {{channels: all, clock: scenario}}
"""
FAST = loads(FAST_TEXT)

# One name of each form, per channel family of the catalogue.
NAMES_BY_FAMILY: dict[str, list[str]] = {
    "markets_summary": ["markets_summary", "markets_summary.ALL", f"markets_summary.{BTC}"],
    "markets": ["markets", f"markets.{BTC}"],
    "bbo": [f"bbo.{BTC}", "bbo.ALL", f"bbo.{ETH}.interactive"],
    "trades": [f"trades.{BTC}", "trades.ALL"],
    "funding_data": ["funding_data", "funding_data.ALL", f"funding_data.{BTC}"],
    "funding_rate_comparison": ["funding_rate_comparison.ALL@500ms"],
    "order_book": [
        f"order_book.{BTC}.snapshot@15@50ms",
        f"order_book.{ETH}.interactive@15@100ms@0_1",
        "order_book.ALL.snapshot@15@100ms",
        f"order_book.{BTC}.deltas",
        f"order_book.{ETH}.interactive_deltas",
    ],
    "account": ["account"],
    "balance_events": ["balance_events"],
    "fills": [f"fills.{BTC}", "fills.ALL"],
    "funding_payments": [f"funding_payments.{BTC}", "funding_payments.ALL"],
    "orders": [f"orders.{BTC}", "orders.ALL"],
    "positions": ["positions"],
    "tradebusts": ["tradebusts"],
    "transaction": ["transaction"],
    "transfers": ["transfers"],
    "rfq": ["rfq"],
    "block_trades": ["block_trades"],
    "mmp": ["mmp"],
}
# What the synthetic market does with each family:
# - data within a second (state on subscribe, or the busy market's trades and fills);
FED = {
    "markets_summary", "bbo", "trades", "funding_data", "funding_rate_comparison",
    "order_book", "account", "balance_events", "fills", "orders", "positions",
    "transaction", "transfers",
}  # fmt: skip
# - fed, but only on a funding tick (every 5 s) of a held position: not waited for here;
FED_ON_FUNDING = {"funding_payments"}
# - not driven by the simulation: silent unless a scenario scripts them.
SILENT = {"markets", "tradebusts", "rfq", "block_trades", "mmp"}


class Transcript:
    """Everything one client receives, in order: replies and notifications."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.frames: list[tuple[str, dict[str, Any], str]] = []  # (channel, data, raw text)
        self.replies: dict[int | str, dict[str, Any]] = {}
        self._next_id = 100

    async def read_one(self, timeout: float) -> None:
        message = await self.client.ws.receive(timeout=timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message}"
        frame = json.loads(message.data)
        if frame.get("method") == "subscription":
            params = frame["params"]
            self.frames.append((params["channel"], params["data"], message.data))
        elif "id" in frame:
            self.replies[frame["id"]] = frame

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request; read (and keep) every frame until its reply."""
        request_id, self._next_id = self._next_id, self._next_id + 1
        await self.client.send(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
        await self.until(lambda: request_id in self.replies)
        reply = self.replies[request_id]
        assert "result" in reply, reply
        return reply

    async def subscribe(self, *names: str) -> None:
        for name in names:
            await self.call("subscribe", {"channel": name})

    async def until(self, done: Callable[[], bool], timeout: float = RECEIVE_TIMEOUT_S) -> None:
        """Read frames until ``done()``; fail after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                counts = Counter(channel for channel, _, _ in self.frames)
                raise AssertionError(f"not received within {timeout}s; got {dict(counts)}")
            try:
                await self.read_one(remaining)
            except asyncio.TimeoutError:
                continue

    def on(self, channel: str) -> list[dict[str, Any]]:
        return [data for name, data, _ in self.frames if name == channel]

    def raw(self, channel: str) -> list[str]:
        return [text for name, _, text in self.frames if name == channel]

    def count(self, channel: str) -> int:
        return sum(1 for name, _, _ in self.frames if name == channel)


class Book:
    """A client's order book, rebuilt from a deltas feed."""

    def __init__(self, opening: dict[str, Any]) -> None:
        assert opening["update_type"] == "s", opening
        assert opening["updates"] == opening["deletes"] == []
        self.seq_no: int = opening["seq_no"]
        self.levels: dict[str, dict[Decimal, str]] = {BUY: {}, SELL: {}}
        for level in opening["inserts"]:
            self.levels[level["side"]][Decimal(level["price"])] = level["size"]

    def apply(self, delta: dict[str, Any]) -> None:
        assert delta["update_type"] == "d", delta
        assert delta["seq_no"] == self.seq_no + 1, "deltas go seq_no + 1 per frame"
        self.seq_no = delta["seq_no"]
        for level in delta["inserts"]:
            side, price = self.levels[level["side"]], Decimal(level["price"])
            assert price not in side, f"insert of a level the book has: {level}"
            side[price] = level["size"]
        for level in delta["updates"]:
            side, price = self.levels[level["side"]], Decimal(level["price"])
            assert price in side, f"update of a level the book lacks: {level}"
            side[price] = level["size"]
        for level in delta["deletes"]:
            side, price = self.levels[level["side"]], Decimal(level["price"])
            assert price in side, f"delete of a level the book lacks: {level}"
            assert level["size"] == "0", f"a delete with a size: {level}"
            del side[price]
        bid, ask = self.best(BUY), self.best(SELL)
        assert bid is not None, "no bids"
        assert ask is not None, "no asks"
        assert bid[0] < ask[0], "crossed"

    def side(self, side: str, depth: int | None = None) -> list[tuple[Decimal, str]]:
        levels = sorted(self.levels[side].items(), reverse=side == BUY)
        return levels[:depth] if depth is not None else levels

    def best(self, side: str) -> tuple[Decimal, str] | None:
        levels = self.side(side, 1)
        return levels[0] if levels else None

    def as_inserts(self, depth: int | None = None) -> list[dict[str, str]]:
        """The book as a snapshot frame's ``inserts``: bids best first, then asks."""
        return [
            {"side": side, "price": str(price), "size": size}
            for side in (BUY, SELL)
            for price, size in self.side(side, depth)
        ]


def levels_of(inserts: list[dict[str, str]]) -> list[tuple[str, Decimal, str]]:
    return [(level["side"], Decimal(level["price"]), level["size"]) for level in inserts]


def validator_of(family: str) -> Draft7Validator:
    """The family's AsyncAPI payload schema, or ours where Paradex publishes none."""
    refs = payload_refs()
    if family in refs:
        return validator(refs[family])
    return Draft7Validator(UNPUBLISHED_SCHEMAS[family])


def timestamp(data: dict[str, Any]) -> int:
    """The simulated time a public payload carries."""
    return int(data.get("last_updated_at") or data["created_at"])


@asynccontextmanager
async def client_of(server: MockServer) -> AsyncIterator[Transcript]:
    """A transcript of a client connected to ``server`` (for servers of the factory)."""
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        yield Transcript(Client(ws))


# Every channel family


@pytest.mark.paradex_mock(scenario=FAST)
async def test_every_family_answers_and_every_payload_matches_its_schema(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """All families subscribe; the fed ones deliver schema-valid data, the others stay silent."""
    families = {f.family for f in CATALOGUE}
    assert set(NAMES_BY_FAMILY) == families == FED | FED_ON_FUNDING | SILENT
    validators = {family: validator_of(family) for family in FED | FED_ON_FUNDING}
    transcript = Transcript(await connect())
    await transcript.call("auth", {"bearer": paradex_mock.token("0xfeed")})
    names = [name for group in NAMES_BY_FAMILY.values() for name in group]
    await transcript.subscribe(*names)
    waited = [n for n in names if family_of(n) in FED]
    await transcript.until(lambda: all(transcript.count(n) for n in waited))
    report = []
    for channel, data, _ in transcript.frames:
        family = family_of(channel)
        assert family not in SILENT, f"{channel} is not driven by the simulation: {data}"
        for problem in problems(validators[family], data)[:3]:
            report.append(f"{channel}: {problem}; data={json.dumps(data)[:300]}")
    assert not report, "payloads that do not match their schemas:\n" + "\n".join(report[:20])


# The book and what follows from it


@pytest.mark.paradex_mock(scenario=FAST)
async def test_deltas_rebuild_the_book_that_snapshots_and_bbo_show(connect: Connect) -> None:
    """Deltas (whole book, then seq_no + 1) rebuild every later snapshot and BBO; trades in book."""
    transcript = Transcript(await connect())
    deltas = f"order_book.{BTC}.deltas"
    await transcript.subscribe(
        deltas, f"order_book.{BTC}.snapshot@15@50ms", f"bbo.{BTC}", f"trades.{BTC}"
    )
    await transcript.until(
        lambda: (
            transcript.count(deltas) >= 15
            and transcript.count(f"order_book.{BTC}.snapshot@15@50ms") >= 4
            and transcript.count(f"trades.{BTC}") >= 3
        )
    )
    # A later whole book, on the same connection: it comes after every delta it includes.
    reopened = f"order_book.{BTC}.interactive_deltas"
    await transcript.subscribe(reopened)
    await transcript.until(lambda: transcript.count(reopened) == 1)

    book: Book | None = None
    checked: Counter[str] = Counter()
    bbo_by_seq: dict[int, dict[str, Any]] = {}
    for channel, data, _ in transcript.frames:
        if channel == deltas:
            if book is None:
                book = Book(data)
            else:
                book.apply(data)
            continue
        assert book is not None, f"{channel} before the deltas feed opened"
        if channel.startswith(f"order_book.{BTC}.snapshot"):
            assert data["seq_no"] == book.seq_no
            assert levels_of(data["inserts"]) == levels_of(book.as_inserts(15))
            bbo = bbo_by_seq.get(data["seq_no"])
            if bbo is not None:  # the BBO of the same seq_no is this snapshot's top
                assert (bbo["bid"], bbo["ask"]) == (
                    data["inserts"][0]["price"],
                    next(level["price"] for level in data["inserts"] if level["side"] == SELL),
                )
            checked["snapshot"] += 1
        elif channel == f"bbo.{BTC}":
            bid, ask = book.best(BUY), book.best(SELL)
            assert data["seq_no"] == book.seq_no
            assert bid is not None
            assert ask is not None
            assert (Decimal(data["bid"]), data["bid_size"]) == bid
            assert (Decimal(data["ask"]), data["ask_size"]) == ask
            bbo_by_seq[data["seq_no"]] = data
            checked["bbo"] += 1
        elif channel == f"trades.{BTC}":
            lowest_bid, highest_ask = book.side(BUY)[-1][0], book.side(SELL)[-1][0]
            assert lowest_bid <= Decimal(data["price"]) <= highest_ask, data
            checked["trade"] += 1
        elif channel == reopened:
            assert data["seq_no"] == book.seq_no
            assert levels_of(data["inserts"]) == levels_of(book.as_inserts())
            checked["reopened"] += 1
    assert checked["snapshot"] >= 4
    assert checked["bbo"] >= 1
    assert checked["trade"] >= 3
    assert checked["reopened"] == 1


@pytest.mark.paradex_mock(scenario=FAST)
async def test_markets_summary_agrees_with_bbo_and_trades(connect: Connect) -> None:
    """Summaries (state, then live) carry the latest BBO and trade, and match their schema."""
    transcript = Transcript(await connect())
    summary = f"markets_summary.{BTC}"
    await transcript.subscribe(f"bbo.{BTC}", f"trades.{BTC}", summary)
    await transcript.until(lambda: transcript.count(summary) >= 2)  # the state, then a live one
    summary_schema = validator("ResponsesMarketSummaryResp")
    bbo: dict[str, Any] | None = None
    trade: dict[str, Any] | None = None
    for channel, data, _ in transcript.frames:
        if channel == f"bbo.{BTC}":
            bbo = data
        elif channel == f"trades.{BTC}":
            trade = data
        elif channel == summary:
            assert bbo is not None
            for field in ("bid", "bid_size", "ask", "ask_size"):
                assert data[field] == bbo[field], (field, data, bbo)
            if trade is not None:
                assert data["last_traded_price"] == trade["price"]
            assert data["created_at"] >= bbo["last_updated_at"]
            assert problems(summary_schema, data) == [], data


@pytest.mark.paradex_mock(scenario=FAST)
async def test_snapshot_feeds_stop_when_nobody_listens(connect: Connect) -> None:
    """After the unsubscribe, no more snapshot frames arrive while the deltas keep flowing."""
    transcript = Transcript(await connect())
    snapshots, deltas = f"order_book.{BTC}.snapshot@15@50ms", f"order_book.{BTC}.deltas"
    await transcript.subscribe(snapshots, deltas)
    await transcript.until(lambda: transcript.count(snapshots) >= 2)
    await transcript.call("unsubscribe", {"channel": snapshots})
    seen = transcript.count(snapshots)
    frames = len(transcript.frames)
    await transcript.until(lambda: transcript.count(deltas) >= 12 + frames)
    assert transcript.count(snapshots) == seen


@pytest.mark.paradex_mock(scenario=FAST)
async def test_an_idle_server_catches_up_silently_for_its_first_subscriber(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """After an idle spell, the first subscriber gets the state of now, never the spell's frames."""
    # Deliberately idle for a while (the task then wakes once a second, not every 10 ms).
    idle_s = 0.3
    await asyncio.sleep(idle_s)
    transcript = Transcript(await connect())
    deltas = f"order_book.{BTC}.deltas"
    await transcript.subscribe(deltas)
    await transcript.until(lambda: transcript.count(deltas) >= 4)
    opening, *live = transcript.on(deltas)
    assert opening["last_updated_at"] >= DEFAULT_EPOCH_MS + idle_s * 1000
    book = Book(opening)
    for delta in live:
        book.apply(delta)
        assert delta["last_updated_at"] >= opening["last_updated_at"]
    assert paradex_mock.market is not None
    assert abs(paradex_mock.market.now_ms - live[-1]["last_updated_at"]) < 1000


# Aggregates, accounts, scripts


@pytest.mark.paradex_mock(scenario="default")
async def test_all_and_bare_aggregates_cover_every_market(connect: Connect) -> None:
    """ALL and bare names reach every market, under the subscribed name, at wall-clock times."""
    transcript = Transcript(await connect())
    names = [
        "bbo.ALL", "markets_summary", "funding_data.ALL", "order_book.ALL.snapshot@15@100ms",
        "trades.ALL",
    ]  # fmt: skip
    await transcript.subscribe(*names)
    markets = {"BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"}

    def market(data: dict[str, Any]) -> str:
        return str(data.get("market") or data["symbol"])

    # The states arrive at once, one per market; trades as the markets print.
    await transcript.until(lambda: {market(d) for d in transcript.on("trades.ALL")} == markets)
    for name in names:
        assert {market(d) for d in transcript.on(name)} == markets, name
    now_ms = time.time() * 1000
    for _, data, _ in transcript.frames:
        assert abs(timestamp(data) - now_ms) < 60_000, "clock: wall stamps the wall clock"


@pytest.mark.paradex_mock(scenario=FAST)
async def test_private_subscribers_get_their_own_trading_account(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """Each authenticated subscriber trades its own account: account, orders, positions, fills."""
    names = ["account", "orders.ALL", "positions", "fills.ALL"]
    transcripts = {}
    for address in ("0xa11ce", "0xb0b"):
        transcript = Transcript(await connect())
        await transcript.call("auth", {"bearer": paradex_mock.token(address)})
        await transcript.subscribe(*names)
        transcripts[address] = transcript
    for address, transcript in transcripts.items():
        await transcript.until(lambda t=transcript: all(t.count(n) for n in names))
        for channel, data, _ in transcript.frames:
            assert data["account"] == address, (channel, data)
        assert {f["liquidity"] for f in transcript.on("fills.ALL")} == {"MAKER"}
    assert paradex_mock.market is not None
    assert set(paradex_mock.market.accounts) == {"0xa11ce", "0xb0b"}


@pytest.mark.paradex_mock(scenario=FAST)
async def test_transactions_transfers_and_funding_comparisons_follow_the_simulation(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """Fills settle as transactions, the deposit is the collateral, comparisons carry funding."""
    transcript = Transcript(await connect())
    await transcript.call("auth", {"bearer": paradex_mock.token("0xc0ffee")})
    comparison = "funding_rate_comparison.ALL@500ms"
    # fills.ALL first (it opens the account): every transaction received is of a fill seen.
    await transcript.subscribe("fills.ALL", "transaction", "transfers", "funding_data", comparison)
    per_batch = 2 * len(FUNDING_SOURCES)  # two markets, every venue

    def settled() -> set[str]:
        """Ids of the fills whose transaction the client saw both RECEIVED and ACCEPTED_ON_L2."""
        states: dict[str, set[str]] = {}
        for tx in transcript.on("transaction"):
            states.setdefault(tx["id"], set()).add(tx["state"])
        return {i for i, seen in states.items() if seen == {"RECEIVED", "ACCEPTED_ON_L2"}}

    await transcript.until(
        lambda: bool(settled()) and transcript.count(comparison) >= 2 * per_batch
    )
    for channel, data, _ in transcript.frames:
        assert problems(validator_of(family_of(channel)), data) == [], (channel, data)

    (deposit,) = transcript.on("transfers")  # the snapshot; nothing else transfers
    assert (deposit["kind"], deposit["status"], deposit["direction"]) == (
        "DEPOSIT", "COMPLETED", "IN",
    )  # fmt: skip
    assert deposit["account"] == "0xc0ffee"
    assert Decimal(deposit["amount"]) == FAST.synthetic.collateral  # type: ignore[union-attr]

    fills = {f["id"]: f for f in transcript.on("fills.ALL")}
    both = settled()  # the others: RECEIVED before the subscription, or not yet ACCEPTED
    received: dict[str, dict[str, Any]] = {}
    for tx in transcript.on("transaction"):
        assert tx["type"] == "TRANSACTION_FILL"
        if tx["state"] == "RECEIVED":
            assert tx["id"] in fills, "a transaction settles a fill the client saw"
            assert tx["created_at"] == tx["completed_at"] == fills[tx["id"]]["created_at"]
            received[tx["id"]] = tx
        else:
            assert tx["state"] == "ACCEPTED_ON_L2"
            if tx["id"] in both:
                first = received.pop(tx["id"])  # RECEIVED came first
                assert (tx["hash"], tx["created_at"]) == (first["hash"], first["created_at"])
                assert tx["completed_at"] == first["created_at"] + TRANSACTION_SETTLE_MS

    # Each batch: per market, Paradex's funding rate per hour (the latest funding_data
    # frame's), then the other venues; a batch every 500 ms of simulated time.
    frames = transcript.on(comparison)
    assert len(frames) % per_batch == 0
    for start in range(0, len(frames), per_batch):
        batch = frames[start : start + per_batch]
        assert len({f["last_updated_at"] for f in batch}) == 1
        assert [f["source"] for f in batch] == list(FUNDING_SOURCES) * 2
        assert [f["symbol"] for f in batch[:: len(FUNDING_SOURCES)]] == [BTC, ETH]
    stamps = sorted({f["last_updated_at"] for f in frames})
    assert all(b - a == 500 for a, b in itertools.pairwise(stamps)), stamps
    assert paradex_mock.market is not None
    hours = {m: s.funding_period_hours for m, s in paradex_mock.market.specs.items()}
    funding: dict[str, Decimal] = {}
    for channel, data, _ in transcript.frames:
        if channel == "funding_data":
            funding[data["market"]] = Decimal(data["funding_rate"])
        elif channel == comparison and data["source"] == "SOURCE_PARADEX":
            hourly = funding[data["symbol"]] / hours[data["symbol"]]
            assert abs(Decimal(data["hourly_funding_rate"]) - hourly) < Decimal("1e-12"), data


SCRIPTED = loads(
    FAST_TEXT.replace("channels: all", "channels: [bbo, trades]")
    + f"""
channels:
  bbo.{ETH}:
    timeline: per_subscription
    messages:
      - {{at: 20ms, every: 20ms, data: {{market: {ETH}, seq_no: 1, ask: "2", ask_size: "1",
                                       bid: "1", bid_size: "1", last_updated_at: 0}}}}
"""
)


@pytest.mark.paradex_mock(scenario=SCRIPTED)
async def test_scripts_and_unlisted_families_are_left_alone(connect: Connect) -> None:
    """A scripted channel plays only its script; families outside synthetic.channels stay silent."""
    transcript = Transcript(await connect())
    silent = [f"markets_summary.{BTC}", f"order_book.{BTC}.deltas", f"funding_data.{BTC}"]
    await transcript.subscribe(f"bbo.{ETH}", f"bbo.{BTC}", f"trades.{BTC}", *silent)
    await transcript.until(
        lambda: transcript.count(f"bbo.{ETH}") >= 5 and transcript.count(f"trades.{BTC}") >= 5
    )
    assert {d["seq_no"] for d in transcript.on(f"bbo.{ETH}")} == {1}, "only the script's payload"
    assert transcript.count(f"bbo.{BTC}") >= 1
    assert [name for name in silent if transcript.count(name)] == []


def test_a_recorded_book_seeds_the_market() -> None:
    """synthetic.book: the market starts from exactly that book, at its mid price."""
    scenario = loads(
        f"markets: [{ETH}]\nsynthetic:\n  book:\n    {ETH}:\n"
        "      bids: [[3499.50, 1.2], [3499.40, 3.5]]\n      asks: [[3499.70, 0.8]]\n"
    )
    assert scenario.synthetic is not None
    runtime = MarketRuntime(scenario, hub=Hub(), clock=None, seed=1)  # type: ignore[arg-type]
    spec = runtime.specs[ETH]
    assert spec.initial_price == Decimal("3499.60")
    book = seed_book(spec, scenario.synthetic.books[ETH])
    sim = MarketSim(spec, seed=1, start_ms=0, initial_book=book)
    assert [(lv.price, lv.size) for lv in sim.book.levels(BUY)] == [(349950, 1200), (349940, 3500)]
    assert [(lv.price, lv.size) for lv in sim.book.levels(SELL)] == [(349970, 800)]


# Determinism

PUBLIC = [
    f"bbo.{BTC}",
    "trades.ALL",
    f"order_book.{ETH}.deltas",
    f"order_book.{BTC}.snapshot@15@50ms",
]


async def live_stream(server: MockServer, names: list[str], *, extra: list[str]) -> Transcript:
    """A client's frames on ``names`` (and ``extra``, subscribed first), 8+ live ones each."""
    async with client_of(server) as transcript:
        await transcript.subscribe(*extra, *names)
        await transcript.until(lambda: all(transcript.count(n) >= 9 for n in names))
        return transcript


def aligned(first: Transcript, second: Transcript, channel: str) -> tuple[list[str], list[str]]:
    """The two clients' raw frames on ``channel`` from a simulated time both saw whole.

    Each client joined the live market at its own moment, and the frames a
    subscription opens with are that moment's state: compare the live frames
    stamped after the later of the two first live timestamps.
    """
    live = [t.frames for t in (first, second)]
    streams = []
    for frames in live:
        streams.append([(timestamp(d), raw) for name, d, raw in frames if name == channel][1:])
    start = max(stream[0][0] for stream in streams)
    a, b = ([raw for at, raw in stream if at > start] for stream in streams)
    n = min(len(a), len(b))
    return a[:n], b[:n]


async def test_one_seed_gives_byte_identical_streams_another_differs(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """clock: scenario: one seed, the same bytes per channel (whatever else runs); not another."""
    first, second, other = await asyncio.gather(
        paradex_mock_factory(scenario=FAST), paradex_mock_factory(scenario=FAST),
        paradex_mock_factory(scenario=FAST, seed=8),
    )  # fmt: skip
    # The first client also makes the market build frames the second's never does.
    busy = ["markets_summary", "order_book.ALL.interactive@15@100ms@1", f"bbo.{ETH}.interactive"]
    a, b, c = await asyncio.gather(
        live_stream(first, PUBLIC, extra=busy),
        live_stream(second, PUBLIC, extra=[]),
        live_stream(other, PUBLIC, extra=[]),
    )
    for channel in PUBLIC:
        same_a, same_b = aligned(a, b, channel)
        assert len(same_a) >= 3, channel
        assert same_a == same_b, channel
    for _, data, _ in a.frames:
        assert DEFAULT_EPOCH_MS <= timestamp(data) < DEFAULT_EPOCH_MS + 60_000, "clock: scenario"
    diff_a, diff_c = aligned(a, c, f"bbo.{BTC}")
    assert diff_a != diff_c


@pytest.mark.paradex_mock(scenario=FAST)
async def test_an_account_nobody_holds_is_retired_after_its_idle_time(
    connect: Connect, paradex_mock: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once no session holds a private subscription of it, an account stops trading
    (after ACCOUNT_IDLE_S, 0 here); an account still held keeps trading."""
    monkeypatch.setattr(runtime, "ACCOUNT_IDLE_S", 0.0)
    market = paradex_mock.market
    assert market is not None
    leaving, staying = Transcript(await connect()), Transcript(await connect())
    for transcript, address in ((leaving, "0xa11ce"), (staying, "0xb0b")):
        await transcript.call("auth", {"bearer": paradex_mock.token(address)})
        await transcript.subscribe("orders.ALL")
    assert set(market.accounts) == {"0xa11ce", "0xb0b"}
    await leaving.client.ws.close()
    await paradex_mock.wait_for(lambda: "0xa11ce" not in market.accounts, timeout=5)
    assert set(market.accounts) == {"0xb0b"}


@pytest.mark.paradex_mock(scenario=FAST)
async def test_past_max_accounts_the_longest_idle_are_retired_first(
    connect: Connect, paradex_mock: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more accounts than MAX_ACCOUNTS, idle ones go oldest first; held ones stay."""
    monkeypatch.setattr(runtime, "MAX_ACCOUNTS", 2)
    market = paradex_mock.market
    assert market is not None
    held = Transcript(await connect())
    await held.call("auth", {"bearer": paradex_mock.token("0xb0b")})
    await held.subscribe("orders.ALL")
    for address in ("0x1", "0x2", "0x3"):  # made without a session: idle from the start
        market.account(address)
    assert market.retire_idle_accounts() == ["0x1", "0x2"]
    assert set(market.accounts) == {"0xb0b", "0x3"}


# No pings: making a hundred accounts holds the loop for the test's own while.
@pytest.mark.paradex_mock(scenario=FAST, ping_interval_s=None)
async def test_a_market_that_cannot_keep_up_lags_without_holding_the_loop(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """With a hundred trading accounts (more than a 10 ms step of work on this machine),
    the server still answers a client promptly: the market yields every MAX_STEP_MS."""
    market = paradex_mock.market
    assert market is not None
    client = await connect()
    await client.subscribe("trades.ALL")  # a subscriber: the market steps at full pace
    for n in range(100):
        market.account(f"0x{n + 1:x}")
    loop = asyncio.get_running_loop()
    for _ in range(5):
        asked = loop.time()
        reply = await client.call("unsubscribe", {"channel": "bbo.BTC-USD-PERP"})
        assert reply["error"]["code"] == -32600  # not subscribed: answered all the same
        assert loop.time() - asked < 2.0


class Recorder:
    """A hub subscriber that keeps what it is sent."""

    account = None

    def __init__(self) -> None:
        self.frames: list[str] = []

    def deliver(self, frame: Any, channel: str | None = None) -> None:
        self.frames.append(frame if isinstance(frame, str) else frame.text)


def recorded_market(stretch_ms: int, until_ms: int) -> list[str]:
    """What a subscriber to every public feed of FAST is sent, the market advanced
    ``stretch_ms`` at a time up to ``until_ms`` (no accounts: frame to frame)."""
    hub = Hub()
    market = MarketRuntime(FAST, hub=hub, clock=RealClock(), seed=7)
    market.start()
    assert market._task is not None
    market._task.cancel()  # driven by hand below
    recorder = Recorder()
    for name in [*PUBLIC, f"order_book.{BTC}.snapshot@15@50ms", "markets_summary"]:
        hub.subscribe(name, recorder)
        market.subscribed(recorder, parse_channel(name))
    for elapsed in range(stretch_ms, until_ms + 1, stretch_ms):
        market.advance(elapsed)
    return recorder.frames


async def test_stretches_between_frames_publish_what_steps_do() -> None:
    """Without accounts the market skips from frame to frame; the frames, their
    order and their bytes are those of stepping 10 ms at a time."""
    stepped = recorded_market(10, 20_000)
    stretched = recorded_market(1000, 20_000)
    assert len(stepped) > 1000
    assert stretched == stepped
