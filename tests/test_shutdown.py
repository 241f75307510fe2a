"""Shutting down with connections open: every client gets 1001 (going away), and
the server is gone in bounded time whatever the clients do.

``paradex-mock serve`` under SIGTERM (Docker's ``stop``) with several kinds of
client at once: readers, a slow reader mid-stream, and one that stopped reading
with its buffers full; then the in-process ``MockServer.stop()`` with many
connections, one of which never answers the close handshake.
"""

from __future__ import annotations

import asyncio
import signal
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from raw_ws import RawClient, open_raw
from serve_process import PARADEX_MOCK, Processes, ServerProcess
from stalled_reader import open_stalled

from mockserver.pytest_plugin import MockServerFactory
from mockserver.server import MockServer

RECEIVE_TIMEOUT_S = 5.0
EXIT_WITHIN_S = 1.0  # the bound for SIGTERM to exit
CLOSE_TIMEOUT_S = 0.4  # the in-process server's close_timeout_s
STOP_MARGIN_S = 1.0  # what stop() may take beyond close_timeout_s on a loaded machine
GOING_AWAY = 1001
CLOSE = 0x8  # the close frame's opcode
BLOB = "x" * 100_000  # a publish that fills a stalled client's buffers quickly
BBO = "bbo.BTC-USD-PERP"


def subscribe(channel: str, request_id: int = 1) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "subscribe",
        "params": {"channel": channel},
    }


