"""The sans-I/O JSON-RPC layer, the channel grammar and the bearer tokens, without sockets.

paradex-ws.md §2 (envelope and methods), §3 (channel names), §4 (errors), §7 (JWT).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

import pytest

from mockserver.channels import (
    ALL,
    BOOK_REFRESH_RATES,
    CATALOGUE,
    PRICE_TICKS,
    Channel,
    delivery_names,
    parse_channel,
)
from mockserver.errors import (
    AuthRequired,
    DeltasTakeNoParams,
    ErrorCatalogue,
    ErrorShape,
    InvalidChannel,
    InvalidParams,
    InvalidRequest,
    InvalidToken,
    MalformedToken,
    ParseError,
    RpcError,
)
from mockserver.protocol import (
    AuthPolicy,
    ProtocolPolicy,
    Request,
    RpcSession,
    encode_error,
    encode_notification,
    encode_result,
    load_frame,
    parse_request,
)
from mockserver.tokens import DEFAULT_TOKEN_TTL_S, mint, read_token

NODE_ID = "0123456789abcdef"
MARKETS = frozenset({"BTC-USD-PERP", "ETH-USD-PERP"})
NOW_S = 1_800_000_000.0
REPLY_KEYS_RESULT = ["jsonrpc", "id", "result", "usIn", "usDiff", "usOut"]
REPLY_KEYS_ERROR = ["jsonrpc", "id", "error", "usIn", "usDiff", "usOut"]


class FakeClock:
    """A wall clock in microseconds that only moves when told to."""

    def __init__(self, now_us: int = int(NOW_S * 1_000_000)) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += int(seconds * 1_000_000)


def make_session(
    *,
    clock: FakeClock | None = None,
    markets: frozenset[str] | None = MARKETS,
    **policy: Any,
) -> tuple[RpcSession, FakeClock]:
    clock = clock or FakeClock()
    return RpcSession(
        ProtocolPolicy(node_id=NODE_ID, markets=markets, **policy), now_us=clock
    ), clock


def frame(method: str, params: Any = None, request_id: Any = 1, **extra: Any) -> str:
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not ...:
        request["id"] = request_id
    if params is not None:
        request["params"] = params
    request.update(extra)
    return json.dumps(request)


def token(account: str = "0xabc", **kwargs: Any) -> str:
    kwargs.setdefault("now_s", NOW_S)
    return mint(account, **kwargs)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def reply_of(session: RpcSession, text: str, *, received_us: int | None = None) -> dict[str, Any]:
    """Feed one frame and return the parsed reply (which must exist)."""
    received = received_us if received_us is not None else session._now_us()
    outcome = session.receive(text, received_us=received)
    assert outcome.reply is not None, f"no reply to {text!r}"
    return json.loads(outcome.reply)


# Envelope parsing


def test_parse_request_reads_method_params_and_id() -> None:
    """A well-formed request yields its method, by-name params and id."""
    request = parse_request(frame("subscribe", {"channel": "trades.ALL"}, 7))
    assert request == Request(
        method="subscribe", params={"channel": "trades.ALL"}, id=7, has_id=True
    )


def test_parse_request_accepts_bytes() -> None:
    """A frame given as UTF-8 bytes parses like text."""
    request = parse_request(frame("auth", {"bearer": "x"}, "a").encode())
    assert (request.method, request.id) == ("auth", "a")


def test_parse_request_without_params_gives_empty_object() -> None:
    """A request with no ``params`` member has empty params."""
    assert parse_request(frame("auth")).params == {}


def test_request_without_id_is_a_notification() -> None:
    """No ``id`` member at all marks a notification (ccxt's subscribe)."""
    request = parse_request(frame("subscribe", {"channel": "trades.ALL"}, ...))
    assert request.id is None
    assert request.has_id is False


def test_request_with_null_id_is_not_a_notification() -> None:
    """``"id": null`` is a request, answered with id null."""
    request = parse_request(frame("auth", None, None))
    assert request.id is None
    assert request.has_id is True


@pytest.mark.parametrize("request_id", [0, 1, 2**53, -5, "", "1718179125962419"])
def test_integer_and_string_ids_are_kept_with_their_type(request_id: int | str) -> None:
    """Integer and string ids come back unchanged, type included."""
    parsed = parse_request(frame("auth", None, request_id)).id
    assert parsed == request_id
    assert type(parsed) is type(request_id)


@pytest.mark.parametrize(
    "text",
    ["", "{", "not json", '{"jsonrpc": "2.0",}', "\x00", "[" * 100_000, b"\x80{}"],
    ids=["empty", "unclosed", "words", "trailing-comma", "nul", "deep-nesting", "bad-utf8"],
)
def test_unparseable_frames_are_parse_errors(text: str | bytes) -> None:
    """Anything that is not JSON raises -32700."""
    with pytest.raises(ParseError) as caught:
        load_frame(text)
    assert caught.value.code == -32700


@pytest.mark.parametrize("text", ["[]", "[{}]", '[{"jsonrpc":"2.0","method":"auth","id":1}]'])
def test_batches_are_invalid_requests(text: str) -> None:
    """A JSON array (a JSON-RPC batch) is refused with -32600."""
    with pytest.raises(InvalidRequest):
        load_frame(text)


@pytest.mark.parametrize("text", ["1", '"auth"', "null", "true", "1.5"])
def test_non_objects_are_invalid_requests(text: str) -> None:
    """A JSON scalar is refused with -32600."""
    with pytest.raises(InvalidRequest):
        load_frame(text)


@pytest.mark.parametrize(
    "obj",
    [
        {"method": "auth", "id": 1},
        {"jsonrpc": "1.0", "method": "auth", "id": 1},
        {"jsonrpc": 2.0, "method": "auth", "id": 1},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "method": 5, "id": 1},
        {"jsonrpc": "2.0", "method": None, "id": 1},
    ],
    ids=["no-jsonrpc", "jsonrpc-1.0", "jsonrpc-number", "no-method", "method-int", "method-null"],
)
def test_bad_envelopes_are_invalid_requests(obj: dict[str, Any]) -> None:
    """A wrong or missing ``jsonrpc`` or ``method`` is -32600."""
    with pytest.raises(InvalidRequest) as caught:
        parse_request(json.dumps(obj))
    assert caught.value.code == -32600


