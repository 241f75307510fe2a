"""The two servers under test, each a child process pinned to one CPU.

``python -m bench.servers mock|bare [--cpu N] [--ping-interval S] [--no-compression]``

- *mock*: ``MockServer`` on the ``empty`` scenario; the publisher calls
  ``server.publish`` (fan-out: encodes the dict once) or
  ``server.hub.publish_encoded`` (replay: a recorded payload, already JSON), and
  ``await server.drained()`` every burst, the publisher's backpressure.
- *bare*: the ceiling for this stack, the simplest honest aiohttp broadcast
  server: a default ``web.WebSocketResponse``, a reply to ``subscribe``, a set of
  sockets per channel, and ``for ws in subscribers: await ws.send_str(text)``
  with the notification encoded once per message. No pings.

The publisher runs inside the server process, as a task of its loop, so that the
time measured is the server's. Commands (JSON lines, see ``bench.pipes``):
``fanout``/``replay`` (``channels``, ``messages``, optional ``rate`` in messages
per second per channel), ``rss``, ``mark`` and ``keepalive`` (mock only),
``stop``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from bench import payloads
from bench.pipes import Result, pin_cpu, serve_commands
from mockserver.encoding import dumps

# At most this many deliveries between two waits for the sockets to drain, so the
# loop keeps turning (pings stay timely); and at most this many frames a session,
# half the mock's slow-consumer limit (max_queued_messages, 2000), so none is one.
BURST_DELIVERIES = 10_000
BURST_PER_SESSION = 1_000

# MockConfig's limits on connections per client IP, turned off (None) where it has them.
UNLIMITED = ("connections_per_ip_per_s", "connections_per_ip_per_min")

NOTIFICATION = '{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":{},"data":{}}}}}'


def notification(channel: str, data_json: str) -> str:
    """The JSON-RPC push frame the bare server sends (the mock's own shape)."""
    return NOTIFICATION.format(json.dumps(channel), data_json)


def vm_rss_bytes() -> int:
    """This process's resident set size after a full collection (``/proc/self/status``)."""
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Target:
    """What the publisher needs of a server; ``MockTarget`` and ``BareTarget``."""

    kind = ""

    async def start(self) -> int:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def subscribers(self, channel: str) -> int:
        raise NotImplementedError

    async def send_data(self, channel: str, data: dict[str, Any]) -> None:
        """The user's path: a dict, encoded by the server."""
        raise NotImplementedError

    async def send_encoded(self, channel: str, data_json: str) -> None:
        """The replay path: a payload already encoded."""
        raise NotImplementedError

    async def drained(self) -> None:
        """Return once every frame published so far is handed to the sockets."""

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Result]]]:
        """Server-specific commands, beyond the publisher's."""
        return {}


class MockTarget(Target):
    kind = "mock"

    def __init__(self, *, ping_interval_s: float, compression: bool) -> None:
        from mockserver.config import MockConfig
        from mockserver.server import MockServer

        options: dict[str, Any] = {
            "port": 0,
            "scenario": "empty",
            "ping_interval_s": ping_interval_s,
            "pong_timeout_s": 5.0,
            "compression": compression,
        }
        # Every client connects from 127.0.0.1: Paradex's per-IP connection rate
        # limit (20/s, 600/min) would refuse all but the first few hundred.
        known = {field.name for field in dataclasses.fields(MockConfig)}
        options.update({name: None for name in UNLIMITED if name in known})
        self.server = MockServer(MockConfig(**options))
        self._marked: dict[str, _Readings] = {}

    async def start(self) -> int:
        await self.server.start()
        return self.server.port

    async def stop(self) -> None:
        await self.server.stop()

    def subscribers(self, channel: str) -> int:
        return self.server.hub.subscriber_count(channel)

    async def send_data(self, channel: str, data: dict[str, Any]) -> None:
        self.server.publish(channel, data)

    async def send_encoded(self, channel: str, data_json: str) -> None:
        self.server.hub.publish_encoded(channel, data_json)

    async def drained(self) -> None:
        await self.server.drained()

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Result]]]:
        return {"mark": self.mark, "keepalive": self.keepalive}

    async def mark(self, command: dict[str, Any]) -> Result:
        """Start counting: ``keepalive`` reports what happened to sessions after this."""
        self._marked = {
            session.id: _Readings.of(session, closed=session.close_code is not None)
            for session in self.server.all_sessions()
        }
        return {"marked": len(self._marked)}

    async def keepalive(self, command: dict[str, Any]) -> Result:
        """Since ``mark``: every session's ping lateness (s), pings sent, pongs
        received, and the close codes of the sessions that closed."""
        lateness: list[float] = []
        round_trips: list[float] = []
        pings = pongs = 0
        closed: dict[str, int] = {}
        for session in self.server.all_sessions():
            before = self._marked.get(session.id, _Readings())
            if before.closed:
                continue
            now = _Readings.of(session, closed=False)
            stats = session.keepalive.stats
            pings += now.pings - before.pings
            pongs += now.pongs - before.pongs
            lateness.extend(stats.ping_lateness_s[before.lateness :])
            round_trips.extend(stats.round_trips_s[before.round_trips :])
            if session.close_code is not None:
                closed[str(session.close_code)] = closed.get(str(session.close_code), 0) + 1
        return {
            "pings_sent": pings,
            "pongs_received": pongs,
            "ping_lateness_s": lateness,
            "round_trips_s": round_trips,
            "close_codes": closed,
        }


