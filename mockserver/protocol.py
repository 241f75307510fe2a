"""JSON-RPC 2.0 as Paradex speaks it on /v1: parsing, replies, and per-connection state.

Sans-I/O: ``RpcSession`` takes the text of a frame and returns an ``Outcome`` (the
reply to send, if any, and what changed: a subscription, an authentication). The
WebSocket layer (``session.py``) only pumps frames through it, so every rule here
is unit-testable without a socket.

Wire details this module holds (paradex-ws.md §2, §4, clients.md):
- replies keep Paradex's key order ``jsonrpc, id, result|error, usIn, usDiff, usOut``,
  timestamps in microseconds since the epoch, ``usDiff == usOut - usIn``;
- ``id`` is echoed with its type (paradex-py sends ints for subscribe, strings for
  unsubscribe); a parse error or an unreadable request is answered with id null;
  a string id must be valid Unicode (JSON's ``"\\ud800"`` escape is not), or the
  reply could not be sent as UTF-8;
- ``result`` is always an object (ccxt and paradex-py break on anything else);
- a request without ``id`` is a notification (ccxt's subscribe): it is acted on
  but never answered with an error (ccxt stops reading after any error reply),
  and by default not answered at all, as JSON-RPC 2.0 says.

Hostile input (docs/behaviour.md, "Hostile frames"): ``receive`` never raises and
every frame with an id gets exactly one reply. Nesting deeper than the JSON
decoder's recursion limit and integers longer than CPython's 4300 digits are
-32700 with a ``data`` that says which; a JSON array (a JSON-RPC 2.0 batch) is
one -32600 reply and none of its members is acted on; a channel name longer than
``MAX_CHANNEL_CHARS`` is an invalid channel without being parsed; a string id
longer than ``MAX_ID_CHARS`` is -32600 with id null (every reply echoes the id).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from mockserver.channels import Channel, parse_channel
from mockserver.encoding import dumps
from mockserver.errors import (
    RPC_ERRORS,
    AlreadySubscribed,
    AuthRequired,
    ErrorCatalogue,
    InternalError,
    InvalidChannel,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    NotSubscribed,
    ParseError,
    RpcError,
    TooManySubscriptions,
)
from mockserver.tokens import read_token

RequestId = int | str | None

# No Paradex channel name comes near this (the longest are order_book names with
# a suffix, about 60 characters); a longer one is refused before it is parsed.
MAX_CHANNEL_CHARS = 256
# Every reply echoes the id, and up to max_queued_messages replies may wait for a
# client that does not read: a bound on the id is a bound on what they hold.
MAX_ID_CHARS = 1024


@dataclass(frozen=True)
class Request:
    """A well-formed JSON-RPC request."""

    method: str
    params: dict[str, Any]
    id: RequestId
    # False for a notification (no "id" member at all); "id": null is a request.
    has_id: bool


@dataclass(frozen=True, kw_only=True)
class AuthPolicy:
    """Which bearer tokens ``auth`` accepts (set by the scenario's ``auth:`` section)."""

    # None: any account; otherwise a token whose ``sub`` is not listed gets 40111.
    accounts: frozenset[str] | None = None
    # An error kind (``errors.RPC_ERRORS``) that every ``auth`` answers with.
    fail_with: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProtocolPolicy:
    """Everything the JSON-RPC layer needs to know about this server and scenario."""

    node_id: str
    # None: any well-formed market symbol is accepted.
    markets: frozenset[str] | None = None
    errors: ErrorCatalogue = field(default_factory=ErrorCatalogue)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    # UNCONFIRMED: JSON-RPC 2.0 says notifications get no reply; a scenario can
    # make the mock acknowledge them (with no "id" member) instead.
    reply_to_notifications: bool = False
    # Subscriptions one connection may hold (MockConfig.max_subscriptions); None: no cap.
    max_subscriptions: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What one client frame produced."""

    reply: str | None = None
    request: Request | None = None
    error: RpcError | None = None
    subscribed: Channel | None = None
    unsubscribed: Channel | None = None
    authenticated: str | None = None


def load_frame(text: str | bytes) -> dict[str, Any]:
    """Decode a frame's JSON; a non-object is an invalid request (answered with id null)."""
    try:
        obj = json.loads(text)
    except RecursionError as exc:
        raise ParseError("nesting too deep") from exc
    except json.JSONDecodeError as exc:
        raise ParseError() from exc
    except UnicodeDecodeError as exc:  # bytes only: aiohttp has decoded text frames
        raise ParseError("invalid UTF-8") from exc
    except ValueError as exc:
        # Valid JSON that CPython refuses: an integer over its 4300-digit limit.
        raise ParseError("number too long") from exc
    if isinstance(obj, list):
        raise InvalidRequest("batch requests are not supported")
    if not isinstance(obj, dict):
        raise InvalidRequest("a request must be a JSON object")
    return obj


def read_id(obj: dict[str, Any]) -> tuple[RequestId, bool]:
    """The request's id and whether it had one (no "id" member: a notification)."""
    request_id = obj.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, (int, str))
    ):
        raise InvalidRequest("id must be an integer or a string")
    if isinstance(request_id, str):
        if len(request_id) > MAX_ID_CHARS:
            raise InvalidRequest(f"id must be at most {MAX_ID_CHARS} characters")
        if not request_id.isascii() and not _encodable(request_id):
            raise InvalidRequest("id must be valid unicode")
    return request_id, "id" in obj