@pytest.mark.parametrize("request_id", [1.5, True, False, [1], {"a": 1}])
def test_ids_of_other_types_are_invalid_requests(request_id: Any) -> None:
    """An id that is not an integer, a string or null is -32600."""
    with pytest.raises(InvalidRequest):
        parse_request(frame("auth", None, request_id))


@pytest.mark.parametrize("params", [[], ["trades.ALL"], "trades.ALL", 1, None])
def test_params_that_are_not_an_object_are_invalid_params(params: Any) -> None:
    """Paradex's params are by-name: anything but an object is -32602."""
    text = json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": params, "id": 1})
    with pytest.raises(InvalidParams) as caught:
        parse_request(text)
    assert caught.value.code == -32602


# Encoders


def test_encode_result_keeps_paradex_key_order() -> None:
    """A result reply is ``jsonrpc, id, result, usIn, usDiff, usOut`` with usDiff = out - in."""
    text = encode_result(
        3, {"channel": "x"}, us_in=1_718_179_125_962_419, us_out=1_718_179_125_962_495
    )
    assert text == (
        '{"jsonrpc":"2.0","id":3,"result":{"channel":"x"},'
        '"usIn":1718179125962419,"usDiff":76,"usOut":1718179125962495}'
    )


def test_encode_result_without_id_leaves_the_member_out() -> None:
    """An acknowledged notification has no ``id`` member at all."""
    reply = json.loads(encode_result(None, {}, us_in=1, us_out=2, include_id=False))
    assert list(reply) == ["jsonrpc", "result", "usIn", "usDiff", "usOut"]


def test_encode_error_keeps_paradex_key_order() -> None:
    """An error reply matches ccxt's capture byte for byte (paradex-ws.md §4)."""
    error = {"code": -32600, "message": "invalid subscribe request", "data": "invalid channel"}
    text = encode_error(0, error, us_in=1718179125962419, us_out=1718179125962495)
    assert text == (
        '{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"invalid subscribe request",'
        '"data":"invalid channel"},"usIn":1718179125962419,"usDiff":76,"usOut":1718179125962495}'
    )


def test_encode_notification_shape() -> None:
    """A push is ``{"jsonrpc","method":"subscription","params":{"channel","data"}}``, no id."""
    text = encode_notification("trades.ALL", '{"id":"1","price":"0.028776"}')
    assert text == (
        '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.ALL",'
        '"data":{"id":"1","price":"0.028776"}}}'
    )
    assert json.loads(text)["params"]["data"] == {"id": "1", "price": "0.028776"}


def test_encode_notification_escapes_the_channel_name() -> None:
    """A channel name with JSON-special characters still yields valid JSON."""
    text = encode_notification('we"ird\\name', "{}")
    assert json.loads(text)["params"]["channel"] == 'we"ird\\name'


def test_error_shape_leaves_out_absent_data() -> None:
    """``data`` appears in the wire error only when there is some, after code and message."""
    assert ErrorShape(-32601, "method does not exist").as_wire() == {
        "code": -32601,
        "message": "method does not exist",
    }
    assert list(ErrorShape(1, "m", "d").as_wire()) == ["code", "message", "data"]


# RpcSession: replies


def test_auth_reply_carries_node_id_and_timings() -> None:
    """``auth`` answers ``{"node_id": ...}`` in Paradex's key order, timed in µs."""
    session, clock = make_session()
    received = clock.now_us
    clock.advance(0.000143)
    outcome = session.receive(frame("auth", {"bearer": token()}, 0), received_us=received)
    assert outcome.reply is not None
    reply = json.loads(outcome.reply)
    assert list(reply) == REPLY_KEYS_RESULT
    assert reply["id"] == 0
    assert reply["result"] == {"node_id": NODE_ID}
    assert (reply["usIn"], reply["usOut"], reply["usDiff"]) == (received, clock.now_us, 143)
    assert outcome.authenticated == "0xabc"
    assert session.account == "0xabc"


