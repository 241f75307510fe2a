"""The control API: HTTP JSON under ``/_mock/`` on the same port as ``/v1``.

Resources plus ``reset`` (style.md point 7): the sessions and what each client
sent, the faults (create, list, remove), the fault kinds, publishing, the
running scenario, and a reset to the baseline. README "Control API" lists them.

Every error is ``{"error": message}`` (plus ``"key"`` for a fault or parameter
problem) with the HTTP status of its exception, mapped in one place:
``control_middleware``. It also enforces the token: when the server has one
(configured, or generated because it listens beyond loopback) every ``/_mock/``
request must carry ``Authorization: Bearer <token>``, compared in constant time;
and it refuses what only a web page sends (another ``Origin``; while open, a
``Host`` that is not loopback), so no page a developer visits can drive it.
Nothing internal leaks: an unexpected exception is logged and answered with a
generic 500. Bodies are read as bytes, as UTF-8 whatever their charset, within
aiohttp's ``client_max_size`` (1 MiB; 413 beyond). docs/behaviour.md, "Hostile
input", lists each choice.
"""

from __future__ import annotations

import hmac
import importlib.resources
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mockserver import __version__
from mockserver.app import SERVER_KEY
from mockserver.config import LOOPBACK_HOSTS
from mockserver.encoding import loads
from mockserver.errors import (
    ConfigError,
    ControlBadRequest,
    ControlConflict,
    ControlError,
    ControlForbidden,
    ControlNotFound,
    ControlUnauthorized,
    FaultSpecError,
    ScenarioError,
)
from mockserver.faults.active import ActiveFault
from mockserver.faults.base import KINDS
from mockserver.faults.book import DuplicateFault
from mockserver.faults.decode import decode_fault as _registers_kinds  # noqa: F401
from mockserver.scenario import loader
from mockserver.scenario.model import Scenario
from mockserver.transcript import json_lines

if TYPE_CHECKING:
    from mockserver.server import MockServer
    from mockserver.session import Session

log = logging.getLogger(__name__)

PREFIX = "/_mock"
YAML_TYPES = frozenset({"application/yaml", "text/yaml", "application/x-yaml"})
UPLOAD_FILE = "<request body>"  # how a scenario sent as a body is named in its problems
# A bundled (or --scenario-dir) scenario's name: never a path.
_SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_SCENARIO_SUFFIXES = (".yaml", ".yml")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Access


def _check_token(request: web.Request, token: str | None) -> None:
    if token is None:
        return
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    # Bytes: compare_digest refuses str with characters beyond ASCII.
    matches = hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() != "bearer" or not matches:
        raise ControlUnauthorized(
            "the control API needs 'Authorization: Bearer <token>' "
            "(the server's --control-token, or the one it logged at start)"
        )


def _check_browser(request: web.Request, *, open_api: bool) -> None:
    """Refuse what only a web page would send: a browser's request from another origin
    (CSRF: a page the developer visits posting faults to localhost), and, while the API
    is open, a request addressed to a name other than loopback (DNS rebinding: that page
    renaming itself to 127.0.0.1). curl, scripts and clients send no Origin."""
    origin = request.headers.get("Origin")
    if origin is not None and _netloc(origin) != request.host.lower():
        raise ControlForbidden(
            f"cross-origin requests to the control API are refused (Origin: {origin})"
        )
    if open_api and _hostname(request.host) not in LOOPBACK_HOSTS:
        raise ControlForbidden(
            "without a control token the control API answers only requests addressed "
            f"to loopback (127.0.0.1, ::1, localhost), not {request.host!r}"
        )


def _netloc(origin: str) -> str:
    return origin.partition("://")[2].rstrip("/").lower()


def _hostname(host: str) -> str:
    """The host of a Host header, without its port (``[::1]:80`` is ``::1``)."""
    host = host.lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


# Replies


def reply(data: Any, status: int = 200) -> web.Response:
    """The one JSON helper: every control reply goes through it."""
    return web.Response(
        text=json.dumps(data, default=str),
        status=status,
        content_type="application/json",
    )


