"""Paradex's limits (paradex-ws.md §5) and the mock's own: connections per IP per
second and per minute, the slow-consumer disconnect with bounded memory, and the
cap on subscriptions per connection. Over real sockets, with the limits lowered
through the marker; window expiry through the limiter's clock, never a sleep."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from conftest import Client, Connect
from fault_clients import answers, attempt, closing
from serve_process import PARADEX_MOCK, Processes
from stalled_reader import flood_until_cut_off, open_stalled

from mockserver.cli import build_parser, config_from_args
from mockserver.config import MockConfig
from mockserver.errors import ConfigError
from mockserver.limits import MAX_TRACKED_IPS, ConnectionLimiter, Denied, Window
from mockserver.scenario.loader import loads
from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty", ping_interval_s=None)

TRADES = "trades.BTC-USD-PERP"
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
PER_SECOND = Window(20, 1.0, "second")
PER_MINUTE = Window(600, 60.0, "minute")


class ManualTimeLimiter(ConnectionLimiter):
    """The server's limiter on a clock the test sets: expiry without waiting."""

    now_s = 1000.0

    def admit(self, ip: str, now: float) -> Denied | None:
        return super().admit(ip, self.now_s)


def manual_time(server: MockServer) -> ManualTimeLimiter:
    """Put ``server``'s limiter on a clock the test moves."""
    assert server.connection_limiter is not None
    limiter = ManualTimeLimiter(server.connection_limiter.windows)
    server.connection_limiter = limiter
    return limiter


async def upgrade(server: MockServer) -> tuple[int, dict[str, str], Any]:
    """One handshake as plain HTTP: (status, headers, JSON body or None)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/v1", headers=UPGRADE_HEADERS) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, dict(response.headers), body


async def accepted(server: MockServer, http: aiohttp.ClientSession, count: int) -> list[Client]:
    """``count`` connections, each accepted."""
    clients = []
    for _ in range(count):
        client = await attempt(http, server.ws_url)
        assert isinstance(client, Client), f"refused with {client}"
        clients.append(client)
    return clients


# Connections per IP


def test_paradex_limits_are_the_defaults() -> None:
    """MockConfig defaults to Paradex's 20 per second and 600 per minute, refused with 429."""
    config = MockConfig()
    assert (config.connections_per_ip_per_s, config.connections_per_ip_per_min) == (20, 600)
    assert config.connection_rate_refusal == "http"
    limiter = ConnectionLimiter.from_config(config)
    assert limiter is not None
    assert limiter.windows == (PER_SECOND, PER_MINUTE)


async def test_the_21st_connection_in_a_second_is_refused_with_429(
    paradex_mock: MockServer,
) -> None:
    """Paradex's default: 20 handshakes a second are accepted, the 21st gets 429 + Retry-After."""
    limiter = manual_time(paradex_mock)
    async with aiohttp.ClientSession() as http:
        clients = await accepted(paradex_mock, http, 20)
        status, headers, body = await upgrade(paradex_mock)
        assert (status, headers["Retry-After"]) == (429, "1")
        assert body == {"error": "rate limit exceeded: at most 20 connections per second per IP"}
        assert await answers(clients[0])  # the open connections are untouched
        limiter.now_s += 1.0  # the window ends
        await accepted(paradex_mock, http, 1)
    assert (limiter.admitted, limiter.refused) == (21, 1)


@pytest.mark.paradex_mock(connections_per_ip_per_s=None, connections_per_ip_per_min=3)
async def test_the_minute_window_refuses_on_the_servers_clock(paradex_mock: MockServer) -> None:
    """Per minute, on the server's real clock: the 4th handshake waits for the window's end."""
    async with aiohttp.ClientSession() as http:
        await accepted(paradex_mock, http, 3)
        status, headers, body = await upgrade(paradex_mock)
    assert status == 429
    assert 55 <= int(headers["Retry-After"]) <= 60
    assert body["error"] == "rate limit exceeded: at most 3 connections per minute per IP"


