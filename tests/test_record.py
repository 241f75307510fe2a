"""Recording: the round trip through a real mock, the writer, redaction, keying, limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from record_roundtrip import (
    ACCOUNT,
    CHANNELS,
    SCRIPT,
    check_replay,
    check_timing,
    played,
    replay,
    source_scenario,
    subscribed,
)

from mockserver.pytest_plugin import MockServerFactory
from mockserver.record import RecordError, writer
from mockserver.record.capture import capture
from mockserver.record.redact import TOKEN_PLACEHOLDER, Redactor, token_account
from mockserver.record.writer import (
    Header,
    Recording,
    concrete_channel,
    subscription_notification,
    write_scenario,
)
from mockserver.scenario import loader
from mockserver.tokens import mint

HEADER = Header(name="t", source="ws://example/v1")


# The round trip (issue 8: "recording from a running mock and replaying the file")


async def test_a_recording_replays_the_same_payloads_in_order_and_on_time(
    paradex_mock_factory: MockServerFactory, tmp_path: Path
) -> None:
    """Recorded from a mock playing a script, the file replays the script's payloads, in
    order across channels, at the scripted offsets; the account, its ids and the token are
    redacted."""
    source = await paradex_mock_factory(scenario="empty")
    token = source.token(ACCOUNT)
    recording = Recording(redactor=Redactor(token=token), subscribed=CHANNELS)
    task = asyncio.create_task(
        capture(
            source.ws_url,
            CHANNELS,
            recording=recording,
            jwt=token,
            max_messages=len(SCRIPT),
            duration_s=20,
        )
    )
    await subscribed(source)
    await source.load_scenario(source_scenario())
    result = await asyncio.wait_for(task, 20)
    assert result.ended_by == "max-messages"
    assert result.skipped_frames == 0

    path = tmp_path / "recorded.yaml"
    text = recording.to_yaml(Header(name="recorded", source=source.ws_url))
    path.write_text(text)
    recorded = loader.load(path)
    assert [c.channel for c in recorded.channels] == [
        "bbo.BTC-USD-PERP",
        "trades.ETH-USD-PERP",
        "orders.BTC-USD-PERP",
    ]
    assert recorded.markets == ("BTC-USD-PERP", "ETH-USD-PERP")
    messages = played(recorded)
    assert [p[1] for p in messages] == [m.channel for m in SCRIPT]
    assert {p[2] for p in messages if p[1].startswith("orders")} == {"0x1"}
    check_timing([float(m.at_ms) for m in SCRIPT], [p[0] * 1000 for p in messages])
    assert token not in text

    replay_server = await paradex_mock_factory(scenario="empty")
    check_replay(await replay(replay_server, path), text)


async def test_a_recording_ends_when_the_server_closes_and_keeps_what_arrived(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """The source closing the connection ends the recording; what arrived is kept."""
    source = await paradex_mock_factory(scenario="empty")
    recording = Recording()
    task = asyncio.create_task(capture(source.ws_url, ["trades.ALL"], recording=recording))
    await subscribed(source, 1)
    for n in range(3):
        source.publish("trades.BTC-USD-PERP", {"id": str(n), "market": "BTC-USD-PERP"})
    await source.drained()
    source.close_all(code=4000, reason="bye")
    result = await asyncio.wait_for(task, 10)
    assert result.ended_by == "closed by the server (code 4000)"
    assert [m.data["id"] for m in recording.messages] == ["0", "1", "2"]
    assert {m.channel for m in recording.messages} == {"trades.BTC-USD-PERP"}


async def test_a_notification_a_scenario_cannot_carry_is_skipped_and_named(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """A payload nested deeper than the loader reads is skipped; the next one is recorded."""
    source = await paradex_mock_factory(scenario="empty")
    recording = Recording()
    task = asyncio.create_task(
        capture(source.ws_url, ["trades.ALL"], recording=recording, max_messages=1)
    )
    await subscribed(source, 1)
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    source.publish("trades.BTC-USD-PERP", {"market": "BTC-USD-PERP", "deep": deep})
    source.publish("trades.BTC-USD-PERP", {"market": "BTC-USD-PERP", "id": "ok"})
    result = await asyncio.wait_for(task, 10)
    assert [m.data.get("id") for m in recording.messages] == ["ok"]
    assert result.skipped_frames == 1
    assert result.first_problem == "the payload is nested more than 58 levels deep"


async def test_a_refused_subscribe_names_the_channel_and_the_servers_error(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """A subscribe the server refuses is a RecordError naming the channel and the error."""
    source = await paradex_mock_factory(scenario="empty")
    with pytest.raises(RecordError) as refused:
        await capture(
            source.ws_url, ["bbo.BTC-USD-PERP", "trades.FOO-USD-PERP"], recording=Recording()
        )
    assert str(refused.value) == (
        "subscribe 'trades.FOO-USD-PERP' refused by the server: "
        "-32600 invalid subscribe request (invalid channel)"
    )


async def test_a_refused_auth_is_one_line(paradex_mock_factory: MockServerFactory) -> None:
    """An auth the server refuses is a RecordError with the server's code and message."""
    source = await paradex_mock_factory(scenario="auth-rejected")
    with pytest.raises(
        RecordError, match=r"^auth \(the --jwt token\) refused by the server: 40111"
    ):
        await capture(source.ws_url, ["account"], recording=Recording(), jwt=source.token())


