"""Faults on JSON-RPC replies: an error instead of the result (paradex-ws.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mockserver.errors import RPC_ERRORS, ErrorShape, RpcError
from mockserver.faults.base import FaultKind, ParamError, check_channel_pattern, register
from mockserver.faults.model import channel_matches
from mockserver.protocol import Request

METHODS = ("auth", "subscribe", "unsubscribe")


def injected_error(shape: ErrorShape) -> RpcError:
    """An error with exactly this wire shape (scenario overrides do not apply to it)."""
    cls = type(
        "InjectedError",
        (RpcError,),
        {"kind": "injected", "code": shape.code, "message": shape.message, "data": shape.data},
    )
    return cls()


@dataclass(frozen=True, kw_only=True)
class ErrorReplyParams:
    method: Literal["auth", "subscribe", "unsubscribe"] | None = None  # None: any method
    channel: str | None = None  # subscribe/unsubscribe: only for this name or glob
    # An error kind (`paradex-mock errors` lists them: invalid_channel, invalid_token, ...);
    # or give `code` and `message` (and `data`) for an error of your own.
    error: str = "internal_error"
    code: int | None = None
    message: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise ParamError("method", f"expected one of {', '.join(METHODS)}, got {self.method!r}")
        check_channel_pattern(self.channel)
        if self.code is None:
            if self.error not in RPC_ERRORS:
                raise ParamError(
                    "error", f"unknown error kind {self.error!r} (known: {', '.join(RPC_ERRORS)})"
                )
            if self.message is not None or self.data is not None:
                raise ParamError("code", "message and data need a code")
        elif self.message is None:
            raise ParamError("message", "an error with a code needs a message")


@register
class ErrorReply(FaultKind):
    """The next matching request is answered with an error, and has no effect."""

    name = "error_reply"
    Params = ErrorReplyParams
    default_count = 1

    def matches_request(self, request: Request) -> bool:
        p = self.params
        if p.method is not None and request.method != p.method:
            return False
        if p.channel is None:
            return True
        channel = request.params.get("channel")
        return isinstance(channel, str) and channel_matches(p.channel, channel)

    def request_error(self, request: Request) -> RpcError:
        p = self.params
        if p.code is not None:
            return injected_error(ErrorShape(p.code, p.message or "", p.data))
        return RPC_ERRORS[p.error]()


AUTH_FAILURES = {40110: "malformed_token", 40111: "invalid_token", 40112: "geo_blocked"}


@dataclass(frozen=True, kw_only=True)
class AuthFailureParams:
    code: int = 40111  # 40110 malformed, 40111 invalid, 40112 geo IP blocked

    def __post_init__(self) -> None:
        if self.code not in AUTH_FAILURES:
            raise ParamError("code", f"expected 40110, 40111 or 40112, got {self.code}")


@register
class AuthFailure(FaultKind):
    """The next ``auth`` fails with Paradex's ``code`` (40110, 40111 or 40112)."""

    name = "auth_failure"
    Params = AuthFailureParams
    default_count = 1

    def matches_request(self, request: Request) -> bool:
        return request.method == "auth"

    def request_error(self, request: Request) -> RpcError:
        return RPC_ERRORS[AUTH_FAILURES[self.params.code]]()