async def aiohttp_close(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read (as a live client does) until the close; its code. aiohttp answers it."""
    while True:
        message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if message.type is aiohttp.WSMsgType.CLOSE:
            return int(message.data)
        if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return None


@dataclass
class RawEnd:
    """How a bare-socket client's connection ended."""

    close_code: int | None  # the close frame's code, None if none came
    data_frames: int  # data frames read before the end
    close_at: float | None  # monotonic time the close frame came
    eof_at: float  # monotonic time the socket ended


async def raw_end(client: RawClient, *, pause_s: float = 0.0) -> RawEnd:
    """Read frames (``pause_s`` between them: a slow reader) until the socket ends.
    Never answers a close frame: that is the caller's choice of client."""
    code = close_at = None
    frames = 0
    try:
        while True:
            opcode, payload = await asyncio.wait_for(client.read_frame(), RECEIVE_TIMEOUT_S)
            if opcode == CLOSE:
                code, close_at = struct.unpack("!H", payload[:2])[0], time.monotonic()
            else:
                frames += 1
            if pause_s:
                await asyncio.sleep(pause_s)  # reading slowly is the behaviour under test
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    return RawEnd(code, frames, close_at, time.monotonic())


# SIGTERM


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def flood(http: aiohttp.ClientSession, server: ServerProcess, channel: str) -> None:
    """Publish ~10 MB on ``channel`` through the control API."""
    for _ in range(100):
        async with http.post(
            server.http_url + "/_mock/publish",
            json={"channel": channel, "data": {"blob": BLOB}},
            timeout=aiohttp.ClientTimeout(RECEIVE_TIMEOUT_S),
        ) as response:
            assert response.status == 200, await response.text()


async def queued(http: aiohttp.ClientSession, server: ServerProcess) -> list[int]:
    """How many frames wait unsent for each open session (the control API's view)."""
    async with http.get(
        server.http_url + "/_mock/sessions", timeout=aiohttp.ClientTimeout(RECEIVE_TIMEOUT_S)
    ) as response:
        return [s["queued"] for s in (await response.json())["sessions"]]


async def test_sigterm_closes_every_kind_of_client_with_1001_and_exits_0_within_1s(
    processes: Processes, http: aiohttp.ClientSession
) -> None:
    """SIGTERM with readers, a slow reader mid-stream and a stalled client: each reader's
    last frame is close 1001, the stalled one is dropped, and serve exits 0 within 1 s."""
    server = await processes.start(
        [PARADEX_MOCK, "serve", "--port", "0", "--max-queued-messages", "100000"]
    )
    readers = []
    for request_id, channel in enumerate(
        [BBO, "trades.ETH-USD-PERP", "order_book.SOL-USD-PERP.snapshot@15@50ms"], start=1
    ):
        ws = await http.ws_connect(server.ws_url, autoping=True)
        await ws.send_json(subscribe(channel, request_id))
        await ws.receive(timeout=RECEIVE_TIMEOUT_S)  # the reply: served
        readers.append(ws)
    slow = await open_raw("127.0.0.1", server.port, rcvbuf=4096)
    await slow.send_json(subscribe("order_book.BTC-USD-PERP.snapshot@15@50ms"))
    await slow.read_json()  # the reply; the snapshots stream from here
    stalled = await open_raw("127.0.0.1", server.port, rcvbuf=4096)
    await stalled.send_json(subscribe("trades.SOL-USD-PERP"))
    await stalled.read_json()  # the reply; it reads nothing more
    await flood(http, server, "trades.SOL-USD-PERP")
    assert max(await queued(http, server)) > 0  # it is stalled: frames wait for it
    closes = [asyncio.create_task(aiohttp_close(ws)) for ws in readers]
    slow_end = asyncio.create_task(raw_end(slow, pause_s=0.005))
    code, exit_s = await server.signal_and_wait(signal.SIGTERM)
    assert code == 0, server.stderr()
    assert exit_s < EXIT_WITHIN_S, server.stderr()
    assert await asyncio.gather(*closes) == [GOING_AWAY] * len(readers)
    end = await slow_end
    assert end.close_code == GOING_AWAY
    assert end.data_frames > 0  # it was mid-stream
    await asyncio.wait_for(raw_end(stalled), RECEIVE_TIMEOUT_S)  # dropped: its socket ends
    assert "Traceback" not in server.stderr()
    for ws in readers:
        await ws.close()
    slow.close()
    stalled.close()


# MockServer.stop()


async def test_stop_with_many_connections_ends_within_the_close_timeout(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """stop() with 40 clients, one that never answers the close and one stalled with full
    buffers: all get 1001 but the stalled one, which is dropped at close_timeout_s; stop()
    ends within close_timeout_s plus a margin."""
    server: MockServer = await paradex_mock_factory(
        scenario="empty",
        close_timeout_s=CLOSE_TIMEOUT_S,
        max_queued_messages=100_000,
        connections_per_ip_per_s=None,  # 40 connections at once: not a test of the rate limit
    )
    async with aiohttp.ClientSession() as http:
        clients = []
        for _ in range(40):
            ws = await http.ws_connect(server.ws_url, autoping=True)
            await ws.send_json(subscribe(BBO))
            await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            clients.append(ws)
        mute = await open_raw(server.host, server.port)
        await mute.send_json(subscribe(BBO))
        await mute.read_json()
        stalled, victim = await open_stalled(server, "trades.BTC-USD-PERP")
        for _ in range(30):
            server.publish("trades.BTC-USD-PERP", {"blob": BLOB})
        assert not victim.closed
        closes = [asyncio.create_task(aiohttp_close(ws)) for ws in clients]
        mute_end = asyncio.create_task(raw_end(mute))
        started = time.monotonic()
        await server.stop()
        took_s = time.monotonic() - started
        # The stalled client's close frame cannot be written: stop() waits the close
        # timeout for it, drops it, and is done.
        assert CLOSE_TIMEOUT_S * 0.9 <= took_s < CLOSE_TIMEOUT_S + STOP_MARGIN_S
        assert victim.closed
        await asyncio.wait_for(raw_end(stalled), RECEIVE_TIMEOUT_S)  # its socket ends
        assert await asyncio.gather(*closes) == [GOING_AWAY] * len(clients)
        # aiohttp ends the connection once the close frame is written (it does not wait
        # for the answer while the session's reader waits), so silence costs nothing.
        end = await mute_end
        assert end.close_code == GOING_AWAY
        assert end.eof_at - started < CLOSE_TIMEOUT_S
        for ws in clients:
            await ws.close()
        mute.close()
        stalled.close()
