"""Faults that end connections or turn new ones away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mockserver.faults.active import ActiveFault
from mockserver.faults.base import (
    FaultKind,
    ParamError,
    Refusal,
    Subject,
    check_close,
    register,
)


@dataclass(frozen=True, kw_only=True)
class CloseParams:
    code: int = 1011  # the WebSocket close code the client receives
    reason: str = ""  # the close frame's reason text (at most 123 bytes)

    def __post_init__(self) -> None:
        check_close(self.code, self.reason)


@register
class Close(FaultKind):
    """Close the connection with a close frame carrying ``code`` and ``reason``."""

    name = "close"
    Params = CloseParams
    default_count = 1
    action = True

    def act(self, fault: ActiveFault, session: Subject) -> None:
        session.close_soon(self.params.code, self.params.reason)


@register
class Drop(FaultKind):
    """Close TCP at once, with no close frame: the client sees 1006 (abnormal closure)."""

    name = "drop"
    default_count = 1
    action = True

    def act(self, fault: ActiveFault, session: Subject) -> None:
        session.drop()


@register
class SlowConsumer(FaultKind):
    """Disconnect as a slow consumer, as Paradex does when 2000+ messages pile up."""

    name = "slow_consumer"
    default_count = 1
    action = True

    def act(self, fault: ActiveFault, session: Subject) -> None:
        session.disconnect_slow_consumer()


@dataclass(frozen=True, kw_only=True)
class RefuseParams:
    # "http": answer the upgrade with `status` and no WebSocket; "close": accept the
    # WebSocket and close it at once with `code` and `reason` (a rate-limit close).
    mode: Literal["http", "close"] = "http"
    status: int = 503
    code: int = 1013  # RFC 6455 "try again later" (Paradex's own code is UNCONFIRMED)
    reason: str = "rate limit exceeded"

    def __post_init__(self) -> None:
        if self.mode not in ("http", "close"):
            raise ParamError("mode", f"expected http or close, got {self.mode!r}")
        if not 400 <= self.status <= 599:
            raise ParamError(
                "status", f"expected an HTTP error status (400-599), not {self.status}"
            )
        check_close(self.code, self.reason)


@register
class RefuseConnections(FaultKind):
    """Turn new connections away: HTTP ``status``, or a close right after the upgrade."""

    name = "refuse_connections"
    Params = RefuseParams
    server_level = True

    def refusal(self) -> Refusal:
        p = self.params
        return Refusal(mode=p.mode, status=p.status, code=p.code, reason=p.reason)