# The writer


def _roundtrip(data: dict[str, Any], channel: str = "trades.BTC-USD-PERP") -> Any:
    text = write_scenario([(channel, 0.0, data)], header=HEADER)
    return played(loader.loads(text))[0][3], text


EDGE_PAYLOADS: dict[str, dict[str, Any]] = {
    "numeric-looking strings": {
        "price": "67000.40", "size": "1e5", "hex": "0x1f", "octal": "012", "time": "12:30",
        "date": "2026-01-01", "neg": "-0", "inf": ".inf", "nan": ".nan", "sci": "1.5E+3",
    },
    "yaml words": {
        "a": "on", "b": "yes", "c": "No", "d": "off", "e": "null", "f": "~", "g": "true",
        "h": "", "i": " padded ", "j": "y",
    },
    "yaml syntax in strings and keys": {
        "<<": "merge", "!seq": "!now_ms", "k": "!decimal {min: 1}", "&a": "*a", "#": "# x",
        "x-y": "- item", "q": "it's \"quoted\"", "colon": "a: b", "brace": "{a: 1}",
        "": "empty key",
    },
    "numbers": {
        "int": 7, "big": 2**53 + 1, "bigger": 2**64 + 1, "huge": 10**30, "neg": -(2**63),
        "float": 0.1, "small": 1e-05, "large": 1e300, "zero": -0.0, "bool": False, "none": None,
    },
    "nesting": {"lists": [[1, [2, [3, ["4"]]]], [], {}], "deep": {"a": {"b": {"c": [{"d": "e"}]}}}},
    "unicode and control characters": {
        "emoji": "🚀 BTC", "rtl": "مرحبا", "combining": "é", "cjk": "比特币",
        "newline": "a\nb", "crlf": "a\r\nb", "tab": "a\tb", "nul": "a\x00b", "ls": "a\u2028b",
        "bom": "\ufeffx", "backslash": "a\\b", "bell": "\x07",
    },
}  # fmt: skip


@pytest.mark.parametrize("name", EDGE_PAYLOADS)
def test_payloads_replay_exactly_whatever_yaml_would_read_into_them(name: str) -> None:
    """Strings YAML would read as numbers, booleans, tags or merge keys stay strings; numbers,
    nesting, unicode and key order come back exactly."""
    data = EDGE_PAYLOADS[name]
    replayed, _ = _roundtrip(data)
    assert replayed == data
    assert list(replayed) == list(data)
    assert [type(v) for v in replayed.values()] == [type(v) for v in data.values()]


