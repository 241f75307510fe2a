"""The scenario loader: every problem named by file, line and key; what valid files mean.

Pure: no server, no socket. Scenarios are written inline so each test shows the
YAML it is about; ``problems()`` returns the loader's report as its lines.
"""

from __future__ import annotations

import json
import os
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from mockserver.errors import ScenarioError, ScenarioErrors
from mockserver.player import render
from mockserver.scenario import loader
from mockserver.scenario.loader import MAX_DEPTH, MAX_NODES, loads
from mockserver.scenario.model import SYNTHETIC_FAMILIES, CloseAction, Scenario, market_spec
from mockserver.scenario.templates import RenderContext
from mockserver.seeds import timeline_seed

FILE = "s.yaml"
HEAD = "markets: [BTC-USD-PERP]\nchannels:\n  trades.BTC-USD-PERP:\n    messages:\n"
AT_5 = "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0]"  # the message message() writes


def problems(text: str) -> list[str]:
    """The loader's report on ``text`` (as file s.yaml), one problem per item."""
    with pytest.raises(ScenarioErrors) as caught:
        loads(text, file=FILE)
    return str(caught.value).splitlines()


def only_problem(text: str) -> str:
    """The single problem the loader reports on ``text``."""
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def message(data: str, **fields: str) -> str:
    """A scenario with one trades message whose ``data`` is the given flow mapping (line 5)."""
    extra = "".join(f", {k}: {v}" for k, v in fields.items())
    return HEAD + f"      - {{data: {data}{extra}}}\n"


def first_payload(scenario: Scenario, seed: int = 0) -> object:
    """The first payload of the scenario's schedule, rendered with a fixed clock."""
    context = RenderContext(seed=seed, now_us=lambda: 1_700_000_000_000_000)
    return json.loads(render(scenario.channels, context, limit=1)[0][2])


# YAML itself


def test_syntax_error_names_file_and_line() -> None:
    """A YAML syntax error is one problem with the file and the line it was found on."""
    assert only_problem("markets: [BTC-USD-PERP\nchannels: {}\n") == (
        "s.yaml:2: YAML syntax: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts on line 1)"
    )


def test_valueless_tag_before_a_brace_gets_a_hint() -> None:
    """`!now_ms}` is a YAML syntax error; the report says how to write it."""
    found = only_problem(message("{a: !now_ms}"))
    assert found.startswith("s.yaml:5: YAML syntax: ")  # the rest is libyaml's (or PyYAML's)
    assert found.endswith(
        "(inside {...} or [...], a tag that takes no value needs a space after it: '!now_ms }')"
    )


def test_empty_file_is_a_problem() -> None:
    """An empty file is refused rather than read as a scenario with nothing in it."""
    assert only_problem("# only a comment\n") == "s.yaml: the file is empty"


def test_root_must_be_a_mapping() -> None:
    """A file whose top is a list is refused at line 1."""
    assert only_problem("- a\n- b\n") == "s.yaml:1: expected a mapping, got a list"


def test_billion_laughs_is_refused_quickly() -> None:
    """Aliases that expand to ~10**10 values are refused within a second, with a message."""
    lines = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    text = "\n".join(lines) + "\n" + HEAD + "      - {data: {x: *l9}}\n"
    started = time.perf_counter()
    found = problems(text)
    assert time.perf_counter() - started < 1.0
    # Reported where the budget ran out: the anchor's line, and the path that got there.
    assert found == [
        "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data.x[0][0][0][0][1]: the file "
        f"expands to more than {MAX_NODES} values (aliases are counted each time they are "
        "used); refusing to expand it"
    ]


