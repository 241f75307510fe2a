"""Faults on JSON-RPC replies, seen on the wire: error_reply and auth_failure.

The error a faulted request gets has the exact shape of paradex-ws.md §4 (the
message strings of ``mockserver/errors.py``), and the request has no effect: a
failed subscribe subscribes nothing, a failed auth authenticates nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Client, Connect

from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")

BBO = "bbo.BTC-USD-PERP"
TRADES = "trades.BTC-USD-PERP"
# An error reply's keys, in the mock's wire order (tests/test_rpc_wire.py).
ERROR_KEYS = ["jsonrpc", "id", "error", "usIn", "usDiff", "usOut"]


def error_of(reply: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` object of an error reply (checking the reply's keys)."""
    assert list(reply) == ERROR_KEYS, reply
    return reply["error"]


async def auth(server: MockServer, client: Client, account: str = "0xa") -> dict[str, Any]:
    return await client.call("auth", {"bearer": server.token(account)})


async def test_error_reply_on_subscribe_subscribes_nothing(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """error_reply for subscribe "bbo.*": that subscribe fails and has no effect; others pass."""
    client = await connect()
    handle = paradex_mock.fault("error_reply", method="subscribe", channel="bbo.*")
    assert "result" in await client.subscribe(TRADES)  # not matching: untouched, not counted
    assert handle.acts == 0
    assert error_of(await client.subscribe(BBO)) == {"code": -32603, "message": "internal error"}
    assert paradex_mock.sessions["s1"].subscriptions == [TRADES]
    assert paradex_mock.publish(BBO, {"market": "BTC-USD-PERP"}) == 0
    assert handle.state == "spent"  # count 1 by default: the next subscribe works
    assert (await client.subscribe(BBO))["result"] == {"channel": BBO}
    assert paradex_mock.publish(BBO, {"market": "BTC-USD-PERP"}) == 1


async def test_error_reply_on_auth_authenticates_nothing(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """error_reply for auth (invalid_token): 40111, the session stays unauthenticated."""
    client = await connect()
    paradex_mock.fault("error_reply", method="auth", error="invalid_token")
    assert error_of(await auth(paradex_mock, client)) == {
        "code": 40111,
        "message": "invalid bearer token",
    }
    assert paradex_mock.sessions["s1"].account is None
    refused = await client.subscribe("orders.ALL")  # private: needs auth
    assert error_of(refused)["code"] == 40111
    assert "result" in await auth(paradex_mock, client)
    assert paradex_mock.sessions["s1"].account == "0xa"


@pytest.mark.parametrize(
    ("error", "wire"),
    [
        (
            "invalid_channel",
            {"code": -32600, "message": "invalid subscribe request", "data": "invalid channel"},
        ),
        ("invalid_params", {"code": -32602, "message": "invalid parameters"}),
        ("method_not_found", {"code": -32601, "message": "method does not exist"}),
    ],
)
async def test_error_reply_sends_the_kinds_wire_shape(
    paradex_mock: MockServer, connect: Connect, error: str, wire: dict[str, Any]
) -> None:
    """error_reply with an error kind answers with that kind's code, message and data."""
    client = await connect()
    paradex_mock.fault("error_reply", error=error)
    assert error_of(await client.subscribe(BBO)) == wire


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        (
            {"code": 42901, "message": "rate limit exceeded", "data": "slow down"},
            {"code": 42901, "message": "rate limit exceeded", "data": "slow down"},
        ),
        ({"code": 100, "message": "method error"}, {"code": 100, "message": "method error"}),
    ],
    ids=["with data", "without data"],
)
async def test_error_reply_with_a_custom_error(
    paradex_mock: MockServer, connect: Connect, options: dict[str, Any], wire: dict[str, Any]
) -> None:
    """error_reply with code and message (and data) sends exactly that error object."""
    client = await connect()
    paradex_mock.fault("error_reply", method="unsubscribe", **options)
    assert "result" in await client.subscribe(BBO)
    assert error_of(await client.call("unsubscribe", {"channel": BBO})) == wire
    assert paradex_mock.sessions["s1"].subscriptions == [BBO]


async def test_error_reply_count_and_target(paradex_mock: MockServer, connect: Connect) -> None:
    """error_reply with count=2 fails the target's next two subscribes, then none; another
    session is never affected."""
    target, other = await connect(), await connect()
    handle = paradex_mock.fault("error_reply", target={"session": "s1"}, count=2)
    channels = ["bbo.BTC-USD-PERP", "bbo.ETH-USD-PERP", "bbo.SOL-USD-PERP"]
    replies = [await target.subscribe(channel) for channel in channels]
    assert ["error" in reply for reply in replies] == [True, True, False]
    assert (handle.acts, handle.state) == (2, "spent")
    assert paradex_mock.sessions["s1"].subscriptions == ["bbo.SOL-USD-PERP"]
    assert "result" in await other.subscribe(BBO)


@pytest.mark.parametrize(
    ("code", "message"),
    [(40110, "malformed bearer token"), (40111, "invalid bearer token"), (40112, "geo ip blocked")],
)
async def test_auth_failure_codes(
    paradex_mock: MockServer, connect: Connect, code: int, message: str
) -> None:
    """auth_failure fails the next auth with Paradex's code and live message, then is spent."""
    client, other = await connect(), await connect()
    handle = paradex_mock.fault("auth_failure", code=code, target={"session": "s1"})
    assert "result" in await auth(paradex_mock, other, "0xb")  # outside the target
    reply = await auth(paradex_mock, client)
    assert error_of(reply) == {"code": code, "message": message}
    assert paradex_mock.sessions["s1"].account is None
    assert (handle.acts, handle.state) == (1, "spent")
    assert "result" in await auth(paradex_mock, client)


async def test_auth_failure_ignores_other_methods(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """auth_failure leaves subscribe alone and waits for the next auth."""
    client = await connect()
    handle = paradex_mock.fault("auth_failure", code=40112)
    assert "result" in await client.subscribe(BBO)
    assert handle.state == "active"
    assert error_of(await auth(paradex_mock, client))["code"] == 40112
