"""The aiohttp application: the /v1 WebSocket, Paradex's REST endpoints under /v1/
(``mockserver.rest``), /health and the control API (/_mock/).

Thin: every handler asks the ``MockServer`` it belongs to. Paths are matched
without their query string, so ccxt's ``/v1?sbeSchemaId=1&sbeSchemaVersion=3``
reaches the same endpoint (the mock always answers in JSON; see README).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from mockserver import __version__

if TYPE_CHECKING:
    from mockserver.server import MockServer

log = logging.getLogger(__name__)

SERVER_KEY: web.AppKey[MockServer] = web.AppKey("paradex_mock_server")
WS_PATH = "/v1"


async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER_KEY]
    ws = server.new_websocket()
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"error": "this is a WebSocket endpoint: connect with a WebSocket client"},
            status=426,
            headers={"Upgrade": "websocket"},
        )
    # Counted here, past the upgrade check: only WebSocket handshakes count
    # against the connection rate limit (not /health, REST or a plain GET /v1).
    number, refusal = server.connection_attempt(request.remote)
    if refusal is not None and refusal.mode == "http":
        return web.json_response(
            {"error": refusal.error},
            status=refusal.status,
            headers={"Retry-After": refusal.retry_after},
        )
    try:
        await ws.prepare(request)
    except ConnectionError:  # the client went away during the handshake
        log.debug("connection %d closed before the upgrade completed", number)
        # Not the half-prepared ws (aiohttp would try to close it): a plain
        # response, whose write to the closed transport aiohttp drops quietly.
        return web.Response(status=400, text="the connection closed during the upgrade")
    if refusal is not None:  # accepted, then closed at once: a rate-limit close
        await ws.close(code=refusal.code, message=refusal.reason.encode())
        return ws
    await server.serve_connection(request, ws, number=number)
    return ws


async def health(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "scenario": server.scenario.name,
            "connections": len(server.sessions),
        }
    )


def build_app(server: MockServer) -> web.Application:
    app = web.Application()
    app[SERVER_KEY] = server
    app.router.add_get(WS_PATH, websocket_endpoint)
    app.router.add_get("/health", health)
    # Imported here: the REST modules read SERVER_KEY from this one.
    from mockserver import rest

    rest.add_routes(app)
    if server.config.control_api:
        # Imported here: the control module reads SERVER_KEY from this one.
        from mockserver import control

        control.add_routes(app)
        if server.control_token is not None and server.config.control_token is None:
            log.warning(
                "listening beyond loopback (%s) with no control token configured: the "
                "control API (/_mock/) requires this generated one: %s",
                server.config.host,
                server.control_token,
            )
    return app