def test_billion_laughs_of_generated_values_is_refused_quickly() -> None:
    """A bomb of tagged values (which cannot be shared as static JSON) is refused too."""
    lines = ["x-l0: &l0 [" + ", ".join(["!now_ms ''"] * 10) + "]"]
    lines += [f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    text = "\n".join(lines) + "\n" + HEAD + "      - {data: {x: *l9}}\n"
    started = time.perf_counter()
    assert "refusing to expand it" in only_problem(text)
    assert time.perf_counter() - started < 1.0


def test_merge_key_chain_is_not_a_bomb() -> None:
    """Doubling merge keys 30 deep collapse to one key: loaded at once, nothing expanded."""
    lines = ["x-m0: &m0 {a: 1}"]
    lines += [f"x-m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 30)]
    text = "\n".join(lines) + "\n" + HEAD + "      - {data: *m29}\n"
    started = time.perf_counter()
    assert first_payload(loads(text)) == {"a": 1}
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("yaml_text", "line"),
    [
        (HEAD + "      - data: &a {x: [*a]}\n", f"{AT_5}.data.x[0]"),
        (HEAD + "      - data: {x: &l [*l]}\n", f"{AT_5}.data.x[0]"),
        ("markets: [BTC-USD-PERP]\nchannels:\n  trades.BTC-USD-PERP: &c\n    <<: *c\n",
         "s.yaml:3: channels.trades.BTC-USD-PERP"),
    ],
    ids=["mapping", "list", "merge"],
)  # fmt: skip
def test_an_alias_containing_itself_is_refused(yaml_text: str, line: str) -> None:
    """A recursive alias is a problem at its line, not a RecursionError."""
    assert only_problem(yaml_text) == (
        f"{line}: an alias here refers to a value that contains it, so it would never end"
    )


def test_deep_nesting_is_refused() -> None:
    """Payloads nested deeper than MAX_DEPTH are refused with a message."""
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert only_problem(message(f"{{a: {deep}}}")).endswith(
        f"nested more than {MAX_DEPTH} levels deep"
    )


# Keys and types


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("versoin: 1\n", "s.yaml:1: versoin: unknown key (expected one of: version, name, "
         "description, seed, markets, timeline, behaviour, auth, errors, synthetic, channels, "
         "faults); did you mean 'version'?"),
        ("markets: [BTC-USD-PERP]\nchannels:\n  bbo.BTC-USD-PERP:\n    mesages: []\n",
         "s.yaml:4: channels.bbo.BTC-USD-PERP.mesages: unknown key (expected one of: timeline, "
         "loop, on_subscribe, messages); did you mean 'messages'?"),
        (HEAD + "      - {date: {}}\n",
         "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].date: unknown key (expected one "
         "of: at, every, count, data, account); did you mean 'data'?"),
        ("behaviour: {unknown_market: accept}\n",
         "s.yaml:1: behaviour.unknown_market: unknown key (expected one of: "
         "reply_to_notifications, unknown_markets, on_pong_timeout); did you mean "
         "'unknown_markets'?"),
    ],
    ids=["top", "channel", "message", "behaviour"],
)  # fmt: skip
def test_unknown_key_names_file_line_key_and_suggests(yaml_text: str, expected: str) -> None:
    """An unknown key is reported with its line, its path and the closest known key."""
    found = problems(yaml_text)
    assert found[0] == expected


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("seed: abc\n", "s.yaml:1: seed: expected an integer, got 'abc'"),
        ("name: [a]\n", "s.yaml:1: name: expected a single value, got a list"),
        ("markets: BTC-USD-PERP\n",
         "s.yaml:1: markets: expected a list of symbols or a mapping of them, got 'BTC-USD-PERP'"),
        ("markets: [BTC]\n",
         "s.yaml:1: markets[0]: 'BTC' is not a market symbol like BTC-USD-PERP"),
        ("timeline: shard\n",
         "s.yaml:1: timeline: expected one of shared, per_subscription, got 'shard'; did you "
         "mean 'shared'?"),
        ("behaviour: {reply_to_notifications: 1}\n",
         "s.yaml:1: behaviour.reply_to_notifications: expected true or false, got '1'"),
        ("version: 2\n", "s.yaml:1: version: this paradex-mock reads version 1"),
        ("auth: {accounts: [0x1]}\n",
         "s.yaml:1: auth.accounts[0]: expected a string; YAML reads 0x1 as the integer 1; quote "
         "it ('0x1') for the text"),
        ("auth: {fail_with: invalid_tokens}\n",
         "s.yaml:1: auth.fail_with: expected one of internal_error, parse_error, "
         "invalid_request, method_not_found, invalid_params, invalid_channel, "
         "deltas_take_no_params, already_subscribed, not_subscribed, auth_required, "
         "too_many_subscriptions, malformed_token, invalid_token, geo_blocked, got "
         "'invalid_tokens'; did you mean 'invalid_token'?"),
        ("errors: {parse_error: {code: x}}\n",
         "s.yaml:1: errors.parse_error.code: expected an integer, got 'x'"),
        (message("{a: 1}", count="0", every="1"),
         "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].count: must be at least 1, got 0"),
        (HEAD + "      - data: [1, 2]\n",
         "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data: a payload must be a mapping "
         "(a JSON object), got a list"),
        (HEAD + "      - {at: 1}\n",
         "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0]: a message needs 'data' (the "
         "payload to publish)"),
        ("markets: [BTC-USD-PERP, BTC-USD-PERP]\n", "s.yaml:1: markets[1]: BTC-USD-PERP twice"),
        ("channels: {trades.ALL: {}, trades.ALL: {}}\n",
         "s.yaml:1: channels.trades.ALL: duplicate key"),
        (message("{a: 1, a: 2}"), f"{AT_5}.data.a: duplicate key"),
    ],
    ids=[
        "seed", "name", "markets", "symbol", "timeline", "boolean", "version", "hex-account",
        "error-kind", "error-code", "count", "payload-list", "no-data", "market-twice",
        "duplicate-channel", "duplicate-payload-key",
    ],
)  # fmt: skip
def test_wrong_types_name_file_line_and_key(yaml_text: str, expected: str) -> None:
    """A value of the wrong type is reported with its line, its key and what was expected."""
    assert only_problem(yaml_text) == expected


def test_every_problem_is_reported_in_file_order() -> None:
    """Problems in different sections are all reported, sorted by line."""
    text = (
        "seed: x\n"  # 1
        "markets: [BTC-USD-PERP]\n"
        "channels:\n"
        "  trades.BTC-USD-PERP:\n"
        "    messages:\n"
        "      - {every: 0, data: {}}\n"  # 6
        "      - {count: 2, data: {}}\n"  # 7
        "timeline: sometimes\n"  # 8
        "behaviour: {reply_to_notifications: maybe, unknown_markets: never}\n"  # 9
    )
    found = problems(text)
    assert [line.split(":")[1] for line in found] == ["1", "6", "7", "8", "9", "9"]
    assert found[1].endswith("messages[0].every: must be more than zero")
    assert found[4].startswith("s.yaml:9: behaviour.reply_to_notifications:")
    assert found[5].startswith("s.yaml:9: behaviour.unknown_markets:")


