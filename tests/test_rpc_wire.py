"""JSON-RPC over real sockets: reply shapes, every error, notifications, fan-out, isolation.

paradex-ws.md §1 (URL, compression), §2 (envelope, methods, pushes), §4 (errors), §7
(authentication); clients.md section C (what ccxt and paradex-py need).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from conftest import RECEIVE_TIMEOUT_S, Client, Connect

from mockserver.errors import AuthRequired
from mockserver.protocol import dumps
from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.tokens import mint

# A scenario that publishes nothing, so every frame a test sees is one it caused.
EMPTY = loads("name: empty\nmarkets: [BTC-USD-PERP, ETH-USD-PERP]\n")
pytestmark = pytest.mark.paradex_mock(scenario=EMPTY)

# The live reply layout (paradex-ws.md §2.2): key order, 16-digit µs timestamps.
REPLY = re.compile(
    r'^\{"jsonrpc":"2\.0","id":(?P<id>null|-?\d+|"(?:[^"\\]|\\.)*"),'
    r'"(?P<kind>result|error)":(?P<body>\{.*\}),'
    r'"usIn":(?P<us_in>\d{16}),"usDiff":(?P<us_diff>\d+),"usOut":(?P<us_out>\d{16})\}$'
)
NOTIFICATION = re.compile(
    r'^\{"jsonrpc":"2\.0","method":"subscription","params":\{"channel":"[^"]+","data":\{.*\}\}\}$'
)


def now_us() -> int:
    return time.time_ns() // 1000


def request(method: str, params: dict[str, Any] | None = None, request_id: Any = 1) -> str:
    obj: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        obj["params"] = params
    return json.dumps(obj)


def notification(method: str, params: dict[str, Any]) -> str:
    """A request without ``id``, as ccxt sends subscribe."""
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params})


async def receive_text(client: Client, timeout: float = RECEIVE_TIMEOUT_S) -> str:
    message = await client.ws.receive(timeout=timeout)
    assert message.type is WSMsgType.TEXT, f"expected a text frame, got {message}"
    return str(message.data)


async def exchange(client: Client, text: str) -> tuple[str, int, int]:
    """Send one frame; return the raw reply and the wall-clock µs before and after."""
    before = now_us()
    await client.ws.send_str(text)
    reply = await receive_text(client)
    return reply, before, now_us()


def check_reply(raw: str, *, kind: str, request_id: Any, before: int, after: int) -> dict[str, Any]:
    """Assert the raw layout of a reply and return it parsed."""
    match = REPLY.match(raw)
    assert match is not None, f"reply not in Paradex's layout: {raw}"
    assert match["kind"] == kind, raw
    reply = json.loads(raw)
    assert reply["id"] == request_id
    assert type(reply["id"]) is type(request_id)
    assert before <= reply["usIn"] <= reply["usOut"] <= after
    assert reply["usDiff"] == reply["usOut"] - reply["usIn"]
    if kind == "result":
        assert isinstance(reply["result"], dict)
    return reply


async def call(client: Client, text: str, *, kind: str, request_id: Any) -> dict[str, Any]:
    raw, before, after = await exchange(client, text)
    return check_reply(raw, kind=kind, request_id=request_id, before=before, after=after)


async def authed(connect: Connect, account: str = "0xabc") -> Client:
    client = await connect()
    reply = await client.call("auth", {"bearer": mint(account)})
    assert "result" in reply, reply
    return client


async def subscribed(connect: Connect, *channels: str, account: str | None = None) -> Client:
    client = await (authed(connect, account) if account else connect())
    for channel in channels:
        assert (await client.subscribe(channel))["result"] == {"channel": channel}
    return client


async def frames_before_sentinel(
    server: MockServer, client: Client, channel: str, *, account: str | None = None
) -> list[dict[str, Any]]:
    """Publish a sentinel on ``channel`` (which ``client`` subscribes) and return what came first.

    Frames to one session arrive in the order they were produced, so this proves
    that nothing else was delivered, without waiting for something not to happen.
    """
    marker = {"sentinel": now_us()}
    assert server.publish(channel, marker, account=account) >= 1
    before: list[dict[str, Any]] = []
    while True:
        frame = await client.receive_json()
        if frame.get("params", {}).get("data") == marker:
            return before
        before.append(frame)


# Successful replies


async def test_auth_reply_shape(connect: Connect) -> None:
    """``auth`` answers ``{"node_id": <16 hex>}`` in the live key order with µs timings."""
    client = await connect()
    text = request("auth", {"bearer": mint("0xabc")}, 0)
    reply = await call(client, text, kind="result", request_id=0)
    assert list(reply) == ["jsonrpc", "id", "result", "usIn", "usDiff", "usOut"]
    assert list(reply["result"]) == ["node_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", reply["result"]["node_id"])


async def test_node_id_is_stable_per_server(connect: Connect) -> None:
    """Every connection to one server reports the same node id."""
    first, second = await connect(), await connect()
    ids = [
        (await c.call("auth", {"bearer": mint("0x1")}))["result"]["node_id"]
        for c in (first, second)
    ]
    assert ids[0] == ids[1]


async def test_subscribe_and_unsubscribe_reply_shapes(connect: Connect) -> None:
    """subscribe/unsubscribe echo the channel verbatim; paradex-py's string id stays a string."""
    client = await connect()
    channel = "order_book.BTC-USD-PERP.snapshot@15@100ms"
    reply = await call(
        client, request("subscribe", {"channel": channel}, 1), kind="result", request_id=1
    )
    assert reply["result"] == {"channel": channel}
    string_id = str(now_us())
    text = request("unsubscribe", {"channel": channel}, string_id)
    reply = await call(client, text, kind="result", request_id=string_id)
    assert reply["result"] == {"channel": channel}


