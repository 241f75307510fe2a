"""A WebSocket client over a bare socket, for what library clients cannot do on purpose:
stop reading with a tiny receive buffer, or look at frames byte by byte."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (clients must mask, RFC 6455 §5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """One handshaken connection: send masked frames, read raw server frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send_json(self, obj: Any) -> None:
        self.writer.write(masked_frame(json.dumps(obj).encode()))
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (servers never mask)."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def read_json(self) -> dict[str, Any]:
        """The next text frame, parsed (control frames skipped)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                return json.loads(payload)

    def close(self) -> None:
        self.writer.close()


async def open_raw(
    host: str, port: int, path: str = "/v1", *, rcvbuf: int | None = None
) -> RawClient:
    """Connect and complete the upgrade; ``rcvbuf`` shrinks the socket's receive buffer
    (set before connecting, so the kernel does not grow it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(HANDSHAKE.format(path=path, host=host, port=port).encode())
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return RawClient(reader, writer)
