"""Paradex's protocol-level keepalive, at millisecond timings (paradex-ws.md §6).

The server pings every ``ping_interval_s`` (55 s live) and terminates a connection
whose pong does not come within ``pong_timeout_s`` (5 s live). Clients here use
``autoping=False`` so they see each PING frame and decide whether to answer it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from conftest import RECEIVE_TIMEOUT_S, Client, Connect

from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.session import Session

INTERVAL_S = 0.02
# Long enough that a client answering from a busy 2-core CI loop is never late.
TIMEOUT_S = 0.1
# How late a drop may be observed after its deadline on a loaded machine.
MARGIN_S = 0.5

MARKETS = "markets: [BTC-USD-PERP, ETH-USD-PERP]\n"
EMPTY = loads(f"name: empty\n{MARKETS}")
CLOSE_ON_TIMEOUT = loads(
    "name: close-on-timeout\n"
    + MARKETS
    + 'behaviour: {on_pong_timeout: {close: 4000, reason: "pong timeout"}}\n'
)
pytestmark = pytest.mark.paradex_mock(
    scenario=EMPTY, ping_interval_s=INTERVAL_S, pong_timeout_s=TIMEOUT_S
)


class Reader:
    """Reads one client's frames in the background, answering server pings if asked to."""

    def __init__(self, client: Client, *, answer_pings: bool, connecting_at: float) -> None:
        self.ws = client.ws
        self.answer_pings = answer_pings
        # Taken before the handshake began: no server timer can predate it.
        self.connecting_at = connecting_at
        self.ping_times: list[float] = []
        self.pongs: list[bytes] = []
        self.texts: list[dict[str, Any]] = []
        self.end: aiohttp.WSMessage | None = None
        self.ended_at: float | None = None
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await self.ws.receive()
            now = loop.time()
            if message.type is WSMsgType.PING:
                self.ping_times.append(now)
                if self.answer_pings:
                    await self.ws.pong(message.data)
            elif message.type is WSMsgType.PONG:
                self.pongs.append(message.data)
            elif message.type is WSMsgType.TEXT:
                self.texts.append(json.loads(message.data))
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the connection is over
                self.end, self.ended_at = message, now
                self._notify()
                return
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(
        self, predicate: Callable[[], bool], *, timeout: float = RECEIVE_TIMEOUT_S
    ) -> None:
        """Return once ``predicate()`` holds, re-checked on every frame; fail after ``timeout``."""

        async def wait() -> None:
            while not predicate():
                changed = self._changed
                if self.end is not None and not predicate():
                    raise AssertionError(f"connection ended first: {self.end}")
                await changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s") from None

    async def call(self, method: str, params: dict[str, Any], request_id: int) -> dict[str, Any]:
        """Send a request and return its reply."""
        await self.ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        )

        def reply() -> dict[str, Any] | None:
            return next((t for t in self.texts if t.get("id") == request_id), None)

        await self.until(lambda: reply() is not None)
        found = reply()
        assert found is not None
        return found


OpenReader = Callable[..., Awaitable[Reader]]


@pytest.fixture
async def open_reader(connect: Connect) -> AsyncIterator[OpenReader]:
    """Open a client with ``autoping=False`` and read it in the background."""
    readers: list[Reader] = []

    async def open_one(*, answer_pings: bool) -> Reader:
        connecting_at = asyncio.get_running_loop().time()
        client = await connect(autoping=False)
        reader = Reader(client, answer_pings=answer_pings, connecting_at=connecting_at)
        readers.append(reader)
        return reader

    yield open_one
    for reader in readers:
        reader.task.cancel()
    await asyncio.gather(*(r.task for r in readers), return_exceptions=True)


def session_of(server: MockServer, index: int = 0) -> Session:
    return server.all_sessions()[index]


async def test_server_pings_on_a_fixed_cadence(open_reader: OpenReader) -> None:
    """The server sends protocol PING frames (not JSON) about every ``ping_interval_s``."""
    reader = await open_reader(answer_pings=True)
    await reader.until(lambda: len(reader.ping_times) >= 10)
    gaps = [b - a for a, b in zip(reader.ping_times, reader.ping_times[1:], strict=False)]
    mean_gap = sum(gaps) / len(gaps)
    assert INTERVAL_S * 0.5 <= mean_gap <= INTERVAL_S * 3, gaps
    # The cadence counts from the connection's opening, so the first ping is one interval in.
    assert reader.ping_times[0] - reader.connecting_at >= INTERVAL_S * 0.95
    assert reader.texts == []


async def test_answering_client_stays_connected(
    open_reader: OpenReader, paradex_mock: MockServer
) -> None:
    """A client that answers every ping stays connected across 20+ intervals."""
    reader = await open_reader(answer_pings=True)
    await reader.until(lambda: len(reader.ping_times) >= 20)
    reply = await reader.call("subscribe", {"channel": "trades.ALL"}, 1)
    assert reply["result"] == {"channel": "trades.ALL"}
    assert reader.end is None
    stats = session_of(paradex_mock).keepalive.stats
    assert stats.pings_sent >= 20
    # The reply came after every pong sent before the request: all were counted.
    assert stats.pongs_received >= 20
    assert paradex_mock.sessions