@pytest.mark.parametrize("request_id", [0, 7, 1718179125962419, -1, "abc", "", "17181791", None])
async def test_id_is_echoed_with_its_type(connect: Connect, request_id: int | str | None) -> None:
    """Integer, string and null ids are echoed unchanged, type included."""
    client = await connect()
    text = request("subscribe", {"channel": "trades.ALL"}, request_id)
    raw, before, after = await exchange(client, text)
    check_reply(raw, kind="result", request_id=request_id, before=before, after=after)
    assert raw.startswith('{"jsonrpc":"2.0","id":' + json.dumps(request_id) + ",")


async def test_private_channels_after_auth(connect: Connect) -> None:
    """After ``auth`` the private channels subscribe (the connection is authenticated)."""
    client = await authed(connect)
    for request_id, channel in enumerate(
        ("account", "orders.ALL", "fills.BTC-USD-PERP", "positions")
    ):
        text = request("subscribe", {"channel": channel}, request_id)
        reply = await call(client, text, kind="result", request_id=request_id)
        assert reply["result"] == {"channel": channel}


async def test_requests_are_handled_in_order(connect: Connect) -> None:
    """``auth`` then a private subscribe sent back to back, unawaited, both succeed in order."""
    client = await connect()
    await client.ws.send_str(request("auth", {"bearer": mint("0xabc")}, 1))
    await client.ws.send_str(request("subscribe", {"channel": "orders.ALL"}, 2))
    await client.ws.send_str(request("subscribe", {"channel": "account"}, 3))
    replies = [json.loads(await receive_text(client)) for _ in range(3)]
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert [list(r["result"]) for r in replies] == [["node_id"], ["channel"], ["channel"]]


# Errors


