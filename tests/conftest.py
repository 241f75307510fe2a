"""Shared test helpers: real aiohttp WebSocket clients against the paradex_mock fixture."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serve_process import Processes

from mockserver.server import MockServer

# Every wait in the suite is bounded by this, so a broken server fails a test
# quickly instead of hanging it.
RECEIVE_TIMEOUT_S = 5.0


class Client:
    """A raw WebSocket client that speaks JSON-RPC to the mock."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next_id = 1

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def receive_json(self, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        message = await self.ws.receive(timeout=timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message}"
        return json.loads(message.data)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, request_id: int | str | None = None
    ) -> dict[str, Any]:
        """Send a request and return its reply, skipping notifications in between."""
        if request_id is None:
            request_id, self._next_id = self._next_id, self._next_id + 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.send(request)
        while True:
            reply = await self.receive_json()
            if "id" in reply and reply["id"] == request_id:
                return reply

    async def subscribe(self, channel: str) -> dict[str, Any]:
        return await self.call("subscribe", {"channel": channel})

    async def notification(self, channel: str | None = None) -> dict[str, Any]:
        """The next push notification (on ``channel``, if given)."""
        while True:
            frame = await self.receive_json()
            if frame.get("method") == "subscription" and (
                channel is None or frame["params"]["channel"] == channel
            ):
                return frame


Connect = Callable[..., Awaitable[Client]]


def sync_call(ws: Any, request_id: int, method: str, **params: Any) -> dict[str, Any]:
    """Send a JSON-RPC request on a websocket-client connection and return its reply."""
    ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
    while True:
        reply: dict[str, Any] = json.loads(ws.recv())
        if reply.get("id") == request_id:
            return reply


@pytest.fixture
async def connect(paradex_mock: MockServer) -> AsyncIterator[Connect]:
    """Open raw clients to the test's paradex_mock server: ``await connect(path="/v1")``."""
    async with aiohttp.ClientSession() as http:
        # Held until teardown: an unreferenced client would be collected and disconnect.
        clients: list[Client] = []

        async def open_client(path: str = "/v1", **options: Any) -> Client:
            options.setdefault("autoping", True)
            ws = await http.ws_connect(paradex_mock.url + path, **options)
            clients.append(Client(ws))
            return clients[-1]

        yield open_client
        for client in clients:
            await client.ws.close()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    """Starts ``paradex-mock serve`` subprocesses; kills any left running after the test."""
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        await procs.close()