# Channels


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("trade.BTC-USD-PERP",
         "unknown channel; did you mean 'trades'? (`paradex-mock channels` lists them)"),
        ("nonsense", "unknown channel (`paradex-mock channels` lists them)"),
        ("bbo.BTCUSD",
         "not a form of bbo (its forms: bbo.{market}, bbo.ALL, bbo.{market}.interactive)"),
        ("bbo.ETH-USD-PERP",
         "names a market the scenario does not list under 'markets' (listed: BTC-USD-PERP)"),
        ("order_book.BTC-USD-PERP.deltas@15@50ms",
         "not a channel Paradex accepts (no parameters expected for deltas topic.)"),
    ],
    ids=["did-you-mean", "unknown", "bad-form", "market-not-listed", "deltas-suffix"],
)  # fmt: skip
def test_channel_problems_name_the_channel(channel: str, expected: str) -> None:
    """A channel the scenario cannot publish on is reported at its key, with the reason."""
    text = f"markets: [BTC-USD-PERP]\nchannels:\n  {channel}: {{}}\n"
    assert only_problem(text) == f"s.yaml:3: channels.{channel}: {expected}"


def test_unknown_markets_accept_allows_unlisted_markets() -> None:
    """With behaviour.unknown_markets: accept, channels may name markets not listed."""
    scenario = loads("behaviour: {unknown_markets: accept}\nchannels:\n  bbo.DOGE-USD-PERP: {}\n")
    assert [c.channel for c in scenario.channels] == ["bbo.DOGE-USD-PERP"]


def test_channel_settings_and_defaults() -> None:
    """timeline, loop and on_subscribe are read per channel; the file's timeline is the default."""
    scenario = loads(
        "timeline: per_subscription\nmarkets: [BTC-USD-PERP]\nchannels:\n"
        "  trades.BTC-USD-PERP: {loop: 250ms}\n"
        "  bbo.BTC-USD-PERP: {timeline: shared, on_subscribe: last}\n"
        "  trades.ALL: {on_subscribe: [{a: 1}, {b: !seq }]}\n"
    )
    trades, bbo, aggregate = scenario.channels
    assert (trades.timeline, trades.loop_s) == ("per_subscription", 0.25)
    assert not trades.on_subscribe_last
    assert (bbo.timeline, bbo.on_subscribe_last, bbo.line) == ("shared", True, 5)
    assert [t.static for t in aggregate.on_subscribe] == [True, False]
    assert scenario.script("bbo.BTC-USD-PERP") is bbo
    assert scenario.script("x") is None


def test_on_subscribe_last_needs_the_shared_timeline() -> None:
    """on_subscribe: last on a per-subscription channel is refused: it has no past."""
    text = (
        "markets: [BTC-USD-PERP]\nchannels:\n  bbo.BTC-USD-PERP:\n"
        "    timeline: per_subscription\n    on_subscribe: last\n"
    )
    assert only_problem(text) == (
        "s.yaml:5: channels.bbo.BTC-USD-PERP.on_subscribe: 'last' needs the shared timeline: a "
        "per-subscription timeline has published nothing yet when its subscriber arrives"
    )


def test_on_subscribe_takes_last_or_a_list() -> None:
    """on_subscribe: another word is refused with the one it accepts."""
    text = "markets: [BTC-USD-PERP]\nchannels:\n  bbo.BTC-USD-PERP: {on_subscribe: latest}\n"
    assert only_problem(text).endswith(
        "on_subscribe: expected one of last, got 'latest'; did you mean 'last'?"
    )


# Messages and durations


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("250ms", 0.25), ("2s", 2.0), ("1.5m", 90.0), ("1h", 3600.0), ("3", 3.0), ("0.5", 0.5),
     ("'250 ms'", 0.25), (".5s", 0.5), ("0", 0.0)],
)  # fmt: skip
def test_durations(written: str, seconds: float) -> None:
    """Durations are seconds, or a number with ms, s, m or h."""
    scenario = loads(message("{a: 1}", at=written))
    assert scenario.channels[0].messages[0].at_s == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("5 minutes", "expected a duration: seconds, or a number with a unit (ms, s, m, h) such "
         "as '250ms' or '2s'; got '5 minutes'"),
        ("-1", "a duration cannot be negative, got -1"),
        ("true", "expected a duration: seconds, or a number with a unit (ms, s, m, h) such as "
         "'250ms' or '2s'; got True"),
        (".nan", "expected a duration: seconds, or a number with a unit (ms, s, m, h) such as "
         "'250ms' or '2s'; got nan"),
    ],
    ids=["words", "negative", "boolean", "nan"],
)  # fmt: skip
def test_bad_duration_names_its_key(written: str, expected: str) -> None:
    """A value that is no duration is reported at its key with the accepted forms."""
    assert only_problem(message("{a: 1}", at=written)) == (
        f"s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].at: {expected}"
    )


