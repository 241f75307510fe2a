"""Every session's transcript: frames both ways, pings, pongs, close; JSON lines; control API.

Real clients over real sockets against the ``paradex_mock`` fixture, plus the
``Transcript`` bounds on their own (no socket needed for the arithmetic).
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import RECEIVE_TIMEOUT_S, Client, Connect
from test_cli_control import InProcess

from mockserver.pytest_plugin import MockServerFactory
from mockserver.server import MockServer
from mockserver.session import Session
from mockserver.transcript import ReceivedFrame, Transcript, TranscriptEvent
from mockserver.wire import Frame

pytestmark = pytest.mark.paradex_mock(scenario="empty", ping_interval_s=None)

BBO = "bbo.BTC-USD-PERP"


def only_session(server: MockServer) -> Session:
    (session,) = server.all_sessions()
    return session


def kinds(session: Session) -> list[tuple[str | None, str]]:
    return [(e.dir, e.kind) for e in session.transcript.events()]


async def closed(server: MockServer, session: Session) -> None:
    await server.wait_for(
        lambda: session.closed_by is not None and session.id not in server.sessions
    )


# Frames in and out


async def test_frames_in_and_out_are_kept_in_order_with_their_exact_text(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The open, a request, its reply and the data frames, in order, out texts as sent."""
    client = await connect(headers={"User-Agent": "transcript-test/1"})
    await client.subscribe(BBO)
    paradex_mock.publish(BBO, {"bid": "1"})
    paradex_mock.publish(BBO, {"bid": "2"})
    seen = [(await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)).data for _ in range(2)]
    session = only_session(paradex_mock)
    events = session.transcript.events()
    assert kinds(session) == [
        (None, "open"),
        ("in", "text"),
        ("out", "text"),
        *[("out", "text")] * 2,
    ]
    opened, request, reply, *data = events
    assert (opened.path, opened.user_agent) == ("/v1", "transcript-test/1")
    assert (opened.peer, opened.at_us) == (session.peer, session.connected_at_us)
    assert json.loads(request.text or "")["params"] == {"channel": BBO}
    assert json.loads(reply.text or "")["result"] == {"channel": BBO}
    assert [e.text for e in data] == seen
    times = [e.at_us for e in events]
    assert times == sorted(times)