def test_subscribe_and_unsubscribe_echo_the_channel() -> None:
    """subscribe and unsubscribe answer ``{"channel": <name as sent>}`` and record the change."""
    session, _ = make_session()
    name = "order_book.BTC-USD-PERP.snapshot@15@100ms"
    outcome = session.receive(frame("subscribe", {"channel": name}, 1), received_us=1)
    assert outcome.reply is not None
    assert json.loads(outcome.reply)["result"] == {"channel": name}
    assert outcome.subscribed == parse_channel(name)
    assert list(session.subscriptions) == [name]
    outcome = session.receive(frame("unsubscribe", {"channel": name}, "2"), received_us=2)
    assert outcome.reply is not None
    reply = json.loads(outcome.reply)
    assert (reply["id"], reply["result"]) == ("2", {"channel": name})
    assert outcome.unsubscribed == parse_channel(name)
    assert session.subscriptions == {}


def test_a_channel_can_be_subscribed_again_after_unsubscribing() -> None:
    """Unsubscribing frees the name for a new subscribe."""
    session, _ = make_session()
    for request_id in (1, 2, 3):
        method = "unsubscribe" if request_id == 2 else "subscribe"
        assert "result" in reply_of(session, frame(method, {"channel": "trades.ALL"}, request_id))


@pytest.mark.parametrize("markets", [[], ["BTC-USD-PERP"]])
def test_subscribe_accepts_a_markets_array(markets: list[str]) -> None:
    """The scoped markets_summary form (a ``markets`` array, even empty) is accepted."""
    session, _ = make_session()
    params = {"channel": "markets_summary", "markets": markets}
    assert reply_of(session, frame("subscribe", params))["result"] == {"channel": "markets_summary"}


@pytest.mark.parametrize("markets", ["BTC-USD-PERP", [1], {"a": "b"}])
def test_subscribe_refuses_a_malformed_markets_param(markets: Any) -> None:
    """``markets`` that is not an array of strings is -32602."""
    session, _ = make_session()
    params = {"channel": "markets_summary", "markets": markets}
    assert reply_of(session, frame("subscribe", params))["error"]["code"] == -32602


# RpcSession: errors


def error_of(session: RpcSession, text: str) -> dict[str, Any]:
    reply = reply_of(session, text)
    assert list(reply) == REPLY_KEYS_ERROR
    assert reply["usDiff"] == reply["usOut"] - reply["usIn"]
    return reply


@pytest.mark.parametrize(
    ("text", "code", "request_id"),
    [
        ("{oops", -32700, None),
        ("[]", -32600, None),
        ('"auth"', -32600, None),
        ('{"jsonrpc":"2.0","id":1.5,"method":"auth"}', -32600, None),
        ('{"jsonrpc":"2.0","id":true,"method":"auth"}', -32600, None),
        ('{"jsonrpc":"1.0","id":4,"method":"auth"}', -32600, 4),
        ('{"id":"x","method":"auth"}', -32600, "x"),
        ('{"jsonrpc":"2.0","id":5,"method":"nope"}', -32601, 5),
        ('{"jsonrpc":"2.0","id":6,"method":"auth","params":[]}', -32602, 6),
        ('{"jsonrpc":"2.0","id":7,"method":"auth","params":{}}', -32602, 7),
        ('{"jsonrpc":"2.0","id":8,"method":"auth","params":{"bearer":5}}', -32602, 8),
        ('{"jsonrpc":"2.0","id":9,"method":"subscribe","params":{}}', -32602, 9),
        ('{"jsonrpc":"2.0","id":10,"method":"subscribe","params":{"channel":1}}', -32602, 10),
        ('{"jsonrpc":"2.0","id":11,"method":"unsubscribe","params":{"channel":null}}', -32602, 11),
    ],
)
def test_error_codes_and_ids(text: str, code: int, request_id: Any) -> None:
    """Each malformed request gets its JSON-RPC code; unreadable ids are answered as null."""
    session, _ = make_session()
    reply = error_of(session, text)
    assert reply["error"]["code"] == code
    assert reply["id"] == request_id


def test_unknown_method_message() -> None:
    """An unknown method is -32601 "method does not exist", as Paradex's docs show."""
    session, _ = make_session()
    assert error_of(session, frame("public/get_time", {}, 4))["error"] == {
        "code": -32601,
        "message": "method does not exist",
    }


@pytest.mark.parametrize(
    "channel",
    ["nope", "trades", "trades.DOGE-USD-PERP", "order_book.BTC-USD-PERP.snapshot@10@50ms"],
)
def test_invalid_channel_error_shape(channel: str) -> None:
    """An unknown or malformed channel is -32600 "invalid subscribe request" / "invalid channel"."""
    session, _ = make_session()
    assert error_of(session, frame("subscribe", {"channel": channel}, 0))["error"] == {
        "code": -32600,
        "message": "invalid subscribe request",
        "data": "invalid channel",
    }
    assert session.subscriptions == {}


def test_deltas_with_suffix_error_shape() -> None:
    """A deltas feed with ``@15@50ms`` is refused with Paradex's observed data string."""
    session, _ = make_session()
    channel = "order_book.BTC-USD-PERP.deltas@15@50ms"
    assert error_of(session, frame("subscribe", {"channel": channel}))["error"] == {
        "code": -32600,
        "message": "invalid subscribe request",
        "data": "no parameters expected for deltas topic.",
    }


def test_subscribing_twice_is_an_error_and_keeps_the_first() -> None:
    """A second subscribe to the same name errors and leaves the subscription in place."""
    session, _ = make_session()
    reply_of(session, frame("subscribe", {"channel": "trades.ALL"}, 1))
    outcome = session.receive(frame("subscribe", {"channel": "trades.ALL"}, 2), received_us=1)
    assert outcome.subscribed is None
    assert outcome.reply is not None
    assert json.loads(outcome.reply)["error"]["data"] == "already subscribed"
    assert list(session.subscriptions) == ["trades.ALL"]