def test_each_message_is_one_line_of_flow_yaml() -> None:
    """A payload is written on one line, keys in the order received."""
    _, text = _roundtrip({"market": "BTC-USD-PERP", "price": "67000.4", "levels": [["1", "2"]]})
    assert "      data: {market: BTC-USD-PERP, price: '67000.4', levels: [['1', '2']]}\n" in text


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"a": "\ud800"}, "not Unicode"),
        ({"a": float("nan")}, "NaN"),
        ({"a": json.loads("[" * 70 + "]" * 70)}, "nested more than"),
    ],
    ids=["lone surrogate", "nan", "too deep"],
)
def test_a_payload_the_format_cannot_carry_is_refused(data: dict[str, Any], problem: str) -> None:
    """A lone surrogate, NaN or nesting beyond the loader's depth is a RecordError."""
    with pytest.raises(RecordError, match=problem):
        Recording().add("trades.BTC-USD-PERP", 0.0, data)


@pytest.mark.parametrize(
    ("channel", "data", "problem"),
    [
        ("tradez.BTC-USD-PERP", {}, "'tradez.BTC-USD-PERP' is not a Paradex channel name"),
        ("trades.BTC-USD-PERP", [1], "trades.BTC-USD-PERP: the payload is not a JSON object"),
    ],
)
def test_a_bad_channel_or_payload_is_refused(channel: str, data: Any, problem: str) -> None:
    """An unknown channel name, or a payload that is not an object, is a RecordError."""
    with pytest.raises(RecordError) as refused:
        Recording().add(channel, 0.0, data)
    assert str(refused.value) == problem


def test_offsets_count_from_the_first_message_and_keep_the_arrival_order() -> None:
    """``at`` counts from the first message in µs; equal arrival times are 1 µs apart, so
    the player (which breaks ties by file order) keeps the arrival order across channels."""
    recording = Recording()
    for channel, t in [("bbo.A-USD-PERP", 100.0), ("trades.B-USD-PERP", 100.0),
                       ("bbo.A-USD-PERP", 100.0), ("trades.B-USD-PERP", 100.25)]:  # fmt: skip
        recording.add(channel, t, {"t": t})
    assert [m.at_us for m in recording.messages] == [0, 1, 2, 250_000]
    scenario = loader.loads(recording.to_yaml(HEADER))
    assert [(p[1], p[0]) for p in played(scenario)] == [
        ("bbo.A-USD-PERP", 0.0),
        ("trades.B-USD-PERP", 1e-6),
        ("bbo.A-USD-PERP", 2e-6),
        ("trades.B-USD-PERP", 0.25),
    ]
    assert "    - at: 0.001ms\n" in recording.to_yaml(HEADER)


def test_loop_replays_the_whole_recording_with_its_length_as_period() -> None:
    """--loop: every channel loops with the recording's length (at least past the last message)."""
    recording = Recording()
    recording.add("bbo.A-USD-PERP", 0.0, {"n": 1})
    recording.add("trades.A-USD-PERP", 0.5, {"n": 2})
    for length, period in [(2.0, 2.0), (None, 0.501), (0.1, 0.501)]:
        header = Header(name="t", source="s", loop=True, length_s=length)
        scenario = loader.loads(recording.to_yaml(header))
        assert {c.loop_s for c in scenario.channels} == {period}


def test_the_header_says_where_it_came_from_and_what_was_redacted() -> None:
    """The comment header and description name the source, the time, the length and what
    was redacted; the timeline option is written when it is not the default."""
    recording = Recording(redactor=Redactor(token=mint("0xabc")))
    recording.add("account", 1.0, {"account": "0xabc", "id": "5"})
    header = Header(
        name="acct", source="wss://x/v1", recorded_at="2026-12-01T16:00:00Z", length_s=3.0,
        timeline="per_subscription", notes=("Ended by: duration.",),
    )  # fmt: skip
    text = recording.to_yaml(header)
    assert text.startswith("# Recorded from wss://x/v1 by paradex-mock at 2026-12-01T16:00:00Z.\n")
    assert "# Redacted: the bearer token (never written); account addresses: 1 distinct" in text
    assert "# Ended by: duration.\n" in text
    scenario = loader.loads(text)
    assert scenario.name == "acct"
    assert scenario.timeline == "per_subscription"
    assert scenario.description == (
        "Recorded from wss://x/v1 at 2026-12-01T16:00:00Z: 1 messages on 1 channel(s) over 3.0 s."
    )


