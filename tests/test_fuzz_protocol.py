"""Property-based fuzzing of the sans-I/O JSON-RPC layer (``RpcSession.receive``).

Arbitrary text, arbitrary JSON values and near-valid requests (a valid envelope
with fuzzed fields), fed in sequences to one session. Invariants: ``receive``
never raises; every reply is in Paradex's layout (``jsonrpc, id, result|error,
usIn, usDiff, usOut``) with a code from the error catalogue; a frame with an
``id`` member (or one that is not a JSON object) gets exactly one reply, a JSON
object without one none; the subscriptions change only on a successful
subscribe or unsubscribe, the account only on a successful auth.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import reply_problem
from mockserver.protocol import MAX_ID_CHARS, ProtocolPolicy, RpcSession
from mockserver.tokens import mint

NOW_US = 1_800_000_000_000_000  # 16 digits, as Paradex's µs timestamps
MARKETS = frozenset({"BTC-USD-PERP", "ETH-USD-PERP"})
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
channels = st.sampled_from(
    [
        "trades.ALL",
        "trades.BTC-USD-PERP",
        "bbo.ETH-USD-PERP",
        "order_book.BTC-USD-PERP.snapshot@15@50ms",
        "order_book.BTC-USD-PERP.deltas@15@50ms",
        "markets_summary",
        "orders.ALL",
        "account",
        "trades.DOGE-USD-PERP",
        "nope",
        "",
    ]
) | st.text(max_size=30)
bearers = st.sampled_from(
    [mint("0xabc", now_s=NOW_US / 1e6), mint("0xdef", now_s=NOW_US / 1e6, ttl_s=-1), "a.b.c"]
) | st.text(max_size=30)
params = (
    st.fixed_dictionaries(
        {},
        optional={
            "channel": channels | json_values,
            "bearer": bearers | json_values,
            "markets": st.lists(st.sampled_from(sorted(MARKETS)), max_size=2) | json_values,
        },
    )
    | json_values
)
# Surrogates (category Cs) reach a string only through a JSON escape such as "\ud800".
surrogates = st.text(st.characters(categories=["Cs", "Ll"]), max_size=3)
ids = st.integers() | st.text(max_size=MAX_ID_CHARS + 2) | surrogates | json_values


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """A valid envelope with fuzzed fields, any of them possibly missing."""
    request: dict[str, Any] = {}
    fields = {
        "jsonrpc": st.just("2.0") | json_values,
        "id": ids,
        "method": st.sampled_from(["auth", "subscribe", "unsubscribe"]) | st.text(max_size=12),
        "params": params,
    }
    for name, values in fields.items():
        if draw(st.integers(0, 9)) > 0:  # each member present nine times in ten
            request[name] = draw(values)
    return json.dumps(request)


frames = (
    st.text(max_size=200)
    | st.binary(max_size=200)
    | json_values.map(json.dumps)
    | near_valid()
    | st.lists(near_valid().map(json.loads), max_size=3).map(json.dumps)  # batches
)


def expected_reply(frame: str | bytes) -> tuple[bool, Any]:
    """Whether ``frame`` is answered (all but a JSON object without ``id``: a
    notification), and the id the reply carries (null when it cannot be echoed)."""
    try:
        obj = json.loads(frame)
    except (ValueError, RecursionError):
        return True, None
    if not isinstance(obj, dict):
        return True, None
    if "id" not in obj:
        return False, None
    request_id = obj["id"]
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return True, request_id
    if isinstance(request_id, str) and len(request_id) <= MAX_ID_CHARS:
        try:
            request_id.encode()
        except UnicodeEncodeError:
            return True, None
        return True, request_id
    return True, None


def check(session: RpcSession, frame: str | bytes) -> None:
    """Feed one frame and check every invariant."""
    before = (dict(session.subscriptions), session.account)
    outcome = session.receive(frame, received_us=NOW_US)
    answered, request_id = expected_reply(frame)
    if answered:
        assert outcome.reply is not None, frame
        assert reply_problem(outcome.reply) is None, reply_problem(outcome.reply)
        outcome.reply.encode()  # the wire is UTF-8: a lone surrogate could not be sent
        reply = json.loads(outcome.reply)
        assert reply["id"] == request_id
        assert ("error" in reply) is (outcome.error is not None)
    else:
        assert outcome.reply is None, frame
    subscriptions = dict(before[0])
    if outcome.subscribed is not None:
        assert outcome.error is None
        assert outcome.subscribed.name not in subscriptions
        subscriptions[outcome.subscribed.name] = outcome.subscribed
    if outcome.unsubscribed is not None:
        assert outcome.error is None
        assert subscriptions.pop(outcome.unsubscribed.name) == outcome.unsubscribed
    assert session.subscriptions == subscriptions
    if outcome.authenticated is None:
        assert session.account == before[1]
    else:
        assert outcome.error is None
        assert session.account == outcome.authenticated


def new_session() -> RpcSession:
    return RpcSession(
        ProtocolPolicy(node_id="0123456789abcdef", markets=MARKETS), now_us=lambda: NOW_US
    )


@FUZZ
@given(st.lists(st.text(max_size=300) | st.binary(max_size=300), min_size=1, max_size=5))
def test_arbitrary_text_never_breaks_the_session(texts: list[str | bytes]) -> None:
    """Any text or bytes: never raises, one well-formed error reply per frame."""
    session = new_session()
    for text in texts:
        check(session, text)


@FUZZ
@given(st.lists(json_values.map(json.dumps), min_size=1, max_size=5))
def test_arbitrary_json_values_never_break_the_session(texts: list[str]) -> None:
    """Any JSON value: a reply in Paradex's layout unless it is an object without id."""
    session = new_session()
    for text in texts:
        check(session, text)


@settings(FUZZ, max_examples=200)
@given(st.lists(frames, min_size=1, max_size=10))
def test_near_valid_requests_keep_the_session_consistent(sequence: list[str | bytes]) -> None:
    """Sequences of near-valid requests (and garbage between them): every invariant holds."""
    session = new_session()
    for frame in sequence:
        check(session, frame)