def test_unsubscribing_when_not_subscribed_is_an_error() -> None:
    """unsubscribe of a name never subscribed errors with no effect."""
    session, _ = make_session()
    outcome = session.receive(frame("unsubscribe", {"channel": "trades.ALL"}, 1), received_us=1)
    assert outcome.unsubscribed is None
    assert outcome.reply is not None
    assert json.loads(outcome.reply)["error"]["code"] == -32600


def test_private_channel_before_auth_is_refused() -> None:
    """A private channel before ``auth`` is 40111 with a data string saying why."""
    session, _ = make_session()
    error = error_of(session, frame("subscribe", {"channel": "orders.ALL"}))["error"]
    assert error == {
        "code": 40111,
        "message": "invalid bearer token",
        "data": AuthRequired.data,
    }
    assert session.subscriptions == {}


def test_private_channel_after_auth_is_accepted() -> None:
    """After ``auth`` every private family subscribes."""
    session, _ = make_session()
    reply_of(session, frame("auth", {"bearer": token()}, 0))
    for request_id, name in enumerate(("account", "orders.ALL", "fills.BTC-USD-PERP"), start=1):
        assert "result" in reply_of(session, frame("subscribe", {"channel": name}, request_id))


def test_authentication_outlives_the_tokens_expiry() -> None:
    """An authenticated session stays authenticated after its JWT's ``exp`` (paradex-ws.md §7)."""
    session, clock = make_session()
    reply_of(session, frame("auth", {"bearer": token(ttl_s=1)}, 0))
    clock.advance(3600)
    assert "result" in reply_of(session, frame("subscribe", {"channel": "positions"}, 1))
    assert session.account == "0xabc"


@pytest.mark.parametrize(
    ("bearer", "code"),
    [("not-a-jwt", 40110), ("a.b", 40110), (token(ttl_s=-1), 40111)],
    ids=["malformed", "two-parts", "expired"],
)
def test_auth_token_errors(bearer: str, code: int) -> None:
    """A malformed token is 40110, an expired one 40111; the session stays anonymous."""
    session, _ = make_session()
    assert error_of(session, frame("auth", {"bearer": bearer}))["error"]["code"] == code
    assert session.account is None


def test_failed_reauth_keeps_the_previous_account() -> None:
    """A failing second ``auth`` leaves the connection authenticated as before."""
    session, _ = make_session()
    reply_of(session, frame("auth", {"bearer": token("0x1")}, 0))
    assert "error" in reply_of(session, frame("auth", {"bearer": "garbage"}, 1))
    assert session.account == "0x1"


def test_second_auth_replaces_the_account() -> None:
    """A successful second ``auth`` switches the connection's account (UNCONFIRMED choice)."""
    session, _ = make_session()
    reply_of(session, frame("auth", {"bearer": token("0x1")}, 0))
    reply_of(session, frame("auth", {"bearer": token("0x2")}, 1))
    assert session.account == "0x2"


def test_auth_policy_restricts_accounts() -> None:
    """With ``auth.accounts`` set, a token for another account is 40111."""
    session, _ = make_session(auth=AuthPolicy(accounts=frozenset({"0x1"})))
    assert error_of(session, frame("auth", {"bearer": token("0x2")}))["error"]["code"] == 40111
    assert "result" in reply_of(session, frame("auth", {"bearer": token("0x1")}, 2))


def test_auth_policy_fail_with_answers_every_auth() -> None:
    """``auth.fail_with`` makes every ``auth`` fail with that error kind."""
    session, _ = make_session(auth=AuthPolicy(fail_with="geo_blocked"))
    assert error_of(session, frame("auth", {"bearer": token()}))["error"]["code"] == 40112
    assert session.account is None


def test_error_catalogue_overrides_a_shape() -> None:
    """A scenario's ``errors:`` override replaces the wire shape of that kind only."""
    override = ErrorShape(-32602, "Invalid parameters")
    session, _ = make_session(errors=ErrorCatalogue({"already_subscribed": override}))
    reply_of(session, frame("subscribe", {"channel": "trades.ALL"}, 1))
    assert error_of(session, frame("subscribe", {"channel": "trades.ALL"}, 2))["error"] == {
        "code": -32602,
        "message": "Invalid parameters",
    }
    assert error_of(session, frame("nope", {}, 3))["error"]["code"] == -32601


def test_unexpected_exceptions_become_internal_errors_and_the_session_survives() -> None:
    """A handler bug is answered -32603 and the next request still works."""

    def boom(self: RpcSession, request: Request) -> Any:
        raise ZeroDivisionError

    class Buggy(RpcSession):
        _HANDLERS: ClassVar = {**RpcSession._HANDLERS, "boom": boom}

    session = Buggy(ProtocolPolicy(node_id=NODE_ID), now_us=FakeClock())
    outcome = session.receive(frame("boom", {}, 1), received_us=1)
    assert outcome.reply is not None
    assert json.loads(outcome.reply)["error"] == {"code": -32603, "message": "internal error"}
    assert isinstance(outcome.error.__cause__, ZeroDivisionError)  # type: ignore[union-attr]
    assert "result" in reply_of(session, frame("subscribe", {"channel": "trades.ALL"}, 2))


