"""A WebSocket client over a bare socket, for what library clients cannot do on purpose:
stop reading with a tiny receive buffer, or look at frames byte by byte."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bench.fuzz import client_frame, open_link, read_server_frame


class RawClient:
    """One handshaken connection: send masked frames, read raw server frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send_json(self, obj: Any) -> None:
        self.writer.write(client_frame(json.dumps(obj).encode()))  # masked, as clients must
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (servers never mask)."""
        first, payload = await read_server_frame(self.reader)
        return first & 0x0F, payload

    async def read_json(self) -> dict[str, Any]:
        """The next text frame, parsed (control frames skipped)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                return json.loads(payload)

    def close(self) -> None:
        self.writer.close()


async def open_raw(host: str, port: int, *, rcvbuf: int | None = None) -> RawClient:
    """Connect and complete the upgrade of /v1; ``rcvbuf`` shrinks the socket's receive
    buffer (set before connecting, so the kernel does not grow it)."""
    link = await open_link(host, port, deflate=False, rcvbuf=rcvbuf)
    assert not isinstance(link, int), f"the upgrade was refused with HTTP {link}"
    return RawClient(link.reader, link.writer)