@pytest.mark.paradex_mock(connections_per_ip_per_s=3)
async def test_refused_attempts_do_not_extend_the_lockout(paradex_mock: MockServer) -> None:
    """A client retrying in a tight loop is let in again as soon as its window ends."""
    limiter = manual_time(paradex_mock)
    async with aiohttp.ClientSession() as http:
        await accepted(paradex_mock, http, 3)
        for _ in range(30):
            assert await attempt(http, paradex_mock.ws_url) == 429
        limiter.now_s += 0.999
        assert await attempt(http, paradex_mock.ws_url) == 429
        limiter.now_s += 0.001
        await accepted(paradex_mock, http, 3)
        assert await attempt(http, paradex_mock.ws_url) == 429
    assert limiter.tracked_ips == 1


@pytest.mark.paradex_mock(connections_per_ip_per_s=2, connection_rate_refusal="close")
async def test_close_mode_accepts_then_closes_with_1013(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """connection_rate_refusal="close": over the limit, the WebSocket opens then closes 1013."""
    manual_time(paradex_mock)
    first, _ = await connect(), await connect()
    refused = await connect()
    ending = await closing(refused)
    assert (ending.type, ending.code, ending.reason) == (
        aiohttp.WSMsgType.CLOSE,
        1013,
        "rate limit exceeded",
    )
    assert len(paradex_mock.sessions) == 2
    assert await answers(first)


@pytest.mark.paradex_mock(connections_per_ip_per_s=1)
async def test_only_websocket_handshakes_count(paradex_mock: MockServer) -> None:
    """/health, REST and a plain GET /v1 (426) use none of the quota."""
    manual_time(paradex_mock)
    async with aiohttp.ClientSession() as http:
        for path in ("/health", "/v1/system/time", "/v1/markets", "/v1"):
            for _ in range(3):
                async with http.get(paradex_mock.url + path) as response:
                    assert response.status in (200, 426)
        await accepted(paradex_mock, http, 1)
        assert await attempt(http, paradex_mock.ws_url) == 429


@pytest.mark.paradex_mock(connections_per_ip_per_s=1)
async def test_a_fault_refusal_uses_no_quota_and_reset_restores_it(
    paradex_mock: MockServer,
) -> None:
    """refuse_connections turns attempts away before the limiter counts them; reset() forgets."""
    manual_time(paradex_mock)
    async with aiohttp.ClientSession() as http:
        with paradex_mock.refuse_connections():
            for _ in range(3):
                assert await attempt(http, paradex_mock.ws_url) == 503
        await accepted(paradex_mock, http, 1)
        assert await attempt(http, paradex_mock.ws_url) == 429
        await paradex_mock.reset()
        await accepted(paradex_mock, http, 1)


@pytest.mark.paradex_mock(connections_per_ip_per_s=None, connections_per_ip_per_min=None)
async def test_limits_off_accept_any_rate(paradex_mock: MockServer) -> None:
    """Both limits None (what the bench uses): no limiter, 40 quick handshakes all accepted."""
    assert paradex_mock.connection_limiter is None
    async with aiohttp.ClientSession() as http:
        for client in await accepted(paradex_mock, http, 40):
            await client.ws.close()


# The limiter itself (sans-I/O): windows, expiry, bounded memory


def test_a_window_starts_with_its_first_connection() -> None:
    """The second's window runs from the first admitted handshake, not from a clock tick."""
    limiter = ConnectionLimiter((Window(2, 1.0, "second"),))
    assert limiter.admit("a", 10.5) is None
    assert limiter.admit("a", 11.2) is None
    denied = limiter.admit("a", 11.4)
    assert denied is not None
    assert denied.retry_after_s == pytest.approx(0.1)
    assert denied.retry_after_header == "1"
    assert limiter.admit("a", 11.5) is None  # 10.5 + 1 s: a new window
    assert limiter.admit("b", 11.5) is None  # every IP has its own


def test_the_minute_limit_binds_a_client_under_the_second_limit() -> None:
    """20 a second for 30 s uses the minute's 600; the next is refused until the minute ends."""
    limiter = ConnectionLimiter((PER_SECOND, PER_MINUTE))
    for i in range(600):
        assert limiter.admit("a", i / 20) is None
    denied = limiter.admit("a", 30.0)
    assert denied is not None
    assert denied.window == PER_MINUTE
    assert denied.retry_after_header == "30"
    assert limiter.admit("a", 59.99) is not None
    assert limiter.admit("a", 60.0) is None


def test_a_flood_from_one_ip_keeps_one_entry() -> None:
    """100,000 attempts in a second from one IP: 20 admitted, one IP remembered."""
    limiter = ConnectionLimiter((PER_SECOND, PER_MINUTE))
    for i in range(100_000):
        limiter.admit("10.0.0.1", i / 100_000)
    assert (limiter.admitted, limiter.refused, limiter.tracked_ips) == (20, 99_980, 1)


def test_idle_ips_are_forgotten_once_their_windows_end() -> None:
    """Each of 1000 IPs connects once; a minute later the next attempt forgets them all."""
    limiter = ConnectionLimiter((PER_SECOND, PER_MINUTE))
    for i in range(1000):
        limiter.admit(f"10.0.{i // 256}.{i % 256}", i / 1000)
    assert limiter.tracked_ips == 1000
    limiter.admit("10.0.0.0", 60.5)  # the first 500 are more than a minute old
    assert limiter.tracked_ips == 500
    limiter.admit("192.0.2.1", 61.0)
    assert limiter.tracked_ips == 2


def test_many_ips_never_exceed_the_bound() -> None:
    """More distinct IPs than max_tracked_ips within a minute: the least recently seen go."""
    limiter = ConnectionLimiter((PER_SECOND, PER_MINUTE), max_tracked_ips=1000)
    for i in range(5000):
        limiter.admit(f"2001:db8::{i:x}", i / 5000)
    assert limiter.tracked_ips == 1000
    assert MAX_TRACKED_IPS >= 65_536  # the server's own bound


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connections_per_ip_per_s", 0),
        ("connections_per_ip_per_min", -1),
        ("max_subscriptions", 0),
        ("connection_rate_refusal", "drop"),
    ],
)
def test_bad_limit_values_are_config_errors(field: str, value: object) -> None:
    """A limit below 1 (None is off) or an unknown refusal mode is refused by MockConfig."""
    with pytest.raises(ConfigError, match=field):
        MockConfig(**{field: value})  # type: ignore[arg-type]