def test_reject_answers_with_id_null() -> None:
    """``reject`` (a binary frame) answers the given error with id null."""
    session, _ = make_session()
    outcome = session.reject(InvalidRequest("binary"), received_us=5)
    assert outcome.reply is not None
    reply = json.loads(outcome.reply)
    assert (reply["id"], reply["error"]["code"], reply["usIn"]) == (None, -32600, 5)


# RpcSession: notifications (requests without id)


def test_notification_is_acted_on_but_not_answered() -> None:
    """An id-less subscribe subscribes and produces no reply."""
    session, _ = make_session()
    outcome = session.receive(frame("subscribe", {"channel": "trades.ALL"}, ...), received_us=1)
    assert outcome.reply is None
    assert outcome.subscribed is not None
    assert "trades.ALL" in session.subscriptions


@pytest.mark.parametrize(
    "text",
    [
        frame("subscribe", {"channel": "trades.ALL"}, ...),
        frame("subscribe", {"channel": "nope"}, ...),
        frame("subscribe", {"channel": "orders.ALL"}, ...),
        frame("nope", {}, ...),
        frame("auth", {"bearer": "bad"}, ...),
        '{"jsonrpc":"1.0","method":"subscribe"}',
    ],
    ids=["duplicate", "invalid-channel", "private", "unknown-method", "bad-token", "bad-envelope"],
)
def test_notification_errors_are_never_answered(text: str) -> None:
    """A failing id-less request is recorded but never answered (ccxt stops reading on errors)."""
    session, _ = make_session()
    session.receive(frame("subscribe", {"channel": "trades.ALL"}, ...), received_us=1)
    outcome = session.receive(text, received_us=2)
    assert outcome.reply is None
    assert isinstance(outcome.error, RpcError)


def test_notifications_acknowledged_when_the_scenario_asks() -> None:
    """``reply_to_notifications`` acknowledges id-less requests without an ``id`` member."""
    session, _ = make_session(reply_to_notifications=True)
    outcome = session.receive(frame("subscribe", {"channel": "trades.ALL"}, ...), received_us=1)
    assert outcome.reply is not None
    reply = json.loads(outcome.reply)
    assert "id" not in reply
    assert reply["result"] == {"channel": "trades.ALL"}


def test_requests_are_handled_in_order() -> None:
    """A subscribe to a private channel fed right after ``auth`` sees the account."""
    session, _ = make_session()
    replies = [
        reply_of(session, frame("auth", {"bearer": token()}, 1)),
        reply_of(session, frame("subscribe", {"channel": "account"}, 2)),
    ]
    assert [r["id"] for r in replies] == [1, 2]
    assert all("result" in r for r in replies)


# Channel grammar

VALID_CHANNELS: dict[str, list[tuple[str, str | None]]] = {
    "markets_summary": [
        ("markets_summary", None),
        ("markets_summary.ALL", ALL),
        ("markets_summary.BTC-USD-PERP", "BTC-USD-PERP"),
    ],
    "markets": [("markets", None), ("markets.ETH-USD-PERP", "ETH-USD-PERP")],
    "bbo": [
        ("bbo.BTC-USD-PERP", "BTC-USD-PERP"),
        ("bbo.ALL", ALL),
        ("bbo.BTC-USD-PERP.interactive", "BTC-USD-PERP"),
    ],
    "trades": [("trades.BTC-USD-PERP", "BTC-USD-PERP"), ("trades.ALL", ALL)],
    "funding_data": [
        ("funding_data", None),
        ("funding_data.ALL", ALL),
        ("funding_data.ETH-USD-PERP", "ETH-USD-PERP"),
    ],
    "funding_rate_comparison": [
        ("funding_rate_comparison.ALL@500ms", None),
        ("funding_rate_comparison.ALL@1000ms", None),
    ],
    "order_book": [
        *[
            (f"order_book.BTC-USD-PERP.{feed}@15@{rate}", "BTC-USD-PERP")
            for feed in ("snapshot", "interactive")
            for rate in BOOK_REFRESH_RATES
        ],
        *[
            (f"order_book.ETH-USD-PERP.snapshot@15@50ms@{tick}", "ETH-USD-PERP")
            for tick in PRICE_TICKS
        ],
        ("order_book.ALL.snapshot@15@100ms", ALL),
        ("order_book.BTC-USD-PERP.deltas", "BTC-USD-PERP"),
        ("order_book.BTC-USD-PERP.interactive_deltas", "BTC-USD-PERP"),
    ],
    "account": [("account", None)],
    "balance_events": [("balance_events", None)],
    "fills": [("fills.BTC-USD-PERP", "BTC-USD-PERP"), ("fills.ALL", ALL)],
    "funding_payments": [
        ("funding_payments.BTC-USD-PERP", "BTC-USD-PERP"),
        ("funding_payments.ALL", ALL),
    ],
    "orders": [("orders.BTC-USD-PERP", "BTC-USD-PERP"), ("orders.ALL", ALL)],
    "positions": [("positions", None)],
    "tradebusts": [("tradebusts", None)],
    "transaction": [("transaction", None)],
    "transfers": [("transfers", None)],
    "rfq": [("rfq", None), ("rfq.abc_123-XYZ", None)],
    "block_trades": [("block_trades", None)],
    "mmp": [("mmp", None)],
}
VALID_CASES = [
    (family, name, market) for family, names in VALID_CHANNELS.items() for name, market in names
]


