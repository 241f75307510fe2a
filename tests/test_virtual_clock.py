"""The virtual clock: ``await server.advance(s)`` moves pings, pong deadlines, the
scenario, the market and faults on, deterministically, over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serve_process import PARADEX_MOCK, Processes

from mockserver.cli import build_parser
from mockserver.clock import ScaledClock, VirtualClock
from mockserver.config import VIRTUAL_EPOCH_MS, MockConfig
from mockserver.errors import ConfigError
from mockserver.pytest_plugin import MockServerFactory
from mockserver.server import MockServer

# Pings every 55 virtual seconds, pongs due within 5: Paradex's own timing.
PARADEX_TIMING = {"clock": "virtual", "ping_interval_s": 55.0, "pong_timeout_s": 5.0}

SCRIPTED = """
version: 1
name: scripted
markets: [BTC-USD-PERP]
channels:
  bbo.BTC-USD-PERP:
    loop: 10s
    messages:
      - at: 1s
        data: {market: BTC-USD-PERP, bid: "1", ask: "2", last_updated_at: !now_ms }
      - at: 6s
        data: {market: BTC-USD-PERP, bid: "3", ask: "4", last_updated_at: !now_ms }
"""

ONE_MARKET = """
version: 1
name: one-market
seed: 11
markets:  # a calm book: a requote a second instead of ten (the CPU is the market's)
  BTC-USD-PERP: {trades_per_s: 2, requotes_per_s: 1}
synthetic:
  channels: [bbo, trades]
"""


class Reader:
    """A client that reads all the time (so its library answers pings), keeping
    every text frame it gets."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(message.data))
                async with self._arrived:
                    self._arrived.notify_all()

    async def notified(self, count: int) -> list[dict[str, Any]]:
        """The notifications, once ``count`` have arrived (the server has written
        them when advance() returns; this client reads them a moment later)."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.notifications()) >= count), 5.0
            )
        return self.notifications()

    async def subscribe(self, server: MockServer, channel: str) -> None:
        await self.ws.send_json(
            {
                "jsonrpc": "2.0",
                "id": len(self.frames),
                "method": "subscribe",
                "params": {"channel": channel},
            }
        )
        await server.wait_for(
            lambda: any(channel in s.subscriptions for s in server.sessions.values())
        )

    def notifications(self) -> list[dict[str, Any]]:
        return [f["params"]["data"] for f in self.frames if f.get("method") == "subscription"]

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session for the test."""
    async with aiohttp.ClientSession() as session:
        yield session


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def scripted_reader(
    factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path, **options: Any
) -> tuple[MockServer, Reader]:
    """A server playing SCRIPTED (``options`` on top) and a reader of its bbo."""
    server = await factory(scenario=write(tmp_path, SCRIPTED), **options)
    client = Reader(await http.ws_connect(server.ws_url))
    await client.subscribe(server, "bbo.BTC-USD-PERP")
    return server, client


# The clock itself


def test_timers_fire_in_order_of_time_then_of_setting() -> None:
    """Earliest first; timers due at the same instant fire in the order they were set."""
    clock = VirtualClock(wall_start_us=0)
    fired: list[str] = []
    clock.call_at(2.0, lambda: fired.append("b"))
    clock.call_at(1.0, lambda: fired.append("a"))
    clock.call_at(2.0, lambda: fired.append("c"))
    clock.call_at(3.0, lambda: fired.append("late")).cancel()
    assert clock.fire_next(10.0)
    assert fired == ["a"]
    assert clock.monotonic() == 1.0
    assert clock.fire_next(10.0)
    assert fired == ["a", "b", "c"]
    assert clock.monotonic() == 2.0
    assert not clock.fire_next(10.0)
    assert clock.next_due() is None


def test_fire_next_stops_at_the_limit_and_move_to_never_goes_back() -> None:
    """A timer past the limit waits; moving the clock never moves it backwards."""
    clock = VirtualClock(wall_start_us=5_000_000)
    clock.call_at(5.0, lambda: None)
    assert not clock.fire_next(4.9)
    clock.move_to(4.9)
    clock.move_to(1.0)
    assert clock.monotonic() == 4.9
    assert clock.wall_us() == 5_000_000 + 4_900_000