# The command line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], (20, 600, "http", 1000)),
        (
            [
                *("--connections-per-ip-per-s", "off", "--connections-per-ip-per-min", "0"),
                *("--connection-rate-refusal", "close", "--max-subscriptions", "off"),
            ],
            (None, None, "close", None),
        ),
        (["--connections-per-ip-per-s", "5", "--max-subscriptions", "7"], (5, 600, "http", 7)),
    ],
)
def test_serve_limit_flags(argv: list[str], expected: tuple[object, ...]) -> None:
    """serve's limit flags set the MockConfig fields; 0 and 'off' switch a limit off."""
    parser = build_parser(environ={})
    config = config_from_args(parser.parse_args(["serve", *argv]), parser)
    assert (
        config.connections_per_ip_per_s,
        config.connections_per_ip_per_min,
        config.connection_rate_refusal,
        config.max_subscriptions,
    ) == expected


async def test_serve_flags_set_the_connection_limit(processes: Processes) -> None:
    """serve --connections-per-ip-per-min 2: the third handshake is answered 429."""
    server = await processes.start(
        [
            *(PARADEX_MOCK, "serve", "--port", "0", "--scenario", "empty"),
            *("--connections-per-ip-per-s", "off", "--connections-per-ip-per-min", "2"),
        ]
    )
    async with aiohttp.ClientSession() as http:
        for expected in (101, 101, 429):
            async with http.get(server.http_url + "/v1", headers=UPGRADE_HEADERS) as response:
                assert response.status == expected