def test_every_catalogue_family_has_valid_cases() -> None:
    """The grammar tests cover every family of ``CATALOGUE`` (and no invented one)."""
    assert set(VALID_CHANNELS) == {f.family for f in CATALOGUE}


@pytest.mark.parametrize(("family", "name", "market"), VALID_CASES)
def test_valid_channel_names_parse(family: str, name: str, market: str | None) -> None:
    """Every documented form of every family parses to its family, privacy and market."""
    row = next(f for f in CATALOGUE if f.family == family)
    channel = parse_channel(name)
    assert channel == Channel(name=name, family=family, private=row.private, market=market)


@pytest.mark.parametrize(("family", "name", "market"), VALID_CASES)
def test_valid_channel_names_parse_with_the_scenarios_markets(
    family: str, name: str, market: str | None
) -> None:
    """Names of listed markets (and ALL, and market-less names) pass the market check."""
    assert parse_channel(name, markets=MARKETS).family == family


def test_private_families_are_the_account_channels() -> None:
    """Exactly the §3.2 account channels are private."""
    private = {f.family for f in CATALOGUE if f.private}
    assert private == {
        "account", "balance_events", "fills", "funding_payments", "orders", "positions",
        "tradebusts", "transaction", "transfers", "rfq", "block_trades", "mmp",
    }  # fmt: skip


def test_three_part_and_lowercase_symbols_are_markets() -> None:
    """Option symbols and kBONK-style symbols are accepted where a market goes."""
    assert parse_channel("trades.kBONK-USD-PERP").market == "kBONK-USD-PERP"
    assert parse_channel("bbo.BTC-USD-100000-C").market == "BTC-USD-100000-C"


def test_aggregates() -> None:
    """ALL names and bare market-wide names are aggregates; a single market is not."""
    assert parse_channel("trades.ALL").is_aggregate
    assert parse_channel("markets_summary").is_aggregate
    assert parse_channel("funding_data").is_aggregate
    assert not parse_channel("trades.BTC-USD-PERP").is_aggregate
    assert not parse_channel("account").is_aggregate


INVALID_CHANNELS = [
    # unknown families and spellings
    "", "nope", "TRADES.BTC-USD-PERP", "trade.BTC-USD-PERP", "bbo_interactive.BTC-USD-PERP",
    "interactive_bbo.BTC-USD-PERP", "rpi_bbo.BTC-USD-PERP", ".trades",
    # a market where one is needed, none where none goes
    "trades", "trades.", "bbo", "fills", "orders", "funding_payments",
    "account.BTC-USD-PERP", "positions.ALL", "balance_events.ALL", "tradebusts.x", "transfers.ALL",
    "transaction.ALL", "markets.ALL", "rfq.", "block_trades.ALL",
    # malformed market symbols
    "trades.BTC", "trades.all", "trades.BTC-USD-PERP.extra", "trades.BTC_USD", "trades.-USD",
    "trades.BTC-USD-PERP ", " trades.BTC-USD-PERP", "trades.BTC-USD-PERP\n",
    "markets_summary.BTC", "markets_summary.ALL.ALL", "funding_data.", "funding_data.BTC",
    # bbo suffixes (paradex-ws.md §3.1: only `.interactive` streams)
    # (`bbo.interactive.{m}` and `bbo.{m}@interactive` are acked live and stream nothing;
    # whether the mock should accept them is open, so they are not pinned here.)
    "bbo.BTC-USD-PERP.foo", "bbo.BTC-USD-PERP.interactive.x", "bbo.ALL.foo",
    # order_book: depth other than 15
    "order_book.BTC-USD-PERP.snapshot@10@50ms", "order_book.BTC-USD-PERP.snapshot@20@100ms",
    "order_book.BTC-USD-PERP.snapshot@@50ms", "order_book.BTC-USD-PERP.interactive@5@50ms",
    # order_book: refresh rate other than 50ms / 100ms
    "order_book.BTC-USD-PERP.snapshot@15@200ms", "order_book.BTC-USD-PERP.snapshot@15@50",
    "order_book.BTC-USD-PERP.snapshot@15@1s", "order_book.BTC-USD-PERP.interactive@15@400ms",
    "order_book.BTC-USD-PERP.snapshot@15",
    # order_book: unknown price tick
    "order_book.BTC-USD-PERP.snapshot@15@50ms@0_5", "order_book.BTC-USD-PERP.snapshot@15@50ms@5",
    "order_book.BTC-USD-PERP.snapshot@15@50ms@0.1", "order_book.BTC-USD-PERP.snapshot@15@50ms@",
    "order_book.BTC-USD-PERP.snapshot@15@50ms[0_0001]",
    "order_book.BTC-USD-PERP.snapshot@15@50ms@0_1@0_1",
    # order_book: feed types and structure
    "order_book.BTC-USD-PERP", "order_book.BTC-USD-PERP.snapshot", "order_book.BTC-USD-PERP.delta",
    "order_book.BTC-USD-PERP.foo@15@50ms", "order_book.ALL.deltas",
    "order_book.ALL.interactive_deltas",
    "order_book.snapshot@15@50ms", "order_book",
    # funding_rate_comparison needs ALL and one of its rates
    "funding_rate_comparison", "funding_rate_comparison.ALL", "funding_rate_comparison.ALL@100ms",
    "funding_rate_comparison.BTC-USD-PERP@500ms",
]  # fmt: skip


