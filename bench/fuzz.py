"""Socket-level fuzzing: hostile clients throw generated frames at one server while a
well-behaved neighbour checks that its stream arrives whole and in order.

``python -m bench.fuzz [--seconds 300] [--seed 1] [--hostile 3] [--json FILE]``

The server runs in this process (so its sessions can be inspected); every client
is a raw socket that writes frames byte by byte (``client_frame``): text, binary,
fragmented, compressed, oversized, invalid UTF-8, reserved opcodes and bits,
pings and pongs, closes with bad codes. Each hostile connection sends a few
frames whose answers are known (a request with a fresh id gets exactly one
reply; an unreadable frame one reply with id null; a notification none), then a
sentinel request that proves every answer before it has arrived, then ends: a
clean close, a TCP drop, a truncated frame, a flood of requests it never reads,
or one frame the server must close on, with the code it must use (1002, 1007,
1009; 1008 for the flood). Every text frame the server sends must be a reply in
Paradex's layout with a code from the error catalogue, or a notification.

Meanwhile a publisher sends numbered messages on one channel and the neighbour
(an aiohttp client) must receive every one, in order, on one connection. The
result counts frames by kind, connection endings, closes by code as the clients
saw them and as the server recorded them, violations, server errors logged, and
what the neighbour missed. ``tests/test_fuzz_socket.py`` runs it for a few
seconds; this module's ``main`` for as long as asked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import re
import socket
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

import aiohttp

from mockserver.config import MockConfig
from mockserver.errors import RPC_ERRORS
from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.session import Session

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CHANNEL = "trades.BTC-USD-PERP"
SCENARIO = "name: fuzz\nmarkets: [BTC-USD-PERP, ETH-USD-PERP]\n"
WAIT_S = 10.0  # every wait is bounded by this
VIOLATIONS_KEPT = 20
DEFLATE_TAIL = b"\x00\x00\xff\xff"

# Paradex's reply layout (paradex-ws.md §2.2): key order, µs timings.
REPLY = re.compile(
    r'^\{"jsonrpc":"2\.0","id":(?:null|-?\d+|"(?:[^"\\]|\\.)*"),'
    r'"(?:result|error)":\{.*\},"usIn":\d{16},"usDiff":\d+,"usOut":\d{16}\}$',
    re.DOTALL,
)
NOTIFICATION_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":'
ERROR_CODES = frozenset(kind.code for kind in RPC_ERRORS.values())


def reply_problem(text: str) -> str | None:
    """Why ``text`` is not a reply in Paradex's layout with a catalogued code (None: it is)."""
    if not REPLY.match(text):
        return f"not in Paradex's reply layout: {text[:200]!r}"
    reply = json.loads(text)
    if reply["usDiff"] != reply["usOut"] - reply["usIn"]:
        return f"usDiff is not usOut - usIn: {text[:200]!r}"
    if "error" in reply:
        error = reply["error"]
        if list(error)[:2] != ["code", "message"] or error["code"] not in ERROR_CODES:
            return f"error not from the catalogue: {text[:200]!r}"
        if not isinstance(error.get("data", ""), str):
            return f"error data is not a string: {text[:200]!r}"
    return None


# Frames, as a client writes them (RFC 6455 §5.2)


