"""The load-generating client: many WebSocket connections in one asyncio process.

``python -m bench.clients [--cpu N] [--sample-every K]``

Each connection is a raw ``asyncio.Protocol``, as cheap per frame as Python
allows, so that the bench measures the server rather than its client: the HTTP
upgrade is written by hand (``Sec-WebSocket-Key``, optionally offering
``permessage-deflate``), server frames are parsed with a small header parser
(unmasked, unfragmented, as aiohttp sends them), compressed ones (RSV1) are
inflated with one ``zlib.decompressobj(-15)`` per connection. A connection sends
its JSON-RPC ``subscribe`` (masked, as a client must) and waits for the reply;
then it counts text frames, answers every ping at once with a masked pong, and
records each ping's arrival. A close frame or EOF it did not ask for makes it a
*dropped* client. The process runs on uvloop when it is installed.

Latency: every frame's receive time is the ``time.monotonic_ns()`` of the read
that brought it (one reading per ``data_received``); the publish time is the
``"t"`` the publisher put first in the payload, found with a precompiled regex.
Every K-th frame of each connection is sampled (``--sample-every``, default 1:
every frame).

Commands (JSON lines, see ``bench.pipes``): ``connect``, ``expect``, ``wait``,
``pings``, ``close``, ``stop``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import time
import zlib
from typing import Any, cast

from bench.pipes import Result, pin_cpu, serve_commands
from bench.stats import summary

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STAMP = re.compile(rb'"data":\{"t":(\d+)')
DEFLATE_TAIL = b"\x00\x00\xff\xff"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
# A ping may seem to arrive this much before it was due: the client's reading of the
# connection's start is a little later than the server's.
EARLY_TOLERANCE_NS = 5_000_000
CONNECT_BATCH = 100  # connections opened at once: below aiohttp's listen backlog (128)
SUBSCRIBE_TIMEOUT_S = 30.0


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame: FIN, ``opcode``, masked with a fresh key (RFC 6455 §5.3)."""
    key = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = (key * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(length, "big")
    return header + key + masked


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class Pool:
    """Every connection of this process, and what they observed."""

    def __init__(self, *, sample_every: int) -> None:
        self.sample_every = sample_every
        self.connections: list[Connection] = []
        self.latencies_ns: list[int] = []
        self.frames = 0
        self.first_ns = 0
        self.last_ns = 0
        self.target = 0  # frames each connection should get in this run
        self.finished = 0  # connections that got them, or dropped
        self.done = asyncio.Event()
        self.window_start_ns = 0
        self.cpu_start_s = 0.0
        self.dropped: list[int | None] = []  # close codes (None: EOF) of dropped clients

    def reset(self, target: int) -> None:
        self.latencies_ns.clear()
        self.frames = self.first_ns = self.last_ns = 0
        self.target = target
        self.finished = 0
        self.done = asyncio.Event()
        self.window_start_ns = time.monotonic_ns()
        self.cpu_start_s = time.process_time()
        for connection in self.connections:
            connection.count = 0
            connection.finished = False
        if not self.connections:
            self.done.set()

    def finish(self, connection: Connection) -> None:
        """``connection`` got its frames for this run (or was dropped): count it once."""
        if not connection.finished:
            connection.finished = True
            self.finished += 1
            if self.finished >= len(self.connections):
                self.done.set()

    def drop(self, connection: Connection, code: int | None) -> None:
        self.dropped.append(code)
        self.finish(connection)


class Connection(asyncio.Protocol):
    """One WebSocket client connection (see the module docstring)."""

    def __init__(self, pool: Pool, *, host: str, port: int, channel: str, deflate: bool) -> None:
        self.pool = pool
        self.channel = channel
        self._request_key = base64.b64encode(os.urandom(16))
        self._request = self._upgrade_request(host, port, offer_deflate=deflate)
        self.transport: asyncio.Transport | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.deflate = False
        self._inflate: Any = None
        self._handshake = b""
        self._buf = b""
        self.open_ns = 0
        self.count = 0
        self.finished = False
        self.closing = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ping_arrivals_ns: list[int] = []

    def _upgrade_request(self, host: str, port: int, *, offer_deflate: bool) -> bytes:
        lines = [
            "GET /v1 HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._request_key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport = self.transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self.open_ns:
            self._frames(self._buf + data if self._buf else data)
        else:
            self._upgrade_reply(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.pool.drop(self, None)
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"{self.channel}: lost before reply"))
        if not self.lost.done():
            self.lost.set_result(None)

    # The upgrade

    def _upgrade_reply(self, data: bytes) -> None:
        self._handshake += data
        head, sep, rest = self._handshake.partition(b"\r\n\r\n")
        if not sep:
            return
        status, *headers = head.split(b"\r\n")
        fields = {}
        for header in headers:
            name, _, value = header.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if not status.startswith(b"HTTP/1.1 101") or fields.get(
            b"sec-websocket-accept"
        ) != accept_key(self._request_key):
            self.subscribed.set_exception(ConnectionError(f"upgrade refused: {status!r}"))
            self.close()
            return
        self.open_ns = time.monotonic_ns()
        if b"permessage-deflate" in fields.get(b"sec-websocket-extensions", b""):
            self.deflate = True
            self._inflate = zlib.decompressobj(-15)
        self.send(OP_TEXT, self._subscribe_request())
        if rest:
            self._frames(rest)

    def _subscribe_request(self) -> bytes:
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "subscribe",
            "params": {"channel": self.channel},
        }
        return json.dumps(request, separators=(",", ":")).encode()

    # Frames

    def _frames(self, buf: bytes) -> None:
        """Handle every whole frame in ``buf``; keep the rest for the next read."""
        pos, end_of_data, now = 0, len(buf), 0
        pool = self.pool
        while end_of_data - pos >= 2:
            first, length = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                length = int.from_bytes(buf[start : start + 2], "big")
                start += 2
            elif length == 127:
                length = int.from_bytes(buf[start : start + 8], "big")
                start += 8
            end = start + length
            if end > end_of_data:
                break
            opcode = first & 0x0F
            if opcode == OP_TEXT:
                if not now:
                    now = time.monotonic_ns()
                self._text(buf, start, end, first & 0x40, now)
            elif opcode == OP_PING:
                self.ping_arrivals_ns.append(time.monotonic_ns())
                self.send(OP_PONG, buf[start:end])
            elif opcode == OP_CLOSE:
                self._closed_by_server(buf[start:end])
            pos = end
        self._buf = buf[pos:] if pos < end_of_data else b""
        if now:
            pool.last_ns = now
            if not pool.first_ns:
                pool.first_ns = now

    def _text(self, buf: bytes, start: int, end: int, compressed: int, now: int) -> None:
        if compressed:
            buf = self._inflate.decompress(buf[start:end] + DEFLATE_TAIL)
            start, end = 0, len(buf)
        if not self.subscribed.done():
            self.subscribed.set_result(None)  # the subscribe reply: nothing else comes first
            return
        self.count += 1
        pool = self.pool
        pool.frames += 1
        if self.count % pool.sample_every == 0:
            stamp = STAMP.search(buf, start, end)
            if stamp is not None:
                pool.latencies_ns.append(now - int(stamp[1]))
        if self.count == pool.target:
            pool.finish(self)

    def _closed_by_server(self, payload: bytes) -> None:
        if not self.closing:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.pool.drop(self, code)
            self.closing = True
            self.send(OP_CLOSE, payload[:2])
        if self.transport is not None:
            self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(opcode, payload))

    def close(self) -> None:
        """Close as a well-behaved client: a close frame (1000), then TCP."""
        if not self.closing:
            self.closing = True
            self.send(OP_CLOSE, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


class Commands:
    """The client process's command handlers."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.ping_interval_s = 0.0

    async def connect(self, command: dict[str, Any]) -> Result:
        """Open ``n`` connections, client i subscribed to ``channels[i % len]``, in
        batches; return once every one has its subscribe reply."""
        loop = asyncio.get_running_loop()
        host, port, n = command.get("host", "127.0.0.1"), command["port"], command["n"]
        channels: list[str] = command["channels"]
        self.ping_interval_s = command.get("ping_interval_s") or 0.0
        started = time.monotonic()
        batch = command.get("batch", CONNECT_BATCH)
        for first in range(0, n, batch):
            opened = []
            for i in range(first, min(n, first + batch)):
                connection = Connection(
                    self.pool,
                    host=host,
                    port=port,
                    channel=channels[i % len(channels)],
                    deflate=command.get("deflate", False),
                )
                opened.append(connection)
                self.pool.connections.append(connection)
            await asyncio.gather(
                *(loop.create_connection(lambda c=c: c, host, port) for c in opened)
            )
            await asyncio.wait_for(
                asyncio.gather(*(c.subscribed for c in opened)), SUBSCRIBE_TIMEOUT_S
            )
        return {
            "connected": n,
            "seconds": time.monotonic() - started,
            "deflate": sum(c.deflate for c in self.pool.connections),
        }

    async def expect(self, command: dict[str, Any]) -> Result:
        """Start a run: each connection should now get ``per_client`` frames."""
        self.pool.reset(command["per_client"])
        return {"expecting": command["per_client"] * len(self.pool.connections)}

    async def wait(self, command: dict[str, Any]) -> Result:
        """Return once every connection got its frames (or was dropped), or at
        ``timeout_s``: counts, first and last receive times, latency (ms)."""
        pool = self.pool
        try:
            await asyncio.wait_for(pool.done.wait(), command.get("timeout_s", 120.0))
            timed_out = False
        except asyncio.TimeoutError:
            timed_out = True
        return {
            "frames": pool.frames,
            "expected": pool.target * len(pool.connections),
            "timed_out": timed_out,
            "first_receive_ns": pool.first_ns,
            "last_receive_ns": pool.last_ns,
            "latency_ms": summary(pool.latencies_ns, scale=1e-6),
            # This process's CPU over the run: near the run's seconds, the client is
            # the bottleneck, not the server.
            "client_cpu_s": time.process_time() - pool.cpu_start_s,
            "dropped": len(pool.dropped),
            "drop_codes": pool.dropped[:20],
        }

    async def pings(self, command: dict[str, Any]) -> Result:
        """Client-side ping lateness since the last ``expect``: each ping's arrival
        minus when it was due (connection open + k x interval, the mock's cadence)."""
        interval_ns = self.ping_interval_s * 1e9
        lateness_s = []
        for connection in self.pool.connections:
            for arrival in connection.ping_arrivals_ns:
                if arrival < self.pool.window_start_ns or not interval_ns:
                    continue
                since_open = arrival - connection.open_ns
                k = max(1, int((since_open + EARLY_TOLERANCE_NS) // interval_ns))
                late = since_open - k * interval_ns
                lateness_s.append(max(0.0, late / 1e9))
        return {"lateness_s": summary(lateness_s), "pings": len(lateness_s)}

    async def close(self, command: dict[str, Any]) -> Result:
        """Close every connection cleanly and wait (bounded) until each is gone."""
        connections, self.pool.connections = self.pool.connections, []
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait_for(asyncio.gather(*(c.lost for c in connections)), 30.0)
        dropped, self.pool.dropped = self.pool.dropped, []
        return {"closed": len(connections), "dropped": len(dropped)}


def event_loop_name() -> str:
    """uvloop when it is installed (it costs the client less per read), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return f"uvloop {uvloop.__version__}"


async def main(args: argparse.Namespace, loop_name: str) -> None:
    affinity = pin_cpu(args.cpu)
    commands = Commands(Pool(sample_every=args.sample_every))
    handlers = {
        "connect": commands.connect,
        "expect": commands.expect,
        "wait": commands.wait,
        "pings": commands.pings,
        "close": commands.close,
    }
    await serve_commands({"kind": "clients", "affinity": affinity, "loop": loop_name}, handlers)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--sample-every", type=int, default=1, help="latency of every K-th frame")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(main(arguments, event_loop_name()))