def test_count_needs_every() -> None:
    """count without every is refused: there is nothing to repeat."""
    assert only_problem(message("{a: 1}", count="3")) == (
        "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].count: 'count' goes with 'every' "
        "(how many times to repeat); add 'every'"
    )


def test_message_outside_its_loop_is_refused() -> None:
    """A message at or after the loop's end would never play: refused."""
    text = HEAD.replace("    messages:\n", "    loop: 1s\n    messages:\n") + (
        "      - {at: 1s, data: {a: 1}}\n"
    )
    assert only_problem(text) == (
        "s.yaml:6: channels.trades.BTC-USD-PERP.messages[0].at: at 1s is not inside the loop "
        "(loop: 1s), so it would never play"
    )


def test_message_fields() -> None:
    """at, every, count and the source line are kept on each message."""
    scenario = loads(message("{a: 1}", at="100ms", every="2s", count="3"))
    emission = scenario.channels[0].messages[0]
    assert (emission.at_s, emission.every_s, emission.count, emission.line) == (0.1, 2.0, 3, 5)
    assert emission.account is None


# Private channels and auth


def test_account_on_a_public_channel_is_refused() -> None:
    """account: on a public channel is refused: a public message reaches everyone."""
    assert only_problem(message("{a: 1}", account="'0x1'")) == (
        "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].account: only private channels "
        "have accounts (a public message reaches everyone)"
    )


def test_account_must_be_allowed_to_authenticate() -> None:
    """A message for an account outside auth.accounts could never be received: refused."""
    text = (
        "auth: {accounts: ['0x1']}\nchannels:\n  account:\n    messages:\n"
        "      - {account: '0x2', data: {a: 1}}\n"
    )
    assert only_problem(text) == (
        "s.yaml:5: channels.account.messages[0].account: 0x2 is not in auth.accounts, so it "
        "can never authenticate to receive this"
    )


def test_auth_and_private_targeting() -> None:
    """auth.accounts, auth.fail_with and account: are read as written."""
    scenario = loads(
        "auth: {accounts: ['0x1', '0x2'], fail_with: geo_blocked}\nchannels:\n"
        "  orders.ALL:\n    messages:\n      - {account: '0x2', data: {a: 1}}\n"
    )
    assert scenario.auth.accounts == frozenset({"0x1", "0x2"})
    assert scenario.auth.fail_with == "geo_blocked"
    assert scenario.channels[0].messages[0].account == "0x2"


# errors and behaviour


def test_error_overrides_keep_what_they_leave_out() -> None:
    """An override replaces the fields it names; data: null removes data."""
    scenario = loads(
        "errors:\n  invalid_channel: {message: nope}\n  already_subscribed: {code: 1, data: null}\n"
    )
    assert scenario.errors["invalid_channel"].as_wire() == {
        "code": -32600,
        "message": "nope",
        "data": "invalid channel",
    }
    assert scenario.errors["already_subscribed"].as_wire() == {
        "code": 1,
        "message": "invalid subscribe request",
    }


def test_behaviour_values() -> None:
    """behaviour: every key is read; on_pong_timeout takes drop or a close action."""
    scenario = loads(
        "behaviour:\n  reply_to_notifications: true\n  unknown_markets: accept\n"
        "  on_pong_timeout: {close: 4000, reason: bye}\n"
    )
    behaviour = scenario.behaviour
    assert behaviour.reply_to_notifications is True
    assert behaviour.unknown_markets == "accept"
    assert behaviour.on_pong_timeout == CloseAction(4000, "bye")
    assert loads("behaviour: {on_pong_timeout: drop}\n").behaviour.on_pong_timeout is None


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("{close: 1005}", "behaviour.on_pong_timeout.close: 1005 is reserved: RFC 6455 forbids "
         "sending it in a close frame"),
        ("{close: 5000}", "behaviour.on_pong_timeout.close: close codes end at 4999"),
        ("{reason: x}",
         "behaviour.on_pong_timeout: expected 'drop' or {close: CODE, reason: TEXT}"),
        ("hang", "behaviour.on_pong_timeout: expected one of drop, got 'hang'"),
    ],
    ids=["reserved", "too-big", "no-code", "word"],
)  # fmt: skip
def test_bad_pong_timeout_action(action: str, expected: str) -> None:
    """A close action WebSocket cannot send is refused."""
    assert only_problem(f"behaviour: {{on_pong_timeout: {action}}}\n") == f"s.yaml:1: {expected}"


