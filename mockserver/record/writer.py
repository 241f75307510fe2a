"""Recorded notifications into scenario YAML that replays them (docs/recording.md).

``Recording`` takes ``(channel, arrival time, payload)`` one at a time, redacts
the payload, and keeps it under the concrete channel the scenario publishes on;
``Recording.to_yaml`` writes the file ``scenario.loader`` reads back: each
message's ``at`` is its arrival counted from the first message of the recording
(microseconds, written in ms), strictly increasing so that the replay keeps the
order across channels too (the player breaks ties by file order, not arrival).

A recording stops taking messages (``full``) before the file would pass the
loader's limits (``MAX_NODES`` values, ``MAX_FILE_BYTES``), so what it writes
always loads. No I/O here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from mockserver.channels import ALL, delivery_names, is_private, parse_channel
from mockserver.encoding import dumps
from mockserver.errors import RpcError
from mockserver.record import RecordError
from mockserver.record.redact import Redactor
from mockserver.scenario.loader import FORMAT_VERSION, MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

# Room left under the loader's limits for the file's own keys (channels, markets).
VALUES_BUDGET = MAX_NODES - 10_000
BYTES_BUDGET = MAX_FILE_BYTES - 1024 * 1024
# data sits five collections deep (channels > channel > messages > message > data).
MAX_DATA_DEPTH = MAX_DEPTH - 6
_MESSAGE_VALUES = 6  # a message's own mapping, at, account and data keys
_CHANNEL_VALUES = 8  # a channel's key, mapping, messages (and loop) keys
_MESSAGE_BYTES = 64  # "- at: 12345.678ms", account and indentation, roughly


def subscription_notification(frame: Any) -> tuple[str, Any] | None:
    """``(params.channel, params.data)`` of a ``subscription`` notification; None for
    any other frame (replies, errors, requests). A notification without a channel
    name or data raises ``RecordError``."""
    if not isinstance(frame, dict) or frame.get("method") != "subscription":
        return None
    params = frame.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
        raise RecordError("a subscription notification without params.channel")
    if "data" not in params:
        raise RecordError("a subscription notification without params.data")
    return params["channel"], params["data"]


def concrete_channel(name: str, data: Any) -> str:
    """The per-market channel a notification received on an aggregate came from.

    ``trades.ALL`` with ``market: BTC-USD-PERP`` was published on
    ``trades.BTC-USD-PERP``: the scenario keys it there, and a replayed client
    subscribed to ``trades.ALL`` (or the market itself) receives it again. An
    aggregate without a usable ``market`` in its payload keeps its own name.
    """
    try:
        channel = parse_channel(name)
    except RpcError:
        return name
    market = data.get("market") if isinstance(data, dict) else None
    if not channel.is_aggregate or not isinstance(market, str) or not market:
        return name
    if f".{ALL}" in name:
        candidate = name.replace(f".{ALL}", f".{market}", 1)
    else:  # a bare aggregate: markets_summary, funding_data, markets
        candidate = f"{name}.{market}"
    try:
        concrete = parse_channel(candidate)
    except RpcError:
        return name
    if concrete.is_aggregate or name not in delivery_names(candidate):
        return name
    return candidate


@dataclass(frozen=True)
class Message:
    """One recorded notification, redacted, at its offset from the first."""

    channel: str  # the concrete channel the scenario publishes it on
    at_us: int
    data: dict[str, Any]
    account: str | None = None  # private channels: the placeholder it is bound to


@dataclass(frozen=True, kw_only=True)
class Header:
    """What the file says about where the recording came from."""

    name: str
    source: str  # a URL, or the capture file imported
    recorded_at: str = ""  # ISO 8601, UTC
    # The recording's length, first message to the end (None: up to the last message).
    length_s: float | None = None
    loop: bool = False  # replay forever, with the recording's length as the period
    timeline: str = "shared"
    notes: tuple[str, ...] = ()
    imported: bool = False  # from a capture file, not a live endpoint

    @property
    def origin(self) -> str:
        return f"{'Imported' if self.imported else 'Recorded'} from {self.source}"


@dataclass
class Recording:
    """Notifications collected for one scenario file."""

    redactor: Redactor = field(default_factory=Redactor)
    subscribed: tuple[str, ...] = ()  # the names subscribed to (their markets are listed)
    messages: list[Message] = field(default_factory=list)
    full: bool = False  # at the file format's limits: takes nothing more
    skipped: Counter[str] = field(default_factory=Counter)
    _first_s: float | None = None
    _values: int = 0
    _bytes: int = 0
    _channels: set[str] = field(default_factory=set)

    def add(self, channel: str, arrived_s: float, data: Any) -> bool:
        """Record one notification that arrived at ``arrived_s`` (seconds, any origin).

        Returns False, recording nothing, once the recording is ``full``. A payload
        the format cannot carry raises ``RecordError`` (the caller skips it).
        """
        if self.full:
            return False
        try:
            parsed = parse_channel(channel)
        except RpcError:
            raise RecordError(f"'{channel}' is not a Paradex channel name") from None
        if not isinstance(data, dict):
            raise RecordError(f"{channel}: the payload is not a JSON object")
        values = _MESSAGE_VALUES + _measure(data, 0)  # first: it bounds the nesting
        data = self.redactor.payload(data, private=parsed.private)
        size = _MESSAGE_BYTES + len(dumps(data).encode())
        concrete = concrete_channel(channel, data)
        if concrete not in self._channels:
            values += _CHANNEL_VALUES + 1
        if self._values + values > VALUES_BUDGET or self._bytes + size > BYTES_BUDGET:
            self.full = True
            return False
        if self._first_s is None:
            self._first_s = arrived_s
        at_us = max(0, round((arrived_s - self._first_s) * 1e6))
        if self.messages and at_us <= self.messages[-1].at_us:
            at_us = self.messages[-1].at_us + 1  # keep the arrival order on replay
        account = None
        if is_private(concrete):
            bound = data.get("account")
            account = bound if isinstance(bound, str) and bound else self.redactor.own_account
        self.messages.append(Message(concrete, at_us, data, account))
        self._channels.add(concrete)
        self._values += values
        self._bytes += size
        return True

    @property
    def last_offset_s(self) -> float:
        return self.messages[-1].at_us / 1e6 if self.messages else 0.0

    def markets(self) -> list[str]:
        """Every market a recorded or subscribed channel names, in order of appearance."""
        found: dict[str, None] = {}
        for name in (*self.subscribed, *(m.channel for m in self.messages)):
            try:
                market = parse_channel(name).market
            except RpcError:
                continue
            if market is not None and market != ALL:
                found[market] = None
        return list(found)

    def document(self, header: Header) -> dict[str, Any]:
        """The scenario as the plain data ``to_yaml`` writes."""
        channels: dict[str, dict[str, Any]] = {}
        loop_at = None
        if header.loop and self.messages:
            length_us = round((header.length_s or 0.0) * 1e6)
            loop_at = _ms(max(length_us, self.messages[-1].at_us + 1000))
        for message in self.messages:
            script = channels.get(message.channel)
            if script is None:
                script = channels[message.channel] = {}
                if loop_at is not None:
                    script["loop"] = loop_at
                script["messages"] = []
            entry: dict[str, Any] = {"at": _ms(message.at_us)}
            if message.account is not None:
                entry["account"] = message.account
            entry["data"] = _Flow(message.data)
            script["messages"].append(entry)
        document: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "name": header.name,
            "description": self.description(header),
            "markets": _FlowList(self.markets()),
        }
        if header.timeline != "shared":
            document["timeline"] = header.timeline
        document["channels"] = channels
        return document

    def description(self, header: Header) -> str:
        when = f" at {header.recorded_at}" if header.recorded_at else ""
        length = header.length_s if header.length_s is not None else self.last_offset_s
        return (
            f"{header.origin}{when}: {len(self.messages)} messages on "
            f"{len({m.channel for m in self.messages})} channel(s) over {length:.1f} s."
        )

    def to_yaml(self, header: Header) -> str:
        """The scenario file: a comment header, then YAML the loader reads back."""
        comments = [
            f"{header.origin} by paradex-mock"
            + (f" at {header.recorded_at}." if header.recorded_at else "."),
            "Replay: each message's `at` is when it arrived, counted from the first message;",
            "payloads are as received (decimals stay strings), aggregates are keyed by market.",
        ]
        if header.loop:
            comments.append("`loop` replays the whole recording again and again.")
        redacted = self.redactor.summary()
        comments.append("Redacted: " + ("; ".join(redacted) if redacted else "nothing found"))
        comments.extend(header.notes)
        body = yaml.dump(
            self.document(header),
            Dumper=_Dumper,
            allow_unicode=True,
            sort_keys=False,
            default_flow_style=False,
            width=1 << 30,  # one message, one line
        )
        return "".join(f"# {line}\n" for line in comments) + body


def write_scenario(
    events: Iterable[tuple[str, float, Any]],
    *,
    header: Header,
    redactor: Redactor | None = None,
) -> str:
    """Scenario YAML replaying ``(channel, arrival time in s, payload)`` events.

    Events the format cannot carry raise ``RecordError``; past the format's
    limits the rest are left out.
    """
    recording = Recording(redactor=redactor or Redactor())
    for channel, arrived_s, data in events:
        if not recording.add(channel, arrived_s, data):
            break
    return recording.to_yaml(header)


def _ms(us: int) -> str:
    """Microseconds as a duration the loader reads: '12.345ms'."""
    text = f"{us / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text}ms"


def _measure(value: Any, depth: int) -> int:
    """How many YAML values ``value`` writes (keys count); refuses what cannot be written."""
    if isinstance(value, dict):
        if depth >= MAX_DATA_DEPTH:
            raise RecordError(f"the payload is nested more than {MAX_DATA_DEPTH} levels deep")
        return 1 + sum(_measure(k, depth) + _measure(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        if depth >= MAX_DATA_DEPTH:
            raise RecordError(f"the payload is nested more than {MAX_DATA_DEPTH} levels deep")
        return 1 + sum(_measure(v, depth + 1) for v in value)
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordError(
                "the payload holds text that is not Unicode (a lone surrogate)"
            ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError("the payload holds NaN or infinity, which JSON has not")
    return 1


# YAML: payloads one line each, strings that YAML would read otherwise quoted.


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line: {a: 1, b: "2"}."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written on one line: [a, b]."""


_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """The safe dumper (it quotes '1.5', 'on', '0x1f', '!seq', '<<': what YAML would
    read as something else than the string) plus one-line payloads, and escapes
    for line breaks and control characters."""


def _flow_mapping(dumper: Any, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _flow_list(dumper: Any, value: _FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _string(dumper: Any, value: str) -> yaml.Node:
    if not value.isprintable():  # \n, \t, U+2028, control characters: as escapes
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(_Flow, _flow_mapping)
_Dumper.add_representer(_FlowList, _flow_list)
_Dumper.add_representer(str, _string)
