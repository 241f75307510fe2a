"""The one fault decoder (``decode_fault``) and the scenario loader's ``faults:`` section.

The control API and scenario files both go through ``decode_fault``: the
envelope's keys, each kind's defaults, every trigger and target form, problems
with their ``path`` and a did-you-mean, parameters checked against their
annotations and by each kind, and ``Fault.to_json`` reading back to the same fault.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.errors import FaultSpecError, ScenarioErrors
from mockserver.faults import KINDS, Fault, Target, Trigger, decode_fault
from mockserver.faults.kinds.connection import CloseParams
from mockserver.faults.kinds.messages import LatencyParams
from mockserver.scenario.loader import loads

# The smallest params each kind accepts (stale_channel alone requires one).
REQUIRED: dict[str, dict[str, Any]] = {"stale_channel": {"channel": "bbo.*"}}


def decode(spec: Any) -> Fault:
    return decode_fault(spec, name="given")


def problem(spec: Any) -> FaultSpecError:
    """The error ``spec`` is refused with."""
    with pytest.raises(FaultSpecError) as caught:
        decode(spec)
    return caught.value


# The envelope


def test_every_envelope_key_is_read() -> None:
    """name, kind, target, probability, count, for, params and a trigger all reach the Fault."""
    fault = decode_fault(
        {
            "name": "late-close",
            "kind": "close",
            "target": {"channel": "bbo.*"},
            "probability": 0.5,
            "count": 3,
            "for": "2s",
            "params": {"code": 4000, "reason": "bye"},
            "at": "250ms",
        },
        name="unused",
        line=7,
    )
    assert fault == Fault(
        name="late-close",
        kind="close",
        params=CloseParams(code=4000, reason="bye"),
        target=Target("channel", "bbo.*"),
        trigger=Trigger("at", at_s=0.25),
        probability=0.5,
        count=3,
        duration_s=2.0,
        line=7,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_bare_kind_takes_the_kind_s_defaults(kind: str) -> None:
    """A fault giving only its kind: the given name, every session, now, certain, the
    kind's default count (1 for "the next ..." kinds), no duration, default params."""
    params = REQUIRED.get(kind, {})
    fault = decode({"kind": kind, "params": params} if params else {"kind": kind})
    cls = KINDS[kind]
    assert (fault.name, fault.target, fault.trigger) == ("given", Target.all(), Trigger.now())
    assert (fault.probability, fault.count, fault.duration_s) == (1.0, cls.default_count, None)
    assert fault.params == cls.Params(**params)


@pytest.mark.parametrize(
    ("kind", "count"),
    [("close", 1), ("error_reply", 1), ("seq_gap", 1), ("latency", None), ("stop_pings", None)],
)
def test_default_counts(kind: str, count: int | None) -> None:
    """Actions and "the next ..." kinds default to count 1; conditions to no limit."""
    assert decode({"kind": kind}).count == count


@pytest.mark.parametrize(("given", "count"), [(None, None), (1, 1), (5, 5)])
def test_count_null_means_unlimited(given: int | None, count: int | None) -> None:
    """count: null lifts even an action's default of 1; an integer sets it."""
    assert decode({"kind": "close", "count": given}).count == count


@pytest.mark.parametrize(("given", "seconds"), [("250ms", 0.25), ("2s", 2.0), (1.5, 1.5)])
def test_for_is_a_duration(given: Any, seconds: float) -> None:
    """for: a duration in seconds or with a unit; null is no duration."""
    assert decode({"kind": "latency", "for": given}).duration_s == seconds
    assert decode({"kind": "latency", "for": None}).duration_s is None