ERROR_CASES = [
    ("{not json", None, {"code": -32700, "message": "parse error"}),
    ("", None, {"code": -32700, "message": "parse error"}),
    ("[]", None, {"code": -32600, "message": "invalid request"}),
    (f"[{request('auth', {'bearer': 'x'})}]", None, {"code": -32600, "message": "invalid request"}),
    ("42", None, {"code": -32600, "message": "invalid request"}),
    ('"subscribe"', None, {"code": -32600, "message": "invalid request"}),
    ('{"id":3,"method":"auth"}', 3, {"code": -32600, "message": "invalid request"}),
    (
        '{"jsonrpc":"1.0","id":"x","method":"auth"}',
        "x",
        {"code": -32600, "message": "invalid request"},
    ),
    ('{"jsonrpc":"2.0","id":4}', 4, {"code": -32600, "message": "invalid request"}),
    (
        '{"jsonrpc":"2.0","id":1.5,"method":"auth"}',
        None,
        {"code": -32600, "message": "invalid request"},
    ),
    (
        '{"jsonrpc":"2.0","id":true,"method":"auth"}',
        None,
        {"code": -32600, "message": "invalid request"},
    ),
    (
        '{"jsonrpc":"2.0","id":{"a":1},"method":"auth"}',
        None,
        {"code": -32600, "message": "invalid request"},
    ),
    (
        '{"jsonrpc":"2.0","id":[1],"method":"auth"}',
        None,
        {"code": -32600, "message": "invalid request"},
    ),
    (request("public/get_time", {}, 5), 5, {"code": -32601, "message": "method does not exist"}),
    (request("ping", None, 6), 6, {"code": -32601, "message": "method does not exist"}),
    (
        '{"jsonrpc":"2.0","id":7,"method":"subscribe","params":["trades.ALL"]}',
        7,
        {"code": -32602, "message": "invalid parameters"},
    ),
    (
        '{"jsonrpc":"2.0","id":8,"method":"subscribe","params":"trades.ALL"}',
        8,
        {"code": -32602, "message": "invalid parameters"},
    ),
    (request("subscribe", {"channel": 5}, 9), 9, {"code": -32602, "message": "invalid parameters"}),
    (request("subscribe", {}, 10), 10, {"code": -32602, "message": "invalid parameters"}),
    (
        request("unsubscribe", {"channel": None}, 11),
        11,
        {"code": -32602, "message": "invalid parameters"},
    ),
    (request("auth", {}, 12), 12, {"code": -32602, "message": "invalid parameters"}),
    (request("auth", {"bearer": 1}, 13), 13, {"code": -32602, "message": "invalid parameters"}),
]
INVALID_CHANNEL = {
    "code": -32600,
    "message": "invalid subscribe request",
    "data": "invalid channel",
}
SUBSCRIBE_ERROR_CASES = [
    ("nope", INVALID_CHANNEL),
    ("trades", INVALID_CHANNEL),
    ("trades.DOGE-USD-PERP", INVALID_CHANNEL),
    ("order_book.BTC-USD-PERP.snapshot@10@50ms", INVALID_CHANNEL),
    ("order_book.BTC-USD-PERP.snapshot@15@200ms", INVALID_CHANNEL),
    ("order_book.BTC-USD-PERP.snapshot@15@50ms@0_5", INVALID_CHANNEL),
    ("bbo_interactive.BTC-USD-PERP", INVALID_CHANNEL),
    (
        "order_book.BTC-USD-PERP.deltas@15@50ms",
        {
            "code": -32600,
            "message": "invalid subscribe request",
            "data": "no parameters expected for deltas topic.",
        },
    ),
    ("orders.ALL", {"code": 40111, "message": "invalid bearer token", "data": AuthRequired.data}),
    ("account", {"code": 40111, "message": "invalid bearer token", "data": AuthRequired.data}),
]


async def assert_still_serving(client: Client) -> None:
    """The connection answers a normal request after an error."""
    reply = await client.call("subscribe", {"channel": "bbo.BTC-USD-PERP"})
    assert reply["result"] == {"channel": "bbo.BTC-USD-PERP"}