def test_a_callback_that_sets_a_timer_for_now_fires_it_in_the_same_step() -> None:
    """What a callback schedules for the current instant fires before fire_next returns."""
    clock = VirtualClock(wall_start_us=0)
    fired: list[int] = []
    clock.call_at(1.0, lambda: clock.call_at(1.0, lambda: fired.append(2)))
    assert clock.fire_next(1.0)
    assert fired == [2]


async def test_sleep_until_wakes_when_the_clock_gets_there() -> None:
    """A sleeper wakes only once the clock is moved to its time."""
    clock = VirtualClock(wall_start_us=0)
    sleeper = asyncio.create_task(clock.sleep_until(3.0))
    await asyncio.sleep(0)
    assert not clock.fire_next(2.0)
    await asyncio.sleep(0)
    assert not sleeper.done()
    assert clock.fire_next(3.0)
    await sleeper
    assert clock.monotonic() == 3.0


async def test_scheduled_returns_once_a_timer_is_set() -> None:
    """``scheduled()`` waits for the first timer (what --speed max idles on)."""
    clock = VirtualClock(wall_start_us=0)
    waiter = asyncio.create_task(clock.scheduled())
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.call_at(1.0, lambda: None)
    await asyncio.wait_for(waiter, 1.0)


# advance() on a running server


async def test_advance_needs_the_virtual_clock(paradex_mock: MockServer) -> None:
    """On the real clock, advance() says how to get a virtual one."""
    with pytest.raises(ConfigError, match=r"clock='virtual'"):
        await paradex_mock.advance(1)


@pytest.mark.paradex_mock(scenario="empty", **PARADEX_TIMING)
async def test_a_ping_goes_out_at_55_virtual_seconds(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """No ping before 55 s of virtual time, one at 55 s, answered: the client stays."""
    client = Reader(await http.ws_connect(paradex_mock.ws_url))
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1)
    (session,) = paradex_mock.sessions.values()
    await paradex_mock.advance(54.999)
    assert session.keepalive.stats.pings_sent == 0
    await paradex_mock.advance(0.001)
    assert session.keepalive.stats.pings_sent == 1
    assert session.keepalive.stats.pongs_received == 1
    # Answered at the same virtual instant: the round trip is 0 clock seconds.
    assert session.keepalive.stats.round_trips_s == [0.0]
    await paradex_mock.advance(600)
    assert session.keepalive.stats.pings_sent == 11
    assert not session.closed
    await client.close()


@pytest.mark.paradex_mock(scenario="empty", advance_pong_grace_s=0.05, **PARADEX_TIMING)
async def test_a_client_that_does_not_answer_is_dropped_at_the_pong_deadline(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """The pong deadline fires 5 virtual seconds after the ping, not a moment before."""
    silent = await http.ws_connect(paradex_mock.ws_url, autoping=False)
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1)
    (session,) = paradex_mock.sessions.values()
    await paradex_mock.advance(59.9)
    assert not session.closed
    await paradex_mock.advance(0.1)
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    assert session.close_code == 1006  # dropped, as Paradex terminates it
    assert paradex_mock.clock.monotonic() == 60.0
    await silent.close()


