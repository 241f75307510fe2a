"""Client-side probes for the fault tests: what a real client sees of a fault.

- ``closing``: read a client until its connection ends; the close frame's code and
  reason (or 1006 for a drop), and when it came;
- ``answers``: whether the server still answers a request on this connection;
- ``Probe``: a client with ``autoping=False`` read in the background, so a test
  sees every ping and pong (and answers the server's pings, late if asked to);
- ``attempt``: one connection attempt, refused (its HTTP status) or accepted;
- ``reconnect_until_accepted``: a client's reconnect loop, timed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import WSMsgType
from conftest import RECEIVE_TIMEOUT_S, Client, Connect

ABNORMAL = aiohttp.WSCloseCode.ABNORMAL_CLOSURE  # 1006: TCP went away with no close frame
# The data frames a client reads past while waiting for something else.
_DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG)


def now() -> float:
    return asyncio.get_running_loop().time()


@dataclass(frozen=True)
class Ending:
    """How a connection ended, as the client saw it."""

    code: int  # the close frame's code, or 1006 when none came
    reason: str
    type: WSMsgType  # CLOSE for a close frame; CLOSED or ERROR for a drop
    at: float  # loop time

    @property
    def dropped(self) -> bool:
        """TCP closed with no close frame (an abnormal closure)."""
        return self.type is not WSMsgType.CLOSE and self.code == ABNORMAL


def _ending(ws: aiohttp.ClientWebSocketResponse, message: aiohttp.WSMessage) -> Ending:
    if message.type is WSMsgType.CLOSE:
        return Ending(int(message.data), message.extra or "", message.type, now())
    return Ending(ws.close_code or ABNORMAL, "", message.type, now())


async def closing(client: Client, timeout: float = RECEIVE_TIMEOUT_S) -> Ending:
    """Read ``client`` until its connection ends (skipping data); fail after ``timeout``."""
    deadline = now() + timeout
    while True:
        try:
            message = await client.ws.receive(timeout=max(0.0, deadline - now()))
        except asyncio.TimeoutError:
            raise AssertionError(f"the connection was still open after {timeout}s") from None
        if message.type not in _DATA:
            return _ending(client.ws, message)


async def answers(client: Client) -> bool:
    """The server still reads and answers on this connection (a request gets its reply)."""
    reply = await client.call("no.such.method")
    return reply["error"]["code"] == -32601


async def attempt(http: aiohttp.ClientSession, ws_url: str) -> int | Client:
    """One connection attempt: the HTTP status it was refused with, or the open client."""
    try:
        ws = await http.ws_connect(ws_url)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    return Client(ws)


async def reconnect_until_accepted(
    ws_url: str, *, within_s: float, refused: list[float] | None = None
) -> float:
    """Try to connect every 20 ms (a client's backoff) until accepted; when it was.

    Every refusal must be a 503 (its time is appended to ``refused``); the accepted
    connection must answer a request.
    """
    async with aiohttp.ClientSession() as http:
        deadline = now() + within_s
        while now() < deadline:
            outcome = await attempt(http, ws_url)
            if isinstance(outcome, Client):
                accepted_at = now()
                assert await answers(outcome)
                await outcome.ws.close()
                return accepted_at
            assert outcome == 503, outcome
            if refused is not None:
                refused.append(now())
            await asyncio.sleep(0.02)
    raise AssertionError(f"still refused after {within_s}s")


class Probe:
    """A client read in the background with ``autoping=False``: every frame, timed.

    It answers the server's pings ``pong_delay_s`` late (None: never).
    """

    def __init__(self, client: Client, *, pong_delay_s: float | None) -> None:
        self.client = client
        self.ws = client.ws
        self.pong_delay_s = pong_delay_s
        self.pings: list[float] = []  # when each server ping arrived
        self.pongs: list[float] = []  # when each pong to our own pings arrived
        self.texts: list[dict[str, Any]] = []
        self.end: Ending | None = None
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._answers: set[asyncio.Task[None]] = set()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, connect: Connect, *, pong_delay_s: float | None = 0.0) -> Probe:
        return cls(await connect(autoping=False), pong_delay_s=pong_delay_s)

    async def _read(self) -> None:
        while self.end is None:
            message = await self.ws.receive()
            if message.type is WSMsgType.PING:
                self.pings.append(now())
                self._answer(message.data)
            elif message.type is WSMsgType.PONG:
                self.pongs.append(now())
            elif message.type is WSMsgType.TEXT:
                self.texts.append(json.loads(message.data))
            else:
                self.end = _ending(self.ws, message)
            self._changed.set()
            self._changed = asyncio.Event()

    def _answer(self, data: bytes) -> None:
        if self.pong_delay_s is None:
            return
        if self.pong_delay_s == 0:
            task = asyncio.create_task(self.ws.pong(data))
        else:
            task = asyncio.create_task(self._late_pong(data, self.pong_delay_s))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _late_pong(self, data: bytes, delay_s: float) -> None:
        await asyncio.sleep(delay_s)  # the client under test is slow on purpose
        if not self.ws.closed:
            await self.ws.pong(data)

    async def until(
        self, predicate: Callable[[], bool], *, timeout: float = RECEIVE_TIMEOUT_S
    ) -> None:
        """Return once ``predicate()`` holds, re-checked on every frame; fail after ``timeout``."""

        async def wait() -> None:
            while not predicate():
                if self.end is not None:
                    raise AssertionError(f"the connection ended first: {self.end}")
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s") from None

    async def ended(self, *, timeout: float = RECEIVE_TIMEOUT_S) -> Ending:
        """Wait for the connection to end."""

        async def wait() -> None:
            while self.end is None:
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"the connection was still open after {timeout}s") from None
        assert self.end is not None
        return self.end

    async def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        """Send a request without waiting for its reply; returns its id."""
        request_id = next(self._ids)
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send_str(json.dumps(request))
        return request_id

    def reply(self, request_id: int) -> dict[str, Any] | None:
        return next((t for t in self.texts if t.get("id") == request_id), None)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its reply."""
        request_id = await self.send(method, params)
        await self.until(lambda: self.reply(request_id) is not None)
        found = self.reply(request_id)
        assert found is not None
        return found

    def pings_since(self, moment: float) -> int:
        return sum(1 for t in self.pings if t >= moment)
