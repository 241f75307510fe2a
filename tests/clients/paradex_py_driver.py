"""Drive paradex-py, unmodified, for tests/test_paradex_py.py.

paradex-py 0.8.2 installs only on Python 3.10 (its starknet-crypto-py dependency
ships a cp310 wheel alone), so this script runs in the venv `.ci/paradex-py-venv`
builds, and the suite (Python 3.11) talks to it through pipes. Requests are JSON
lines on stdin, answered one by one, in order, as JSON lines on stdout::

    -> {"id": 1, "op": "client", "client": "c", "ws_url": "ws://127.0.0.1:PORT/v1"}
    <- {"id": 1, "result": null}
    -> {"id": 2, "op": "subscribe", "client": "c", "channel": "BBO",
        "params": {"market": "BTC-USD-PERP"}}
    <- {"id": 2, "result": "bbo.BTC-USD-PERP"}
    -> {"id": 3, "op": "messages", "client": "c", "channel": "bbo.BTC-USD-PERP"}
    <- {"id": 3, "result": [{"index": 0, "enum": "BBO", "message": {...}}]}

A failed request answers ``{"id": n, "error": "Type: text"}``; the driver goes on.
Every callback paradex-py makes is recorded per client with the enum it passed
and the whole frame it parsed; ``messages`` waits (bounded) until enough are in.
The driver holds no state between clients but what ``reset`` clears. It exits
when stdin closes. paradex-py's own logs go to stderr (level WARNING, or
``PARADEX_PY_DRIVER_LOG_LEVEL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from paradex_py import Paradex
from paradex_py.api.ws_client import ParadexWebsocketChannel, ParadexWebsocketClient

ENV = "testnet"
DEFAULT_WAIT_S = 5.0


@dataclasses.dataclass(frozen=True)
class Account:
    """What paradex-py's websocket client reads of an account: its JWT (duck-typed)."""

    jwt_token: str


@dataclasses.dataclass
class Driven:
    """One paradex-py websocket client and every callback it made."""

    ws: ParadexWebsocketClient
    received: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    paradex: Paradex | None = None


class Driver:
    """Runs the requests of the test, one at a time."""

    def __init__(self) -> None:
        self.clients: dict[str, Driven] = {}
        self._changed = asyncio.Event()

    # Clients

    def _add(self, name: str, ws: ParadexWebsocketClient, jwt: str | None) -> Driven:
        if name in self.clients:
            raise ValueError(f"client {name!r} exists")
        if jwt is not None:
            ws.init_account(Account(jwt))  # type: ignore[arg-type]
        self.clients[name] = Driven(ws)
        return self.clients[name]

    async def op_client(self, client: str, ws_url: str, jwt: str | None = None) -> None:
        """A standalone ParadexWebsocketClient pointed at ``ws_url``."""
        self._add(client, ParadexWebsocketClient(env=ENV, ws_url_override=ws_url), jwt)

    async def op_paradex(
        self, client: str, api_base_url: str, ws_url: str, jwt: str | None = None
    ) -> dict[str, Any]:
        """A ``Paradex`` (it fetches /system/config from ``api_base_url``); returns that config.

        Its ``ws_client`` becomes client ``client`` for the other requests.
        """
        paradex = Paradex(env=ENV, api_base_url=api_base_url, ws_url_override=ws_url)
        self._add(client, paradex.ws_client, jwt).paradex = paradex
        return dataclasses.asdict(paradex.config)

    async def op_rest(
        self, client: str, method: str, args: list[Any] | None = None, kwargs: Any = None
    ) -> Any:
        """``paradex.api_client.<method>(*args, **kwargs)`` of a client made by ``paradex``."""
        paradex = self.clients[client].paradex
        if paradex is None:
            raise ValueError(f"client {client!r} was not made by a Paradex")
        result = getattr(paradex.api_client, method)(*(args or []), **(kwargs or {}))
        return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result

    async def op_connect(self, client: str) -> bool:
        return await self.clients[client].ws.connect()

    async def op_subscribe(
        self, client: str, channel: str, params: dict[str, Any] | None = None
    ) -> str:
        """Subscribe through paradex-py's enum; returns the channel name it subscribed to."""
        driven = self.clients[client]
        recorder = self._recorder(driven)
        await driven.ws.subscribe(ParadexWebsocketChannel[channel], recorder, params or None)
        (name,) = (name for name, cb in driven.ws.callbacks.items() if cb is recorder)
        return name

    async def op_unsubscribe(self, client: str, channel: str) -> None:
        await self.clients[client].ws.unsubscribe_by_name(channel)

    async def op_subscriptions(self, client: str) -> dict[str, bool]:
        return self.clients[client].ws.get_subscriptions()

    async def op_mark(self, client: str) -> int:
        """How many callbacks the client has had so far (a ``since`` for ``messages``)."""
        return len(self.clients[client].received)

    async def op_messages(
        self,
        client: str,
        channel: str,
        since: int = 0,
        count: int = 1,
        timeout: float = DEFAULT_WAIT_S,
        match: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The callbacks on ``channel`` from index ``since`` on, once there are ``count``.

        With ``match``, only those whose ``params.data`` holds those items.
        """
        driven = self.clients[client]

        def found() -> list[dict[str, Any]]:
            return [
                r
                for r in driven.received[since:]
                if r["channel"] == channel and _holds(r["message"], match)
            ]

        deadline = time.monotonic() + timeout
        while len(found()) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                got = [r["channel"] for r in driven.received[since:]]
                raise TimeoutError(
                    f"{len(found())} of {count} callbacks on {channel} within {timeout}s "
                    f"(since {since}, the client got: {sorted(set(got))})"
                )
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        return found()

    async def op_close(self, client: str) -> None:
        driven = self.clients.pop(client)
        await driven.ws.close()

    async def op_reset(self) -> None:
        """Close every client (before the test's server stops)."""
        for name in list(self.clients):
            await self.op_close(name)

    def _recorder(self, driven: Driven) -> Callable[..., Any]:
        async def callback(ws_channel: ParadexWebsocketChannel | None, message: dict) -> None:
            driven.received.append(
                {
                    "index": len(driven.received),
                    "enum": None if ws_channel is None else ws_channel.name,
                    "channel": message["params"]["channel"],
                    "message": message,
                }
            )
            self._changed.set()
            self._changed = asyncio.Event()

        return callback


def _holds(message: dict[str, Any], match: dict[str, Any] | None) -> bool:
    data = message.get("params", {}).get("data")
    return match is None or (isinstance(data, dict) and data.items() >= match.items())


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


async def serve() -> None:
    """Answer requests from stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    driver = Driver()
    _reply({"ready": True})
    while line := await reader.readline():
        request = json.loads(line)
        request_id, op = request.pop("id"), request.pop("op")
        try:
            result = await getattr(driver, f"op_{op}")(**request)
        except Exception as error:  # reported to the test, which fails with it
            _reply({"id": request_id, "error": f"{type(error).__name__}: {error}"})
        else:
            _reply({"id": request_id, "result": result})
    await driver.op_reset()


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("PARADEX_PY_DRIVER_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(name)s %(message)s",
    )
    asyncio.run(serve())
