"""Stream probes for the message and order-book fault tests: what a real client
receives, frame by frame, and when.

- ``subscribe``: open a client, subscribe it, and pair it with its server session
  (so a fault can target exactly that session);
- ``frames`` / ``read_until``: the text frames a client receives, each with its
  arrival time, bounded by a timeout (never a sleep).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType
from conftest import RECEIVE_TIMEOUT_S, Client

from mockserver.server import MockServer
from mockserver.session import Session

BTC = "BTC-USD-PERP"
BBO = f"bbo.{BTC}"
TRADES = f"trades.{BTC}"
DELTAS = f"order_book.{BTC}.deltas"
SNAPSHOT = f"order_book.{BTC}.snapshot@15@50ms"
# How late a timed frame may arrive on a loaded machine.
MARGIN_S = 0.25

OpenClient = Callable[[], Awaitable[Client]]


def now() -> float:
    return asyncio.get_running_loop().time()


@dataclass(frozen=True)
class Subscriber:
    """A real client and the server session that serves it."""

    client: Client
    session: Session


async def subscribe(open_client: OpenClient, server: MockServer, *channels: str) -> Subscriber:
    """A new client subscribed to ``channels``, with its session (the newest one)."""
    client = await open_client()
    for channel in channels:
        reply = await client.subscribe(channel)
        assert "result" in reply, reply
    # The subscribe replies came back, so the server has the session: the newest.
    session = list(server.sessions.values())[-1]
    assert sorted(session.subscriptions) == sorted(channels)
    return Subscriber(client, session)


@dataclass(frozen=True)
class Frame:
    """One text frame as the client received it."""

    text: str
    at: float  # loop time of arrival

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def channel(self) -> str:
        return str(self.json()["params"]["channel"])

    @property
    def data(self) -> Any:
        return self.json()["params"]["data"]


async def frame(client: Client, *, timeout: float = RECEIVE_TIMEOUT_S) -> Frame:
    """The next text frame ``client`` receives (failing on anything else)."""
    message = await client.ws.receive(timeout=timeout)
    assert message.type is WSMsgType.TEXT, f"expected a text frame, got {message}"
    return Frame(message.data, now())


async def frames(client: Client, n: int, *, timeout: float = RECEIVE_TIMEOUT_S) -> list[Frame]:
    """The next ``n`` text frames ``client`` receives."""
    return [await frame(client, timeout=timeout) for _ in range(n)]


async def read_until(
    client: Client, last: Callable[[Frame], bool], *, timeout: float = RECEIVE_TIMEOUT_S
) -> list[Frame]:
    """Text frames up to and including the first for which ``last`` holds."""
    received: list[Frame] = []
    while not received or not last(received[-1]):
        received.append(await frame(client, timeout=timeout))
    return received


def ids(received: list[Frame]) -> list[str]:
    """The ``id`` of each notification's data, in arrival order."""
    return [str(f.data["id"]) for f in received]


def has_id(value: str) -> Callable[[Frame], bool]:
    return lambda f: f.data.get("id") == value
