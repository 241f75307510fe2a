"""A loaded scenario: plain frozen dataclasses, nothing here reads files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mockserver.errors import ErrorShape
from mockserver.protocol import AuthPolicy
from mockserver.scenario.templates import Template

Timeline = Literal["shared", "per_subscription"]
TIMELINES: tuple[Timeline, ...] = ("shared", "per_subscription")


@dataclass(frozen=True)
class Emission:
    """One entry of a channel's ``messages``: a payload at a time, maybe repeated."""

    data: Template
    at_s: float = 0.0
    every_s: float | None = None  # None: once
    count: int | None = None  # with every_s: how many times; None: forever
    account: str | None = None  # private channels: only this account's sessions
    line: int = 0


@dataclass(frozen=True)
class ChannelScript:
    """What a scenario publishes on one channel."""

    channel: str
    timeline: Timeline
    messages: tuple[Emission, ...] = ()
    # Sent to each new subscriber right after the subscribe reply.
    on_subscribe: tuple[Template, ...] = ()
    # `on_subscribe: last`: the latest message published on the channel instead.
    on_subscribe_last: bool = False
    loop_s: float | None = None  # the messages repeat with this period
    line: int = 0


@dataclass(frozen=True)
class CloseAction:
    """Close the WebSocket with a code and reason (rather than dropping TCP)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """The scenario's answers where paradex-ws.md says UNCONFIRMED."""

    # JSON-RPC 2.0: notifications (no "id") get no reply. True: acknowledge them.
    reply_to_notifications: bool = False
    # Subscribing to a market the scenario does not list: "reject" (invalid channel)
    # or "accept".
    unknown_markets: Literal["reject", "accept"] = "reject"
    # A missing pong: None drops TCP without a close frame (what a server that
    # simply times the connection out does); a CloseAction sends a close frame.
    on_pong_timeout: CloseAction | None = None


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    source: str  # the file it came from, or "<string>"
    description: str = ""
    seed: int = 0
    markets: tuple[str, ...] = ()
    timeline: Timeline = "shared"
    channels: tuple[ChannelScript, ...] = ()
    behaviour: Behaviour = field(default_factory=Behaviour)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    errors: Mapping[str, ErrorShape] = field(default_factory=dict)

    def script(self, channel: str) -> ChannelScript | None:
        return next((c for c in self.channels if c.channel == channel), None)