@pytest.mark.parametrize("name", INVALID_CHANNELS)
def test_invalid_channel_names_are_refused(name: str) -> None:
    """Unknown families and malformed forms raise ``InvalidChannel``."""
    with pytest.raises(InvalidChannel) as caught:
        parse_channel(name)
    assert (caught.value.code, caught.value.message, caught.value.detail) == (
        -32600,
        "invalid subscribe request",
        "invalid channel",
    )


@pytest.mark.parametrize(
    "name",
    [
        "order_book.BTC-USD-PERP.deltas@15@50ms",
        "order_book.BTC-USD-PERP.deltas@15@100ms",
        "order_book.BTC-USD-PERP.interactive_deltas@15@50ms",
        "order_book.BTC-USD-PERP.deltas@15@50ms@0_1",
        "order_book.ETH-USD-PERP.deltas@anything",
    ],
)
def test_deltas_with_parameters_are_refused_specially(name: str) -> None:
    """Deltas feeds with any ``@`` suffix raise ``DeltasTakeNoParams`` (paradex-ws.md §3.1)."""
    with pytest.raises(DeltasTakeNoParams) as caught:
        parse_channel(name)
    assert caught.value.detail == "no parameters expected for deltas topic."


@pytest.mark.parametrize(
    "name",
    [
        "trades.DOGE-USD-PERP", "bbo.DOGE-USD-PERP", "bbo.DOGE-USD-PERP.interactive",
        "markets_summary.DOGE-USD-PERP", "markets.DOGE-USD-PERP", "funding_data.DOGE-USD-PERP",
        "order_book.DOGE-USD-PERP.snapshot@15@50ms", "order_book.DOGE-USD-PERP.deltas",
        "fills.DOGE-USD-PERP", "orders.DOGE-USD-PERP", "funding_payments.DOGE-USD-PERP",
    ],
)  # fmt: skip
def test_unknown_markets_are_refused_when_markets_are_given(name: str) -> None:
    """With a market list, a name naming another market is an invalid channel."""
    parse_channel(name)  # well-formed when any market is accepted
    with pytest.raises(InvalidChannel):
        parse_channel(name, markets=MARKETS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("trades.BTC-USD-PERP", ("trades.BTC-USD-PERP", "trades.ALL")),
        ("trades.ALL", ("trades.ALL",)),
        ("bbo.BTC-USD-PERP", ("bbo.BTC-USD-PERP", "bbo.ALL")),
        ("bbo.BTC-USD-PERP.interactive", ("bbo.BTC-USD-PERP.interactive", "bbo.ALL.interactive")),
        (
            "markets_summary.BTC-USD-PERP",
            ("markets_summary.BTC-USD-PERP", "markets_summary", "markets_summary.ALL"),
        ),
        # The bare name and .ALL are two spellings of one audience.
        ("markets_summary", ("markets_summary", "markets_summary.ALL")),
        ("markets_summary.ALL", ("markets_summary.ALL", "markets_summary")),
        ("funding_data", ("funding_data", "funding_data.ALL")),
        ("markets.BTC-USD-PERP", ("markets.BTC-USD-PERP", "markets")),
        (
            "funding_data.ETH-USD-PERP",
            ("funding_data.ETH-USD-PERP", "funding_data", "funding_data.ALL"),
        ),
        (
            "order_book.BTC-USD-PERP.snapshot@15@50ms",
            ("order_book.BTC-USD-PERP.snapshot@15@50ms", "order_book.ALL.snapshot@15@50ms"),
        ),
        (
            "order_book.BTC-USD-PERP.interactive@15@100ms@0_1",
            (
                "order_book.BTC-USD-PERP.interactive@15@100ms@0_1",
                "order_book.ALL.interactive@15@100ms@0_1",
            ),
        ),
        ("order_book.BTC-USD-PERP.deltas", ("order_book.BTC-USD-PERP.deltas",)),
        ("fills.BTC-USD-PERP", ("fills.BTC-USD-PERP", "fills.ALL")),
        ("orders.BTC-USD-PERP", ("orders.BTC-USD-PERP", "orders.ALL")),
        (
            "funding_payments.BTC-USD-PERP",
            ("funding_payments.BTC-USD-PERP", "funding_payments.ALL"),
        ),
        ("account", ("account",)),
        ("rfq.r1", ("rfq.r1",)),
        ("nope.BTC-USD-PERP", ("nope.BTC-USD-PERP",)),
        ("trades.BTC", ("trades.BTC",)),
    ],
)
def test_delivery_names(name: str, expected: tuple[str, ...]) -> None:
    """A publish on a concrete name also reaches its family's aggregate subscriptions."""
    assert delivery_names(name) == expected


@pytest.mark.parametrize(("family", "name", "market"), VALID_CASES)
def test_delivery_names_start_with_the_name_and_are_valid(
    family: str, name: str, market: str | None
) -> None:
    """Every delivery name is the published name first, then distinct valid channels."""
    names = delivery_names(name)
    assert names[0] == name
    assert len(set(names)) == len(names)
    assert all(parse_channel(n).family == family for n in names)


# Bearer tokens