# Slow consumer (2000+ messages unsent, §5)


async def test_a_stalled_reader_is_cut_off_at_2000_frames_with_bounded_memory(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Paradex's rule at its own value: a client that stops reading is closed 1008 once
    2000 frames wait; its queue never holds more, its transport's buffer stays bounded,
    and a neighbour receives every frame."""
    limit = paradex_mock.config.max_queued_messages
    assert limit == 2000
    stalled, victim = await open_stalled(paradex_mock, TRADES)
    healthy = await connect()
    await healthy.subscribe(TRADES)
    flood = await flood_until_cut_off(paradex_mock, victim, healthy, TRADES, limit=limit)
    await paradex_mock.wait_for(lambda: victim.close_code is not None)
    assert (victim.close_code, victim.close_reason) == (1008, "slow consumer")
    assert flood.peak_queued <= limit
    # The kernel and transport hold what fits before the queue starts: a bounded
    # amount (one queue's worth written at once past the high-water mark at most).
    assert flood.peak_buffered_bytes <= 64 * 1024 + limit * 1100
    assert victim.queued == 0  # what it held is released
    assert await answers(healthy)
    await asyncio.wait_for(paradex_mock.drained(), 5)
    stalled.close()


# Subscriptions per connection


def test_subscriptions_are_capped_at_1000_by_default() -> None:
    """A generous default cap: MockConfig().max_subscriptions is 1000."""
    assert MockConfig().max_subscriptions == 1000


@pytest.mark.paradex_mock(max_subscriptions=3)
async def test_a_subscribe_past_the_cap_is_an_error_and_unsubscribe_frees_a_slot(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The 4th subscription gets -32600 "invalid subscribe request"; after an unsubscribe
    it succeeds; a resubscribe still says "already subscribed"; a neighbour has its own cap."""
    client = await connect()
    channels = ["trades.BTC-USD-PERP", "bbo.BTC-USD-PERP", "trades.ETH-USD-PERP"]
    for channel in channels:
        assert "result" in await client.subscribe(channel)
    refused = await client.subscribe("bbo.ETH-USD-PERP")
    assert refused["error"] == {
        "code": -32600,
        "message": "invalid subscribe request",
        "data": "at most 3 subscriptions per connection",
    }
    assert paradex_mock.hub.subscriber_count("bbo.ETH-USD-PERP") == 0
    again = await client.subscribe(channels[0])
    assert again["error"]["data"] == "already subscribed"
    assert "result" in await client.call("unsubscribe", {"channel": channels[0]})
    assert "result" in await client.subscribe("bbo.ETH-USD-PERP")
    neighbour = await connect()
    assert "result" in await neighbour.subscribe(channels[0])
    (session,) = [s for s in paradex_mock.sessions.values() if len(s.subscriptions) == 3]
    assert session.received[-1].error is None
    assert [f.error for f in session.received].count("too_many_subscriptions") == 1


CAP_OVERRIDE = loads(
    "markets: [BTC-USD-PERP]\n"
    "errors:\n  too_many_subscriptions: {code: 42901, message: rate limit exceeded}\n",
    default_name="cap-override",
)


@pytest.mark.paradex_mock(scenario=CAP_OVERRIDE, max_subscriptions=1)
async def test_the_cap_error_is_overridable_by_the_scenario(connect: Connect) -> None:
    """errors.too_many_subscriptions replaces the shape of the cap's error."""
    client = await connect()
    assert "result" in await client.subscribe("trades.BTC-USD-PERP")
    refused = await client.subscribe("bbo.BTC-USD-PERP")
    assert refused["error"] == {
        "code": 42901,
        "message": "rate limit exceeded",
        "data": "too many subscriptions",  # what the override leaves out keeps its default
    }