def _encodable(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (a lone surrogate, from a JSON escape, has none)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def to_request(obj: dict[str, Any], request_id: RequestId, has_id: bool) -> Request:
    """Check the envelope's other members."""
    if obj.get("jsonrpc") != "2.0":
        raise InvalidRequest('"jsonrpc" must be "2.0"')
    method = obj.get("method")
    if not isinstance(method, str):
        raise InvalidRequest('"method" must be a string')
    params = obj.get("params", {})
    if not isinstance(params, dict):
        raise InvalidParams("params must be an object (by-name)")
    return Request(method=method, params=params, id=request_id, has_id=has_id)


def parse_request(text: str | bytes) -> Request:
    """Parse one frame into a ``Request`` or raise the ``RpcError`` to answer with."""
    obj = load_frame(text)
    return to_request(obj, *read_id(obj))


def encode_result(
    request_id: RequestId,
    result: dict[str, Any],
    *,
    us_in: int,
    us_out: int,
    include_id: bool = True,
) -> str:
    reply: dict[str, Any] = {"jsonrpc": "2.0"}
    if include_id:
        reply["id"] = request_id
    reply["result"] = result
    reply.update(usIn=us_in, usDiff=us_out - us_in, usOut=us_out)
    return dumps(reply)


def encode_error(request_id: RequestId, error: dict[str, Any], *, us_in: int, us_out: int) -> str:
    return dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": error,
            "usIn": us_in,
            "usDiff": us_out - us_in,
            "usOut": us_out,
        }
    )


_NOTIFICATION_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":'


def encode_notification(channel: str, data_json: str) -> str:
    """A push frame; ``data_json`` is already encoded, so a broadcast encodes once."""
    return f"{_notification_head(channel)}{data_json}}}}}"


@lru_cache(maxsize=4096)
def _notification_head(channel: str) -> str:
    return f'{_NOTIFICATION_HEAD}{dumps(channel)},"data":'


def _channel_param(params: dict[str, Any]) -> str:
    channel = params.get("channel")
    if not isinstance(channel, str):
        raise InvalidParams('"channel" must be a string')
    return channel


