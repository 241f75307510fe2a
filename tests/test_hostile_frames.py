"""Hostile frames over real sockets: each gets its JSON-RPC error or a clean close with a
meaningful code, and a subscribed neighbour keeps its stream throughout.

Frames are written byte by byte (``bench.fuzz.client_frame``), so anything a client
can put on the wire can be sent: invalid UTF-8, fragments, reserved bits, huge
declared lengths. paradex-ws.md §4 (errors); docs/behaviour.md, "Hostile frames".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import struct
from typing import Any

import pytest
from conftest import RECEIVE_TIMEOUT_S, Client, Connect

from bench.fuzz import (
    FATAL,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    Generator,
    Link,
    client_frame,
    open_link,
    reply_problem,
)
from mockserver import session as session_module
from mockserver.protocol import MAX_CHANNEL_CHARS, MAX_ID_CHARS
from mockserver.server import MockServer
from mockserver.session import Session

pytestmark = pytest.mark.paradex_mock(scenario="empty", ping_interval_s=None)

CHANNEL = "trades.BTC-USD-PERP"
LIMIT = 4096  # max_message_bytes where a test lowers it


def request(request_id: Any = 1, method: str = "subscribe", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def padded(size: int, request_id: int = 1) -> bytes:
    """A request of exactly ``size`` bytes (an unknown method, answered -32601)."""
    head = json.dumps(request(request_id, "nope", pad="")).encode()
    return head.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(head)) + b'"')


async def raw(server: MockServer, *, deflate: bool = False) -> Link:
    link = await open_link(server.host, server.port, deflate=deflate)
    assert isinstance(link, Link), f"upgrade refused: HTTP {link}"
    assert link.deflate is deflate
    return link


async def next_frame(link: Link) -> tuple[int, bytes]:
    frame = await asyncio.wait_for(link.read(), RECEIVE_TIMEOUT_S)
    assert frame is not None, "the connection ended"
    return frame


async def reply(link: Link) -> dict[str, Any]:
    """The next text frame: a reply in Paradex's layout, with a catalogued code."""
    opcode, payload = await next_frame(link)
    assert opcode == OP_TEXT, (opcode, payload[:100])
    text = payload.decode()
    assert reply_problem(text) is None, reply_problem(text)
    return dict(json.loads(text))


async def close_code(link: Link) -> int:
    """The code of the server's close frame (text frames before it are skipped)."""
    while True:
        opcode, payload = await next_frame(link)
        if opcode == OP_CLOSE:
            return int(struct.unpack("!H", payload[:2])[0])


async def recorded_close(server: MockServer, link: Link) -> Session:
    """The server's record of ``link``'s session once it has ended."""

    def ended() -> Session | None:
        return next((s for s in reversed(server.closed_sessions) if s.peer == link.peer), None)

    await server.wait_for(lambda: ended() is not None, timeout=RECEIVE_TIMEOUT_S)
    session = ended()
    assert session is not None
    return session


@pytest.fixture
async def neighbour(connect: Connect) -> Client:
    """A well-behaved client subscribed to ``CHANNEL``."""
    client = await connect()
    assert (await client.subscribe(CHANNEL))["result"] == {"channel": CHANNEL}
    return client


async def assert_streaming(server: MockServer, neighbour: Client) -> None:
    """The neighbour still receives what is published, on its first connection."""
    for n in range(3):
        assert server.publish(CHANNEL, {"n": n}) >= 1
        assert (await neighbour.notification(CHANNEL))["params"]["data"] == {"n": n}
    assert not neighbour.ws.closed


async def call(link: Link, text: str | bytes) -> dict[str, Any]:
    await link.send(client_frame(text.encode() if isinstance(text, str) else text))
    return await reply(link)


async def assert_still_answers(link: Link) -> None:
    """The connection answers a normal request after whatever came before."""
    answer = await call(link, json.dumps(request("after", channel="bbo.BTC-USD-PERP")))
    assert (answer["id"], answer["result"]) == ("after", {"channel": "bbo.BTC-USD-PERP"})


# Frames that get a JSON-RPC error, the connection surviving

