"""The assertion helpers (mockserver.expectations): each passing on what real clients
did, and failing with a message that says what happened instead."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
import websocket
from conftest import RECEIVE_TIMEOUT_S, Client, Connect, sync_call

from mockserver.expectations import aliases, channel_matches, params_match
from mockserver.pytest_plugin import MockServerFactory
from mockserver.server import MockServer
from mockserver.threaded import ThreadedMockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty", ping_interval_s=None)

BBO = "bbo.BTC-USD-PERP"
TRADES = "trades.BTC-USD-PERP"
ETH = "bbo.ETH-USD-PERP"


def failure(excinfo: pytest.ExceptionInfo[AssertionError]) -> str:
    return str(excinfo.value)


# Matching rules (no socket needed)


def test_params_match_every_given_key_recursively() -> None:
    """Given keys must be equal, recursively in objects; lists are exact; 1 is not True."""
    actual = {"channel": BBO, "extra": 1, "nested": {"a": 1, "b": [1, 2]}}
    assert params_match({"channel": BBO}, actual)
    assert params_match({"nested": {"a": 1}}, actual)
    assert not params_match({"nested": {"b": [1]}}, actual)
    assert not params_match({"missing": None}, actual)
    assert not params_match({"extra": True}, actual)
    assert not params_match({"channel": BBO}, None)


def test_channels_match_exactly_or_by_glob_and_aliases_are_one_audience() -> None:
    """A name is exact unless it has a glob character; two spellings of an aggregate alias."""
    assert channel_matches(BBO, BBO)
    assert not channel_matches("bbo.BTC", BBO)
    assert channel_matches("bbo.*", BBO)
    assert aliases("markets_summary", "markets_summary.ALL")
    assert not aliases("markets_summary", "markets_summary.BTC-USD-PERP")
    assert not aliases(BBO, "bbo.ALL")


# wait_for_subscription and assert_subscribed


async def test_wait_for_subscription_returns_the_subscribed_session(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The session that subscribed (by exact name or glob); assert_subscribed agrees."""
    await connect()
    client = await connect()
    await client.subscribe(BBO)
    session = await paradex_mock.wait_for_subscription(BBO, timeout=RECEIVE_TIMEOUT_S)
    assert session.id == "s2"
    assert await paradex_mock.wait_for_subscription("bbo.*", session=session) is session
    paradex_mock.assert_subscribed(BBO)
    paradex_mock.assert_subscribed("bbo.*", session=session)