@dataclass(frozen=True)
class _Readings:
    """A session's keepalive counters at one moment."""

    pings: int = 0
    pongs: int = 0
    # How many lateness and round-trip readings it held (each bounded at 1000 a session).
    lateness: int = 0
    round_trips: int = 0
    closed: bool = False

    @classmethod
    def of(cls, session: Any, *, closed: bool) -> _Readings:
        stats = session.keepalive.stats
        return cls(
            stats.pings_sent,
            stats.pongs_received,
            len(stats.ping_lateness_s),
            len(stats.round_trips_s),
            closed,
        )


class BareTarget(Target):
    kind = "bare"

    def __init__(self, *, compression: bool) -> None:
        self._compression = compression
        self._channels: dict[str, dict[web.WebSocketResponse, None]] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/v1", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=self._compression)
        await ws.prepare(request)
        joined: list[str] = []
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    rpc = json.loads(message.data)
                    channel = rpc["params"]["channel"]
                    self._channels.setdefault(channel, {})[ws] = None
                    joined.append(channel)
                    reply = {"jsonrpc": "2.0", "id": rpc["id"], "result": {"channel": channel}}
                    await ws.send_str(json.dumps(reply, separators=(",", ":")))
        finally:
            for channel in joined:
                self._channels[channel].pop(ws, None)
        return ws

    def subscribers(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    async def send_data(self, channel: str, data: dict[str, Any]) -> None:
        message = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel}}
        message["params"]["data"] = data
        # The mock's own encoder (orjson), so the ratio compares the send paths only.
        await self._broadcast(channel, dumps(message))

    async def send_encoded(self, channel: str, data_json: str) -> None:
        await self._broadcast(channel, notification(channel, data_json))

    async def _broadcast(self, channel: str, text: str) -> None:
        for ws in list(self._channels.get(channel, ())):
            # try/except, not contextlib.suppress: free in the hot loop of the ceiling.
            try:  # noqa: SIM105
                await ws.send_str(text)
            except ConnectionError:  # a client gone mid-run: the client side counts it
                pass


class Publisher:
    """Publishes timestamped messages on a server, as fast as it goes or paced."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._tails = {channel: payloads.encoded_tail(channel) for channel in payloads.CHANNELS}
        self._data = {channel: payloads.payload(channel) for channel in payloads.CHANNELS}

    async def run(self, command: dict[str, Any], *, encoded: bool) -> Result:
        """Publish ``messages`` messages on each of ``channels`` (one round: one
        message on every channel), ``await drained()`` every burst."""
        channels: list[str] = command["channels"]
        messages: int = command["messages"]
        rate: float | None = command.get("rate")
        per_round = sum(self.target.subscribers(channel) for channel in channels) or 1
        burst = max(1, min(BURST_PER_SESSION, BURST_DELIVERIES // per_round))
        send = self._send_encoded if encoded else self._send_data
        interval_ns = int(1e9 / rate) if rate else 0
        cpu_start = time.process_time()
        start_ns = time.monotonic_ns()
        for i in range(messages):
            if interval_ns:
                await pace(start_ns + i * interval_ns)
            for channel in channels:
                await send(channel)
            if (i + 1) % burst == 0:
                await self.target.drained()
        await self.target.drained()
        end_ns = time.monotonic_ns()
        return {
            "published": messages * len(channels),
            "deliveries": messages * per_round,
            "first_publish_ns": start_ns,
            "seconds": (end_ns - start_ns) / 1e9,
            "cpu_s": time.process_time() - cpu_start,
        }

    async def _send_data(self, channel: str) -> None:
        await self.target.send_data(channel, {"t": time.monotonic_ns(), **self._data[channel]})

    async def _send_encoded(self, channel: str) -> None:
        data_json = payloads.stamped(time.monotonic_ns(), self._tails[channel])
        await self.target.send_encoded(channel, data_json)


async def pace(due_ns: int) -> None:
    """Wait until ``due_ns`` (a fixed offered load; not a wait for readiness)."""
    delay_ns = due_ns - time.monotonic_ns()
    if delay_ns > 0:
        await asyncio.sleep(delay_ns / 1e9)


def make_target(args: argparse.Namespace) -> Target:
    if args.kind == "mock":
        return MockTarget(ping_interval_s=args.ping_interval, compression=args.compression)
    return BareTarget(compression=args.compression)


async def main(args: argparse.Namespace) -> None:
    affinity = pin_cpu(args.cpu)
    target = make_target(args)
    port = await target.start()
    publisher = Publisher(target)

    async def fanout(command: dict[str, Any]) -> Result:
        return await publisher.run(command, encoded=False)

    async def replay(command: dict[str, Any]) -> Result:
        return await publisher.run(command, encoded=True)

    async def rss(command: dict[str, Any]) -> Result:
        return {"rss_bytes": vm_rss_bytes()}

    handlers = {"fanout": fanout, "replay": replay, "rss": rss, **target.handlers()}
    try:
        await serve_commands({"kind": target.kind, "port": port, "affinity": affinity}, handlers)
    finally:
        await target.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("kind", choices=("mock", "bare"))
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--ping-interval", type=float, default=1.0, help="mock only (s)")
    parser.add_argument("--no-compression", dest="compression", action="store_false")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse_args()))
