"""The send path: a broadcast framed once, writes coalesced per loop turn, bounded
buffers and the publisher's backpressure (``MockServer.drained``)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from conftest import Connect
from raw_ws import open_raw
from stalled_reader import flood_until_cut_off, open_stalled

from mockserver import wire
from mockserver.outbox import Outbox
from mockserver.server import MockServer
from mockserver.wire import Frame, text_frame

pytestmark = pytest.mark.paradex_mock(scenario="empty")

CHANNEL = "trades.BTC-USD-PERP"


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (5, b"\x81\x05"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (256, b"\x81\x7e\x01\x00"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_text_frame_headers_follow_rfc_6455(length: int, header: bytes) -> None:
    """Unmasked text frames use the 7-bit, 16-bit and 64-bit lengths at RFC 6455's bounds."""
    payload = b"x" * length
    assert text_frame(payload) == header + payload


def test_a_frame_is_framed_once_however_often_its_bytes_are_asked_for() -> None:
    """Frame.wire is computed on first use and then the same bytes object every time."""
    frame = Frame('{"a":"é"}')
    assert frame.wire is frame.wire
    assert frame.wire == text_frame('{"a":"é"}'.encode())


async def test_one_broadcast_is_framed_once_for_every_uncompressed_subscriber(
    paradex_mock: MockServer, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three uncompressed subscribers and one compressed one: one framing, four deliveries."""
    framings: list[bytes] = []

    def counting_text_frame(payload: bytes) -> bytes:
        framings.append(payload)
        return text_frame(payload)

    monkeypatch.setattr(wire, "text_frame", counting_text_frame)
    clients = [await connect() for _ in range(3)] + [await connect(compress=15)]
    for client in clients:
        await client.subscribe(CHANNEL)
    assert paradex_mock.publish(CHANNEL, {"price": "1"}) == 4
    for client in clients:
        assert (await client.notification(CHANNEL))["params"]["data"] == {"price": "1"}
    assert [p for p in framings if b'"price"' in p] == [framings[-1]]  # replies are framed too


@pytest.mark.parametrize("size", [10, 200, 70_000])
@pytest.mark.parametrize("compress", [0, 15])
async def test_frames_of_every_length_reach_the_client_intact(
    paradex_mock: MockServer, connect: Connect, size: int, compress: int
) -> None:
    """Small, 16-bit-length and 64-bit-length frames, with and without permessage-deflate."""
    client = await connect(compress=compress)
    await client.subscribe(CHANNEL)
    paradex_mock.publish(CHANNEL, {"blob": "é" * size})
    assert (await client.notification(CHANNEL))["params"]["data"]["blob"] == "é" * size


@pytest.mark.parametrize("compress", [0, 15])
async def test_a_burst_in_one_loop_turn_arrives_whole_and_in_order(
    paradex_mock: MockServer, connect: Connect, compress: int
) -> None:
    """500 publishes with no yield between them reach the client in order; drained() returns."""
    client = await connect(compress=compress)
    await client.subscribe(CHANNEL)
    for i in range(500):
        paradex_mock.publish(CHANNEL, {"i": i})
    await asyncio.wait_for(paradex_mock.drained(), 5)
    assert [(await client.notification())["params"]["data"]["i"] for _ in range(500)] == list(
        range(500)
    )


async def test_a_reply_and_the_data_after_it_keep_their_order(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A subscribe's reply, then its data, even when both are written in one flush."""
    client = await connect()
    await client.send(
        {"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": {"channel": CHANNEL}}
    )
    await paradex_mock.wait_for(lambda: paradex_mock.hub.subscriber_count(CHANNEL) == 1)
    paradex_mock.publish(CHANNEL, {"i": 1})
    assert (await client.receive_json())["id"] == 7
    assert (await client.receive_json())["params"]["data"] == {"i": 1}


# No pings: the stalled client would not answer them, and must fall to the queue limit.
@pytest.mark.paradex_mock(max_queued_messages=200, ping_interval_s=None)
async def test_a_client_that_stops_reading_is_cut_off_while_the_others_keep_streaming(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A stalled reader fills its socket, then 200 queued frames: closed 1008; others get all."""
    stalled, victim = await open_stalled(paradex_mock, CHANNEL)
    healthy = await connect()
    await healthy.subscribe(CHANNEL)
    await flood_until_cut_off(paradex_mock, victim, healthy, CHANNEL, limit=200)
    await paradex_mock.wait_for(lambda: victim.close_code is not None)
    assert (victim.close_code, victim.close_reason) == (1008, "slow consumer")
    await asyncio.wait_for(paradex_mock.drained(), 5)  # nothing is left backlogged
    stalled.close()


@pytest.mark.paradex_mock(ping_interval_s=None)
async def test_drained_waits_for_a_backlogged_client(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """drained() is pending while a slow client holds unwritten frames, done once it reads."""
    slow = await open_raw(paradex_mock.host, paradex_mock.port, rcvbuf=4096)
    await slow.send_json(
        {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"channel": CHANNEL}}
    )
    await slow.read_json()
    (session,) = paradex_mock.sessions.values()
    sent = 0
    while session.queued == 0:  # fill its socket and transport until frames wait in the queue
        assert sent < 100_000
        paradex_mock.publish(CHANNEL, {"i": sent, "blob": "x" * 1000})
        sent += 1
        if sent % 50 == 0:
            await asyncio.sleep(0)  # let the outbox flush (a yield, not a wait)
    waiting = asyncio.ensure_future(paradex_mock.drained())
    await asyncio.sleep(0)
    assert not waiting.done()
    got = [(await slow.read_json())["params"]["data"]["i"]]
    while got[-1] != sent - 1:
        got.append((await slow.read_json())["params"]["data"]["i"])
    assert got == list(range(sent))
    await asyncio.wait_for(waiting, 5)
    slow.close()


class FlakySession:
    """A session whose flush may fail, recording what the outbox did with it."""

    def __init__(self, *, fails: bool) -> None:
        self.fails = fails
        self.flushed = self.dropped = False

    def flush(self) -> None:
        if self.fails:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        self.flushed = True

    def drop(self) -> None:
        self.dropped = True


async def test_one_failing_flush_costs_only_its_own_session() -> None:
    """A session whose flush raises is dropped; the others of the same turn are flushed."""
    outbox = Outbox()
    bad, good = FlakySession(fails=True), FlakySession(fails=False)
    outbox.request_flush(bad)
    outbox.request_flush(good)
    await asyncio.sleep(0)  # one loop turn: the outbox's flush callback runs
    assert bad.dropped
    assert not bad.flushed
    assert good.flushed
    assert not good.dropped


async def test_a_closed_session_lets_go_of_its_connection(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The history keeps a closed session's transcript and close code, not its aiohttp
    objects (with permessage-deflate, hundreds of KiB each): they become collectable."""
    client = await connect(compress=15)
    await client.subscribe(CHANNEL)
    (session,) = paradex_mock.sessions.values()
    ws = weakref.ref(session._ws)  # white-box: the connection's aiohttp response
    await client.ws.close()
    await paradex_mock.wait_for(lambda: session in paradex_mock.closed_sessions)
    gc.collect()
    assert ws() is None
    assert session.close_code == 1000
    assert session.closed
    assert [frame.error for frame in session.received] == [None]