# Payload tags


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("{x: !fak 1}", "x: unknown tag !fak (expected one of: !fake, !decimal, !choice, !seq, "
         "!now_ms, !now_us); did you mean !fake?"),
        ("{x: !decimal {min: 1, max: 2}}", "x: !decimal needs 'step' (it takes min, max and step)"),
        ("{x: !decimal {min: 2, max: 1, step: 1}}", "x.max: must not be below min"),
        ("{x: !decimal {min: 1, max: 2, step: -1}}", "x.step: must be more than zero"),
        ("{x: !decimal {min: a, max: 2, step: 1}}", "x.min: expected a number, got 'a'"),
        ("{x: !decimal {min: 0, max: 1e30, step: 0.0001}}", "x: its values would have 35 digits; "
         "the most a !decimal prints is 28"),
        ("{x: !seq 5}", "x: !seq takes nothing or {start, step}, got !seq 5"),
        ("{x: !seq {strat: 5}}", "x.strat: unknown key (expected one of: start, step); did you "
         "mean 'start'?"),
        ("{x: !choice []}", "x: !choice needs at least one value"),
        ("{x: !choice {a: 1}}", "x: !choice takes a list of values, got a !choice mapping"),
        ("{x: !now_ms 5}", "x: !now_ms takes no value"),
        ("{x: !!python/object:os.system 1}", "x: the YAML tag !!python/object:os.system is not "
         "supported here"),
        ("{x: !!set {a, b}}", "x: the YAML tag !!set is not supported here"),
        ("{x: 2024-01-01}", "x: YAML reads this as date, which JSON cannot carry; quote it"),
        ("{x: .nan}", "x: JSON has no NaN or infinity"),
        ("{1: a}", "1: keys must be plain strings"),
    ],
    ids=[
        "unknown-tag", "decimal-missing", "decimal-order", "decimal-step", "decimal-number",
        "decimal-digits", "seq-scalar", "seq-key", "choice-empty", "choice-mapping", "now-value",
        "python-tag", "set-tag", "date", "nan", "int-key",
    ],
)  # fmt: skip
def test_tag_problems(data: str, expected: str) -> None:
    """A misused tag or a value JSON cannot carry is reported at its key inside data."""
    assert only_problem(message(data)) == (
        f"s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data.{expected}"
    )


@pytest.mark.parametrize(
    ("written", "reading"),
    [("0x1f", "the integer 31"), ("012", "the integer 10"), ("12:30", "the integer 750"),
     ("yes", "the boolean true"), ("Off", "the boolean false")],
)  # fmt: skip
def test_yaml_1_1_surprises_are_refused_with_a_hint(written: str, reading: str) -> None:
    """Plain scalars that YAML 1.1 silently turns into numbers or booleans must be quoted."""
    assert only_problem(message(f"{{x: {written}}}")) == (
        f"s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data.x: YAML reads {written} as "
        f"{reading}; quote it ('{written}') for the text"
    )


def test_plain_json_values_pass_through() -> None:
    """Quoted strings, JSON numbers, true/false/null and nested values are sent as written."""
    data = "{a: '0x1f', b: 12, c: 1.5, d: true, e: null, f: [1, {g: h}], i: '', j: 1_000}"
    assert first_payload(loads(message(data))) == {
        "a": "0x1f", "b": 12, "c": 1.5, "d": True, "e": None, "f": [1, {"g": "h"}], "i": "",
        "j": 1000,
    }  # fmt: skip


def test_unknown_faker_provider_suggests_one() -> None:
    """!fake with a provider Faker lacks is refused with the closest provider."""
    assert only_problem(message("{x: !fake uuid}")) == (
        "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data.x: Faker has no provider "
        "'uuid'; did you mean 'uuid7'?"
    )


def test_faker_api_that_is_no_provider_is_refused() -> None:
    """Faker's own methods (seed, add_provider) are not payload providers."""
    assert only_problem(message("{x: !fake seed}")).endswith("Faker has no provider 'seed'")


def test_faker_arguments_are_checked_at_load() -> None:
    """A wrong provider argument fails the load at its line, not the playback later."""
    assert only_problem(message("{x: !fake {pyint: {min: 1}}}")) == (
        "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0].data.x: !fake pyint fails with "
        "these arguments: Provider.pyint() got an unexpected keyword argument 'min'"
    )


def test_tags_render_as_documented() -> None:
    """Each tag renders the type and range the docs promise."""
    scenario = loads(
        message(
            "{d: !decimal {min: 0.05, max: 0.95, step: 0.1}, s: !seq {start: 10, step: 5}, "
            "c: !choice [a, !seq ], ms: !now_ms , us: !now_us , f: !fake {pyint: {min_value: 3, "
            "max_value: 3}}, n: !decimal {min: -2, max: -1, step: 0.50}}",
            every="1",
        )
    )
    context = RenderContext(seed=5, now_us=lambda: 1_700_000_000_123_456)
    payloads = [json.loads(p) for _, _, p in render(scenario.channels, context, limit=30)]
    assert [p["s"] for p in payloads[:3]] == [10, 15, 20]
    assert {p["d"] for p in payloads} <= {f"0.{k}5" for k in range(10)}
    assert {p["n"] for p in payloads} <= {"-2.00", "-1.50", "-1.00"}
    assert {type(p["c"]) for p in payloads} == {str, int}
    assert (payloads[0]["ms"], payloads[0]["us"]) == (1_700_000_000_123, 1_700_000_000_123_456)
    assert {p["f"] for p in payloads} == {3}


# Anchors and merge keys


