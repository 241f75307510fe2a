"""Every exception paradex-mock raises, in one tree.

::

    MockError
    ├── RpcError                 a JSON-RPC error reply: code, message, data (paradex-ws.md §4)
    │   ├── ParseError           -32700, answered with id null
    │   ├── InvalidRequest       -32600 "invalid request"
    │   ├── MethodNotFound       -32601 "method does not exist"
    │   ├── InvalidParams        -32602
    │   ├── InvalidChannel       -32600 "invalid subscribe request" / "invalid channel"
    │   ├── DeltasTakeNoParams   -32600 "invalid subscribe request" / "no parameters expected ..."
    │   ├── AlreadySubscribed    subscribing twice (UNCONFIRMED shape)
    │   ├── NotSubscribed        unsubscribing from a channel not subscribed (UNCONFIRMED shape)
    │   ├── AuthRequired         a private channel before `auth` (UNCONFIRMED shape)
    │   ├── TooManySubscriptions past ``max_subscriptions`` (UNCONFIRMED: no cap documented)
    │   ├── MalformedToken       40110
    │   ├── InvalidToken         40111
    │   └── GeoBlocked           40112
    ├── ScenarioError            a bad scenario file: file, line, key, problem
    ├── ConfigError              a bad option given to the CLI or the fixture
    ├── FaultSpecError           a fault that cannot be used: the key path and the problem
    └── ControlError             a control-API request refused, with its HTTP status
        ├── ControlBadRequest    400
        ├── ControlUnauthorized  401
        ├── ControlForbidden     403
        ├── ControlNotFound      404
        └── ControlConflict      409

Each `RpcError` subclass carries its wire ``code``, ``message`` and ``data`` as
class attributes and a stable ``kind`` name. A scenario can override the shape of
any kind (``errors:`` in the scenario file), which is how the UNCONFIRMED choices
stay replaceable: see ``ErrorShape`` and ``ErrorCatalogue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar


class MockError(Exception):
    """Root of every paradex-mock exception."""


@dataclass(frozen=True)
class ErrorShape:
    """What an error looks like on the wire: the JSON-RPC ``error`` object."""

    code: int
    message: str
    data: str | None = None

    def as_wire(self) -> dict[str, object]:
        """The ``error`` member of a JSON-RPC reply, keys in Paradex's order."""
        wire: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            wire["data"] = self.data
        return wire


class RpcError(MockError):
    """A request the server answers with a JSON-RPC error instead of a result."""

    kind: ClassVar[str] = "internal_error"
    code: ClassVar[int] = -32603
    message: ClassVar[str] = "internal error"
    data: ClassVar[str | None] = None

    def __init__(self, detail: str | None = None) -> None:
        # ``detail`` replaces the class's ``data`` when a specific reason helps
        # the client author (e.g. which parameter was wrong).
        self.detail = detail if detail is not None else self.data
        super().__init__(f"{self.kind}: {self.detail or self.message}")

    @classmethod
    def default_shape(cls) -> ErrorShape:
        return ErrorShape(cls.code, cls.message, cls.data)


class InternalError(RpcError):
    """An unexpected failure inside the server; the session survives it."""


class ParseError(RpcError):
    kind = "parse_error"
    code = -32700
    # Live casing is lower-case wherever a live message is known (paradex-ws.md §4).
    message = "parse error"


class InvalidRequest(RpcError):
    kind = "invalid_request"
    code = -32600
    message = "invalid request"


class MethodNotFound(RpcError):
    kind = "method_not_found"
    code = -32601
    message = "method does not exist"


class InvalidParams(RpcError):
    kind = "invalid_params"
    code = -32602
    message = "invalid parameters"


class InvalidChannel(RpcError):
    kind = "invalid_channel"
    code = -32600
    message = "invalid subscribe request"
    data = "invalid channel"


class DeltasTakeNoParams(RpcError):
    # 3rd-party live observation for `order_book.{m}.deltas@15@50ms` (paradex-ws.md §3.1).
    kind = "deltas_take_no_params"
    code = -32600
    message = "invalid subscribe request"
    data = "no parameters expected for deltas topic."


class AlreadySubscribed(RpcError):
    # UNCONFIRMED: the docs say only that subscribing twice "will return an error".
    kind = "already_subscribed"
    code = -32600
    message = "invalid subscribe request"
    data = "already subscribed"


class NotSubscribed(RpcError):
    # UNCONFIRMED: the docs say only that it "will return an error".
    kind = "not_subscribed"
    code = -32600
    message = "invalid unsubscribe request"
    data = "not subscribed"


class AuthRequired(RpcError):
    # UNCONFIRMED: OpenRPC lists only the bearer-token codes as subscribe's
    # non-standard errors, so a private channel before `auth` answers 40111.
    kind = "auth_required"
    code = 40111
    message = "invalid bearer token"
    data = "authentication required for private channel"


class TooManySubscriptions(RpcError):
    # UNCONFIRMED: Paradex documents no cap (paradex-ws.md §5); the mock's cap
    # (MockConfig.max_subscriptions) answers with the subscribe error Paradex is known to use.
    kind = "too_many_subscriptions"
    code = -32600
    message = "invalid subscribe request"
    data = "too many subscriptions"


class MalformedToken(RpcError):
    kind = "malformed_token"
    code = 40110
    message = "malformed bearer token"


class InvalidToken(RpcError):
    kind = "invalid_token"
    code = 40111
    message = "invalid bearer token"


class GeoBlocked(RpcError):
    kind = "geo_blocked"
    code = 40112
    message = "geo ip blocked"


RPC_ERRORS: dict[str, type[RpcError]] = {
    cls.kind: cls
    for cls in (
        InternalError,
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InvalidChannel,
        DeltasTakeNoParams,
        AlreadySubscribed,
        NotSubscribed,
        AuthRequired,
        TooManySubscriptions,
        MalformedToken,
        InvalidToken,
        GeoBlocked,
    )
}


@dataclass(frozen=True)
class ErrorCatalogue:
    """The wire shape of every error kind, with a scenario's overrides applied."""

    overrides: Mapping[str, ErrorShape] = field(default_factory=dict)

    def shape_of(self, error: RpcError) -> ErrorShape:
        override = self.overrides.get(error.kind)
        if override is not None:
            return override
        return ErrorShape(error.code, error.message, error.detail)


class ScenarioError(MockError):
    """A scenario file that cannot be used, with where and why.

    ``str()`` reads ``file:line: key: problem`` so editors and CI logs link to it.
    """

    def __init__(
        self, problem: str, *, file: str | Path | None, line: int | None, key: str | None
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else "<scenario>"
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.problem}" if self.key else f"{where}: {self.problem}"


class ScenarioErrors(ScenarioError):
    """Several problems found in one scenario file; ``str()`` lists them all."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.problem, file=first.file, line=first.line, key=first.key)

    def __str__(self) -> str:
        return "\n".join(ScenarioError.__str__(e) for e in self.errors)


class ConfigError(MockError):
    """An option the CLI or the fixture cannot accept."""


class FaultSpecError(MockError):
    """A fault description (YAML or JSON) that cannot be used.

    ``path`` is where in the description the problem is (``params.code``), so the
    scenario loader can turn it into a line and the control API into a message.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class ControlError(MockError):
    """A control-API request the server refuses; ``status`` is its HTTP status."""

    status: ClassVar[int] = 400


class ControlBadRequest(ControlError):
    status = 400


class ControlUnauthorized(ControlError):
    status = 401


class ControlForbidden(ControlError):
    status = 403


class ControlNotFound(ControlError):
    status = 404


class ControlConflict(ControlError):
    status = 409