# Triggers and targets


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({"at": "250ms"}, Trigger("at", at_s=0.25)),
        ({"at": 2}, Trigger("at", at_s=2.0)),
        ({"at": 0}, Trigger("at", at_s=0.0)),
        (
            {"after": {"channel": "trades.*", "messages": 3}},
            Trigger("after", channel="trades.*", messages=3),
        ),
        ({"on_subscribe": "bbo.*"}, Trigger("on_subscribe", channel="bbo.*")),
        ({"on_auth": True}, Trigger("on_auth")),
        ({"on_auth": "0x1"}, Trigger("on_auth", account="0x1")),
        ({"on_connection": 3}, Trigger("on_connection", connection=3)),
        ({}, Trigger.now()),
    ],
)
def test_every_trigger_form(trigger: dict[str, Any], expected: Trigger) -> None:
    """Each trigger key decodes to its Trigger; none means now."""
    fault = decode({"kind": "close", **trigger})
    assert fault.trigger == expected
    assert fault.trigger.per_session == (
        expected.kind in ("on_subscribe", "on_auth", "on_connection")
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("all", Target.all()),
        ({"session": "s3"}, Target("session", "s3")),
        ({"connection": 3}, Target("connection", 3)),
        ({"channel": "bbo.*"}, Target("channel", "bbo.*")),
        ({"account": "0x1"}, Target("account", "0x1")),
    ],
)
def test_every_target_form(target: Any, expected: Target) -> None:
    """Each target form decodes to its Target."""
    assert decode({"kind": "drop", "target": target}).target == expected


# Problems: the path, and a did-you-mean where a name is misspelt

ENVELOPE_PROBLEMS = [
    ("close", "", "expected a fault: a mapping with at least 'kind', got a string ('close')"),
    ({}, "kind", "required (one of: "),
    ({"kind": "clsoe"}, "kind", "did you mean 'close'?"),
    ({"kind": 3}, "kind", "unknown fault kind 3"),
    ({"kind": ["close"]}, "kind", "unknown fault kind ['close']"),
    ({"kind": "close", "cuont": 2}, "cuont", "unknown key (expected one of: name, kind, target"),
    ({"kind": "close", "cuont": 2}, "cuont", "did you mean 'count'?"),
    ({"kind": "close", "name": "bad name"}, "name", "letters, digits and _ . : - only"),
    ({"kind": "close", "name": ""}, "name", "expected a non-empty string"),
    ({"kind": "close", "probability": 0}, "probability", "must be more than 0 and at most 1"),
    ({"kind": "close", "probability": 1.5}, "probability", "got 1.5"),
    ({"kind": "close", "probability": "half"}, "probability", "expected a number"),
    ({"kind": "close", "count": 0}, "count", "must be at least 1, got 0"),
    ({"kind": "close", "count": "2"}, "count", "expected an integer, got a string ('2')"),
    ({"kind": "close", "count": True}, "count", "got a boolean (true)"),
    ({"kind": "close", "count": 1.5}, "count", "expected an integer, got a number (1.5)"),
    ({"kind": "latency", "for": "soon"}, "for", "expected a duration"),
    ({"kind": "latency", "for": -1}, "for", "a duration cannot be negative"),
    ({"kind": "latency", "for": 0}, "for", "must be more than zero"),
    ({"kind": "close", "at": "-1s"}, "at", "expected a duration"),
    ({"kind": "close", "at": -2}, "at", "cannot be negative"),
    ({"kind": "close", "at": 1, "on_auth": True}, "on_auth", "one trigger; it also has 'at'"),
    ({"kind": "close", "after": 3}, "after", "expected {channel: NAME, messages: N}"),
    ({"kind": "close", "after": {"channel": "bbo.*"}}, "after", "expected {channel"),
    (
        {"kind": "close", "after": {"channel": "x", "mesages": 2}},
        "after.mesages",
        "did you mean 'messages'?",
    ),
    ({"kind": "close", "after": {"channel": "x", "messages": 0}}, "after.messages", "at least 1"),
    ({"kind": "close", "after": {"channel": "", "messages": 1}}, "after.channel", "non-empty"),
    ({"kind": "close", "on_subscribe": 5}, "on_subscribe", "expected a non-empty string"),
    ({"kind": "close", "on_auth": False}, "on_auth", "got a boolean (false)"),
    ({"kind": "close", "on_connection": 0}, "on_connection", "must be at least 1"),
    ({"kind": "close", "target": "everyone"}, "target", "expected 'all' or one of {session"),
    (
        {"kind": "close", "target": {"session": "s1", "account": "0x1"}},
        "target",
        "got a mapping",
    ),
    ({"kind": "close", "target": {"sesion": "s1"}}, "target.sesion", "did you mean 'session'?"),
    ({"kind": "close", "target": {"all": True}}, "target.all", "unknown key"),
    ({"kind": "close", "target": {"connection": 0}}, "target.connection", "at least 1"),
    ({"kind": "close", "target": {"connection": "3"}}, "target.connection", "an integer"),
    ({"kind": "close", "target": {"session": 3}}, "target.session", "non-empty string"),
    (
        {"kind": "refuse_connections", "target": {"session": "s1"}},
        "target",
        "refuse_connections acts on new connections: it takes no target",
    ),
    ({"kind": "close", "params": [4000]}, "params", "expected a mapping of parameters"),
    ({"kind": "close", "params": {"cod": 4000}}, "params.cod", "did you mean 'code'?"),
    ({"kind": "drop", "params": {"code": 1}}, "params.code", "this kind takes no parameters"),
    ({"kind": "stale_channel"}, "params.channel", "required"),
]