def test_merge_keys_follow_the_yaml_spec() -> None:
    """Own keys beat merged ones, earlier sources beat later ones, merged keys keep their place."""
    text = (
        "x-a: &a {a: 1, shared: from-a}\n"
        "x-b: &b {b: 2, shared: from-b, own: from-b}\n"
        + HEAD
        + "      - data: {first: 0, <<: [*a, *b], own: mine}\n"
    )
    payload = first_payload(loads(text))
    assert payload == {"first": 0, "a": 1, "shared": "from-a", "b": 2, "own": "mine"}
    assert list(payload) == ["first", "a", "shared", "b", "own"]  # type: ignore[arg-type]


def test_merge_keys_work_in_channels_and_messages() -> None:
    """Channel settings and message timing can be merged from anchors too."""
    text = (
        "x-live: &live {on_subscribe: last}\n"
        "markets: [BTC-USD-PERP]\nchannels:\n"
        "  bbo.BTC-USD-PERP:\n    <<: *live\n    messages:\n"
        "      - &m {every: 1s, at: 2s, data: {a: 1}}\n"
        "      - {<<: *m, at: 3s}\n"
    )
    script = loads(text).channels[0]
    assert script.on_subscribe_last
    assert [(m.at_s, m.every_s) for m in script.messages] == [(2.0, 1.0), (3.0, 1.0)]


def test_x_keys_are_ignored() -> None:
    """Top-level x- keys hold anchors and are not part of the scenario."""
    scenario = loads("x-anything: {whatever: [1, 2]}\nx-other: 3\nname: n\n")
    assert scenario.name == "n"
    assert scenario.channels == ()


def test_each_use_of_a_seq_counts_on_its_own() -> None:
    """Two uses of one !seq (through an alias) are two counters; other tags are shared."""
    text = HEAD + "      - {every: 1, data: {a: &s !seq {start: 5}, b: *s}}\n"
    context = RenderContext(seed=0, now_us=lambda: 0)
    payloads = [json.loads(p) for _, _, p in render(loads(text).channels, context, limit=2)]
    assert payloads == [{"a": 5, "b": 5}, {"a": 6, "b": 6}]


# The synthetic market: markets settings and the synthetic section


def test_without_synthetic_there_is_no_synthetic_market() -> None:
    """A file without `synthetic:` has none, and a list of markets sets nothing."""
    scenario = loads("markets: [BTC-USD-PERP]\n")
    assert scenario.synthetic is None
    assert scenario.market_settings == {}


def test_markets_mapping_tunes_each_market() -> None:
    """`markets:` as a mapping: the symbols in order, each one's settings (or none)."""
    scenario = loads(
        "markets:\n"
        "  BTC-USD-PERP: {price: 95000, tick: 0.5, size_increment: 0.001, volatility: 0.0006,\n"
        "                 book_levels: 30, level_size: 0.25, trades_per_s: 5,\n"
        "                 funding_period_hours: 1}\n"
        "  ETH-USD-PERP:\n"
    )
    assert scenario.markets == ("BTC-USD-PERP", "ETH-USD-PERP")
    btc = scenario.market_settings["BTC-USD-PERP"]
    assert (btc.price, btc.tick, btc.level_size) == (
        Decimal(95000),
        Decimal("0.5"),
        Decimal("0.25"),
    )
    assert (btc.volatility, btc.book_levels, btc.trades_per_s) == (0.0006, 30, 5.0)
    spec = market_spec("BTC-USD-PERP", btc)
    assert (spec.initial_price, spec.price_tick, spec.level_units) == (95000, Decimal("0.5"), 250)
    assert (spec.funding_period_hours, spec.book_levels) == (1, 30)
    assert market_spec("ETH-USD-PERP", scenario.market_settings["ETH-USD-PERP"]) == market_spec(
        "ETH-USD-PERP"
    )


def test_synthetic_defaults() -> None:
    """`synthetic:` alone: every family, the wall clock, 100000 USDC, generated books."""
    synthetic = loads("markets: [BTC-USD-PERP]\nsynthetic:\n").synthetic
    assert synthetic is not None
    assert synthetic.families == frozenset(SYNTHETIC_FAMILIES)
    assert (synthetic.clock, synthetic.collateral, synthetic.books) == ("wall", 100000, {})
    assert synthetic.feeds("orders")
    assert synthetic.feeds("bbo")
    assert not synthetic.feeds("rfq")


def test_synthetic_settings() -> None:
    """channels, clock, epoch, collateral and book are read as written."""
    synthetic = loads(
        "markets: [ETH-USD-PERP]\n"
        "synthetic:\n"
        "  channels: [bbo, order_book]\n"
        "  clock: scenario\n"
        "  epoch: 2026-06-01T12:00:00+02:00\n"
        "  collateral: 2500.5\n"
        "  book:\n"
        "    ETH-USD-PERP: {bids: [[3499.4, 2], [3499.5, 1]], asks: [[3499.7, 0.5]]}\n"
    ).synthetic
    assert synthetic is not None
    assert synthetic.families == {"bbo", "order_book"}
    assert not synthetic.feeds("trades")
    assert not synthetic.feeds("account")
    assert synthetic.clock == "scenario"
    assert synthetic.epoch_ms == 1_780_308_000_000  # 10:00 UTC
    assert synthetic.collateral == Decimal("2500.5")
    book = synthetic.books["ETH-USD-PERP"]
    assert book.bids == ((Decimal("3499.5"), 1), (Decimal("3499.4"), 2))  # best first
    assert book.asks == ((Decimal("3499.7"), Decimal("0.5")),)