@pytest.mark.paradex_mock(**PARADEX_TIMING)
async def test_timestamps_follow_the_virtual_clock(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Scripted messages go out when the clock reaches them, stamped with its time."""
    server, client = await scripted_reader(paradex_mock_factory, http, tmp_path)
    await server.advance(0.999)
    await server.advance(0.001)
    await client.notified(1)
    await server.advance(15)
    stamps = [(n["bid"], n["last_updated_at"]) for n in await client.notified(4)]
    assert stamps == [
        ("1", VIRTUAL_EPOCH_MS + 1_000),
        ("3", VIRTUAL_EPOCH_MS + 6_000),
        ("1", VIRTUAL_EPOCH_MS + 11_000),  # loop: 10s
        ("3", VIRTUAL_EPOCH_MS + 16_000),
    ]
    # The subscribe reply's usIn/usOut are virtual too: the clock stood at 0.
    reply = next(f for f in client.frames if "result" in f)
    assert reply["usIn"] == reply["usOut"] == VIRTUAL_EPOCH_MS * 1000
    await client.close()


@pytest.mark.paradex_mock(scenario="empty", clock="virtual", clock_epoch_ms=1_700_000_000_000)
async def test_a_token_expires_when_the_virtual_clock_says_so(
    paradex_mock: MockServer, http: aiohttp.ClientSession
) -> None:
    """A five-minute JWT is refused after five virtual minutes, in no real time."""
    token = paradex_mock.token("0xabc", ttl_s=300)
    replies = []
    for _ in range(2):
        async with http.ws_connect(paradex_mock.ws_url) as ws:
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "auth", "params": {"bearer": token}}
            )
            replies.append(await ws.receive_json(timeout=5))
        await paradex_mock.advance(300)
    assert "result" in replies[0]
    assert replies[1]["error"]["code"] == 40111  # invalid (expired) token


@pytest.mark.paradex_mock(**PARADEX_TIMING)
async def test_fault_durations_run_on_the_virtual_clock(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A fault for 5 s drops what falls in those 5 virtual seconds and then ends."""
    server, client = await scripted_reader(paradex_mock_factory, http, tmp_path)
    handle = server.fault("drop_messages", channel="bbo.*", for_s=5)
    await server.advance(10)
    assert [n["bid"] for n in await client.notified(1)] == ["3"]  # the one at 1 s was dropped
    assert handle.state == "expired"
    await client.close()


# Ten virtual minutes: the Done-when


async def ten_virtual_minutes(
    factory: MockServerFactory, http: aiohttp.ClientSession, scenario: Path
) -> tuple[list[str], float]:
    """Ten virtual minutes of pings, one pong deadline and market data: what the
    clients saw and the server recorded, and the real seconds the advance took."""
    server = await factory(scenario=scenario, advance_pong_grace_s=0.05, **PARADEX_TIMING)
    reader = Reader(await http.ws_connect(server.ws_url))
    await reader.subscribe(server, "trades.BTC-USD-PERP")
    await reader.subscribe(server, "bbo.BTC-USD-PERP")
    silent = await http.ws_connect(server.ws_url, autoping=False)
    await server.wait_for(lambda: len(server.sessions) == 2)
    started = time.perf_counter()
    await server.advance(600)
    took = time.perf_counter() - started
    await reader.close()
    await silent.close()
    await server.wait_for(lambda: not server.sessions)
    seen = [json.dumps(frame, sort_keys=True) for frame in reader.frames]
    for session in server.all_sessions():
        stats = session.keepalive.stats
        seen.append(
            f"{session.id}: {stats.pings_sent} pings, {stats.pongs_received} pongs, "
            f"close {session.close_code}"
        )
    return seen, took


async def test_ten_virtual_minutes_take_well_under_a_second_and_repeat_exactly(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Ten virtual minutes of pings, a pong deadline and a synthetic market run in
    well under a second of real time, and two runs see the very same frames."""
    scenario = write(tmp_path, ONE_MARKET)
    first, took = await ten_virtual_minutes(paradex_mock_factory, http, scenario)
    second, _ = await ten_virtual_minutes(paradex_mock_factory, http, scenario)
    assert first == second
    trades = [line for line in first if '"trades.BTC-USD-PERP"' in line and "created_at" in line]
    assert 600 < len(trades) < 1800  # ~2 a second for 600 s
    assert first[-2:] == [  # in the order they closed
        "s2: 1 pings, 0 pongs, close 1006",  # dropped at 60 s
        "s1: 10 pings, 10 pongs, close 1000",  # 55, 110, ..., 550 s; closed by the client
    ]
    print(f"ten virtual minutes: {took:.3f} s real")
    assert took < 1.0, f"ten virtual minutes took {took:.2f} s of real time"


# serve --speed: a faster real clock, or as fast as the clients read


async def test_a_scaled_clock_runs_its_factor_faster() -> None:
    """At speed 10, one clock second is a tenth of a real one, wall time included."""
    clock = ScaledClock(10)
    loop = asyncio.get_running_loop()
    started, wall = loop.time(), clock.wall_us()
    fired = loop.create_future()
    clock.call_at(clock.monotonic() + 1.0, lambda: fired.set_result(loop.time()))
    real = await asyncio.wait_for(fired, 5.0) - started
    assert 0.09 <= real < 0.5
    assert clock.wall_us() - wall >= 1_000_000
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


async def test_speed_10_replays_ten_times_faster_with_its_own_timestamps(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``speed=10``: the messages 5 s apart in the script come 0.5 s apart, stamped 5 s apart."""
    _, client = await scripted_reader(paradex_mock_factory, http, tmp_path, speed=10.0)
    loop = asyncio.get_running_loop()
    first = await client.notified(1)
    got_first = loop.time()
    second = await client.notified(2)
    assert 0.3 < loop.time() - got_first < 2.0
    assert second[1]["last_updated_at"] - first[0]["last_updated_at"] == pytest.approx(
        5000, abs=150
    )
    await client.close()


async def test_speed_max_replays_as_fast_as_the_client_reads(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``speed=inf``: a minute of scripted replay arrives at once, each message stamped
    at its own time; keepalive stays on real time (no ping storm)."""
    server = await paradex_mock_factory(
        scenario=write(tmp_path, SCRIPTED), speed=math.inf, ping_interval_s=0.2
    )
    client = Reader(await http.ws_connect(server.ws_url))
    await server.wait_for(lambda: len(server.sessions) == 1)
    assert server.clock.monotonic() == 0.0  # nobody subscribed: time stands still
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.subscribe(server, "bbo.BTC-USD-PERP")
    frames = await client.notified(120)  # ten minutes of the script
    took = loop.time() - started
    stamps = [n["last_updated_at"] - frames[0]["last_updated_at"] for n in frames[:4]]
    assert stamps == [0, 5000, 10_000, 15_000]
    (session,) = server.sessions.values()
    assert session.keepalive.stats.pings_sent <= took / 0.2 + 1
    assert took < 5.0
    await client.close()


def test_the_speed_option() -> None:
    """``--speed 10`` and ``--speed max`` parse; zero, negatives and words do not."""
    parser = build_parser({})
    assert parser.parse_args(["serve", "--speed", "10"]).speed == 10.0
    assert parser.parse_args(["serve", "--speed", "max"]).speed == math.inf
    assert parser.parse_args(["serve"]).speed == 1.0
    for bad in ("0", "-2", "fast", "inf"):
        with pytest.raises(SystemExit):
            parser.parse_args(["serve", "--speed", bad])


def test_config_refuses_clock_mixtures() -> None:
    """A virtual clock has no speed; an epoch goes with the virtual clock only."""
    with pytest.raises(ConfigError, match="speed goes with the real clock"):
        MockConfig(clock="virtual", speed=10)
    with pytest.raises(ConfigError, match="clock_epoch_ms goes with"):
        MockConfig(clock_epoch_ms=0)
    with pytest.raises(ConfigError, match="clock must be one of"):
        MockConfig(clock="fake")


def test_the_example_of_docs_time_md_passes(pytester: pytest.Pytester) -> None:
    """docs/time.md's example is a passing test file, run as a downstream project would."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "time.md").read_text()
    example = re.search(r"<!-- example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert example is not None
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(test_example=example[1])
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=2)


async def test_serve_speed_max_through_the_command_line(
    processes: Processes, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``paradex-mock serve --speed max``: the script's minutes arrive in a moment."""
    server = await processes.start(
        [PARADEX_MOCK, "serve", "--port", "0", "--speed", "max",
         "--scenario", str(write(tmp_path, SCRIPTED))]
    )  # fmt: skip
    async with http.ws_connect(server.ws_url) as ws:
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 1, "method": "subscribe",
             "params": {"channel": "bbo.BTC-USD-PERP"}}
        )  # fmt: skip
        frames = [await ws.receive_json(timeout=5) for _ in range(61)]
    stamps = [f["params"]["data"]["last_updated_at"] for f in frames[1:]]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [5000] * 59