async def test_stats_record_round_trips(open_reader: OpenReader, paradex_mock: MockServer) -> None:
    """``keepalive.stats`` counts pings and pongs and keeps each answered ping's round trip."""
    reader = await open_reader(answer_pings=True)
    await reader.until(lambda: len(reader.ping_times) >= 5)
    await reader.call("subscribe", {"channel": "trades.ALL"}, 1)
    stats = session_of(paradex_mock).keepalive.stats
    assert stats.pongs_received >= 5
    assert stats.pings_sent >= stats.pongs_received
    assert 1 <= len(stats.round_trips_s) <= stats.pongs_received
    assert all(0 <= rtt < TIMEOUT_S for rtt in stats.round_trips_s), stats.round_trips_s


async def test_stats_record_how_late_each_ping_went_out(
    open_reader: OpenReader, paradex_mock: MockServer
) -> None:
    """``ping_lateness_s`` has one reading per ping: due time to write time, under a margin."""
    reader = await open_reader(answer_pings=True)
    await reader.until(lambda: len(reader.ping_times) >= 5)
    stats = session_of(paradex_mock).keepalive.stats
    assert len(stats.ping_lateness_s) == stats.pings_sent
    assert all(0 <= late < MARGIN_S for late in stats.ping_lateness_s), stats.ping_lateness_s


async def test_silent_client_is_dropped_and_its_neighbour_is_not(
    open_reader: OpenReader, paradex_mock: MockServer
) -> None:
    """A silent client is dropped after pong_timeout; its neighbour keeps getting pings and data."""
    neighbour = await open_reader(answer_pings=True)
    assert (await neighbour.call("subscribe", {"channel": "trades.ALL"}, 1))["result"]
    silent = await open_reader(answer_pings=False)
    await silent.until(
        lambda: silent.end is not None, timeout=INTERVAL_S + TIMEOUT_S + MARGIN_S + 1
    )
    assert silent.ended_at is not None
    # The first ping goes out one interval after the connection opens and the deadline
    # counts from it: so the drop is at least interval + pong_timeout after connecting
    # (1 ms spared for timer resolution), and within pong_timeout + margin of that ping.
    assert silent.ended_at - silent.connecting_at >= INTERVAL_S + TIMEOUT_S - 0.001
    assert silent.ping_times, "the silent client saw no ping before being dropped"
    assert silent.ended_at - silent.ping_times[0] < TIMEOUT_S + MARGIN_S
    # Dropped, not closed: TCP goes away without a close frame (the default action).
    assert silent.end is not None
    assert silent.end.type in (WSMsgType.CLOSED, WSMsgType.ERROR), silent.end
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1, timeout=RECEIVE_TIMEOUT_S)
    (dropped,) = paradex_mock.closed_sessions
    assert dropped.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE

    pings_at_drop = len(neighbour.ping_times)
    await neighbour.until(lambda: len(neighbour.ping_times) >= pings_at_drop + 5)
    assert paradex_mock.publish("trades.BTC-USD-PERP", {"id": "after"}) == 1
    await neighbour.until(lambda: any(t.get("method") == "subscription" for t in neighbour.texts))
    assert neighbour.end is None


async def test_client_pings_get_pongs(open_reader: OpenReader) -> None:
    """Pings the client sends are answered with pongs carrying the same payload, in order."""
    reader = await open_reader(answer_pings=False)
    for payload in (b"one", b"two", b""):
        await reader.ws.ping(payload)
    await reader.until(lambda: len(reader.pongs) >= 3)
    assert reader.pongs[:3] == [b"one", b"two", b""]


@pytest.mark.paradex_mock(ping_interval_s=None)
async def test_client_pings_get_pongs_without_server_pings(
    open_reader: OpenReader, paradex_mock: MockServer
) -> None:
    """With the server's pings off, client pings are still answered."""
    reader = await open_reader(answer_pings=False)
    await reader.ws.ping(b"hello")
    await reader.until(lambda: reader.pongs == [b"hello"])
    assert reader.ping_times == []


@pytest.mark.paradex_mock(ping_interval_s=None)
async def test_no_pings_when_interval_is_none(
    open_reader: OpenReader, paradex_mock: MockServer
) -> None:
    """``ping_interval_s=None`` sends no pings, so a silent client is never dropped."""
    reader = await open_reader(answer_pings=False)
    # An absence can only be observed over a window: ten fixture intervals, bounded.
    with pytest.raises(AssertionError, match="not met"):
        await reader.until(lambda: bool(reader.ping_times), timeout=10 * INTERVAL_S)
    assert reader.end is None
    reply = await reader.call("subscribe", {"channel": "trades.ALL"}, 1)
    assert reply["result"] == {"channel": "trades.ALL"}
    assert session_of(paradex_mock).keepalive.stats.pings_sent == 0


@pytest.mark.paradex_mock(scenario=CLOSE_ON_TIMEOUT)
async def test_pong_timeout_close_action(open_reader: OpenReader, paradex_mock: MockServer) -> None:
    """``behaviour.on_pong_timeout: {close: 4000, ...}`` sends a close frame with that code."""
    silent = await open_reader(answer_pings=False)
    await silent.until(
        lambda: silent.end is not None, timeout=INTERVAL_S + TIMEOUT_S + MARGIN_S + 1
    )
    assert silent.end is not None
    assert silent.end.type is WSMsgType.CLOSE, silent.end
    assert (silent.end.data, silent.end.extra) == (4000, "pong timeout")
    assert silent.ended_at is not None
    assert silent.ended_at - silent.connecting_at >= TIMEOUT_S
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions, timeout=RECEIVE_TIMEOUT_S)
    (closed,) = paradex_mock.closed_sessions
    assert (closed.close_code, closed.close_reason) == (4000, "pong timeout")
