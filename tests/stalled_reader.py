"""A client that stops reading, and the flood that gets it cut off as a slow consumer
(paradex-ws.md §5): shared by the send-path and the limits tests."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import Client
from raw_ws import RawClient, open_raw

from mockserver.server import MockServer
from mockserver.session import Session

BLOB = "x" * 1000  # about 1 kB a frame, so the socket's buffers fill quickly
BATCH = 50


@dataclass(frozen=True)
class Flood:
    """What a flood published, and the most the victim's session ever held."""

    sent: int
    peak_queued: int  # frames waiting in the session's queue
    peak_buffered_bytes: int  # bytes handed to the transport, not yet on the wire


async def open_stalled(server: MockServer, channel: str) -> tuple[RawClient, Session]:
    """A bare-socket client with a 4 kB receive buffer, subscribed to ``channel``, that
    reads nothing more after the reply; and its session on the server."""
    before = set(server.sessions)
    stalled = await open_raw(server.host, server.port, rcvbuf=4096)
    await stalled.send_json(
        {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"channel": channel}}
    )
    await stalled.read_json()  # the reply; from here on it reads nothing
    (victim,) = [s for key, s in server.sessions.items() if key not in before]
    return stalled, victim


async def flood_until_cut_off(
    server: MockServer, victim: Session, healthy: Client, channel: str, *, limit: int
) -> Flood:
    """Publish batches of 1 kB frames on ``channel`` until ``victim`` is closed; after
    each batch the victim holds at most ``limit`` frames and ``healthy`` has received
    the whole batch, in order."""
    sent = peak_queued = peak_bytes = 0
    while not victim.closed:
        assert sent < 100_000, "the stalled client was never disconnected"
        for _ in range(BATCH):
            server.publish(channel, {"i": sent, "blob": BLOB})
            sent += 1
        peak_queued = max(peak_queued, victim.queued)
        peak_bytes = max(peak_bytes, victim.buffered_bytes)
        assert victim.queued <= limit
        received = [(await healthy.notification())["params"]["data"]["i"] for _ in range(BATCH)]
        assert received == list(range(sent - BATCH, sent))
        peak_bytes = max(peak_bytes, victim.buffered_bytes)
    return Flood(sent, peak_queued, peak_bytes)