DEEP = "[" * 100_000
ENVELOPE = '{"jsonrpc":"2.0","id":7,"method":"subscribe","params":'
HOSTILE_TEXT = [
    ("null", "null", None, -32600, "a request must be a JSON object"),
    ("true", "true", None, -32600, "a request must be a JSON object"),
    ("false", "false", None, -32600, "a request must be a JSON object"),
    ("float", "-1.5e300", None, -32600, "a request must be a JSON object"),
    ("deep-open", DEEP, None, -32700, "nesting too deep"),
    ("deep-closed", DEEP + "]" * 100_000, None, -32700, "nesting too deep"),
    ("deep-params", ENVELOPE + '{"x":' + "[" * 50_000 + "]" * 50_000 + "}}", None, -32700, None),
    ("deep-object", '{"a":' * 50_000 + "1" + "}" * 50_000, None, -32700, "nesting too deep"),
    ("huge-integer", "1" * 1_000_000, None, -32700, "number too long"),
    ("huge-integer-id", '{"jsonrpc":"2.0","id":' + "9" * 5000 + "}", None, -32700, None),
    ("huge-integer-param", ENVELOPE + '{"channel":' + "1" * 900_000 + "}}", None, -32700, None),
    ("huge-channel", json.dumps(request(7, channel="x" * 900_000)), 7, -32600, "invalid channel"),
    ("huge-channel-dots", json.dumps(request(7, channel="a." * 450_000)), 7, -32600, None),
    ("huge-bearer", json.dumps(request(7, "auth", bearer="a." * 450_000)), 7, 40110, None),
    ("huge-method", json.dumps(request(7, "m" * 900_000)), 7, -32601, None),
    (
        "long-channel",
        json.dumps(request(7, channel="x" * (MAX_CHANNEL_CHARS + 1))),
        7,
        -32600,
        None,
    ),
    ("long-id", json.dumps(request("i" * (MAX_ID_CHARS + 1))), None, -32600, None),
    ("surrogate-id", '{"jsonrpc":"2.0","id":"\\ud800","method":"auth"}', None, -32600, None),
    ("surrogate-pair-id", '{"jsonrpc":"2.0","id":"\\ud83d\\ude00"}', "\U0001f600", -32600, None),
    ("nan-id", '{"jsonrpc":"2.0","id":NaN,"method":"auth"}', None, -32600, None),
    ("infinite-id", '{"jsonrpc":"2.0","id":1e999,"method":"auth"}', None, -32600, None),
    ("integral-float-id", '{"jsonrpc":"2.0","id":1.0,"method":"auth"}', None, -32600, None),
    ("jsonrpc-number", '{"jsonrpc":2.0,"id":7,"method":"auth"}', 7, -32600, None),
    ("jsonrpc-null", '{"jsonrpc":null,"id":7,"method":"auth"}', 7, -32600, None),
    ("jsonrpc-missing", '{"id":7,"method":"subscribe","params":{}}', 7, -32600, None),
    ("method-int", '{"jsonrpc":"2.0","id":7,"method":1}', 7, -32600, None),
    ("method-null", '{"jsonrpc":"2.0","id":7,"method":null}', 7, -32600, None),
    ("method-list", '{"jsonrpc":"2.0","id":7,"method":["auth"]}', 7, -32600, None),
    ("method-object", '{"jsonrpc":"2.0","id":7,"method":{"a":1}}', 7, -32600, None),
    ("method-missing", '{"jsonrpc":"2.0","id":7}', 7, -32600, None),
    ("params-null", ENVELOPE + "null}", 7, -32602, None),
    ("params-number", ENVELOPE + "5}", 7, -32602, None),
    ("params-true", ENVELOPE + "true}", 7, -32602, None),
    ("markets-not-strings", json.dumps(request(7, channel=CHANNEL, markets=[1])), 7, -32602, None),
    ("duplicate-keys", '{"jsonrpc":"2.0","id":1,"id":7,"method":"nope"}', 7, -32601, None),
    ("nul-character", '{"jsonrpc":"2.0","id":"\\u0000","method":"nope"}', "\x00", -32601, None),
]


@pytest.mark.parametrize(
    ("text", "request_id", "code", "data"),
    [case[1:] for case in HOSTILE_TEXT],
    ids=[case[0] for case in HOSTILE_TEXT],
)
async def test_hostile_text_frames_get_their_json_rpc_error(
    paradex_mock: MockServer,
    neighbour: Client,
    text: str,
    request_id: Any,
    code: int,
    data: str | None,
) -> None:
    """Non-objects, deep nesting, huge values, wrong types: one error each, nothing else."""
    link = await raw(paradex_mock)
    answer = await call(link, text)
    assert (answer["id"], answer["error"]["code"]) == (request_id, code)
    if data is not None:
        assert answer["error"]["data"] == data
    await assert_still_answers(link)
    (session,) = [s for s in paradex_mock.sessions.values() if s.peer == link.peer]
    assert session.subscriptions == ["bbo.BTC-USD-PERP"]
    await assert_streaming(paradex_mock, neighbour)