@pytest.mark.parametrize(("spec", "path", "message"), ENVELOPE_PROBLEMS)
def test_envelope_problems_name_their_path(spec: Any, path: str, message: str) -> None:
    """A bad envelope is refused with the path of the bad value and what is wrong."""
    error = problem(spec)
    assert error.path == path
    assert message in error.problem
    assert str(error) == (f"{path}: {error.problem}" if path else error.problem)


# Params: types from the Params annotations, then each kind's own checks

# The wrong JSON type for the field's annotation.
TYPE_PROBLEMS = [
    ("close", {"code": "4000"}, "code", "expected an integer, got a string ('4000')"),
    ("close", {"code": True}, "code", "expected an integer, got a boolean (true)"),
    ("close", {"reason": 5}, "reason", "expected a string, got a number (5)"),
    ("latency", {"delay_ms": "100"}, "delay_ms", "expected a number, got a string ('100')"),
    ("latency", {"delay_ms": float("inf")}, "delay_ms", "expected a number"),
    ("latency", {"channel": 3}, "channel", "expected a string, got a number (3)"),
    ("malformed", {"mode": "shred"}, "mode", "expected one of truncate, garbage, got a string"),
    ("refuse_connections", {"mode": "tcp"}, "mode", "expected one of http, close"),
    ("error_reply", {"method": "trade"}, "method", "expected one of auth, subscribe, unsubscribe"),
    ("bandwidth", {"bytes_per_s": 1.5}, "bytes_per_s", "expected an integer"),
    ("seq_gap", {"skip": None}, "skip", "expected an integer, got null"),
]


def test_params_convert_what_their_annotations_allow() -> None:
    """An integer is a number; null is allowed where the annotation is optional."""
    fault = decode({"kind": "latency", "params": {"delay_ms": 100, "channel": None}})
    assert fault.params == LatencyParams(delay_ms=100.0, channel=None)
    assert isinstance(fault.params.delay_ms, float)


