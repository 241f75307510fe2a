"""Faults that end connections or turn new ones away, seen from real clients.

close, drop, slow_consumer and refuse_connections; every target form; the
triggers (at, on_connection, on_subscribe, on_auth, after); count and for; and
``FaultHandle`` as a context manager. Each test also checks that the sessions a
fault's target excludes keep working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from conftest import Client, Connect
from fault_clients import Ending, answers, attempt, closing, now, reconnect_until_accepted

from mockserver.pytest_plugin import MockServerFactory
from mockserver.scenario.loader import loads
from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")

# How late a timed fault may be observed on a loaded machine.
MARGIN_S = 0.3
BBO = "bbo.BTC-USD-PERP"
TRADES = "trades.BTC-USD-PERP"


def trade(n: int = 1) -> dict[str, Any]:
    return {"market": "BTC-USD-PERP", "id": str(n), "side": "BUY", "price": "1", "size": "1"}


async def auth(server: MockServer, client: Client, account: str) -> None:
    reply = await client.call("auth", {"bearer": server.token(account)})
    assert "result" in reply, reply


async def send(client: Client, method: str, params: dict[str, Any]) -> None:
    """A request the test does not wait on (a fault may close before its reply)."""
    await client.send({"jsonrpc": "2.0", "id": 99, "method": method, "params": params})


async def closed_by(client: Client, code: int, reason: str = "") -> Ending:
    """``client`` receives a close frame with ``code`` and ``reason``."""
    ending = await closing(client)
    assert (ending.type, ending.code, ending.reason) == (aiohttp.WSMsgType.CLOSE, code, reason)
    return ending


async def receives_trade(server: MockServer, client: Client) -> None:
    """A publish on TRADES (which ``client`` subscribed to) reaches it."""
    server.publish(TRADES, trade())
    notification = await client.notification(TRADES)
    assert notification["params"]["data"]["market"] == "BTC-USD-PERP"


def close_cases(*, default: tuple[int, str], custom: tuple[int, str]) -> pytest.MarkDecorator:
    """Parametrize (options, code, reason): the kind's own close, then a custom one."""
    code, reason = custom
    return pytest.mark.parametrize(
        ("options", "code", "reason"),
        [({}, *default), ({"code": code, "reason": reason}, code, reason)],
        ids=["default", "custom"],
    )


# close, drop, slow_consumer: the targets


TargetOf = Callable[[MockServer], Any]

TARGETS: dict[str, TargetOf] = {
    "session id": lambda server: {"session": "s1"},
    "Session object": lambda server: server.sessions["s1"],
    "connection number": lambda server: {"connection": 1},
    "account after auth": lambda server: {"account": "0xa"},
    "channel subscribers": lambda server: {"channel": "bbo.*"},
}


@pytest.mark.parametrize("target_of", TARGETS.values(), ids=TARGETS.keys())
async def test_close_reaches_the_target_and_spares_the_others(
    paradex_mock: MockServer, connect: Connect, target_of: TargetOf
) -> None:
    """close sends its code and reason to the target alone; the other session still works."""
    victim, bystander = await connect(), await connect()
    await auth(paradex_mock, victim, "0xa")
    await auth(paradex_mock, bystander, "0xb")
    assert "result" in await victim.subscribe(BBO)
    assert "result" in await bystander.subscribe(TRADES)
    handle = paradex_mock.fault("close", code=4000, reason="bye", target=target_of(paradex_mock))
    await closed_by(victim, 4000, "bye")
    assert (handle.acts, handle.state) == (1, "spent")
    assert await answers(bystander)
    await receives_trade(paradex_mock, bystander)
    await paradex_mock.wait_for(lambda: "s1" not in paradex_mock.sessions)
    (closed,) = paradex_mock.closed_sessions
    assert (closed.id, closed.close_code, closed.close_reason) == ("s1", 4000, "bye")


async def test_drop_closes_tcp_without_a_close_frame(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """drop: the client gets no close frame and sees 1006; the other session still works."""
    victim, bystander = await connect(), await connect()
    paradex_mock.fault("drop", target={"session": "s1"})
    ending = await closing(victim)
    assert ending.dropped, ending
    assert victim.ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
    assert await answers(bystander)
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1)
    assert paradex_mock.closed_sessions[0].close_code == 1006