async def test_wait_for_subscription_times_out_saying_what_there_is(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """On timeout: each session's subscriptions, the subscribes that failed, and the
    channels nobody asked for."""
    client = await connect()
    await client.subscribe(BBO)
    await client.subscribe("no-such-channel")
    with pytest.raises(AssertionError) as excinfo:
        await paradex_mock.wait_for_subscription(ETH, timeout=0.05)
    message = failure(excinfo)
    assert message.startswith(f"no open session subscribed to '{ETH}' within 0.05s\n")
    assert f"  s1 (open): {BBO}\n" in message
    assert re.search(r"subscribe requests that failed:\n  s1 \+\d\.\d{3}s: .*no-such-channel.*"
                     r" -> invalid_channel", message)  # fmt: skip
    assert message.endswith(f"no client ever asked for: {ETH}")


async def test_assert_subscribed_names_the_missing_channels(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """assert_subscribed fails naming what is missing and what each session holds."""
    client = await connect()
    await client.subscribe(BBO)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_subscribed(BBO, TRADES)
    assert failure(excinfo).startswith(f"no open session is subscribed to {TRADES}\n")
    (session,) = paradex_mock.sessions.values()
    await client.ws.close()
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_subscribed(BBO, session=session)
    assert "s1 (closed 1000 by the client at +" in failure(excinfo)


# assert_no_duplicate_subscriptions


async def test_no_duplicates_after_unsubscribing_and_subscribing_again(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Subscribe, unsubscribe, subscribe again: no duplicate; two sessions neither."""
    first, second = await connect(), await connect()
    await first.subscribe(BBO)
    await first.call("unsubscribe", {"channel": BBO})
    await first.subscribe(BBO)
    await second.subscribe(BBO)
    paradex_mock.assert_no_duplicate_subscriptions()


async def test_a_second_subscribe_and_an_alias_are_duplicates(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The failure names the session, the channel, and both requests with their times."""
    client = await connect()
    await client.subscribe(BBO)
    assert (await client.subscribe(BBO))["error"]["data"] == "already subscribed"
    await client.subscribe("markets_summary")
    await client.subscribe("markets_summary.ALL")
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_no_duplicate_subscriptions()
    message = failure(excinfo)
    assert message.startswith("2 duplicate subscriptions:\n")
    assert re.search(
        rf"  s1: '{BBO}' subscribed twice: first at \+\d\.\d{{3}}s, again at \+\d\.\d{{3}}s "
        r"\(answered 'already subscribed'\)\n"
        r"    first:  \{.*\"id\": 1.*\n    again:  \{.*\"id\": 2",
        message,
    )
    assert "'markets_summary.ALL' at +" in message
    assert "is another name for 'markets_summary', subscribed at +" in message


# assert_resubscribed_after_reconnect


async def resubscribe(connect: Connect, *channels: str) -> Client:
    client = await connect()
    for channel in channels:
        await client.subscribe(channel)
    return client


async def dropped(server: MockServer, client: Client) -> None:
    """Drop every connection; return once ``client`` has seen it."""
    server.drop_all()
    message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await server.wait_for(lambda: not server.sessions)


async def test_resubscribed_after_a_drop(paradex_mock: MockServer, connect: Connect) -> None:
    """A client that reconnects and subscribes the same channels at once passes."""
    client = await resubscribe(connect, BBO, TRADES)
    await dropped(paradex_mock, client)
    await resubscribe(connect, TRADES, BBO)
    paradex_mock.assert_resubscribed_after_reconnect(within=RECEIVE_TIMEOUT_S)


async def test_a_channel_missing_after_the_reconnect(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The failure names the missing channel, when the new session opened, what it got."""
    client = await resubscribe(connect, BBO, TRADES)
    await dropped(paradex_mock, client)
    await resubscribe(connect, BBO)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_resubscribed_after_reconnect(within=1.0)
    message = failure(excinfo)
    assert re.match(
        rf"s1 \({BBO}, {TRADES}\) was closed 1006 'dropped' by the server at \+\d\.\d{{3}}s; "
        rf"not resubscribed within 1.0s: {TRADES}\n"
        rf"  s2 opened \d\.\d{{3}}s after the close, subscribed to: {BBO} at \+\d\.\d{{3}}s$",
        message,
    ), message


async def test_no_reconnect_at_all(paradex_mock: MockServer, connect: Connect) -> None:
    """A drop with no new connection says so."""
    client = await resubscribe(connect, BBO)
    await dropped(paradex_mock, client)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_resubscribed_after_reconnect()
    assert failure(excinfo).endswith("\n  no connection was opened after the close")


async def test_no_drop_provoked(paradex_mock: MockServer, connect: Connect) -> None:
    """Without a close the server decided (a client's own close does not count), it fails
    saying the test provoked none."""
    client = await resubscribe(connect, BBO)
    await client.ws.close()
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_resubscribed_after_reconnect()
    message = failure(excinfo)
    assert message.startswith("no session with subscriptions was closed or dropped by the server")
    assert "  s1 (closed 1000 by the client at +" in message


async def test_shutdown_is_not_a_drop(paradex_mock_factory: MockServerFactory) -> None:
    """Sessions closed by the server's own stop (1001) are not reconnects to check."""
    server = await paradex_mock_factory()
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await Client(ws).subscribe(BBO)
        await server.stop()
    (session,) = server.all_sessions()
    assert (session.close_code, session.closed_by) == (1001, "server")
    with pytest.raises(AssertionError, match="no session with subscriptions was closed"):
        server.assert_resubscribed_after_reconnect()


# assert_pongs_within


async def ping(client: Client) -> bytes:
    message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert message.type is aiohttp.WSMsgType.PING
    return bytes(message.data)


@pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=None)
async def test_pongs_within(paradex_mock: MockServer, connect: Connect) -> None:
    """Answered at once: passes. Answered only at the next ping, or never: fails with
    the session, the ping's time and the wait."""
    client = await connect(autoping=False)
    await client.ws.pong(await ping(client))
    session = next(iter(paradex_mock.sessions.values()))
    await paradex_mock.wait_for(lambda: not session.awaiting_pong)
    paradex_mock.assert_pongs_within(RECEIVE_TIMEOUT_S)
    await ping(client)
    await client.ws.pong(await ping(client))  # the first of these waited a whole interval
    await paradex_mock.wait_for(lambda: not session.awaiting_pong)
    await ping(client)  # unanswered
    await ping(client)
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_pongs_within(0.01)
    message = failure(excinfo)
    assert re.match(r"\d+ of \d+ pings not answered within 0.01s:\n", message), message
    assert re.search(r"  s1: ping at \+0\.1\d\ds answered after 0\.\d{3}s\n", message)
    assert re.search(
        r"  s1: ping at \+\d\.\d{3}s never answered \(0\.\d{3}s without a pong\)", message
    )


async def test_pongs_within_with_no_ping_sent(paradex_mock: MockServer, connect: Connect) -> None:
    """With pings off there is nothing to check, and it says so."""
    await connect()
    with pytest.raises(AssertionError, match="no ping was sent"):
        paradex_mock.assert_pongs_within(1.0)


# assert_received


async def test_assert_received_matches_method_and_params(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A request with the method and (a subset of) the params is found and returned."""
    client = await connect()
    token = paradex_mock.token("0xabc")
    await client.call("auth", {"bearer": token})
    request = paradex_mock.assert_received("auth", {"bearer": token})
    assert request["id"] == 1
    paradex_mock.assert_received("auth")


async def test_assert_received_shows_the_closest_frames(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The failure lists the nearest frames first, with session and time."""
    client = await connect()
    await client.subscribe(BBO)
    await client.subscribe(TRADES)
    await client.call("unsubscribe", {"channel": TRADES})
    await client.send("garbage")
    await client.receive_json()  # its parse error: the frame has been read
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_received("subscribe", {"channel": ETH})
    lines = failure(excinfo).splitlines()
    assert lines[0] == (
        f'no client frame with method \'subscribe\' and params matching {{"channel": "{ETH}"}}'
        " (4 frames received from any session); the closest:"
    )
    assert re.match(rf"  s1 \+\d\.\d{{3}}s: .*\"subscribe\".*{BBO}", lines[1])
    assert "garbage -> parse_error" in lines[-1]
    assert len(lines) == 5


async def test_assert_received_with_nothing_received(paradex_mock: MockServer) -> None:
    """No frame at all: says so, with how many sessions there were."""
    with pytest.raises(AssertionError) as excinfo:
        paradex_mock.assert_received("auth")
    assert failure(excinfo) == (
        "no client frame with method 'auth': nothing at all was received from any session "
        "(0 sessions)"
    )


# The threaded server


def test_the_helpers_on_the_threaded_server(paradex_mock_sync: ThreadedMockServer) -> None:
    """Every helper runs on the loop thread; a failure is raised in the test's thread."""
    ws = websocket.create_connection(paradex_mock_sync.ws_url, timeout=RECEIVE_TIMEOUT_S)
    try:
        assert sync_call(ws, 1, "subscribe", channel=BBO)["result"] == {"channel": BBO}
        session = paradex_mock_sync.wait_for_subscription(BBO)
        assert session.id == "s1"
        paradex_mock_sync.assert_subscribed(BBO, session=session)
        paradex_mock_sync.assert_no_duplicate_subscriptions()
        assert paradex_mock_sync.assert_received("subscribe", {"channel": BBO})["id"] == 1
        with pytest.raises(AssertionError, match="no client frame with method 'auth'"):
            paradex_mock_sync.assert_received("auth")
        with pytest.raises(AssertionError, match="no ping was sent"):
            paradex_mock_sync.assert_pongs_within(1.0)
        with pytest.raises(AssertionError, match="no session with subscriptions"):
            paradex_mock_sync.assert_resubscribed_after_reconnect()
        with pytest.raises(AssertionError, match=f"no open session subscribed to '{ETH}'"):
            paradex_mock_sync.wait_for_subscription(ETH, timeout=0.05)
        assert [e["kind"] for e in paradex_mock_sync.transcript()] == ["open", "text", "text"]
        assert json.dumps(paradex_mock_sync.transcript())  # plain JSON
    finally:
        ws.close()
