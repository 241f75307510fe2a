"""Faults on the ping/pong exchange (paradex-ws.md §6), and the silent "zombie" connection."""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.faults.active import ActiveFault
from mockserver.faults.base import FaultKind, Outgoing, ParamError, Subject, register


@register
class StopPings(FaultKind):
    """The server sends no pings (each skipped ping counts as one act)."""

    name = "stop_pings"

    def blocks(self, what: str) -> bool:
        return what == "ping"


@register
class IgnorePongs(FaultKind):
    """Pongs from the client are ignored, so the pong deadline fires and the session ends."""

    name = "ignore_pongs"

    def blocks(self, what: str) -> bool:
        return what == "pong"


@dataclass(frozen=True, kw_only=True)
class PongTimeoutParams:
    timeout_s: float = 0.1  # the pong deadline for pings sent while this is active

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ParamError("timeout_s", f"must be more than zero, got {self.timeout_s}")


@register
class PongTimeout(FaultKind):
    """A different pong deadline (``timeout_s``) for the pings sent while it is active."""

    name = "pong_timeout"
    Params = PongTimeoutParams

    def pong_timeout_s(self) -> float:
        return float(self.params.timeout_s)


@register
class NoPongReply(FaultKind):
    """The client's own pings go unanswered, so its keepalive fires
    (paradex-py then closes with "1011 keepalive ping timeout")."""

    name = "no_pong_reply"

    def blocks(self, what: str) -> bool:
        return what == "client_ping"


@register
class BlackHole(FaultKind):
    """A zombie connection: the socket stays open and nothing moves either way.

    No frame goes out (data, replies, pings, pongs) and what the client sends is
    read but not acted on (the transcript still records it). The server's own
    pong deadline is suspended, so only the client can notice.
    """

    name = "black_hole"

    def activated(self, fault: ActiveFault, session: Subject) -> None:
        session.forget_pending_pong()

    def blocks(self, what: str) -> bool:
        return True

    def matches_outgoing(self, item: Outgoing) -> bool:
        return True

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        return []