async def test_slow_consumer_closes_with_1008(paradex_mock: MockServer, connect: Connect) -> None:
    """slow_consumer closes with 1008 "slow consumer", as Paradex past 2000 queued messages."""
    victim, bystander = await connect(), await connect()
    paradex_mock.fault("slow_consumer", target={"connection": 1})
    await closed_by(victim, 1008, "slow consumer")
    assert await answers(bystander)


@pytest.mark.paradex_mock(max_queued_messages=20)
async def test_frames_a_fault_holds_back_count_toward_the_slow_consumer_limit(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Frames held by latency count as unsent: past the limit the client gets 1008."""
    victim, bystander = await connect(), await connect()
    for client in (victim, bystander):
        assert "result" in await client.subscribe(TRADES)
    paradex_mock.fault("latency", delay_ms=60_000, target={"connection": 1})
    for n in range(20):  # the bystander reads each one, so only the victim's pile up
        paradex_mock.publish(TRADES, trade(n))
        assert (await bystander.notification(TRADES))["params"]["data"]["id"] == str(n)
    await closed_by(victim, 1008, "slow consumer")
    assert await answers(bystander)


async def test_an_action_acts_once_on_the_sessions_open_when_it_fires(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """An untriggered close acts on the sessions open then; a later connection is untouched."""
    early = await connect()
    handle = paradex_mock.fault("close", code=4000, count=5)
    await closed_by(early, 4000)
    late = await connect()
    assert await answers(late)
    assert (handle.acts, handle.state) == (1, "spent")


# drop_all / close_all


async def test_drop_all_drops_every_connection(paradex_mock: MockServer, connect: Connect) -> None:
    """drop_all() drops every open connection with no close frame; new ones are accepted."""
    clients = [await connect() for _ in range(3)]
    handle = paradex_mock.drop_all()
    for client in clients:
        assert (await closing(client)).dropped
    assert handle.state == "spent"
    assert await answers(await connect())


@close_cases(default=(1012, "service restart"), custom=(4001, "maintenance"))
async def test_close_all_closes_every_connection(
    paradex_mock: MockServer, connect: Connect, options: dict[str, Any], code: int, reason: str
) -> None:
    """close_all() closes every connection (1012 "service restart" unless told otherwise)."""
    clients = [await connect(), await connect()]
    paradex_mock.close_all(**options)
    for client in clients:
        await closed_by(client, code, reason)
    assert await answers(await connect())


# refuse_connections

# A WebSocket upgrade sent as plain HTTP, to read the refusal's headers.
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.mark.parametrize(("options", "status"), [({}, 503), ({"status": 429}, 429)])
async def test_refusal_by_http_status(
    paradex_mock: MockServer, connect: Connect, options: dict[str, Any], status: int
) -> None:
    """refuse_connections (mode http) answers the upgrade with its status; open sessions stay."""
    already = await connect()
    paradex_mock.refuse_connections(**options)
    async with aiohttp.ClientSession() as http:
        assert await attempt(http, paradex_mock.ws_url) == status
        async with http.get(paradex_mock.url + "/v1", headers=UPGRADE_HEADERS) as response:
            assert response.status == status
            assert response.headers["Retry-After"] == "1"
    assert await answers(already)


@close_cases(default=(1013, "rate limit exceeded"), custom=(4029, "too many"))
async def test_refusal_by_close(
    paradex_mock: MockServer, connect: Connect, options: dict[str, Any], code: int, reason: str
) -> None:
    """refuse_connections (mode close) accepts the WebSocket, then closes it (code, reason)."""
    paradex_mock.refuse_connections(mode="close", **options)
    refused = await connect()
    await closed_by(refused, code, reason)
    assert paradex_mock.sessions == {}


async def test_refusal_ends_after_its_duration(paradex_mock: MockServer) -> None:
    """refuse_connections(for_s=0.2): refused for 0.2 s, then a connect succeeds again."""
    started = now()
    handle = paradex_mock.refuse_connections(for_s=0.2)
    accepted_at = await reconnect_until_accepted(paradex_mock.ws_url, within_s=2)
    assert 0.2 <= accepted_at - started < 0.2 + MARGIN_S
    assert handle.state == "expired"
    assert handle.acts >= 2


async def refusal_pattern(server: MockServer, attempts: int) -> list[bool]:
    """Which of ``attempts`` connections a 50% refusal turned away."""
    server.refuse_connections(probability=0.5)
    pattern = []
    async with aiohttp.ClientSession() as http:
        for _ in range(attempts):
            outcome = await attempt(http, server.ws_url)
            pattern.append(outcome == 503)
            if isinstance(outcome, Client):
                await outcome.ws.close()
    return pattern


async def test_refusal_probability_is_drawn_from_the_seed(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """With probability 0.5 some attempts are refused; the same seed refuses the same ones."""
    patterns = [
        await refusal_pattern(await paradex_mock_factory(seed=11), attempts=16) for _ in range(2)
    ]
    assert patterns[0] == patterns[1]
    assert 0 < sum(patterns[0]) < 16, patterns[0]


async def test_count_limits_a_condition(paradex_mock: MockServer) -> None:
    """refuse_connections with count=2 refuses two attempts, then is spent."""
    handle = paradex_mock.refuse_connections(count=2)
    async with aiohttp.ClientSession() as http:
        outcomes = [await attempt(http, paradex_mock.ws_url) for _ in range(3)]
    assert outcomes[:2] == [503, 503]
    assert isinstance(outcomes[2], Client)
    assert (handle.acts, handle.state) == (2, "spent")


async def test_a_condition_has_no_count_by_default(paradex_mock: MockServer) -> None:
    """Without count, refuse_connections refuses every attempt until removed."""
    handle = paradex_mock.refuse_connections()
    async with aiohttp.ClientSession() as http:
        outcomes = [await attempt(http, paradex_mock.ws_url) for _ in range(5)]
    assert outcomes == [503] * 5
    assert (handle.acts, handle.state, handle.fault.remaining) == (5, "active", None)


async def test_handle_as_context_manager_removes_the_fault(paradex_mock: MockServer) -> None:
    """A handle used in ``with`` (or ``async with``) removes its fault on exit."""
    async with aiohttp.ClientSession() as http:
        with paradex_mock.refuse_connections() as handle:
            assert await attempt(http, paradex_mock.ws_url) == 503
            assert (handle.state, handle.acts) == ("active", 1)
            assert paradex_mock.faults.get(handle.name) is handle.fault
        assert handle.state == "removed"
        assert paradex_mock.faults.get(handle.name) is None
        async with paradex_mock.refuse_connections(mode="close") as again:
            assert again.state == "active"
        assert again.state == "removed"
        accepted = await attempt(http, paradex_mock.ws_url)
        assert isinstance(accepted, Client)
        assert await answers(accepted)
        await accepted.ws.close()


# Triggers


async def test_at_fires_after_its_delay(paradex_mock: MockServer, connect: Connect) -> None:
    """close with at=0.15 leaves the client working until then, and closes it at ~0.15 s."""
    client = await connect()
    added = now()
    handle = paradex_mock.fault("close", code=4000, at=0.15)
    assert handle.state == "armed"
    assert await answers(client)
    ending = await closed_by(client, 4000)
    assert 0.15 <= ending.at - added < 0.15 + MARGIN_S
    assert handle.state == "spent"


async def test_on_connection_hits_only_the_kth_connection(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """close with on_connection=2 closes the second connection only."""
    handle = paradex_mock.fault("close", code=4002, on_connection=2)
    first, second, third = await connect(), await connect(), await connect()
    await closed_by(second, 4002)
    assert await answers(first)
    assert await answers(third)
    assert (handle.acts, handle.state) == (1, "spent")


async def test_refused_attempts_count_as_connections(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Connections are numbered by handshake attempts: after one refusal, the first accepted
    client is connection 2."""
    paradex_mock.refuse_connections(count=1)
    paradex_mock.fault("close", code=4002, on_connection=2)
    async with aiohttp.ClientSession() as http:
        assert await attempt(http, paradex_mock.ws_url) == 503
    accepted = await connect()
    await closed_by(accepted, 4002)
    await paradex_mock.wait_for(lambda: bool(paradex_mock.closed_sessions))
    assert paradex_mock.closed_sessions[-1].id == "s2"


async def test_refusal_on_the_kth_connection(paradex_mock: MockServer) -> None:
    """refuse_connections with on_connection=2 and count=1 refuses the second attempt only."""
    handle = paradex_mock.refuse_connections(on_connection=2, count=1)
    async with aiohttp.ClientSession() as http:
        outcomes = [await attempt(http, paradex_mock.ws_url) for _ in range(3)]
    assert [isinstance(outcome, Client) for outcome in outcomes] == [True, False, True]
    assert outcomes[1] == 503
    assert (handle.acts, handle.state) == (1, "spent")


SCENARIO_WITH_A_FAULT = loads(
    """
name: close-on-bbo
markets: [BTC-USD-PERP]
faults:
  - kind: close
    on_subscribe: bbo.*
    params: {code: 4010, reason: from the scenario}
"""
)


async def test_a_scenarios_fault_fires(paradex_mock_factory: MockServerFactory) -> None:
    """A fault in the scenario's faults: section is armed at start and fires on its trigger."""
    server = await paradex_mock_factory(scenario=SCENARIO_WITH_A_FAULT)
    async with aiohttp.ClientSession() as http:
        client = Client(await http.ws_connect(server.ws_url))
        assert "result" in await client.subscribe(TRADES)  # not matching: untouched
        await send(client, "subscribe", {"channel": BBO})
        await closed_by(client, 4010, "from the scenario")
    (ended,) = server.faults.ended
    assert (ended.name, ended.state) == ("scenario.1", "spent")


async def test_on_subscribe_matches_a_pattern_and_counts_hits(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """close on_subscribe "bbo.*" with count=2: the first two bbo subscribers close, no others."""
    handle = paradex_mock.fault("close", code=4003, on_subscribe="bbo.*", count=2)
    trades, first, second, third = [await connect() for _ in range(4)]
    assert "result" in await trades.subscribe(TRADES)
    for client, market in ((first, "BTC"), (second, "ETH")):
        await send(client, "subscribe", {"channel": f"bbo.{market}-USD-PERP"})
        await closed_by(client, 4003)
    assert (handle.acts, handle.state) == (2, "spent")
    assert "result" in await third.subscribe("bbo.SOL-USD-PERP")
    await receives_trade(paradex_mock, trades)


@pytest.mark.parametrize(
    ("on_auth", "spared_as"), [(True, None), ("0xb", "0xa")], ids=["any account", "one account"]
)
async def test_on_auth_closes_the_session_that_authenticates(
    paradex_mock: MockServer, connect: Connect, on_auth: bool | str, spared_as: str | None
) -> None:
    """close on_auth closes the session that authenticates (as that account, if given) only."""
    handle = paradex_mock.fault("close", code=4004, on_auth=on_auth)
    spared, victim = await connect(), await connect()
    if spared_as is not None:  # authenticates as another account: not hit
        await auth(paradex_mock, spared, spared_as)
    assert handle.acts == 0
    await send(victim, "auth", {"bearer": paradex_mock.token("0xb")})
    await closed_by(victim, 4004)
    assert (handle.acts, handle.state) == (1, "spent")
    assert await answers(spared)


async def test_after_fires_once_the_nth_message_of_a_channel_went_out(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """close after 3 messages on trades: all three arrive, then the close."""
    client = await connect()
    assert "result" in await client.subscribe(TRADES)
    handle = paradex_mock.fault("close", code=4005, after={"channel": TRADES, "messages": 3})
    paradex_mock.publish(BBO, {"market": "BTC-USD-PERP"})  # another channel: not counted
    for n in (1, 2, 3):
        assert handle.state == "armed"
        paradex_mock.publish(TRADES, trade(n))
        assert (await client.notification(TRADES))["params"]["data"]["id"] == str(n)
    await closed_by(client, 4005)
    assert (handle.fault.messages_seen, handle.state) == (3, "spent")


async def test_for_ends_a_per_session_trigger(paradex_mock: MockServer, connect: Connect) -> None:
    """close on_subscribe with count=None, for 0.2 s: subscribers close until it expires."""
    handle = paradex_mock.fault("close", code=4006, on_subscribe=TRADES, count=None, for_s=0.2)
    for _ in range(2):
        client = await connect()
        await send(client, "subscribe", {"channel": TRADES})
        await closed_by(client, 4006)
    await asyncio.sleep(0.2 + 0.05)  # the fault's own duration
    assert handle.state == "expired"
    late = await connect()
    assert "result" in await late.subscribe(TRADES)
    assert handle.acts == 2