@pytest.mark.parametrize(("text", "request_id", "error"), ERROR_CASES)
async def test_request_errors(
    connect: Connect, text: str, request_id: Any, error: dict[str, Any]
) -> None:
    """A malformed request gets its JSON-RPC error (id null if unreadable); the socket survives."""
    client = await connect()
    reply = await call(client, text, kind="error", request_id=request_id)
    # ``data`` is optional extra detail (paradex-ws.md §4): a string when present.
    assert {k: reply["error"][k] for k in ("code", "message")} == error
    assert isinstance(reply["error"].get("data", ""), str)
    assert list(reply) == ["jsonrpc", "id", "error", "usIn", "usDiff", "usOut"]
    await assert_still_serving(client)


@pytest.mark.parametrize(("channel", "error"), SUBSCRIBE_ERROR_CASES)
async def test_subscribe_errors(
    connect: Connect, paradex_mock: MockServer, channel: str, error: dict[str, Any]
) -> None:
    """Unknown, malformed, deltas-with-suffix and pre-auth private channels get Paradex's error."""
    client = await connect()
    text = request("subscribe", {"channel": channel}, 0)
    reply = await call(client, text, kind="error", request_id=0)
    assert reply["error"] == error
    assert list(reply["error"]) == ["code", "message", "data"]
    (session,) = paradex_mock.sessions.values()
    assert session.subscriptions == []
    await assert_still_serving(client)


async def test_unknown_channel_matches_the_ccxt_capture(connect: Connect) -> None:
    """The invalid-channel reply matches ccxt's live capture except for the timings."""
    client = await connect()
    raw, _, _ = await exchange(client, request("subscribe", {"channel": "nope"}, 0))
    head = (
        '{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"invalid subscribe request",'
        '"data":"invalid channel"},"usIn":'
    )
    assert raw.startswith(head)


async def test_subscribing_twice_is_an_error(connect: Connect, paradex_mock: MockServer) -> None:
    """A second subscribe to the same name errors; the first subscription keeps delivering once."""
    client = await subscribed(connect, "trades.BTC-USD-PERP")
    text = request("subscribe", {"channel": "trades.BTC-USD-PERP"}, 2)
    reply = await call(client, text, kind="error", request_id=2)
    assert reply["error"]["code"] == -32600
    assert paradex_mock.publish("trades.BTC-USD-PERP", {"id": "1"}) == 1
    assert (await client.notification())["params"]["data"] == {"id": "1"}


async def test_unsubscribing_when_not_subscribed_is_an_error(connect: Connect) -> None:
    """unsubscribe of a channel never subscribed errors, with a string id echoed."""
    client = await connect()
    text = request("unsubscribe", {"channel": "trades.ALL"}, "9")
    reply = await call(client, text, kind="error", request_id="9")
    assert reply["error"]["code"] == -32600
    await assert_still_serving(client)