def test_a_full_recording_takes_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the loader's value budget the recording is full and what it has still loads."""
    monkeypatch.setattr(writer, "VALUES_BUDGET", 60)
    recording = Recording()
    added = [recording.add("trades.A-USD-PERP", n, {"id": str(n), "x": 1}) for n in range(20)]
    assert recording.full
    assert added.index(False) == len(recording.messages) > 0
    assert not any(added[added.index(False) :])
    loader.loads(recording.to_yaml(HEADER))


# Keying: aggregates are recorded on the concrete channel


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("trades.ALL", {"market": "BTC-USD-PERP"}, "trades.BTC-USD-PERP"),
        ("bbo.ALL", {"market": "ETH-USD-PERP"}, "bbo.ETH-USD-PERP"),
        ("bbo.ALL.interactive", {"market": "ETH-USD-PERP"}, "bbo.ETH-USD-PERP.interactive"),
        ("markets_summary", {"market": "SOL-USD-PERP"}, "markets_summary.SOL-USD-PERP"),
        ("markets_summary.ALL", {"market": "SOL-USD-PERP"}, "markets_summary.SOL-USD-PERP"),
        ("funding_data", {"market": "BTC-USD-PERP"}, "funding_data.BTC-USD-PERP"),
        (
            "order_book.ALL.snapshot@15@100ms@0_1",
            {"market": "BTC-USD-PERP"},
            "order_book.BTC-USD-PERP.snapshot@15@100ms@0_1",
        ),
        ("orders.ALL", {"market": "BTC-USD-PERP"}, "orders.BTC-USD-PERP"),
        ("fills.ALL", {"market": "BTC-USD-100000-C"}, "fills.BTC-USD-100000-C"),
        ("trades.ALL", {"id": "1"}, "trades.ALL"),  # no market: kept
        ("trades.ALL", {"market": "not a symbol"}, "trades.ALL"),
        ("funding_rate_comparison.ALL@500ms", {"market": "BTC-USD-PERP"},
         "funding_rate_comparison.ALL@500ms"),  # no per-market form
        ("trades.BTC-USD-PERP", {"market": "ETH-USD-PERP"}, "trades.BTC-USD-PERP"),
        ("account", {"market": "BTC-USD-PERP"}, "account"),
    ],
)  # fmt: skip
def test_an_aggregate_is_keyed_by_the_market_of_its_payload(
    name: str, data: dict[str, Any], expected: str
) -> None:
    """A notification on an aggregate is recorded on the concrete channel it was published on."""
    assert concrete_channel(name, data) == expected


def test_markets_come_from_the_recorded_and_the_subscribed_channels() -> None:
    """``markets:`` lists every market named by a recorded channel or a subscribed one."""
    recording = Recording(subscribed=("trades.ALL", "bbo.SOL-USD-PERP", "account"))
    recording.add("trades.ALL", 0, {"market": "ETH-USD-PERP"})
    recording.add("trades.ALL", 1, {"market": "BTC-USD-PERP"})
    assert recording.markets() == ["SOL-USD-PERP", "ETH-USD-PERP", "BTC-USD-PERP"]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": "a", "data": {}}},
         ("a", {})),
        ({"jsonrpc": "2.0", "id": 1, "result": {"channel": "a"}}, None),
        ({"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "a"}}, None),
        ([1, 2], None),
    ],
)  # fmt: skip
def test_only_subscription_notifications_are_recorded(frame: Any, expected: Any) -> None:
    """Replies, requests and other JSON are not notifications."""
    assert subscription_notification(frame) == expected


@pytest.mark.parametrize(
    "params", [{"data": {}}, {"channel": 1, "data": {}}, {"channel": "a"}, None]
)
def test_a_notification_without_channel_or_data_is_refused(params: Any) -> None:
    """A ``subscription`` frame without params.channel (a string) or params.data is refused."""
    with pytest.raises(RecordError, match="a subscription notification without params"):
        subscription_notification({"method": "subscription", "params": params})


# Redaction