def error_reply(status: int, message: str, key: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if key is not None:
        body["key"] = key
    response = reply(body, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _is_control(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def control_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token check, and every exception of a ``/_mock/`` request as a JSON error."""
    if not _is_control(request.path):
        return await handler(request)
    try:
        token = _server(request).control_token
        _check_browser(request, open_api=token is None)
        _check_token(request, token)
        return await handler(request)
    except DuplicateFault as error:
        return error_reply(409, error.problem, error.path)
    except FaultSpecError as error:
        return error_reply(400, str(error), error.path)
    except ControlError as error:
        return error_reply(error.status, str(error))
    except (ScenarioError, ConfigError) as error:
        return error_reply(400, str(error))
    except web.HTTPRequestEntityTooLarge as error:  # aiohttp's client_max_size
        return error_reply(413, f"the body is too large: {error.text}")
    except web.HTTPException as error:  # no such route, a method it does not take
        if error.status < 400:
            raise
        response = error_reply(error.status, f"{error.reason}: {request.method} {request.path}")
        if "Allow" in error.headers:  # a 405 names the methods the path takes (RFC 9110)
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("control API: %s %s failed", request.method, request.path)
        return error_reply(500, "internal error (the server's log has the traceback)")


def _server(request: web.Request) -> MockServer:
    return request.app[SERVER_KEY]


async def _json_body(request: web.Request) -> Any:
    # Bytes, whatever charset the request claims: JSON is UTF-8 (RFC 8259 §8.1).
    data = await request.read()
    try:
        return loads(data)
    except ValueError as error:  # UnicodeDecodeError included
        raise ControlBadRequest(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise ControlBadRequest(
            "the body is not JSON this server reads: nested too deeply"
        ) from None


async def _json_object(request: web.Request, what: str) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlBadRequest(f"the body must be a JSON object: {what}")
    return body


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ControlBadRequest(f"?{name}= takes true or false, not {value!r}")


# Serialising


def session_json(session: Session, *, faults: Iterable[ActiveFault] = ()) -> dict[str, Any]:
    """A session as ``GET /_mock/sessions`` lists it (``faults``: those in the book)."""
    stats = session.keepalive.stats
    live = {f.name for f in faults}
    return {
        "id": session.id,
        "number": session.number,
        "peer": session.peer,
        "path": session.path,
        "user_agent": session.user_agent,
        "account": session.account,
        "subscriptions": session.subscriptions,
        "connected_at_us": session.connected_at_us,
        "open": not session.closed,
        "close_code": session.close_code,
        "close_reason": session.close_reason,
        "queued": session.queued,
        "faults": []
        if session.closed
        else [f.name for f in session.faults.faults if f.name in live],
        "keepalive": {
            "pings_sent": stats.pings_sent,
            "pongs_received": stats.pongs_received,
            "round_trips_ms": [round(rtt * 1000, 3) for rtt in stats.round_trips_s],
        },
        "received_count": len(session.received),
    }


def session_detail_json(session: Session, *, faults: Iterable[ActiveFault] = ()) -> dict[str, Any]:
    """One session, with what the client sent."""
    out = session_json(session, faults=faults)
    out["received"] = [
        {"at_us": f.at_us, "text": f.text, "error": f.error, "ignored": f.ignored}
        for f in session.received
    ]
    return out


def kind_json(name: str) -> dict[str, Any]:
    kind = KINDS[name]
    return {
        "name": name,
        "summary": kind.summary(),
        "params": kind.param_docs(),
        "default_count": kind.default_count,
        "action": kind.action,
        "server_level": kind.server_level,
    }


def scenario_json(scenario: Scenario) -> dict[str, Any]:
    synthetic = scenario.synthetic
    return {
        "name": scenario.name,
        "source": scenario.source,
        "description": scenario.description,
        "markets": list(scenario.markets),
        "channels": [script.channel for script in scenario.channels],
        # Not in the agreed shape's list, but without it `default` looks empty.
        "synthetic": sorted(synthetic.families) if synthetic is not None else None,
        "faults": [fault.to_json() for fault in scenario.faults],
    }


# Handlers


def _urls() -> dict[str, str]:
    return {
        "sessions": f"{PREFIX}/sessions",
        "transcript": f"{PREFIX}/transcript",
        "faults": f"{PREFIX}/faults",
        "kinds": f"{PREFIX}/kinds",
        "publish": f"{PREFIX}/publish",
        "scenario": f"{PREFIX}/scenario",
        "reset": f"{PREFIX}/reset",
    }


async def index(request: web.Request) -> web.Response:
    server = _server(request)
    return reply({"version": __version__, "scenario": server.scenario.name, "resources": _urls()})


async def list_sessions(request: web.Request) -> web.Response:
    server = _server(request)
    sessions = server.all_sessions() if _flag(request, "closed") else list(server.sessions.values())
    faults = list(server.faults)
    return reply({"sessions": [session_json(s, faults=faults) for s in sessions]})


def _session_named(request: web.Request) -> Session:
    wanted = request.match_info["id"]
    # The newest first: an id is unique, but be safe with a reused one.
    for session in reversed(_server(request).all_sessions()):
        if session.id == wanted:
            return session
    raise ControlNotFound(f"no session {wanted!r} (GET {PREFIX}/sessions?closed=true lists them)")


async def get_session(request: web.Request) -> web.Response:
    session = _session_named(request)
    return reply(session_detail_json(session, faults=list(_server(request).faults)))


def transcript_reply(request: web.Request, sessions: list[Session]) -> web.Response:
    """The sessions' transcripts: a JSON array, or JSON lines with ``?format=jsonl``."""
    form = request.query.get("format", "json")
    if form == "jsonl":
        text = "".join(line + "\n" for line in json_lines(sessions))
        return web.Response(text=text, content_type="application/x-ndjson")
    if form != "json":
        raise ControlBadRequest(f"?format= takes json or jsonl, not {form!r}")
    return reply([event.to_json(s.id) for s in sessions for event in s.transcript.events()])


async def get_session_transcript(request: web.Request) -> web.Response:
    return transcript_reply(request, [_session_named(request)])


async def get_transcript(request: web.Request) -> web.Response:
    return transcript_reply(request, _server(request).all_sessions())


async def list_faults(request: web.Request) -> web.Response:
    book = _server(request).faults
    faults = list(book)
    if _flag(request, "ended"):
        faults.extend(book.ended)
    return reply({"faults": [f.to_json() for f in faults]})


async def add_fault(request: web.Request) -> web.Response:
    body = await _json_object(request, "a fault envelope with at least 'kind'")
    return reply(_server(request).add_fault(body).to_json(), status=201)


def _fault_named(request: web.Request, *, ended: bool) -> ActiveFault:
    book = _server(request).faults
    name = request.match_info["name"]
    found = book.get(name)
    if found is None and ended:
        found = next((f for f in reversed(book.ended) if f.name == name), None)
    if found is None:
        raise ControlNotFound(f"no fault named {name!r}")
    return found


async def get_fault(request: web.Request) -> web.Response:
    return reply(_fault_named(request, ended=True).to_json())


async def remove_fault(request: web.Request) -> web.Response:
    found = _fault_named(request, ended=False)
    _server(request).faults.remove(found.name)
    return reply(found.to_json())


async def clear_faults(request: web.Request) -> web.Response:
    book = _server(request).faults
    removed = len(book)
    book.clear()
    return reply({"removed": removed})


async def list_kinds(request: web.Request) -> web.Response:
    return reply({"kinds": [kind_json(name) for name in sorted(KINDS)]})


async def publish(request: web.Request) -> web.Response:
    body = await _json_object(request, '{"channel": ..., "data": ..., "account"?: ...}')
    for key in body:
        if key not in ("channel", "data", "account"):
            raise ControlBadRequest(f"unknown key {key!r} (expected channel, data, account)")
    channel, account = body.get("channel"), body.get("account")
    if not isinstance(channel, str) or not channel:
        raise ControlBadRequest("'channel' is required: a channel name")
    if "data" not in body:
        raise ControlBadRequest("'data' is required: the payload to publish")
    if account is not None and not isinstance(account, str):
        raise ControlBadRequest("'account' must be a string (an account address)")
    delivered = _server(request).publish(channel, body["data"], account=account)
    return reply({"delivered": delivered})


async def get_scenario(request: web.Request) -> web.Response:
    return reply(scenario_json(_server(request).scenario))


async def put_scenario(request: web.Request) -> web.Response:
    server = _server(request)
    if request.content_type in YAML_TYPES:
        # Bytes, whatever charset the request claims: a scenario is UTF-8, as a file is.
        text = loader.decode(await request.read(), file=UPLOAD_FILE)
        scenario = loader.loads(text, file=UPLOAD_FILE, default_name="uploaded")
    else:
        body = await _json_object(
            request,
            '{"name": "<bundled scenario>"}, or a YAML body (Content-Type: application/yaml)',
        )
        if set(body) != {"name"}:
            raise ControlBadRequest('expected {"name": "<bundled scenario>"} and nothing else')
        scenario = named_scenario(body["name"], server.config.scenario_dirs)
    # Checked before anything is replaced: a clash found while arming would leave the
    # old scenario stopped and the new one half started.
    added = {f.name for f in server.faults} - {f.name for f in server.scenario.faults}
    clash = sorted(f.name for f in scenario.faults if f.name in added)
    if clash:
        raise ControlConflict(
            f"the scenario arms faults named {', '.join(clash)}, and faults of these names "
            "were added since: remove them first"
        )
    await server.load_scenario(scenario)
    return reply(scenario_json(server.scenario))


def named_scenario(name: Any, search: tuple[Path, ...]) -> Scenario:
    """A scenario by name: from the server's scenario directories, then the bundled
    ones. Never a path: a name with a separator, a suffix or ``..`` is refused."""
    if not isinstance(name, str) or not _SCENARIO_NAME.match(name):
        raise ControlBadRequest(
            f"not a scenario name: {name!r} (a bundled scenario's name such as 'empty'; "
            "never a path: send a file's text as a YAML body instead)"
        )
    for directory in search:
        for suffix in _SCENARIO_SUFFIXES:
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file():
                return loader.load_file(candidate)
    if name not in loader.bundled_names():
        known = ", ".join(loader.bundled_names())
        raise ControlNotFound(f"no scenario named {name!r} (bundled: {known})")
    root = importlib.resources.files("mockserver.bundled_scenarios")
    for suffix in _SCENARIO_SUFFIXES:
        candidate = root / f"{name}{suffix}"
        if candidate.is_file():
            return loader.load_file(Path(str(candidate)))
    raise ControlNotFound(f"no scenario named {name!r}")  # pragma: no cover (listed above)


async def reset(request: web.Request) -> web.Response:
    server = _server(request)
    await server.reset()
    return reply({"reset": True, "scenario": server.scenario.name})


# (method, path under /_mock, handler)
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "", index),
    ("GET", "/", index),
    ("GET", "/sessions", list_sessions),
    ("GET", "/sessions/{id}", get_session),
    ("GET", "/sessions/{id}/transcript", get_session_transcript),
    ("GET", "/transcript", get_transcript),
    ("GET", "/faults", list_faults),
    ("POST", "/faults", add_fault),
    ("DELETE", "/faults", clear_faults),
    ("GET", "/faults/{name}", get_fault),
    ("DELETE", "/faults/{name}", remove_fault),
    ("GET", "/kinds", list_kinds),
    ("POST", "/publish", publish),
    ("GET", "/scenario", get_scenario),
    ("PUT", "/scenario", put_scenario),
    ("POST", "/reset", reset),
)


def add_routes(app: web.Application) -> None:
    """Mount the control API on ``app`` (its middleware included)."""
    app.middlewares.append(control_middleware)
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)