async def test_the_longest_id_allowed_is_echoed(paradex_mock: MockServer) -> None:
    """A string id of ``MAX_ID_CHARS`` characters is echoed unchanged."""
    link = await raw(paradex_mock)
    answer = await call(link, json.dumps(request("i" * MAX_ID_CHARS, "nope")))
    assert (answer["id"], answer["error"]["code"]) == ("i" * MAX_ID_CHARS, -32601)


async def test_a_batch_is_one_error_and_none_of_its_requests_is_acted_on(
    paradex_mock: MockServer,
) -> None:
    """A JSON-RPC 2.0 batch gets one -32600 (id null); its subscribe does not subscribe."""
    link = await raw(paradex_mock)
    batch = [request(1, channel=CHANNEL), request(2, "auth", bearer="x"), request(3, "nope")]
    answer = await call(link, json.dumps(batch))
    assert (answer["id"], answer["error"]) == (
        None,
        {"code": -32600, "message": "invalid request", "data": "batch requests are not supported"},
    )
    # Replies come in order: the next one being this proves the batch got no other.
    await assert_still_answers(link)
    (session,) = paradex_mock.sessions.values()
    assert session.subscriptions == ["bbo.BTC-USD-PERP"]


async def test_a_binary_frame_is_answered_and_not_acted_on(paradex_mock: MockServer) -> None:
    """A subscribe sent as a binary frame is -32600 with id null, and subscribes nothing."""
    link = await raw(paradex_mock)
    await link.send(client_frame(json.dumps(request(1, channel=CHANNEL)).encode(), OP_BINARY))
    answer = await reply(link)
    assert (answer["id"], answer["error"]["code"]) == (None, -32600)
    await assert_still_answers(link)
    (session,) = paradex_mock.sessions.values()
    assert session.subscriptions == ["bbo.BTC-USD-PERP"]


async def test_a_fragmented_request_with_pings_between_fragments_is_answered(
    paradex_mock: MockServer,
) -> None:
    """Fragments (a UTF-8 character split between two) and pings between them: one reply."""
    link = await raw(paradex_mock)
    payload = json.dumps(request(5, channel=CHANNEL, note="\u00e9\U0001f600"), ensure_ascii=False)
    data = payload.encode()
    cut = data.index("\U0001f600".encode()) + 2  # inside the four-byte character
    await link.send(client_frame(data[:10], fin=False))
    await link.send(client_frame(b"p1", OP_PING))
    await link.send(client_frame(data[10:cut], OP_CONT, fin=False))
    await link.send(client_frame(b"p2", OP_PING))
    await link.send(client_frame(data[cut:], OP_CONT))
    frames = [await next_frame(link) for _ in range(3)]
    assert frames[:2] == [(0xA, b"p1"), (0xA, b"p2")]
    assert json.loads(frames[2][1])["result"] == {"channel": CHANNEL}


async def test_the_transcript_keeps_hostile_frames_and_requests_skips_them(
    paradex_mock: MockServer,
) -> None:
    """A frame too deep to parse is in the transcript; ``server.requests()`` passes over it."""
    link = await raw(paradex_mock)
    assert (await call(link, DEEP))["error"]["code"] == -32700
    await assert_still_answers(link)
    assert [r["id"] for r in paradex_mock.requests()] == ["after"]
    (session,) = paradex_mock.sessions.values()
    assert [f.error for f in session.received] == ["parse_error", None]