# The right type, but a value the kind refuses (its Params.__post_init__).
KIND_PROBLEMS = [
    ("close", {"code": 999}, "code", "close codes run from 1000 to 4999, not 999"),
    ("close", {"code": 5000}, "code", "close codes run from 1000 to 4999"),
    ("close", {"code": 1005}, "code", "1005 is reserved"),
    ("close", {"reason": "x" * 124}, "reason", "at most 123 bytes"),
    ("refuse_connections", {"status": 200}, "status", "an HTTP error status (400-599)"),
    ("refuse_connections", {"mode": "close", "code": 1006}, "code", "1006 is reserved"),
    ("pong_timeout", {"timeout_s": 0}, "timeout_s", "must be more than zero"),
    ("latency", {"delay_ms": -1}, "delay_ms", "cannot be negative"),
    ("latency", {"jitter_ms": -1}, "jitter_ms", "cannot be negative"),
    ("latency", {"channel": ""}, "channel", "must not be empty"),
    ("bandwidth", {"bytes_per_s": 0}, "bytes_per_s", "must be at least 1"),
    ("drop_messages", {"channel": "  "}, "channel", "must not be empty"),
    ("duplicate_messages", {"channel": ""}, "channel", "must not be empty"),
    ("reorder_messages", {"max_hold_ms": -5}, "max_hold_ms", "cannot be negative"),
    ("delay_messages", {"delay_ms": -1}, "delay_ms", "cannot be negative"),
    ("malformed", {"channel": ""}, "channel", "must not be empty"),
    ("stale_channel", {"channel": ""}, "channel", "must not be empty"),
    ("seq_gap", {"skip": 0}, "skip", "must be at least 1"),
    ("seq_backwards", {"by": 0}, "by", "must be at least 1"),
    ("seq_repeat", {"channel": ""}, "channel", "must not be empty"),
    ("crossed_book", {"channel": ""}, "channel", "must not be empty"),
    ("error_reply", {"error": "nope"}, "error", "unknown error kind 'nope'"),
    ("error_reply", {"message": "no"}, "code", "message and data need a code"),
    ("error_reply", {"code": 40000}, "message", "an error with a code needs a message"),
    ("error_reply", {"channel": ""}, "channel", "must not be empty"),
    ("auth_failure", {"code": 40000}, "code", "expected 40110, 40111 or 40112"),
]


@pytest.mark.parametrize(("kind", "params", "field", "message"), TYPE_PROBLEMS + KIND_PROBLEMS)
def test_a_bad_parameter_is_refused_at_its_path(
    kind: str, params: dict[str, Any], field: str, message: str
) -> None:
    """A parameter of the wrong JSON type for its annotation (TYPE_PROBLEMS), or of the
    right type but a value the kind cannot use (KIND_PROBLEMS), is refused at params.<field>."""
    error = problem({"kind": kind, "params": params})
    assert error.path == f"params.{field}"
    assert message in error.problem


def test_every_kind_has_a_validation_case() -> None:
    """Each kind with parameters appears in the validation table above."""
    with_params = {name for name, cls in KINDS.items() if cls.param_docs()}
    assert with_params == {kind for kind, *_ in KIND_PROBLEMS}


# to_json reads back


ROUND_TRIPS = [
    {"kind": "close", "params": {"code": 4000, "reason": "bye"}, "target": {"session": "s2"}},
    {"kind": "drop", "count": None, "on_connection": 3},
    {"kind": "slow_consumer", "target": {"account": "0x1"}, "on_auth": "0x1"},
    {"kind": "refuse_connections", "params": {"mode": "close"}, "for": "1s", "at": 2},
    {"kind": "latency", "params": {"delay_ms": 20, "jitter_ms": 5}, "probability": 0.25},
    {"kind": "bandwidth", "target": {"connection": 2}},
    {"kind": "stale_channel", "params": {"channel": "bbo.*"}, "on_subscribe": "bbo.*"},
    {"kind": "seq_gap", "after": {"channel": "order_book.*", "messages": 10}},
    {"kind": "error_reply", "params": {"code": 40000, "message": "no", "data": "why"}},
    {"kind": "auth_failure", "params": {"code": 40112}, "on_auth": True, "count": 2},
    {"kind": "pong_timeout", "params": {"timeout_s": 0.05}, "target": {"channel": "trades.*"}},
]


@pytest.mark.parametrize("spec", [*ROUND_TRIPS, *({"kind": kind} for kind in KINDS)])
def test_to_json_decodes_back_to_an_equal_fault(spec: dict[str, Any]) -> None:
    """Fault.to_json(), through JSON text, decodes to the same Fault."""
    if spec.get("kind") in REQUIRED and "params" not in spec:
        spec = {**spec, "params": REQUIRED[spec["kind"]]}
    fault = decode(spec)
    assert decode_fault(json.loads(json.dumps(fault.to_json())), name="other") == fault