async def test_unsubscribed_channel_stops_delivering(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """After unsubscribe, publishes on that channel no longer reach the client."""
    client = await subscribed(connect, "trades.ALL", "bbo.ALL")
    assert (await client.call("unsubscribe", {"channel": "trades.ALL"}))["result"] == {
        "channel": "trades.ALL"
    }
    assert paradex_mock.publish("trades.BTC-USD-PERP", {"id": "1"}) == 0
    assert await frames_before_sentinel(paradex_mock, client, "bbo.BTC-USD-PERP") == []


@pytest.mark.parametrize(
    ("bearer", "error"),
    [
        ("not-a-jwt", {"code": 40110, "message": "malformed bearer token"}),
        ("a.b.c", {"code": 40110, "message": "malformed bearer token"}),
        (mint("0x1", ttl_s=-60), {"code": 40111, "message": "invalid bearer token"}),
    ],
    ids=["malformed", "bad-parts", "expired"],
)
async def test_auth_errors(connect: Connect, bearer: str, error: dict[str, Any]) -> None:
    """A malformed token is 40110, an expired one 40111; private channels stay closed."""
    client = await connect()
    reply = await call(client, request("auth", {"bearer": bearer}, 0), kind="error", request_id=0)
    assert reply["error"] == error
    reply = await client.call("subscribe", {"channel": "orders.ALL"})
    assert reply["error"]["code"] == 40111


# Requests without id (notifications)


async def test_idless_subscribe_is_acted_on_but_not_answered(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """ccxt's id-less subscribe subscribes silently: the first frame is data, not a reply."""
    client = await connect()
    await client.ws.send_str(notification("subscribe", {"channel": "trades.ALL"}))
    await paradex_mock.wait_for(
        lambda: any("trades.ALL" in s.subscriptions for s in paradex_mock.sessions.values()),
        timeout=RECEIVE_TIMEOUT_S,
    )
    assert paradex_mock.publish("trades.BTC-USD-PERP", {"id": "42"}) == 1
    frame = await client.receive_json()
    assert frame == {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": "trades.ALL", "data": {"id": "42"}},
    }


async def test_idless_errors_get_no_reply(connect: Connect, paradex_mock: MockServer) -> None:
    """A duplicate id-less subscribe, an unknown channel or method without id: no error is sent."""
    client = await connect()
    for params in ({"channel": "trades.ALL"}, {"channel": "trades.ALL"}, {"channel": "nope"}):
        await client.ws.send_str(notification("subscribe", params))
    await client.ws.send_str(notification("no_such_method", {}))
    # Frames are answered in order, so the next frame being this reply proves none came before.
    reply = await call(
        client, request("auth", {"bearer": mint("0x1")}, 99), kind="result", request_id=99
    )
    assert "node_id" in reply["result"]
    (session,) = paradex_mock.sessions.values()
    assert [f.error for f in session.received] == [
        None,
        "already_subscribed",
        "invalid_channel",
        "method_not_found",
        None,
    ]
    assert session.subscriptions == ["trades.ALL"]


# Transport


async def test_sbe_query_string_is_accepted(connect: Connect, paradex_mock: MockServer) -> None:
    """``/v1?sbeSchemaId=1&sbeSchemaVersion=3`` (ccxt's default) serves JSON text frames."""
    client = await connect("/v1?sbeSchemaId=1&sbeSchemaVersion=3")
    assert (await client.subscribe("trades.ALL"))["result"] == {"channel": "trades.ALL"}
    paradex_mock.publish("trades.ETH-USD-PERP", {"id": "1"})
    assert (await client.notification("trades.ALL"))["params"]["data"] == {"id": "1"}
    (session,) = paradex_mock.sessions.values()
    assert session.path == "/v1?sbeSchemaId=1&sbeSchemaVersion=3"


async def test_permessage_deflate_is_negotiated(connect: Connect, paradex_mock: MockServer) -> None:
    """A client offering permessage-deflate gets it, and compressed frames round-trip."""
    client = await connect(compress=15)
    assert client.ws.compress == 15
    await subscribed_client(client, "trades.ALL")
    payload = {"id": "x" * 20_000, "price": "1.5"}
    paradex_mock.publish("trades.BTC-USD-PERP", payload)
    assert (await client.notification())["params"]["data"] == payload


async def test_no_compression_unless_offered(connect: Connect) -> None:
    """A client that offers no extension gets plain frames."""
    client = await connect()
    assert client.ws.compress == 0
    await subscribed_client(client, "trades.ALL")


async def subscribed_client(client: Client, channel: str) -> None:
    assert (await client.subscribe(channel))["result"] == {"channel": channel}


async def test_binary_frames_get_an_invalid_request_error(connect: Connect) -> None:
    """A binary frame is answered with a -32600 text error (id null); the socket survives."""
    client = await connect()
    before = now_us()
    await client.ws.send_bytes(request("subscribe", {"channel": "trades.ALL"}).encode())
    raw = await receive_text(client)
    reply = check_reply(raw, kind="error", request_id=None, before=before, after=now_us())
    assert reply["error"]["code"] == -32600
    await assert_still_serving(client)


async def test_plain_http_get_of_v1_is_426(paradex_mock: MockServer) -> None:
    """A GET of /v1 without an upgrade is 426 Upgrade Required."""
    async with aiohttp.ClientSession() as http, http.get(paradex_mock.url + "/v1") as response:
        assert response.status == 426
        assert response.headers["Upgrade"].lower() == "websocket"
        assert "error" in await response.json()


async def test_health(connect: Connect, paradex_mock: MockServer) -> None:
    """``GET /health`` is 200 JSON with the status, scenario and open connections."""
    client = await connect()  # held: an unreferenced client is collected and disconnects
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1, timeout=RECEIVE_TIMEOUT_S)
    async with aiohttp.ClientSession() as http, http.get(paradex_mock.url + "/health") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.json()
    assert body["status"] == "ok"
    assert body["scenario"] == "empty"
    assert body["connections"] == 1
    assert not client.ws.closed


# Push notifications and fan-out


async def test_notification_shape(connect: Connect, paradex_mock: MockServer) -> None:
    """A push is exactly ``{"jsonrpc","method":"subscription","params":{"channel","data"}}``."""
    client = await subscribed(connect, "trades.BTC-USD-PERP")
    data = {
        "id": "1718179273230201709233240002",
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "size": "34028",
        "price": "0.028776",
        "created_at": 1718179273230,
        "trade_type": "FILL",
    }
    assert paradex_mock.publish("trades.BTC-USD-PERP", data) == 1
    raw = await receive_text(client)
    assert NOTIFICATION.match(raw), raw
    assert raw == (
        '{"jsonrpc":"2.0","method":"subscription","params":'
        f'{{"channel":"trades.BTC-USD-PERP","data":{dumps(data)}}}}}'
    )


@pytest.mark.parametrize(
    ("published", "subscriptions", "reached"),
    [
        ("trades.BTC-USD-PERP", ["trades.BTC-USD-PERP", "trades.ALL", "trades.ETH-USD-PERP"], 2),
        (
            "markets_summary.BTC-USD-PERP",
            [
                "markets_summary",
                "markets_summary.ALL",
                "markets_summary.BTC-USD-PERP",
                "markets_summary.ETH-USD-PERP",
            ],
            3,
        ),
        (
            "funding_data.ETH-USD-PERP",
            [
                "funding_data",
                "funding_data.ALL",
                "funding_data.ETH-USD-PERP",
                "funding_data.BTC-USD-PERP",
            ],
            3,
        ),
        (
            "markets_summary",
            ["markets_summary", "markets_summary.ALL", "markets_summary.BTC-USD-PERP"],
            2,
        ),
        ("funding_data.ALL", ["funding_data.ALL", "funding_data", "funding_data.BTC-USD-PERP"], 2),
        ("bbo.BTC-USD-PERP", ["bbo.ALL", "bbo.BTC-USD-PERP", "bbo.BTC-USD-PERP.interactive"], 2),
        (
            "order_book.BTC-USD-PERP.snapshot@15@100ms",
            [
                "order_book.BTC-USD-PERP.snapshot@15@100ms",
                "order_book.ALL.snapshot@15@100ms",
                "order_book.BTC-USD-PERP.snapshot@15@50ms",
            ],
            2,
        ),
    ],
    ids=[
        "trades",
        "markets_summary",
        "funding_data",
        "bare_markets_summary_is_ALL",
        "funding_data_ALL_is_bare",
        "bbo",
        "order_book",
    ],
)
async def test_fan_out_uses_each_subscribers_own_name(
    connect: Connect,
    paradex_mock: MockServer,
    published: str,
    subscriptions: list[str],
    reached: int,
) -> None:
    """A publish reaches aggregate subscribers; each sees params.channel = its subscribed name."""
    clients = {name: await subscribed(connect, name) for name in subscriptions}
    data = {"market": "BTC-USD-PERP", "seq": 1}
    assert paradex_mock.publish(published, data) == reached
    for name, client in list(clients.items())[:reached]:
        frame = await client.receive_json()
        assert frame == {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": name, "data": data},
        }
    for name, client in list(clients.items())[reached:]:
        assert await frames_before_sentinel(paradex_mock, client, name) == [], name


async def test_one_client_gets_one_frame_per_subscribed_name(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """A client subscribed to a market and to ALL gets the publish once under each name."""
    client = await subscribed(connect, "trades.BTC-USD-PERP", "trades.ALL")
    paradex_mock.publish("trades.BTC-USD-PERP", {"id": "1"})
    channels = {(await client.notification())["params"]["channel"] for _ in range(2)}
    assert channels == {"trades.BTC-USD-PERP", "trades.ALL"}


async def test_private_publish_reaches_only_that_account(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """A private publish with ``account=`` reaches only that account's sessions."""
    alice = await subscribed(connect, "orders.ALL", account="0xA")
    alice_again = await subscribed(connect, "orders.BTC-USD-PERP", account="0xA")
    bob = await subscribed(connect, "orders.ALL", account="0xB")
    order = {"id": "1", "market": "BTC-USD-PERP", "status": "NEW"}
    assert paradex_mock.publish("orders.BTC-USD-PERP", order, account="0xA") == 2
    assert (await alice.notification("orders.ALL"))["params"]["data"] == order
    assert (await alice_again.notification("orders.BTC-USD-PERP"))["params"]["data"] == order
    assert await frames_before_sentinel(paradex_mock, bob, "orders.ALL", account="0xB") == []


async def test_private_publish_without_account_reaches_every_subscriber(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """A private publish with no account reaches every authenticated subscriber."""
    alice = await subscribed(connect, "positions", account="0xA")
    bob = await subscribed(connect, "positions", account="0xB")
    assert paradex_mock.publish("positions", {"id": "p"}) == 2
    for client in (alice, bob):
        assert (await client.notification("positions"))["params"]["data"] == {"id": "p"}


# Isolation


@pytest.mark.paradex_mock(max_message_bytes=4096)
async def test_bad_clients_never_disturb_a_neighbour(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """Garbage, binary, oversized frames and an abrupt disconnect leave a neighbour unaffected."""
    neighbour = await subscribed(connect, "trades.ALL")
    paradex_mock.publish("trades.BTC-USD-PERP", {"n": 0})
    assert (await neighbour.notification())["params"]["data"] == {"n": 0}

    noisy = await connect()
    for text in ("{", "[]", request("nope"), request("subscribe", {"channel": "x"})):
        await noisy.ws.send_str(text)
    await noisy.ws.send_bytes(b"\x00\x01")
    for _ in range(5):
        assert "error" in json.loads(await receive_text(noisy))
    await noisy.ws.send_str("x" * 10_000)  # over max_message_bytes: the server closes with 1009
    closing = await noisy.ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG

    async with aiohttp.ClientSession() as other:
        vanishing = await other.ws_connect(paradex_mock.ws_url)
        await vanishing.send_str(request("subscribe", {"channel": "trades.ALL"}))
        assert json.loads((await vanishing.receive(timeout=RECEIVE_TIMEOUT_S)).data)["result"]
        # Leaving the session closes its TCP connection without a WebSocket close frame.
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 1, timeout=RECEIVE_TIMEOUT_S)

    for n in range(1, 4):
        assert paradex_mock.publish("trades.ETH-USD-PERP", {"n": n}) == 1
        assert (await neighbour.notification())["params"]["data"] == {"n": n}
    await assert_still_serving(neighbour)