class RpcSession:
    """The JSON-RPC state of one connection: its account and its subscriptions.

    Requests are handled in the order they are fed, each to completion, so a
    ``subscribe`` sent right behind ``auth`` (paradex-py does) sees the account.
    """

    def __init__(
        self,
        policy: ProtocolPolicy,
        *,
        now_us: Callable[[], int],
    ) -> None:
        self.policy = policy
        self._now_us = now_us
        self.account: str | None = None
        self.subscriptions: dict[str, Channel] = {}
        # Consulted before a well-formed request is handled: an error it returns is
        # the reply, and the request has no effect (how fault injection answers).
        self.intercept: Callable[[Request], RpcError | None] | None = None

    # The handlers: each returns the result object and an Outcome with the effect.

    def _auth(self, request: Request) -> tuple[dict[str, Any], Outcome]:
        bearer = request.params.get("bearer")
        if not isinstance(bearer, str):
            raise InvalidParams('"bearer" must be a string')
        auth = self.policy.auth
        if auth.fail_with is not None:
            raise RPC_ERRORS[auth.fail_with]()
        claims = read_token(bearer, now_s=self._now_us() / 1e6)
        if auth.accounts is not None and claims.account not in auth.accounts:
            raise RPC_ERRORS["invalid_token"]()
        # UNCONFIRMED: a second `auth` on an open connection replaces the account
        # (Paradex documents nothing); a failed one leaves the connection as it was.
        self.account = claims.account
        return {"node_id": self.policy.node_id}, Outcome(authenticated=claims.account)

    def _subscribe(self, request: Request) -> tuple[dict[str, Any], Outcome]:
        name = _channel_param(request.params)
        markets = request.params.get("markets")
        if markets is not None and not (
            isinstance(markets, list) and all(isinstance(m, str) for m in markets)
        ):
            raise InvalidParams('"markets" must be an array of strings')
        if len(name) > MAX_CHANNEL_CHARS:
            raise InvalidChannel()
        channel = parse_channel(name, markets=self.policy.markets)
        if channel.private and self.account is None:
            raise AuthRequired()
        if name in self.subscriptions:
            raise AlreadySubscribed()
        cap = self.policy.max_subscriptions
        if cap is not None and len(self.subscriptions) >= cap:
            raise TooManySubscriptions(f"at most {cap} subscriptions per connection")
        self.subscriptions[name] = channel
        return {"channel": name}, Outcome(subscribed=channel)

    def _unsubscribe(self, request: Request) -> tuple[dict[str, Any], Outcome]:
        name = _channel_param(request.params)
        channel = self.subscriptions.pop(name, None)
        if channel is None:
            raise NotSubscribed()
        return {"channel": name}, Outcome(unsubscribed=channel)

    _HANDLERS: ClassVar[
        dict[str, Callable[[RpcSession, Request], tuple[dict[str, Any], Outcome]]]
    ] = {
        "auth": _auth,
        "subscribe": _subscribe,
        "unsubscribe": _unsubscribe,
    }

    def receive(self, text: str | bytes, *, received_us: int) -> Outcome:
        """Handle one client frame; never raises."""
        request_id: RequestId = None
        has_id = True  # until the id is read, errors are answered with id null
        request: Request | None = None
        try:
            obj = load_frame(text)
            request_id, has_id = read_id(obj)
            request = to_request(obj, request_id, has_id)
            if self.intercept is not None and (injected := self.intercept(request)) is not None:
                raise injected
            handler = self._HANDLERS.get(request.method)
            if handler is None:
                raise MethodNotFound()
            result, effect = handler(self, request)
        except RpcError as error:
            return self._error_outcome(error, request_id, has_id, request, received_us)
        except Exception as exc:  # one mapper: anything unexpected is an internal error
            internal = InternalError()
            internal.__cause__ = exc
            return self._error_outcome(internal, request_id, has_id, request, received_us)
        reply = None
        if has_id or self.policy.reply_to_notifications:
            reply = encode_result(
                request_id,
                result,
                us_in=received_us,
                us_out=self._now_us(),
                include_id=has_id,
            )
        return Outcome(
            reply=reply,
            request=request,
            subscribed=effect.subscribed,
            unsubscribed=effect.unsubscribed,
            authenticated=effect.authenticated,
        )

    def reject(self, error: RpcError, *, received_us: int) -> Outcome:
        """Answer a frame that never reached JSON (e.g. a binary frame) with ``error``."""
        return self._error_outcome(error, None, True, None, received_us)

    def _error_outcome(
        self,
        error: RpcError,
        request_id: RequestId,
        has_id: bool,
        request: Request | None,
        received_us: int,
    ) -> Outcome:
        if not has_id:
            # A notification is never answered with an error (clients.md B.5).
            return Outcome(request=request, error=error)
        shape = self.policy.errors.shape_of(error)
        reply = encode_error(request_id, shape.as_wire(), us_in=received_us, us_out=self._now_us())
        return Outcome(reply=reply, request=request, error=error)
