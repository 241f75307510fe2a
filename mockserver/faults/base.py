"""What every fault kind is made of, and the registry of kinds.

A kind is a small class: a frozen ``Params`` dataclass (its typed parameters,
documented field by field) and the hooks it takes part in. The session asks its
``FaultView`` at each hook point; the view asks each applicable fault whether it
``matches`` the opportunity, then ``ActiveFault.fires`` (probability and count),
then the hook itself. Hook points:

- ``act``: an action done once on each target session when the fault fires
  (close, drop, slow consumer);
- ``blocks(what)``: whether to suppress one thing: ``"ping"`` (the server's
  ping), ``"pong"`` (a pong from the client), ``"client_ping"`` (answering the
  client's ping), ``"incoming"`` (acting on a client frame);
- ``outgoing``: change, hold, delay, duplicate or swallow a frame going out;
- ``request_error``: answer a JSON-RPC request with an error instead;
- ``pong_timeout_s`` / ``bytes_per_s``: a value that replaces the session's own;
- ``refusal``: (server-level kinds) refuse a new connection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mockserver.faults.model import SessionLike

if TYPE_CHECKING:
    from collections.abc import Callable

    from mockserver.clock import Timer
    from mockserver.errors import RpcError
    from mockserver.faults.active import ActiveFault
    from mockserver.protocol import Request


class ParamError(ValueError):
    """A parameter value a kind cannot use; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class Subject(SessionLike, Protocol):
    """A session as the faults see it: what targets match on, and what kinds act on."""

    def close_soon(self, code: int, reason: str) -> None: ...

    def drop(self) -> None: ...

    def disconnect_slow_consumer(self) -> None: ...

    def send_later(self, frame: str, delay_s: float) -> None:
        """Queue ``frame`` after ``delay_s``, past every fault (a held frame's release)."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` in ``delay_s`` seconds, on the session's clock."""

    def forget_pending_pong(self) -> None:
        """Stop waiting for the pong of a ping already sent."""

    def now(self) -> float:
        """The session's clock (monotonic seconds)."""


@dataclass
class Outgoing:
    """A frame on its way to the client."""

    frame: str
    # The subscription name a notification was framed for; None for a reply.
    channel: str | None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """How a refused connection is turned away."""

    # "http": the upgrade is answered with ``status``; "close": the WebSocket is
    # accepted, then closed at once with ``code`` and ``reason``.
    mode: str
    status: int = 503
    code: int = 1013
    reason: str = ""
    # "http" only: the Retry-After header and the JSON body's "error".
    retry_after: str = "1"
    error: str = "connections are refused for now (a fault)"


@dataclass(frozen=True)
class NoParams:
    """A kind that takes no parameters."""


class FaultKind:
    """One kind of fault. Subclasses set the class attributes and override hooks."""

    name: ClassVar[str]
    Params: ClassVar[type[Any]] = NoParams
    # Default ``count``: 1 for "the next ..." kinds, None (no limit) for a condition.
    default_count: ClassVar[int | None] = None
    # An action (acts once on its targets when it fires) rather than a condition.
    action: ClassVar[bool] = False
    # Acts on the server (new connections), not on sessions: targets do not apply.
    server_level: ClassVar[bool] = False

    def __init__(self, params: Any) -> None:
        self.params = params

    @classmethod
    def summary(cls) -> str:
        """The first line of the kind's docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0]

    @classmethod
    def param_docs(cls) -> dict[str, Any]:
        """Each parameter with its default, for listings."""
        return {
            f.name: (None if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(cls.Params)
        }

    # Hooks: the defaults do nothing.

    def act(self, fault: ActiveFault, session: Subject) -> None:
        """An action's effect on one target session."""

    def activated(self, fault: ActiveFault, session: Subject) -> None:
        """A condition starts applying to ``session``."""

    def subscribed(self, fault: ActiveFault, session: Subject, name: str) -> None:
        """A session the fault applies to subscribed to ``name``."""

    def removed(self, fault: ActiveFault, sessions: list[Subject]) -> None:
        """The fault is gone: undo whatever it still holds."""

    def blocks(self, what: str) -> bool:
        return False

    def matches_outgoing(self, item: Outgoing) -> bool:
        return False

    def outgoing(self, fault: ActiveFault, session: Subject, item: Outgoing) -> list[Outgoing]:
        return [item]

    def matches_request(self, request: Request) -> bool:
        return False

    def request_error(self, request: Request) -> RpcError:
        raise NotImplementedError

    def pong_timeout_s(self) -> float | None:
        return None

    def bytes_per_s(self) -> float | None:
        return None

    def refusal(self) -> Refusal | None:
        return None

    # What the view needs to know without calling: which hooks are overridden.

    @classmethod
    def uses(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(FaultKind, hook)


KINDS: dict[str, type[FaultKind]] = {}


def register(cls: type[FaultKind]) -> type[FaultKind]:
    """Add a kind to the registry (a class decorator)."""
    if cls.name in KINDS:
        raise ValueError(f"fault kind {cls.name!r} registered twice")
    KINDS[cls.name] = cls
    return cls


def check_close(code: int, reason: str, *, field_prefix: str = "") -> None:
    """A close code and reason a server may send (RFC 6455 §7.4)."""
    if not 1000 <= code <= 4999:
        raise ParamError(f"{field_prefix}code", f"close codes run from 1000 to 4999, not {code}")
    if code in (1004, 1005, 1006, 1015):
        raise ParamError(f"{field_prefix}code", f"{code} is reserved: RFC 6455 forbids sending it")
    if len(reason.encode()) > 123:
        raise ParamError(f"{field_prefix}reason", "a close reason has at most 123 bytes")


def check_channel_pattern(channel: str | None, *, field: str = "channel") -> None:
    if channel is not None and not channel.strip():
        raise ParamError(field, "must not be empty")