# The scenario loader's faults: section

HEADER = "name: with-faults\nmarkets: [BTC-USD-PERP]\n"


def test_scenario_faults_are_decoded_with_their_line() -> None:
    """faults: each item is decoded as the control API would, named scenario.N unless named."""
    scenario = loads(
        HEADER
        + "faults:\n"
        + "  - {kind: drop, at: 2s}\n"
        + "  - name: refuse\n"
        + "    kind: refuse_connections\n"
        + "    at: 2s\n"
        + "    for: 1s\n",
        file="s.yaml",
    )
    drop, refuse = scenario.faults
    assert (drop.name, drop.kind, drop.trigger, drop.line) == (
        "scenario.1",
        "drop",
        Trigger("at", at_s=2.0),
        4,
    )
    assert (refuse.name, refuse.duration_s, refuse.line) == ("refuse", 1.0, 5)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "  - kind: close\n    params:\n      code: 999\n",
            "s.yaml:6: faults[0].params.code: close codes run from 1000 to 4999, not 999",
        ),
        (
            "  - kind: close\n    params: {reason: 5}\n",
            "s.yaml:5: faults[0].params.reason: expected a string, got a number (5)",
        ),
        (
            "  - kind: close\n    target:\n      sesion: s1\n",
            "s.yaml:6: faults[0].target.sesion: unknown key (expected one of: session,"
            " connection, channel, account); did you mean 'session'?",
        ),
        (
            "  - kind: stale_channel\n    params: {}\n",
            "s.yaml:5: faults[0].params.channel: required",
        ),
        ("  - at: 2s\n", "s.yaml:4: faults[0].kind: required (one of: auth_failure, bandwidth,"),
        (
            "  - drop\n",
            "s.yaml:4: faults[0]: expected a fault: a mapping with at least 'kind', got a string",
        ),
        (
            "  - kind: close\n    after: {channel: bbo.*, messages: 0}\n",
            "s.yaml:5: faults[0].after.messages: must be at least 1, got 0",
        ),
        (
            "  - kind: close\n    cuont: 2\n",
            "s.yaml:5: faults[0].cuont: unknown key (expected one of: name, kind, target,"
            " probability, count, for, params, at, after, on_subscribe, on_auth,"
            " on_connection); did you mean 'count'?",
        ),
    ],
)
def test_a_scenario_fault_problem_names_file_line_and_path(item: str, message: str) -> None:
    """A problem in faults: reads file:line: faults[i].<path>: problem, at the bad value's line."""
    with pytest.raises(ScenarioErrors) as caught:
        loads(HEADER + "faults:\n" + item, file="s.yaml")
    assert str(caught.value).startswith(message)
    assert len(caught.value.errors) == 1


def test_duplicate_fault_names_in_a_scenario_are_refused() -> None:
    """Two faults with one name: the second is refused, at its line."""
    with pytest.raises(ScenarioErrors) as caught:
        loads(
            HEADER + "faults:\n  - {name: x, kind: drop}\n  - {name: x, kind: close}\n",
            file="s.yaml",
        )
    assert str(caught.value) == "s.yaml:5: faults[1].name: another fault is named 'x'"


def test_every_scenario_fault_problem_is_reported_at_once() -> None:
    """Several bad faults (and a bad key elsewhere): every problem is listed, in file order."""
    with pytest.raises(ScenarioErrors) as caught:
        loads(
            HEADER
            + "faults:\n"
            + "  - {kind: clsoe}\n"
            + "  - {kind: drop}\n"
            + "  - {kind: latency, params: {delay_ms: -1}}\n"
            + "  - {kind: drop, probability: 2}\n"
            + "seeed: 3\n",
            file="s.yaml",
        )
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["s.yaml:4", "faults[0].kind"],
        ["s.yaml:6", "faults[2].params.delay_ms"],
        ["s.yaml:7", "faults[3].probability"],
        ["s.yaml:8", "seeed"],
    ]
    assert "did you mean 'close'?" in lines[0]
    assert len(caught.value.errors) == 4