async def test_errors_binary_frames_and_ignored_frames_are_marked(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A client frame answered with an error carries its kind; a binary frame is 'binary'."""
    client = await connect()
    await client.send("not json")
    await client.receive_json()
    await client.ws.send_bytes(b"\x00")
    await client.receive_json()
    session = only_session(paradex_mock)
    incoming = [e for e in session.transcript.events() if e.dir == "in"]
    assert [(e.kind, e.error, e.ignored) for e in incoming] == [
        ("text", "parse_error", False),
        ("binary", "invalid_request", False),
    ]
    assert [f.binary for f in session.received] == [False, True]


# Pings and pongs


@pytest.mark.paradex_mock(ping_interval_s=0.05)
async def test_pings_and_pongs_are_kept_with_the_round_trip(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Each ping the server wrote, then the client's pong with its round trip in ms."""
    client = await connect(autoping=False)
    for _ in range(2):
        message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
        assert message.type is aiohttp.WSMsgType.PING
        await client.ws.pong(message.data)
    session = only_session(paradex_mock)
    await paradex_mock.wait_for(lambda: session.keepalive.stats.pongs_received >= 2)
    pings = [e for e in session.transcript.events() if e.kind in ("ping", "pong")]
    assert [(e.dir, e.kind) for e in pings[:4]] == [("out", "ping"), ("in", "pong")] * 2
    for ping, pong in zip(pings[:4:2], pings[1:4:2], strict=True):
        assert pong.rtt_ms is not None
        assert 0 <= pong.rtt_ms < 1000
        assert pong.at_us >= ping.at_us
    assert pings[1].to_json()["rtt_ms"] == pings[1].rtt_ms


@pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=None)
async def test_awaiting_pong_holds_from_the_ping_to_the_pong(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """awaiting_pong is True once a ping is written, False at the pong and once closed."""
    client = await connect(autoping=False)
    session = only_session(paradex_mock)
    assert not session.awaiting_pong
    message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert message.type is aiohttp.WSMsgType.PING
    assert session.awaiting_pong
    await client.ws.pong(message.data)
    await paradex_mock.wait_for(lambda: not session.awaiting_pong)
    await paradex_mock.wait_for(lambda: session.awaiting_pong)  # the next ping
    await client.ws.close()
    await closed(paradex_mock, session)
    assert not session.awaiting_pong


async def test_a_client_ping_and_the_servers_pong(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A ping from the client is 'client_ping' in, the server's answer 'pong' out."""
    client = await connect(autoping=False)
    await client.ws.ping(b"hi")
    message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert message.type is aiohttp.WSMsgType.PONG
    session = only_session(paradex_mock)
    assert kinds(session) == [(None, "open"), ("in", "client_ping"), ("out", "pong")]


# The close


async def test_a_client_close_is_by_the_client_with_its_code(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """The client closing with 1000 is kept as code 1000, by the client, with its time."""
    client = await connect()
    session = only_session(paradex_mock)
    await client.ws.close(code=1000, message=b"done")
    await closed(paradex_mock, session)
    close = session.transcript.events()[-1]
    assert (close.kind, close.code, close.reason, close.by) == ("close", 1000, "done", "client")
    assert (session.closed_by, session.closed_at_us) == ("client", close.at_us)
    assert close.at_us >= session.connected_at_us


@pytest.mark.parametrize(
    ("provoke", "code", "reason"),
    [
        (lambda server: server.close_all(4000, "bye"), 4000, "bye"),
        (lambda server: server.drop_all(), 1006, "dropped"),
    ],
    ids=["close_all", "drop_all"],
)
async def test_a_fault_close_or_drop_is_by_the_server(
    paradex_mock: MockServer, connect: Connect, provoke: Any, code: int, reason: str
) -> None:
    """close_all(4000) and drop_all() are kept as closes by the server, with their code."""
    await connect()
    session = only_session(paradex_mock)
    provoke(paradex_mock)
    await closed(paradex_mock, session)
    close = session.transcript.events()[-1]
    assert (close.kind, close.code, close.reason, close.by) == ("close", code, reason, "server")


@pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=0.05)
async def test_a_pong_timeout_is_a_close_by_the_server(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A client that never answers pings is dropped: the close is the server's."""
    await connect(autoping=False)
    session = only_session(paradex_mock)
    await closed(paradex_mock, session)
    events = session.transcript.events()
    assert ("out", "ping") in kinds(session)
    assert (events[-1].kind, events[-1].by, events[-1].code) == ("close", "server", 1006)


# Bounds


@pytest.mark.paradex_mock(transcript_limit=5)
async def test_the_transcript_keeps_the_newest_frames_up_to_the_limit(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """With transcript_limit=5 only the five newest frames (in and out) are kept."""
    client = await connect()
    for n in range(6):
        await client.call("unsubscribe", {"channel": f"bbo.N{n}-USD-PERP"}, request_id=n)
    session = only_session(paradex_mock)
    events = session.transcript.events()
    assert len(session.transcript) == len(events) == 5
    ids = [json.loads(e.text or "")["id"] for e in events]
    assert ids == [3, 4, 4, 5, 5]  # reply 3, then request and reply 4 and 5


def test_a_write_of_many_frames_is_trimmed_frame_by_frame() -> None:
    """A write of ten frames is one entry, trimmed from its oldest frame, without copies."""
    transcript = Transcript(limit=4, max_in_chars=1000)
    frames = tuple(Frame(f"f{n}") for n in range(10))
    transcript.sent(1, frames)
    assert [e.text for e in transcript.events()] == ["f6", "f7", "f8", "f9"]
    transcript.event(TranscriptEvent("ping", 2, "out"))
    assert [e.text for e in transcript.events()] == ["f7", "f8", "f9", None]
    transcript.received(ReceivedFrame(3, "x" * 2000))  # over the char cap: only it stays
    assert [e.text for e in transcript.events()] == ["x" * 2000]
    assert len(transcript) == 1


@pytest.mark.parametrize("limit", [1, 3, 40])
def test_the_view_is_always_the_newest_frames_up_to_the_limit(limit: int) -> None:
    """Whatever mix of writes, client frames and events, events() is the newest ``limit``
    (trimming in batches never shows more, or fewer)."""
    rng = random.Random(limit)
    transcript = Transcript(limit=limit, max_in_chars=10**9)
    expected: list[str | None] = []
    for n in range(1500):
        draw = rng.random()
        if draw < 0.4:
            frames = tuple(Frame(f"out{n}.{k}") for k in range(rng.randint(1, 30)))
            transcript.sent(n, frames)
            expected += [f.text for f in frames]
        elif draw < 0.7:
            transcript.received(ReceivedFrame(n, f"in{n}"))
            expected.append(f"in{n}")
        else:
            transcript.event(TranscriptEvent("ping", n, "out"))
            expected.append(None)
        assert [e.text for e in transcript.events()] == expected[-limit:]
        assert len(transcript) == min(limit, len(expected))


# JSON lines


async def test_write_transcript_writes_every_session_as_json_lines(
    paradex_mock: MockServer, connect: Connect, tmp_path: Path
) -> None:
    """write_transcript: one object per event, each with session, at_us, dir, kind."""
    first = await connect()
    await first.subscribe(BBO)
    await first.ws.close()
    await paradex_mock.wait_for(lambda: len(paradex_mock.closed_sessions) == 1)
    second = await connect()
    await second.call("unsubscribe", {"channel": BBO})
    path = tmp_path / "transcript.jsonl"
    lines = paradex_mock.write_transcript(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == len(rows)
    assert [(r["session"], r["dir"], r["kind"]) for r in rows] == [
        ("s1", None, "open"),
        ("s1", "in", "text"),
        ("s1", "out", "text"),
        ("s1", None, "close"),
        ("s2", None, "open"),
        ("s2", "in", "text"),
        ("s2", "out", "text"),
    ]
    assert all(isinstance(r["at_us"], int) for r in rows)
    assert rows[1] == {
        "session": "s1",
        "at_us": rows[1]["at_us"],
        "dir": "in",
        "kind": "text",
        "text": rows[1]["text"],
        "error": None,
        "ignored": False,
    }
    assert (rows[3]["code"], rows[3]["by"]) == (1000, "client")
    stream = io.StringIO()
    assert paradex_mock.write_transcript(stream) == lines
    assert stream.getvalue() == path.read_text()
    assert paradex_mock.transcript() == rows


# The control API


async def get(server: MockServer, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/_mock{path}") as response:
        return response.status, response.content_type, await response.text()


async def test_the_control_api_serves_transcripts_as_json_and_json_lines(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """GET /_mock/sessions/{id}/transcript and /_mock/transcript, JSON or ?format=jsonl."""
    client = await connect()
    await client.subscribe(BBO)
    await connect()
    status, kind, text = await get(paradex_mock, "/sessions/s1/transcript")
    assert (status, kind) == (200, "application/json")
    assert json.loads(text) == [
        e.to_json("s1") for e in paradex_mock.sessions["s1"].transcript.events()
    ]
    status, kind, text = await get(paradex_mock, "/sessions/s1/transcript?format=jsonl")
    assert (status, kind) == (200, "application/x-ndjson")
    assert [json.loads(line)["kind"] for line in text.splitlines()] == ["open", "text", "text"]
    status, _, text = await get(paradex_mock, "/transcript")
    assert [(r["session"], r["kind"]) for r in json.loads(text)] == [
        ("s1", "open"), ("s1", "text"), ("s1", "text"), ("s2", "open"),
    ]  # fmt: skip
    status, _, text = await get(paradex_mock, "/transcript?format=jsonl")
    assert len(text.splitlines()) == 4
    status, _, text = await get(paradex_mock, "/sessions/s9/transcript")
    assert (status, "s9" in json.loads(text)["error"]) == (404, True)
    status, _, text = await get(paradex_mock, "/transcript?format=xml")
    assert (status, "jsonl" in json.loads(text)["error"]) == (400, True)


async def test_control_transcript_prints_it(
    paradex_mock: MockServer, connect: Connect, capsys: pytest.CaptureFixture[str]
) -> None:
    """paradex-mock control transcript [SESSION] prints the JSON array."""
    client: Client = await connect()
    await client.subscribe(BBO)
    control = InProcess(paradex_mock.url, capsys)
    every = await control.json("transcript")
    assert [r["kind"] for r in every] == ["open", "text", "text"]
    assert await control.json("transcript", "s1") == every
    code, _, err = await control("transcript", "s7")
    assert (code, "HTTP 404" in err) == (1, True)


# Under the virtual clock


async def a_virtual_minute(factory: MockServerFactory) -> list[dict[str, Any]]:
    """A client subscribes, answers the ping at 55 s, gets a publish at 60 s, closes."""
    server = await factory(
        clock="virtual", ping_interval_s=55, pong_timeout_s=5, advance_pong_grace_s=2.0
    )
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        client = Client(ws)
        await client.subscribe(BBO)
        reading = asyncio.create_task(client.notification(BBO))  # aiohttp answers pings
        await server.advance(60)
        server.publish(BBO, {"bid": "1"})
        await reading
    await server.wait_for(lambda: not server.sessions)
    return [{k: v for k, v in e.items() if k != "peer"} for e in server.transcript()]


async def test_the_transcript_follows_the_virtual_clock(
    paradex_mock_factory: MockServerFactory,
) -> None:
    """Under the virtual clock, two runs give the same transcript, times included."""
    first = await a_virtual_minute(paradex_mock_factory)
    assert first == await a_virtual_minute(paradex_mock_factory)
    assert [(e["dir"], e["kind"]) for e in first] == [
        (None, "open"), ("in", "text"), ("out", "text"), ("out", "ping"), ("in", "pong"),
        ("out", "text"), (None, "close"),
    ]  # fmt: skip
    opened, ping, pong = first[0]["at_us"], first[3]["at_us"], first[4]
    assert ping - opened == 55_000_000
    assert (pong["at_us"], pong["rtt_ms"]) == (ping, 0.0)