def test_the_tokens_account_is_0x1_and_others_follow_in_order() -> None:
    """The token's sub is 0x1; other addresses get 0x2, 0x3... by first appearance, one per
    address however it is spelt (case, leading zeros)."""
    redactor = Redactor(token=mint(ACCOUNT))
    assert redactor.own_account == "0x1"
    other = "0x" + "ab" * 31
    data = {"account": ACCOUNT, "counterparty": other, "external_account": "0x00" + "AB" * 31}
    assert redactor.payload(data, private=True) == {
        "account": "0x1",
        "counterparty": "0x2",
        "external_account": "0x2",
    }


def test_ids_hashes_and_signatures_keep_their_shape_and_stay_coherent() -> None:
    """Ids become counters of the same shape, the same id the same placeholder (a fill's
    order_id still matches its order); hashes keep their length; signatures in text too."""
    redactor = Redactor()
    order = redactor.payload(
        {"id": "179142153583120170923", "client_id": "bot-1", "request_info": {"id": 42}},
        private=True,
    )
    fill = redactor.payload(
        {
            "id": "3f2b8c1e-0000-4000-8000-123456789abc",
            "order_id": "179142153583120170923",
            "client_id": "",
            "txn_hash": "0x" + "f" * 64,
            "signature": '["0x1a2b", "0x3c4d"]',
        },
        private=True,
    )
    assert order == {"id": "000000000000000000001", "client_id": "redacted-2",
                     "request_info": {"id": 3}}  # fmt: skip
    assert fill["order_id"] == order["id"]
    assert fill["id"] == "00000000-0000-4000-8000-000000000004"
    assert fill["client_id"] == ""
    assert fill["txn_hash"] == "0x" + "0" * 63 + "1"
    assert fill["signature"] == '["0x0002", "0x0003"]'


def test_public_payloads_keep_their_fields_but_lose_known_secrets() -> None:
    """Public payloads keep ids and accounts they carry, except the recording's own account
    and anything shaped like a JWT, wherever they appear in a string."""
    token = mint(ACCOUNT)
    redactor = Redactor(token=token)
    data = {
        "id": "123",
        "account": "0x9",
        "note": f"by {ACCOUNT}",
        "auth": f"Bearer {token}",
        "other": "eyJhbGciOi.eyJzdWIiOi.c2ln",
    }
    assert redactor.payload(data, private=False) == {
        "id": "123",
        "account": "0x9",
        "note": "by 0x1",
        "auth": f"Bearer {TOKEN_PLACEHOLDER}",
        "other": TOKEN_PLACEHOLDER,
    }


def test_the_input_payload_is_not_changed() -> None:
    """Redaction returns new objects; what it was given is left as it was."""
    data = {"account": ACCOUNT, "nested": [{"id": "1"}]}
    Redactor().payload(data, private=True)
    assert data == {"account": ACCOUNT, "nested": [{"id": "1"}]}


def test_a_private_message_is_bound_to_its_placeholder_account() -> None:
    """On a private channel each message carries ``account:``: its payload's placeholder, or
    the token's account when the payload names none; public messages carry none."""
    recording = Recording(redactor=Redactor(token=mint(ACCOUNT)))
    recording.add("account", 0, {"account": ACCOUNT})
    recording.add("positions", 1, {"market": "BTC-USD-PERP"})
    recording.add("fills.ALL", 2, {"account": "0x" + "cd" * 31, "market": "BTC-USD-PERP"})
    recording.add("trades.ALL", 3, {"market": "BTC-USD-PERP"})
    assert [(m.channel, m.account) for m in recording.messages] == [
        ("account", "0x1"),
        ("positions", "0x1"),
        ("fills.BTC-USD-PERP", "0x2"),
        ("trades.BTC-USD-PERP", None),
    ]
    loader.loads(recording.to_yaml(HEADER))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", mint("")])
def test_a_token_without_an_account_still_never_appears(token: str) -> None:
    """A token whose sub cannot be read gives no own account, and is still scrubbed."""
    assert token_account(token) is None
    redactor = Redactor(token=token)
    assert redactor.own_account is None
    assert redactor.payload({"x": f"[{token}]"}, private=False) == {"x": f"[{TOKEN_PLACEHOLDER}]"}