@pytest.mark.parametrize(
    ("epoch", "ms"),
    [('"2026-01-01T00:00:00Z"', 1_767_225_600_000), ("2026-01-01", 1_767_225_600_000),
     ("2026-01-01T00:00:01.5", 1_767_225_601_500)],
    ids=["z", "date", "naive-is-utc"],
)  # fmt: skip
def test_epoch_forms(epoch: str, ms: int) -> None:
    """An epoch is ISO 8601, quoted or not; without a zone it is UTC."""
    text = f"markets: [BTC-USD-PERP]\nsynthetic: {{clock: scenario, epoch: {epoch}}}\n"
    synthetic = loads(text).synthetic
    assert synthetic is not None
    assert synthetic.epoch_ms == ms


SYN = "markets: [BTC-USD-PERP, ETH-USD-PERP]\nsynthetic:\n"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (SYN + "  channels: [bbo, trade]\n",
         "s.yaml:3: synthetic.channels[1]: expected one of bbo, trades, order_book, "
         "markets_summary, funding_data, private, got 'trade'; did you mean 'trades'?"),
        (SYN + "  channels: some\n",
         "s.yaml:3: synthetic.channels: expected one of all, got 'some'"),
        (SYN + "  channels: []\n",
         "s.yaml:3: synthetic.channels: name at least one of bbo, trades, order_book, "
         "markets_summary, funding_data, private, or all"),
        (SYN + "  channels: [bbo, bbo]\n", "s.yaml:3: synthetic.channels[1]: bbo twice"),
        (SYN + "  clock: scenario\n  epoch: yesterday\n",
         "s.yaml:4: synthetic.epoch: expected an ISO 8601 time such as '2026-01-01T00:00:00Z', "
         "got 'yesterday'"),
        (SYN + "  epoch: 2026-01-01\n",
         "s.yaml:3: synthetic.epoch: 'epoch' goes with 'clock: scenario' (the wall clock has its "
         "own); add 'clock: scenario'"),
        (SYN + "  clock: sim\n",
         "s.yaml:3: synthetic.clock: expected one of wall, scenario, got 'sim'"),
        (SYN + "  collateral: 0\n",
         "s.yaml:3: synthetic.collateral: must be more than zero, got 0"),
        (SYN + "  cloc: wall\n",
         "s.yaml:3: synthetic.cloc: unknown key (expected one of: channels, clock, epoch, "
         "collateral, book); did you mean 'clock'?"),
        ("synthetic: {}\n",
         "s.yaml:1: synthetic: the synthetic market needs markets: list them under 'markets'"),
        (SYN + "  book:\n    SOL-USD-PERP: {bids: [[1, 1]], asks: [[2, 1]]}\n",
         "s.yaml:4: synthetic.book.SOL-USD-PERP: not a market the scenario lists under "
         "'markets' (listed: BTC-USD-PERP, ETH-USD-PERP)"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000.1, 1]], asks: [[67000.1, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP: the book is crossed: best bid 67000.1 is not "
         "below best ask 67000.1"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000.05, 1]], asks: [[67001, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP.bids[0][0]: 67000.05 is not on the market's "
         "tick (0.1)"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000, 0.0001]], asks: [[67001, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP.bids[0][1]: 0.0001 is not a multiple of the "
         "market's size increment (0.001)"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000, 1], [67000, 2]], asks: [[67001, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP.bids[1]: the price 67000 twice"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP: a book needs 'asks' (it takes bids and asks)"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [], asks: [[67001, 1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP.bids: needs at least one [price, size] level"),
        (SYN + "  book:\n    BTC-USD-PERP: {bids: [[67000]], asks: [[67001, -1]]}\n",
         "s.yaml:4: synthetic.book.BTC-USD-PERP.bids[0]: a level is [price, size], got 1 values"),
        ("markets: {BTC-USD-PERP: {price: -1}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.price: must be more than zero, got -1"),
        ("markets: {BTC-USD-PERP: {book_levels: 0}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.book_levels: must be at least 1, got 0"),
        ("markets: {BTC-USD-PERP: {book_levels: 5000}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.book_levels: at most 1000 levels a side"),
        ("markets: {BTC-USD-PERP: {price: 0.1}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.price: the price (0.1) must be at least two ticks (0.1)"),
        ("markets: {BTC-USD-PERP: {volatility: 0.5}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.volatility: at most 0.05 (per sqrt(second))"),
        ("markets: {BTC-USD-PERP: {level_size: 0.0015}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.level_size: not a multiple of the market's size "
         "increment (0.001)"),
        ("markets: {BTC-USD-PERP: {trades_per_s: fast}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.trades_per_s: expected a number, got 'fast'"),
        ("markets: {BTC-USD-PERP: {prize: 1}}\n",
         "s.yaml:1: markets.BTC-USD-PERP.prize: unknown key (expected one of: price, tick, "
         "size_increment, volatility, book_levels, level_size, trades_per_s, "
         "requotes_per_s, funding_period_hours); did you mean 'price'?"),
        ("markets: {BTC: {}}\n",
         "s.yaml:1: markets.BTC: 'BTC' is not a market symbol like BTC-USD-PERP"),
        ("markets: {BTC-USD-PERP: 5}\n",
         "s.yaml:1: markets.BTC-USD-PERP: expected a mapping, got '5'"),
    ],
    ids=[
        "unknown-family", "channels-word", "no-family", "family-twice", "bad-epoch",
        "epoch-without-scenario-clock", "bad-clock", "collateral", "unknown-key", "no-markets",
        "book-of-unlisted-market", "crossed", "off-tick", "off-size", "price-twice", "no-asks",
        "empty-side", "level-shape", "negative-price", "no-levels", "too-many-levels",
        "under-two-ticks", "too-volatile",
        "level-size", "not-a-number", "unknown-setting", "bad-symbol", "settings-not-mapping",
    ],
)  # fmt: skip
def test_synthetic_problems(yaml_text: str, expected: str) -> None:
    """Each problem in markets settings or synthetic: is reported with file:line and key."""
    assert only_problem(yaml_text) == expected


def test_a_market_with_a_bad_setting_still_exists() -> None:
    """A market whose settings are wrong is still listed, so its channels raise no more errors."""
    found = problems("markets: {BTC-USD-PERP: {tick: zero}}\nchannels:\n  bbo.BTC-USD-PERP: {}\n")
    assert found == ["s.yaml:1: markets.BTC-USD-PERP.tick: expected a number, got 'zero'"]


# Files, names, caching


@pytest.mark.parametrize("name", loader.bundled_names())
def test_bundled_scenario_loads(name: str) -> None:
    """Every bundled scenario loads by name, and its name: is its file name."""
    scenario = loader.load(name)
    assert scenario.name == name
    assert scenario.description
    assert Path(scenario.source).name == f"{name}.yaml"


def test_the_expected_scenarios_are_bundled() -> None:
    """default, empty and one example per feature ship with the package."""
    assert set(loader.bundled_names()) >= {
        "default", "empty", "recorded-replay", "per-subscription", "private-account",
        "auth-rejected", "error-overrides", "faker-fields",
    }  # fmt: skip


def test_file_problems_name_the_path(tmp_path: Path) -> None:
    """load_file names the file in every problem, with the line."""
    path = tmp_path / "broken.yaml"
    path.write_text("seed: x\n", encoding="utf-8")
    with pytest.raises(ScenarioErrors) as caught:
        loader.load_file(path)
    assert str(caught.value) == f"{path}:1: seed: expected an integer, got 'x'"
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(path), 1, "seed")


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, ": cannot read: No such file or directory"),
     (b"\xff\xfe", ":1: not UTF-8 text (invalid start byte at byte 0)")],
    ids=["missing", "binary"],
)  # fmt: skip
def test_unreadable_files(tmp_path: Path, content: bytes | None, problem: str) -> None:
    """A missing or non-UTF-8 file is one problem naming the path."""
    path = tmp_path / "x.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScenarioError, match=re.escape(f"{path}{problem}")):
        loader.load_file(path)