async def test_the_transcript_is_bounded_by_size(
    paradex_mock: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large frames push the oldest out of the transcript; the newest is always kept."""
    monkeypatch.setattr(session_module, "TRANSCRIPT_MAX_CHARS", 10_000)
    link = await raw(paradex_mock)
    for n in range(10):
        assert (await call(link, padded(3000, n)))["id"] == n
    big = padded(20_000, 10)
    assert (await call(link, big))["id"] == 10
    (session,) = paradex_mock.sessions.values()
    assert [f.text.encode() for f in session.received] == [big]
    assert (await call(link, padded(3000, 11)))["id"] == 11
    assert len(session.received) == 1


# Frames the server must close on


@pytest.mark.parametrize("kind", FATAL)
@pytest.mark.paradex_mock(max_message_bytes=LIMIT)
async def test_frames_the_server_must_close_on(
    paradex_mock: MockServer, neighbour: Client, kind: str
) -> None:
    """Invalid UTF-8 closes 1007, oversized 1009, protocol errors 1002; the neighbour streams."""
    link = await raw(paradex_mock, deflate=kind == "deflate_bomb")
    generator = Generator(random.Random(kind), max_message_bytes=LIMIT)
    _, frames, code = generator.fatal(link, kind)
    with contextlib.suppress(ConnectionError):  # the server may close mid-frame
        for frame in frames:
            await link.send(frame)
    assert await close_code(link) == code
    assert (await recorded_close(paradex_mock, link)).close_code == code
    await assert_streaming(paradex_mock, neighbour)


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "compressed"])
@pytest.mark.paradex_mock(max_message_bytes=LIMIT)
async def test_exactly_max_message_bytes_passes_and_one_more_byte_closes_1009(
    paradex_mock: MockServer, deflate: bool
) -> None:
    """The limit is inclusive, plain or compressed (measured after decompression)."""
    link = await raw(paradex_mock, deflate=deflate)

    def frame(size: int) -> bytes:
        data = padded(size)
        return client_frame(link.compress(data), rsv=0b100) if deflate else client_frame(data)

    await link.send(frame(LIMIT))
    assert (await reply(link))["error"]["code"] == -32601
    await link.send(frame(LIMIT + 1))
    assert await close_code(link) == 1009
    assert (await recorded_close(paradex_mock, link)).close_code == 1009


@pytest.mark.paradex_mock(max_message_bytes=LIMIT)
async def test_the_limit_counts_every_fragment_of_a_message(paradex_mock: MockServer) -> None:
    """Fragments adding up to the limit pass; one byte more closes 1009."""
    link = await raw(paradex_mock)
    for size, last in ((LIMIT, False), (LIMIT + 1, True)):
        data = padded(size)
        await link.send(client_frame(data[:100], fin=False))
        await link.send(client_frame(data[100:], OP_CONT))
        if last:
            assert await close_code(link) == 1009
        else:
            assert (await reply(link))["error"]["code"] == -32601


# A client that sends faster than it reads


@pytest.mark.paradex_mock(max_queued_messages=200)
async def test_a_client_flooding_requests_it_never_reads_is_cut_off_with_bounded_memory(
    paradex_mock: MockServer, neighbour: Client
) -> None:
    """Requests whose replies pile up unread: at most 200 queued, then 1008 and TCP closed."""
    link = await open_link(paradex_mock.host, paradex_mock.port, deflate=False, rcvbuf=4096)
    assert isinstance(link, Link)
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 2)
    (victim,) = [s for s in paradex_mock.sessions.values() if s.peer == link.peer]
    # Long ids make long replies: the socket's buffers fill after a few thousand.
    flood = client_frame(json.dumps(request("f" * 1000, "nope")).encode()) * 50
    transport, loop = link.writer.transport, asyncio.get_running_loop()
    deadline = loop.time() + 6 * RECEIVE_TIMEOUT_S
    # Writes fail once the server has dropped the connection: nothing is left
    # half-closed behind its close frame (which a client that never reads never gets).
    with contextlib.suppress(ConnectionError):
        while not transport.is_closing():
            assert loop.time() < deadline, "the flooding client was never disconnected"
            link.writer.write(flood)
            with contextlib.suppress(asyncio.TimeoutError):  # the server reads as it can
                await asyncio.wait_for(link.writer.drain(), 0.5)
            # Bounded: the queue, and the transport's buffer (its high-water mark,
            # 64 KiB, plus one flush of at most the queue).
            assert victim.queued <= 200
            assert victim.buffered_bytes <= 64 * 1024 + 200 * 1100
    assert (await recorded_close(paradex_mock, link)).close_code == 1008
    assert victim.close_reason == "slow consumer"
    await assert_streaming(paradex_mock, neighbour)


async def test_a_client_flooding_pings_it_never_reads_is_throttled_not_buffered(
    paradex_mock: MockServer, neighbour: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Pings whose pongs go unread: TCP pushes back on the client, the server's buffer
    for it stays bounded, and the neighbour streams on."""
    link = await open_link(paradex_mock.host, paradex_mock.port, deflate=False, rcvbuf=4096)
    assert isinstance(link, Link)
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 2)
    (victim,) = [s for s in paradex_mock.sessions.values() if s.peer == link.peer]
    pings = client_frame(b"p" * 125, OP_PING) * 100
    for _ in range(2000):  # at most 26 MB: far more than every buffer on the way
        link.writer.write(pings)
        try:
            await asyncio.wait_for(link.writer.drain(), 0.5)
        except asyncio.TimeoutError:
            break  # the server has stopped reading this client
        # A few times the transport's high-water mark (64 KiB): aiohttp checks for the
        # drain every 64 KiB it writes. Without the push-back it would grow to 26 MB.
        assert victim.buffered_bytes <= 1024 * 1024
    else:
        pytest.fail("the server kept reading pings whose pongs were never read")
    await assert_streaming(paradex_mock, neighbour)
    assert not victim.closed
    link.abort()
    await recorded_close(paradex_mock, link)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