def test_mint_and_read_round_trip() -> None:
    """A minted token reads back with its account, expiry and Paradex's claim names."""
    claims = read_token(token("0xdead", ttl_s=300), now_s=NOW_S)
    assert claims.account == "0xdead"
    assert claims.expires_at == NOW_S + 300
    assert claims.raw["typ"] == "at+JWT"
    assert claims.raw["exp"] - claims.raw["iat"] == 300


def test_minted_token_has_paradex_header() -> None:
    """The header is ``{"alg":"ES384","typ":"JWT"}`` and all three parts are non-empty."""
    parts = token().split(".")
    assert len(parts) == 3
    assert all(parts)
    assert json.loads(base64.urlsafe_b64decode(parts[0] + "==")) == {"alg": "ES384", "typ": "JWT"}


def test_default_ttl_is_five_minutes() -> None:
    """Minted tokens live 300 s by default, like Paradex's (paradex-ws.md §7)."""
    assert DEFAULT_TOKEN_TTL_S == 300
    claims = read_token(mint("0x1", now_s=NOW_S), now_s=NOW_S)
    assert claims.expires_at == NOW_S + 300


def unsigned(header: Any, claims: Any, signature: str = "") -> str:
    """A JWT-shaped string with the given header and claims."""
    header_part, claims_part = (b64url(json.dumps(part).encode()) for part in (header, claims))
    return f"{header_part}.{claims_part}.{signature}"


HEADER = {"alg": "ES384", "typ": "JWT"}


@pytest.mark.parametrize(
    "bearer",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        ".payload.sig",
        f"{b64url(b'{}')}..sig",
        f"{b64url(b'{}')}.{b64url(b'{}')}.si+g",
        f"{b64url(b'{}')}.{b64url(b'{}')}.sig=",
        f"{b64url(b'{}')}.{b64url(b'{}')}.s/g",
        f"a.{b64url(b'{}')}.sig",
        f"{b64url(b'not json')}.{b64url(b'{}')}.sig",
        f"{b64url(b'{}')}.{b64url(b'not json')}.sig",
        f"{b64url(b'{}')}.{b64url(b'[1, 2]')}.sig",
        f"{b64url(b'1')}.{b64url(b'{}')}.sig",
        f"{b64url(b'{}')}.{b64url(bytes([0xFF, 0xFE]))}.sig",
        "Bearer " + unsigned(HEADER, {"sub": "0x1"}),
    ],
    ids=[
        "empty", "one-part", "two-parts", "four-parts", "empty-header", "empty-payload",
        "plus-sign", "padding", "slash", "bad-base64-length", "header-not-json",
        "payload-not-json", "payload-array", "header-number", "payload-not-utf8",
        "bearer-prefix",
    ],
)  # fmt: skip
def test_malformed_tokens_are_40110(bearer: str) -> None:
    """Not three base64url parts with JSON-object header and payload: 40110."""
    with pytest.raises(MalformedToken) as caught:
        read_token(bearer, now_s=NOW_S)
    assert caught.value.code == 40110


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "0x1", "exp": NOW_S - 1},
        {"sub": "0x1", "exp": NOW_S},
        {"sub": "0x1", "exp": "soon"},
        {"sub": "0x1", "exp": True},
        {"exp": NOW_S + 60},
        {"sub": "", "exp": NOW_S + 60},
        {"sub": 5, "exp": NOW_S + 60},
        {"sub": None},
    ],
    ids=[
        "expired",
        "expires-now",
        "exp-string",
        "exp-bool",
        "no-sub",
        "empty-sub",
        "sub-int",
        "sub-null",
    ],
)
def test_invalid_tokens_are_40111(claims: dict[str, Any]) -> None:
    """An ``exp`` at or before now, a non-numeric ``exp``, or a missing ``sub``: 40111."""
    with pytest.raises(InvalidToken) as caught:
        read_token(unsigned(HEADER, claims, "sig"), now_s=NOW_S)
    assert caught.value.code == 40111


def test_expired_minted_token_is_40111() -> None:
    """``mint`` with a negative ttl gives a token ``auth`` refuses as invalid."""
    with pytest.raises(InvalidToken):
        read_token(mint("0x1", ttl_s=-1, now_s=NOW_S), now_s=NOW_S)


def test_token_expiring_one_second_ahead_is_valid_until_then() -> None:
    """A token is accepted up to just before ``exp`` and refused from ``exp`` on."""
    bearer = mint("0x1", ttl_s=1, now_s=NOW_S)
    assert read_token(bearer, now_s=NOW_S + 0.999).account == "0x1"
    with pytest.raises(InvalidToken):
        read_token(bearer, now_s=NOW_S + 1)


def test_unsigned_tokens_and_tokens_without_exp_are_accepted() -> None:
    """The signature part may be empty and ``exp`` absent (the mock never verifies signatures)."""
    claims = read_token(unsigned(HEADER, {"sub": "0x1"}), now_s=NOW_S)
    assert (claims.account, claims.expires_at) == ("0x1", None)


def test_fractional_exp_in_the_future_is_accepted() -> None:
    """A fractional ``exp`` still in the future is accepted."""
    claims = read_token(unsigned(HEADER, {"sub": "0x1", "exp": NOW_S + 0.5}, "c2ln"), now_s=NOW_S)
    assert claims.expires_at == NOW_S + 0.5
