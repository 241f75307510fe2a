"""``FaultView``: the active faults that apply to one session, by the hook they use.

The book builds a new view whenever faults or the session change (subscribe,
auth); the session consults it at each hook point. The empty view is shared and
every check on it is one attribute test, so a session with no faults pays
nothing on its hot path.
"""

from __future__ import annotations

from collections.abc import Iterable

from mockserver.errors import RpcError
from mockserver.faults.active import ActiveFault
from mockserver.faults.base import Outgoing, Subject
from mockserver.protocol import Request


class FaultView:
    """What one session must do differently, given the faults aimed at it."""

    def __init__(self, faults: list[ActiveFault] | tuple[ActiveFault, ...] = ()) -> None:
        self.faults = tuple(faults)
        self.empty = not self.faults
        self._blocking = tuple(f for f in self.faults if f.kind.uses("blocks"))
        self.outgoing = tuple(f for f in self.faults if f.kind.uses("outgoing"))
        self._requests = tuple(f for f in self.faults if f.kind.uses("request_error"))
        self._timeouts = tuple(f for f in self.faults if f.kind.uses("pong_timeout_s"))
        self._bandwidths = tuple(f for f in self.faults if f.kind.uses("bytes_per_s"))

    def blocked(self, what: str) -> bool:
        """Whether a fault suppresses ``what`` ("ping", "pong", "client_ping", "incoming")."""
        return any(f.kind.blocks(what) and f.fires() for f in self._blocking)

    def transform(self, session: Subject, item: Outgoing) -> list[Outgoing]:
        """The frames to send in place of ``item``, each maybe with a delay."""
        items = [item]
        for fault in self.outgoing:
            changed: list[Outgoing] = []
            for each in items:
                if fault.active and fault.kind.matches_outgoing(each):
                    changed.extend(fault.kind.outgoing(fault, session, each))
                else:
                    changed.append(each)
            items = changed
        return items

    def request_error(self, request: Request) -> RpcError | None:
        """The error to answer ``request`` with instead of handling it, if any."""
        for fault in self._requests:
            if fault.kind.matches_request(request) and fault.fires():
                return fault.kind.request_error(request)
        return None

    def pong_timeout_s(self) -> float | None:
        """The pong deadline a fault imposes (the newest fault wins), or None."""
        return _newest(fault.kind.pong_timeout_s() for fault in reversed(self._timeouts))

    def bytes_per_s(self) -> float | None:
        """The bandwidth a fault imposes (the newest fault wins), or None."""
        return _newest(fault.kind.bytes_per_s() for fault in reversed(self._bandwidths))


def _newest(values: Iterable[float | None]) -> float | None:
    """The first value given that is not None (newest fault first)."""
    return next((value for value in values if value is not None), None)


NO_FAULTS = FaultView()
