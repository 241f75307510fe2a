"""Faults on the frames going out: latency, bandwidth, and single messages
dropped, duplicated, reordered, delayed, malformed or gone stale.

Every kind here takes ``channel``: a subscription name or glob (``bbo.*``) the
frames must be on; None matches every frame, replies included. Probabilities
are drawn per matching frame from the fault's seeded RNG.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from mockserver.faults.active import ActiveFault
from mockserver.faults.base import (
    FaultKind,
    Outgoing,
    ParamError,
    Subject,
    check_channel_pattern,
    register,
)
from mockserver.faults.model import channel_matches


class ChannelFiltered(FaultKind):
    """A kind whose ``params.channel`` selects the frames it acts on."""

    def matches_outgoing(self, item: Outgoing) -> bool:
        pattern = self.params.channel
        if pattern is None:
            return True
        return item.channel is not None and channel_matches(pattern, item.channel)


@dataclass(frozen=True, kw_only=True)
class ChannelParams:
    channel: str | None = None  # a subscription name or glob; None: every frame

    def __post_init__(self) -> None:
        check_channel_pattern(self.channel)


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ParamError(name, f"cannot be negative, got {value}")


@dataclass(frozen=True, kw_only=True)
class LatencyParams(ChannelParams):
    delay_ms: float = 100.0  # added to every matching frame
    jitter_ms: float = 0.0  # plus or minus up to this much, uniformly, per frame

    def __post_init__(self) -> None:
        super().__post_init__()
        _non_negative("delay_ms", self.delay_ms)
        _non_negative("jitter_ms", self.jitter_ms)


@register
class Latency(ChannelFiltered):
    """Every matching frame leaves ``delay_ms`` (± ``jitter_ms``) late; their order is kept."""

    name = "latency"
    Params = LatencyParams

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        now = session.now()
        # Like a slow link, not a shuffle: a frame never overtakes an earlier delayed one,
        # not even one the probability spared (it leaves with the last delayed one).
        due = fault.memory.get(session.id, now)
        if fault.fires():
            p = self.params
            jitter_ms = fault.rng.uniform(-p.jitter_ms, p.jitter_ms) if p.jitter_ms else 0
            due = max(now + max(0.0, p.delay_ms + jitter_ms) / 1000, due)
            fault.memory[session.id] = due
        if due > now:
            item.delay_s = max(item.delay_s, due - now)
        return [item]


@dataclass(frozen=True, kw_only=True)
class BandwidthParams:
    bytes_per_s: int = 10_000  # how fast the session's frames may leave

    def __post_init__(self) -> None:
        if self.bytes_per_s < 1:
            raise ParamError("bytes_per_s", f"must be at least 1, got {self.bytes_per_s}")


@register
class Bandwidth(FaultKind):
    """The session's frames leave no faster than ``bytes_per_s``; the rest waits in its queue."""

    name = "bandwidth"
    Params = BandwidthParams

    def bytes_per_s(self) -> float:
        return float(self.params.bytes_per_s)


@register
class DropMessages(ChannelFiltered):
    """Matching frames are not sent (with ``probability``, up to ``count`` of them)."""

    name = "drop_messages"
    Params = ChannelParams

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        return [] if fault.fires() else [item]


@register
class DuplicateMessages(ChannelFiltered):
    """Matching frames are sent twice."""

    name = "duplicate_messages"
    Params = ChannelParams

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        if not fault.fires():
            return [item]
        return [item, dataclasses.replace(item)]


@dataclass(frozen=True, kw_only=True)
class ReorderParams(ChannelParams):
    # A held frame goes out after the next matching one, or after this long.
    max_hold_ms: float = 1000.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _non_negative("max_hold_ms", self.max_hold_ms)


@register
class ReorderMessages(ChannelFiltered):
    """A matching frame is held back and sent after the next matching one (the two swap)."""

    name = "reorder_messages"
    Params = ReorderParams

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        held: Outgoing | None = fault.memory.pop(session.id, None)
        if held is not None:
            fault.spend()
            return [item, held]
        if not fault.draw():
            return [item]
        fault.memory[session.id] = item
        session.call_later(
            self.params.max_hold_ms / 1000, lambda: self._release(fault, session, item)
        )
        return []

    def _release(self, fault: ActiveFault, session: Subject, item: Outgoing) -> None:
        # Only the frame this timer was set for: once swapped, a later held frame has
        # a timer of its own.
        if fault.memory.get(session.id) is item:
            del fault.memory[session.id]
            fault.spend()
            session.send_later(item.frame, 0.0)

    def removed(self, fault: ActiveFault, sessions: list[Subject]) -> None:
        for session in sessions:
            held: Outgoing | None = fault.memory.pop(session.id, None)
            if held is not None:
                session.send_later(held.frame, 0.0)


@dataclass(frozen=True, kw_only=True)
class DelayParams(ChannelParams):
    delay_ms: float = 500.0  # how late each affected frame leaves; later frames overtake it

    def __post_init__(self) -> None:
        super().__post_init__()
        _non_negative("delay_ms", self.delay_ms)


@register
class DelayMessages(ChannelFiltered):
    """Matching frames leave ``delay_ms`` late while the others go on (so they overtake)."""

    name = "delay_messages"
    Params = DelayParams

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        if fault.fires():
            item.delay_s += self.params.delay_ms / 1000
        return [item]


@dataclass(frozen=True, kw_only=True)
class MalformedParams(ChannelParams):
    # "truncate": the frame's first half; "garbage": text that is not JSON at all.
    mode: Literal["truncate", "garbage"] = "truncate"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("truncate", "garbage"):
            raise ParamError("mode", f"expected truncate or garbage, got {self.mode!r}")


@register
class Malformed(ChannelFiltered):
    """The next matching frame is sent broken: cut in half, or not JSON at all."""

    name = "malformed"
    Params = MalformedParams
    default_count = 1

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        if not fault.fires():
            return [item]
        if self.params.mode == "truncate":
            item.frame = item.frame[: max(1, len(item.frame) // 2)]
        else:
            item.frame = "\u00bfnot json? " + item.frame[:32]
        return [item]


@dataclass(frozen=True, kw_only=True)
class StaleParams:
    channel: str  # the subscription name or glob that goes silent

    def __post_init__(self) -> None:
        check_channel_pattern(self.channel)


@register
class StaleChannel(DropMessages):
    """A channel silently stops for its targets while the others go on (no error, no close)."""

    name = "stale_channel"
    Params = StaleParams
