"""Paradex's REST endpoints that clients call before the socket, on the same port.

ccxt's ``load_markets()`` (GET /v1/markets) and ``authenticate_rest()`` (GET
/v1/system/config, POST /v1/auth), paradex-py's ``Paradex(...)`` (GET
/v1/system/config, POST /v1/auth/{public_key}) and any hand-written bot's first
look at the market (GET /v1/markets/summary, /v1/orderbook/{market},
/v1/bbo/{market}, /v1/system/state, /v1/system/time) all work against the mock
with nothing changed but the base URL. One module per resource group:

==============  ==========================================================
``system.py``   GET /v1/system/config, /v1/system/state, /v1/system/time
``markets.py``  GET /v1/markets, /v1/markets/summary
``book.py``     GET /v1/orderbook/{market}, /v1/bbo/{market}
``auth.py``     POST /v1/auth, POST /v1/auth/{public_key}
``view.py``     what they read: the running synthetic market, else the
                scenario's specs and the latest publishes
==============  ==========================================================

Every response follows its operation's schema in Paradex's OpenAPI
(``openapi.json``); every refusal is a ``responses.ApiError`` (``errors.py``),
mapped in one place, ``endpoint``. Any other path under ``/v1/`` gets a JSON
404 ``NOT_FOUND`` that names it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mockserver.rest.errors import RestError

log = logging.getLogger(__name__)

PREFIX = "/v1"

Handler = Callable[[web.Request], Awaitable[Any]]


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A JSON REST handler: its return value as the body, a ``RestError`` as an ApiError.

    An unexpected exception is logged and answered with Paradex's generic
    ``INTERNAL_ERROR`` (500): nothing internal leaks to the client.
    """

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            body = await handler(request)
        except RestError as error:
            return web.json_response(error.body(), status=error.http_status)
        except Exception:
            log.exception("REST %s %s failed", request.method, request.path)
            internal = {"error": "INTERNAL_ERROR", "message": "internal error"}
            return web.json_response(internal, status=500)
        return web.json_response(body)

    return wrapped


class NotServed(RestError):
    status = 404
    error = "NOT_FOUND"


async def not_served(request: web.Request) -> Any:
    """Any other path under /v1/: a JSON 404 naming it, so a client's error says what is missing."""
    raise NotServed(f"paradex-mock does not serve {request.method} {request.path} (README: REST)")


def add_routes(app: web.Application) -> None:
    """Mount the REST endpoints under ``/v1`` (beside the WebSocket at ``/v1`` itself)."""
    # Imported here: each module reads SERVER_KEY from mockserver.app, which imports this one.
    from mockserver.rest import auth, book, markets, system

    for module in (system, markets, book, auth):
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, PREFIX + path, endpoint(handler))
    # Last: aiohttp matches routes in the order they were added.
    app.router.add_route("*", PREFIX + "/{path:.+}", endpoint(not_served))