def client_frame(
    payload: bytes, opcode: int = OP_TEXT, *, fin: bool = True, rsv: int = 0, length: int = -1
) -> bytes:
    """One masked client frame; ``length`` declares another payload length than the real one."""
    declared = len(payload) if length < 0 else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    if declared < 126:
        header = struct.pack("!BB", first, 0x80 | declared)
    elif declared < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, declared)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, declared)
    key = os.urandom(4)
    size = len(payload)
    stream = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        size, "little"
    )
    return header + key + masked


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(first byte, payload) of the next server frame (servers never mask)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first, await reader.readexactly(length)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class Link:
    """One raw connection: frames out, the server's frames in (inflated when compressed)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, deflate: bool
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.deflate = deflate
        self._inflate = zlib.decompressobj(-15)
        sockname = writer.get_extra_info("sockname")
        self.peer = f"{sockname[0]}:{sockname[1]}"

    def compress(self, payload: bytes) -> bytes:
        """A message compressed on its own (the handshake offers client_no_context_takeover)."""
        deflater = zlib.compressobj(wbits=-15)
        data = deflater.compress(payload) + deflater.flush(zlib.Z_SYNC_FLUSH)
        return data[: -len(DEFLATE_TAIL)]

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the server's next frame; None once the connection has ended."""
        try:
            first, payload = await read_server_frame(self.reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        if first & 0x40:  # RSV1: a compressed message
            payload = self._inflate.decompress(payload + DEFLATE_TAIL)
        return first & 0x0F, payload

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


async def open_link(
    host: str, port: int, *, deflate: bool, rcvbuf: int | None = None
) -> Link | int:
    """Connect and upgrade; the HTTP status if the server refuses the upgrade."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    extension = (
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
        if deflate
        else ""
    )
    writer.write(
        f"GET /v1 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        f"{extension}\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        writer.close()
        return status
    return Link(reader, writer, deflate=b"permessage-deflate" in head.lower())


# What a frame must produce


@dataclass
class Expect:
    """The answer one frame must get."""

    reply_id: Any = None  # a fresh id: exactly one reply carries it
    null_reply: bool = False  # one reply with id null
    maybe_reply: bool = False  # a mutation: at most one reply, any id
    pongs: list[bytes] = field(default_factory=list)  # pings sent: their pongs, in order


@dataclass
class Observed:
    """What one hostile connection received."""

    ids: Counter[str] = field(default_factory=Counter)
    null_replies: int = 0
    notifications: int = 0
    pongs: list[bytes] = field(default_factory=list)
    close_code: int | None = None  # None: the connection ended with no close frame
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    # Set when the reply carrying ``awaited`` arrives, or the connection ends.
    awaited: str = ""
    expected_close: int | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class Generator:
    """Seeded hostile frames and the answer each must get."""

    def __init__(self, rng: random.Random, *, max_message_bytes: int) -> None:
        self.rng = rng
        self.limit = max_message_bytes
        self._ids = 0

    def fresh_id(self) -> int | str:
        self._ids += 1
        return self._ids if self.rng.random() < 0.5 else f"fz-{self._ids}"

    def request(self, request_id: Any = ..., **fields: Any) -> dict[str, Any]:
        rng = self.rng
        method = rng.choice(["subscribe", "unsubscribe", "auth", "nope", "", "rpc.x"])
        obj: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if request_id is not ...:
            obj["id"] = request_id
        obj["params"] = rng.choice(
            [
                {"channel": rng.choice([CHANNEL, "trades.ALL", "bbo.ETH-USD-PERP", "nope", ""])},
                {"channel": rng.choice([5, None, [CHANNEL], {"a": 1}])},
                {"bearer": rng.choice(["x", "a.b.c", "eyJ.eyJ.sig", 7])},
                {"markets": [1]},
                [],
                "x",
                None,
                1,
            ]
        )
        if rng.random() < 0.15:
            obj["jsonrpc"] = rng.choice(["1.0", 2.0, None, ""])
        obj.update(fields)
        return obj

    def text(self, obj: Any) -> bytes:
        return json.dumps(obj).encode()

    def frame(self, link: Link) -> tuple[str, list[bytes], Expect]:
        """One non-fatal frame (or a few, for a fragmented message)."""
        kind = self.rng.choice(NON_FATAL)
        if kind == "compressed" and not link.deflate:
            kind = "near_valid"
        frames, expect = getattr(self, f"_{kind}")(link)
        return kind, frames, expect

    def _near_valid(self, link: Link) -> tuple[list[bytes], Expect]:
        request_id = self.fresh_id()
        return [client_frame(self.text(self.request(request_id)))], Expect(reply_id=request_id)

    def _notification(self, link: Link) -> tuple[list[bytes], Expect]:
        return [client_frame(self.text(self.request()))], Expect()

    def _bad_id(self, link: Link) -> tuple[list[bytes], Expect]:
        bad = self.rng.choice([1.5, True, [1], {"a": 1}, "x" * 2000, 1e300])
        text = self.text(self.request(bad))
        if self.rng.random() < 0.3:
            text = b'{"jsonrpc":"2.0","id":"\\udc00","method":"auth"}'  # a lone surrogate
        return [client_frame(text)], Expect(null_reply=True)

    def _non_object(self, link: Link) -> tuple[list[bytes], Expect]:
        rng = self.rng
        value = rng.choice(
            [0, -1, 2.5, "subscribe", None, True, False, [], [self.request(self.fresh_id())]]
        )
        return [client_frame(self.text(value))], Expect(null_reply=True)

    def _garbage(self, link: Link) -> tuple[list[bytes], Expect]:
        rng = self.rng
        alphabet = '{}[]":,.0123456789eE+-truefalsn \\u\u00e9\u4e2d\U0001f600x'
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        return [client_frame(("x" + body).encode())], Expect(null_reply=True)

    def _mutation(self, link: Link) -> tuple[list[bytes], Expect]:
        rng = self.rng
        text = bytearray(self.text(self.request(self.fresh_id())))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            if rng.random() < 0.5:
                del text[at]
            else:
                text.insert(at, rng.choice(b'{}[]",:0x\\'))
        return [client_frame(bytes(text))], Expect(maybe_reply=True)

    def _deep(self, link: Link) -> tuple[list[bytes], Expect]:
        depth = self.rng.randint(2_000, min(100_000, self.limit // 2 - 100))
        nested = "[" * depth + "]" * depth
        text = f'{{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{{"x":{nested}}}}}'
        if self.rng.random() < 0.5:
            text = "[" * depth
        return [client_frame(text.encode())], Expect(null_reply=True)

    def _huge_number(self, link: Link) -> tuple[list[bytes], Expect]:
        digits = "9" * self.rng.randint(4_301, min(1_000_000, self.limit - 100))
        return [client_frame(f'{{"jsonrpc":"2.0","id":{digits}}}'.encode())], Expect(
            null_reply=True
        )

    def _huge_string(self, link: Link) -> tuple[list[bytes], Expect]:
        request_id = self.fresh_id()
        size = self.rng.randint(1_000, self.limit - 200)
        obj = self.request(request_id, method="subscribe", params={"channel": "x" * size})
        return [client_frame(self.text(obj))], Expect(reply_id=request_id)

    def _at_limit(self, link: Link) -> tuple[list[bytes], Expect]:
        """Exactly max_message_bytes: accepted and answered."""
        request_id = self.fresh_id()
        head = self.text(self.request(request_id, method="nope", params={"pad": ""}))
        pad = self.limit - len(head)
        text = head.replace(b'"pad": ""', b'"pad": "' + b"p" * pad + b'"')
        return [client_frame(text)], Expect(reply_id=request_id)

    def _binary(self, link: Link) -> tuple[list[bytes], Expect]:
        payload = self.rng.randbytes(self.rng.randint(0, 300))
        return [client_frame(payload, OP_BINARY)], Expect(null_reply=True)

    def _ping(self, link: Link) -> tuple[list[bytes], Expect]:
        payload = self.rng.randbytes(self.rng.randint(0, 125))
        return [client_frame(payload, OP_PING)], Expect(pongs=[payload])

    def _pong(self, link: Link) -> tuple[list[bytes], Expect]:
        return [client_frame(self.rng.randbytes(self.rng.randint(0, 125)), OP_PONG)], Expect()

    def _fragmented(self, link: Link) -> tuple[list[bytes], Expect]:
        """A request in 2-6 fragments, split anywhere (inside a UTF-8 character too),
        with a ping between fragments now and then (RFC 6455 §5.4 allows it)."""
        rng = self.rng
        request_id = self.fresh_id()
        text = json.dumps(
            self.request(request_id, note="\u00e9\u4e2d\U0001f600"), ensure_ascii=False
        )
        payload = text.encode()
        cuts = sorted(rng.sample(range(1, len(payload)), rng.randint(1, 5)))
        parts = [payload[i:j] for i, j in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        frames, expect = [], Expect(reply_id=request_id)
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            frames.append(client_frame(part, OP_CONT if n else OP_TEXT, fin=last))
            if not last and rng.random() < 0.3:
                frames.append(client_frame(b"mid", OP_PING))
                expect.pongs.append(b"mid")
        return frames, expect

    def _compressed(self, link: Link) -> tuple[list[bytes], Expect]:
        request_id = self.fresh_id()
        payload = link.compress(self.text(self.request(request_id)))
        return [client_frame(payload, rsv=0b100)], Expect(reply_id=request_id)

    def fatal(self, link: Link, kind: str | None = None) -> tuple[str, list[bytes], int]:
        """One frame (or a few) the server must close on, and the code it must close with
        (``kind``: one of ``FATAL``; by default a random one)."""
        rng = self.rng
        if kind is None:
            kind = rng.choice([k for k in FATAL if link.deflate or k != "deflate_bomb"])
        limit = self.limit
        if kind == "invalid_utf8":
            return kind, [client_frame(b'{"id":"\xff\xfe"}')], 1007
        if kind == "invalid_utf8_fragments":
            frames = [client_frame(b'{"a":"\xe4', fin=False), client_frame(b'xx"}', OP_CONT)]
            return kind, frames, 1007
        if kind == "oversized":
            return kind, [client_frame(b"x" * (limit + rng.randint(1, 4096)))], 1009
        if kind == "declared_huge":  # a header announcing 2**40 bytes, and no payload
            return kind, [client_frame(b"", length=2**40)], 1009
        if kind == "oversized_fragments":
            half = limit // 2 + 1
            frames = [client_frame(b"x" * half, fin=False), client_frame(b"x" * half, OP_CONT)]
            return kind, frames, 1009
        if kind == "deflate_bomb":
            return kind, [client_frame(link.compress(b" " * (limit * 2)), rsv=0b100)], 1009
        if kind == "reserved_opcode":
            return kind, [client_frame(b"{}", rng.choice([3, 4, 5, 6, 7, 11, 12, 15]))], 1002
        if kind == "reserved_bits":
            return kind, [client_frame(b"{}", rsv=rng.choice([0b010, 0b001, 0b011]))], 1002
        if kind == "continuation_first":
            return kind, [client_frame(b"{}", OP_CONT)], 1002
        if kind == "interleaved_data":
            return kind, [client_frame(b"{", fin=False), client_frame(b"}", OP_TEXT)], 1002
        if kind == "big_control":
            return kind, [client_frame(b"p" * 126, OP_PING)], 1002
        if kind == "fragmented_control":
            return kind, [client_frame(b"p", OP_PING, fin=False)], 1002
        if kind == "bad_close_code":
            return kind, [client_frame(close_payload(rng.choice([0, 999, 1005, 2999])), 8)], 1002
        assert kind == "close_bad_utf8"
        return kind, [client_frame(close_payload(1000, b"\xff"), OP_CLOSE)], 1007


NON_FATAL = (
    "near_valid", "near_valid", "near_valid", "notification", "bad_id", "non_object",
    "garbage", "mutation", "deep", "huge_number", "huge_string", "at_limit", "binary",
    "ping", "pong", "fragmented", "fragmented", "compressed",
)  # fmt: skip
FATAL = (
    "invalid_utf8", "invalid_utf8_fragments", "oversized", "declared_huge",
    "oversized_fragments", "deflate_bomb", "reserved_opcode", "reserved_bits",
    "continuation_first", "interleaved_data", "big_control", "fragmented_control",
    "bad_close_code", "close_bad_utf8",
)  # fmt: skip
ENDINGS = ("close", "close", "drop", "truncated", "fatal", "fatal", "fatal", "flood")


# The run


@dataclass
class FuzzReport:
    seconds: float
    seed: int
    connections: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # HTTP status of refused upgrades
    frames: Counter[str] = field(default_factory=Counter)  # sent, by kind
    endings: Counter[str] = field(default_factory=Counter)
    client_closes: Counter[str] = field(default_factory=Counter)  # close code seen, or "none"
    server_closes: Counter[str] = field(default_factory=Counter)  # close code recorded
    violations: int = 0
    first_violations: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # ERROR log records
    published: int = 0
    neighbour_received: int = 0
    neighbour_out_of_order: int = 0
    neighbour_closed: bool = False

    @property
    def neighbour_missed(self) -> int:
        return self.published - self.neighbour_received

    @property
    def ok(self) -> bool:
        return (
            self.violations == 0
            and not self.server_errors
            and self.neighbour_missed == 0
            and self.neighbour_out_of_order == 0
            and not self.neighbour_closed
        )

    def violation(self, problem: str) -> None:
        self.violations += 1
        if len(self.first_violations) < VIOLATIONS_KEPT:
            self.first_violations.append(problem)

    def as_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would rebuild each Counter from (key, count) pairs.
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(neighbour_missed=self.neighbour_missed, ok=self.ok)
        return out


class ErrorLog(logging.Handler):
    """Collects every ERROR the server's process logs (aiohttp, asyncio, mockserver)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(f"{record.name}: {record.getMessage()}"[:500])


class Fuzz:
    """One run: a server, a neighbour, a publisher and ``hostile`` hostile clients."""

    def __init__(self, server: MockServer, report: FuzzReport, *, hostile: int) -> None:
        self.server = server
        self.report = report
        self.hostile = hostile
        self.rng = random.Random(report.seed)
        self.limit = server.config.max_message_bytes

    async def run(self) -> None:
        server, report = self.server, self.report
        async with aiohttp.ClientSession() as http:
            neighbour = await http.ws_connect(server.ws_url, autoping=True)
            await neighbour.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"channel": CHANNEL}}
            )
            assert "result" in json.loads((await neighbour.receive(timeout=WAIT_S)).data)
            session = next(iter(server.sessions.values()))
            listening = asyncio.create_task(self._listen(neighbour))
            stop = asyncio.Event()
            workers = [
                asyncio.create_task(self._hostile(random.Random(self.rng.random()), stop))
                for _ in range(self.hostile)
            ]
            # The stream goes on until the last hostile connection has ended (a flood
            # needs it to fill its queue).
            done = asyncio.Event()
            publishing = asyncio.create_task(self._publish(done))
            await asyncio.sleep(report.seconds)  # the run's length, not a readiness wait
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers), WAIT_S * 3)
            done.set()
            await publishing
            server.publish(CHANNEL, {"n": report.published, "end": True})
            await asyncio.wait_for(listening, WAIT_S)
            await server.wait_for(lambda: len(server.sessions) == 1, timeout=WAIT_S)
            report.neighbour_closed = session.closed or session.id not in server.sessions
            await neighbour.close()

    async def _publish(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for _ in range(5):
                self.server.publish(CHANNEL, {"n": self.report.published})
                self.report.published += 1
            await asyncio.sleep(0.002)

    async def _listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        report, expected = self.report, 0
        while True:
            message = await ws.receive(timeout=WAIT_S)
            if message.type is not aiohttp.WSMsgType.TEXT:
                report.neighbour_closed = True
                return
            data = json.loads(message.data)["params"]["data"]
            if data.get("end"):
                return
            if data["n"] != expected:
                report.neighbour_out_of_order += 1
            expected = data["n"] + 1
            report.neighbour_received += 1

    async def _hostile(self, rng: random.Random, stop: asyncio.Event) -> None:
        gen = Generator(rng, max_message_bytes=self.limit)
        while not stop.is_set():
            ending = rng.choice(ENDINGS)
            link = await open_link(
                self.server.host,
                self.server.port,
                # Compressed replies to a flood are tiny: it would take minutes to fill.
                deflate=ending != "flood" and rng.random() < 0.4,
                rcvbuf=4096 if ending == "flood" else None,
            )
            if isinstance(link, int):
                self.report.refused[link] += 1
                await asyncio.sleep(0.05)
                continue
            self.report.connections += 1
            self.report.endings[ending] += 1
            session = await self._session_of(link)
            code = None
            try:
                ending, code = await self._connection(gen, link, ending)
            except (ConnectionError, asyncio.TimeoutError) as exc:
                self.report.violation(f"{ending}: {exc!r}")
            finally:
                link.abort()
            await self._server_close(session, ending, code)

    async def _connection(self, gen: Generator, link: Link, ending: str) -> tuple[str, int | None]:
        """Run one connection: how it ended, and the close code the server must record."""
        seen = Observed()
        if ending == "flood":
            await self._flood(gen, link)
            return ending, 1008
        reading = asyncio.create_task(self._read(link, seen))
        expects: list[Expect] = []
        for _ in range(gen.rng.randint(0, 12)):
            kind, frames, expect = gen.frame(link)
            self.report.frames[kind] += 1
            for frame in frames:
                await link.send(frame)
            expects.append(expect)
        # Replies come in order: once the sentinel's has arrived, every other has.
        sentinel = gen.fresh_id()
        seen.awaited = json.dumps(sentinel)
        await link.send(client_frame(json.dumps({"jsonrpc": "2.0", "id": sentinel}).encode()))
        try:
            await asyncio.wait_for(seen.arrived.wait(), WAIT_S)
        except asyncio.TimeoutError:
            seen.problems.append("no reply to the sentinel")
        self._check(seen, [*expects, Expect(reply_id=sentinel)])
        ending, code = await self._end(gen, link, ending)
        if code is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reading, WAIT_S)
            self.report.client_closes[str(seen.close_code or "none")] += 1
            seen.expected_close = code
        reading.cancel()
        for problem in seen.problems:
            self.report.violation(f"{ending}: {problem}")
        return ending, seen.expected_close

    async def _end(self, gen: Generator, link: Link, ending: str) -> tuple[str, int | None]:
        """Send the connection's last frames: how it ended (the fatal frame's kind), and
        the close code the server must answer with."""
        if ending == "close":
            await link.send(client_frame(close_payload(1000), OP_CLOSE))
            return ending, 1000
        if ending == "drop":
            return ending, None
        if ending == "truncated":  # half a frame, then the TCP connection goes
            frame = client_frame(b'{"jsonrpc":"2.0","id":1,"method":"auth"}')
            await link.send(frame[: len(frame) // 2])
            return ending, None
        kind, frames, code = gen.fatal(link)
        self.report.frames[kind] += 1
        with contextlib.suppress(ConnectionError):  # the server may close mid-frame
            for frame in frames:
                await link.send(frame)
        return kind, code

    async def _flood(self, gen: Generator, link: Link) -> None:
        """Subscribe, then send requests and never read: the server must cut it off (1008)."""
        subscribe = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "subscribe",
            "params": {"channel": CHANNEL},
        }
        await link.send(client_frame(gen.text(subscribe)))
        # Long ids make long replies, so the socket's buffers fill after a few thousand.
        request = {"jsonrpc": "2.0", "id": "f" * 1000, "method": "nope"}
        frame = client_frame(gen.text(request)) * 50
        deadline = time.monotonic() + WAIT_S
        transport = link.writer.transport
        with contextlib.suppress(ConnectionError):  # the server cut it off
            while time.monotonic() < deadline and not transport.is_closing():
                link.writer.write(frame)
                self.report.frames["flood"] += 50
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(link.writer.drain(), 0.5)

    async def _session_of(self, link: Link) -> Session:
        """The server's session for ``link``, by its address: the live one (no two live
        connections share a port), else the newest closed one (ports are reused)."""
        server = self.server

        def find() -> Session | None:
            for session in server.sessions.values():
                if session.peer == link.peer:
                    return session
            for session in reversed(server.closed_sessions):
                if session.peer == link.peer:
                    return session
            return None

        await server.wait_for(lambda: find() is not None, timeout=WAIT_S)
        found = find()
        assert found is not None
        return found

    async def _server_close(self, session: Session, ending: str, code: int | None) -> None:
        """Check the close code the server recorded for this connection."""
        server = self.server
        with contextlib.suppress(asyncio.TimeoutError):
            await server.wait_for(lambda: session.id not in server.sessions, timeout=WAIT_S)
        if session.id in server.sessions:
            self.report.violation(f"{ending}: the server never closed {session.peer}")
            return
        self.report.server_closes[str(session.close_code)] += 1
        if code is not None and session.close_code != code:
            self.report.violation(f"{ending}: closed {session.close_code}, not {code}")

    async def _read(self, link: Link, seen: Observed) -> None:
        try:
            await self._read_frames(link, seen)
        finally:
            seen.arrived.set()

    async def _read_frames(self, link: Link, seen: Observed) -> None:
        while (frame := await link.read()) is not None:
            opcode, payload = frame
            seen.frames += 1
            if opcode == OP_TEXT:
                self._classify(payload.decode(), seen)
            elif opcode == OP_PONG:
                seen.pongs.append(payload)
            elif opcode == OP_PING:
                with contextlib.suppress(ConnectionError):
                    await link.send(client_frame(payload, OP_PONG))
            elif opcode == OP_CLOSE:
                seen.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                with contextlib.suppress(ConnectionError):  # complete the closing handshake
                    await link.send(client_frame(payload[:2], OP_CLOSE))
                return
            else:
                seen.problems.append(f"unexpected opcode {opcode}")

    def _classify(self, text: str, seen: Observed) -> None:
        if text.startswith(NOTIFICATION_HEAD):
            seen.notifications += 1
            return
        problem = reply_problem(text)
        if problem is not None:
            seen.problems.append(problem)
            return
        request_id = json.loads(text)["id"]
        if request_id is None:
            seen.null_replies += 1
            return
        key = json.dumps(request_id)
        seen.ids[key] += 1
        if key == seen.awaited:
            seen.arrived.set()

    def _check(self, seen: Observed, expects: list[Expect]) -> None:
        """Every answer each frame must get arrived, and nothing more than the mutated
        frames (which may or may not be answered, with any id) can account for."""
        wanted = Counter(json.dumps(e.reply_id) for e in expects if e.reply_id is not None)
        nulls = sum(e.null_reply for e in expects)
        if wanted - seen.ids or seen.null_replies < nulls:
            seen.problems.append(
                f"missing replies: ids {dict(wanted - seen.ids)}, "
                f"{seen.null_replies} with id null for {nulls}"
            )
        unexpected = seen.null_replies - nulls + sum((seen.ids - wanted).values())
        if unexpected > sum(e.maybe_reply for e in expects):
            seen.problems.append(
                f"{unexpected} replies no frame asked for: ids {dict(seen.ids - wanted)}"
            )
        pongs = [pong for e in expects for pong in e.pongs]
        if seen.pongs[: len(pongs)] != pongs:
            seen.problems.append(f"pongs {len(seen.pongs)} for {len(pongs)} pings")


def fuzz_config(**overrides: Any) -> MockConfig:
    """The server under fuzz: pings every second (the neighbour answers them; a long
    pong deadline leaves a flood to the slow-consumer rule), no connection rate
    limit (the hostile clients reconnect in a tight loop)."""
    options: dict[str, Any] = {
        "port": 0,
        "scenario": loads(SCENARIO),
        "ping_interval_s": 1.0,
        "pong_timeout_s": 30.0,
        "connections_per_ip_per_s": None,
        "connections_per_ip_per_min": None,
    }
    options.update(overrides)
    return MockConfig(**options)


async def fuzz(*, seconds: float, seed: int, hostile: int = 3, **config: Any) -> FuzzReport:
    """Fuzz a fresh server for ``seconds``; the report says whether anything went wrong."""
    report = FuzzReport(seconds=seconds, seed=seed)
    handler = ErrorLog(report.server_errors)
    logging.getLogger().addHandler(handler)
    try:
        async with MockServer(fuzz_config(**config)) as server:
            await Fuzz(server, report, hostile=hostile).run()
    finally:
        logging.getLogger().removeHandler(handler)
    return report


def print_report(report: FuzzReport) -> None:
    def counts(counter: Counter[Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=str)) or "-"

    print(f"fuzz: {report.seconds:g} s, seed {report.seed}")
    print(f"  connections         {report.connections} (refused: {counts(report.refused)})")
    print(f"  frames sent         {sum(report.frames.values())}: {counts(report.frames)}")
    print(f"  endings             {counts(report.endings)}")
    print(f"  closes seen         {counts(report.client_closes)}")
    print(f"  closes recorded     {counts(report.server_closes)}")
    print(f"  violations          {report.violations}")
    for problem in report.first_violations:
        print(f"    {problem}")
    print(f"  server errors       {len(report.server_errors)}")
    for line in report.server_errors[:5]:
        print(f"    {line}")
    print(
        f"  neighbour           {report.neighbour_received}/{report.published} received, "
        f"missed {report.neighbour_missed}, out of order {report.neighbour_out_of_order}, "
        f"{'closed' if report.neighbour_closed else 'connected throughout'}"
    )
    print("  OK" if report.ok else "  FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hostile", type=int, default=3, help="hostile clients at once")
    parser.add_argument("--max-message-bytes", type=int, default=64 * 1024)
    parser.add_argument("--max-queued-messages", type=int, default=2000)
    parser.add_argument("--json", help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    report = asyncio.run(
        fuzz(
            seconds=args.seconds,
            seed=args.seed,
            hostile=args.hostile,
            max_message_bytes=args.max_message_bytes,
            max_queued_messages=args.max_queued_messages,
        )
    )
    print_report(report)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report.as_json(), out, indent=2)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