def test_loaded_files_are_cached_until_they_change(tmp_path: Path) -> None:
    """The same unchanged file loads once; an edit is picked up."""
    path = tmp_path / "s.yaml"
    path.write_text("seed: 1\n", encoding="utf-8")
    first = loader.load_file(path)
    assert loader.load_file(path) is first
    path.write_text("seed: 22\n", encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert loader.load_file(path).seed == 22


def test_unknown_name_suggests_a_bundled_one() -> None:
    """An unknown scenario name lists the bundled ones, with a did-you-mean."""
    with pytest.raises(ScenarioError, match="no scenario named 'defualt'; did you mean 'default'"):
        loader.load("defualt")


def test_names_are_searched_in_scenario_dirs_first(tmp_path: Path) -> None:
    """A name is looked up in the given directories before the bundled scenarios."""
    (tmp_path / "default.yaml").write_text("name: mine\n", encoding="utf-8")
    assert loader.load("default", search=(tmp_path,)).name == "mine"
    assert loader.load("default").name == "default"


# Determinism


def test_same_seed_same_payloads_different_seed_different() -> None:
    """A bundled scenario renders identically twice with one seed, differently with another."""
    scenario = loader.load("private-account")

    def stream(seed: int) -> list[tuple[float, str, str]]:
        context = RenderContext(seed=timeline_seed(seed, "shared"), now_us=lambda: 0)
        return render(scenario.channels, context, limit=300)

    assert stream(scenario.seed) == stream(scenario.seed)
    different = stream(scenario.seed + 1)
    assert [e[:2] for e in different] == [e[:2] for e in stream(scenario.seed)]
    assert different != stream(scenario.seed)


def test_faker_values_follow_the_seed() -> None:
    """!fake values are drawn from the timeline's seeded generator too."""
    scenario = loads(message("{id: !fake uuid4, name: !fake name}", every="1"))

    def stream(seed: int) -> list[tuple[float, str, str]]:
        return render(scenario.channels, RenderContext(seed=seed, now_us=lambda: 0), limit=5)

    assert stream(3) == stream(3)
    assert stream(3) != stream(4)
