"""One WebSocket connection: the only module that touches a socket.

A ``Session`` pumps frames between aiohttp and the sans-I/O ``RpcSession``:
- the reader (the aiohttp handler's task) feeds each client frame to the
  protocol in arrival order, answers client pings, hands pongs to ``Keepalive``;
- outgoing frames (replies and channel data, in the order they were produced)
  go into one bounded queue; the server's ``Outbox`` flushes it once per loop
  turn. To a client without permessage-deflate, a flush is one
  ``transport.write`` of the frames' shared wire bytes (``wire.Frame``); a due
  ping is written at once, ahead of anything still queued;
- a writer task exists only when a write must wait: the transport's buffer is
  past its high-water mark (it awaits the drain), the connection compresses
  (aiohttp compresses each frame), or a bandwidth fault paces the link;
- a client that lets ``max_queued_messages`` frames pile up unsent is
  disconnected as a slow consumer (paradex-ws.md §5), so memory stays bounded:
  the queue, plus one transport buffer's high-water mark, plus one flush.

Faults (``mockserver.faults``) reach the session as a ``FaultView`` that the
server's fault book hands it; each hook point asks the view (a session with no
faults has the shared empty view and pays one attribute test).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from mockserver import wire
from mockserver.channels import Channel
from mockserver.clock import Clock, Timer
from mockserver.config import MockConfig
from mockserver.errors import InvalidRequest
from mockserver.faults.base import Outgoing
from mockserver.faults.view import NO_FAULTS, FaultView
from mockserver.keepalive import Keepalive, Scheduler
from mockserver.outbox import Outbox
from mockserver.protocol import Outcome, ProtocolPolicy, RpcSession
from mockserver.transcript import (
    BINARY_TEXT,
    BY_CLIENT,
    BY_SERVER,
    CLIENT_PING,
    CLOSE,
    IN,
    OPEN,
    OUT,
    PING,
    PONG,
    ReceivedFrame,
    Transcript,
    TranscriptEvent,
)
from mockserver.wire import Frame, as_frame

if TYPE_CHECKING:
    from mockserver.scenario.model import CloseAction

log = logging.getLogger(__name__)

# UNCONFIRMED close codes (paradex-ws.md §4 documents none).
SLOW_CONSUMER_CLOSE = (WSCloseCode.POLICY_VIOLATION, "slow consumer")
GOING_AWAY_CLOSE = (WSCloseCode.GOING_AWAY, "server shutting down")
TOO_BIG_CLOSE = (WSCloseCode.MESSAGE_TOO_BIG, "message too big")

# The transcript keeps at most this many characters of client frames, the oldest
# frames making room: with 1 MiB frames, ``transcript_limit`` frames alone could
# hold 10 GiB for one connection. (``received`` and ``transcript`` each.)
TRANSCRIPT_MAX_CHARS = 16 * 1024 * 1024

__all__ = ["ReceivedFrame", "Session", "SessionHost"]


class SessionHost(Protocol):
    """What a session needs from its server."""

    def session_subscribed(self, session: Session, channel: Channel) -> None: ...

    def session_unsubscribed(self, session: Session, channel: Channel) -> None: ...

    def session_authenticated(self, session: Session) -> None: ...

    def session_closed(self, session: Session) -> None: ...

    # Anything a waiter may be watching: a frame received, a ping sent, a pong.
    def session_changed(self, session: Session) -> None: ...


class Session:
    """The server side of one client connection."""

    def __init__(
        self,
        *,
        number: int,
        request: web.Request,
        ws: web.WebSocketResponse,
        config: MockConfig,
        clock: Clock,
        timers: Scheduler,
        outbox: Outbox,
        policy: ProtocolPolicy,
        host: SessionHost,
        on_pong_timeout: CloseAction | None,
    ) -> None:
        self.number = number
        self.id = f"s{number}"
        self.peer = _peer(request)
        self.path = request.path_qs
        self.user_agent = request.headers.get("User-Agent", "")
        # Let go of when the connection ends (see _release): a closed session stays
        # in the server's history, and these hold aiohttp's reader, writer and
        # permessage-deflate compressor (hundreds of KiB with deflate).
        self._ws: web.WebSocketResponse | None = ws
        self._request: web.Request | None = request
        self._config = config
        self._clock = clock
        self._host = host
        self._outbox = outbox
        self._on_pong_timeout = on_pong_timeout
        self.rpc = RpcSession(policy, now_us=clock.wall_us)
        self.connected_at_us = clock.wall_us()
        self.received: deque[ReceivedFrame] = deque(maxlen=config.transcript_limit)
        self._transcript_chars = 0
        # Everything, in order (mockserver.transcript): frames both ways, pings, close.
        self.transcript = Transcript(
            limit=config.transcript_limit, max_in_chars=TRANSCRIPT_MAX_CHARS
        )
        self.transcript.event(
            TranscriptEvent(
                OPEN,
                self.connected_at_us,
                None,
                path=self.path,
                user_agent=self.user_agent,
                peer=self.peer,
            )
        )
        # When the first ping not yet answered by a pong frame went out (monotonic).
        self._ping_at: float | None = None
        # A text frame this long may be over max_message_bytes (see _too_big).
        self._check_size_from = config.max_message_bytes // 4 + 1
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_at_us: int | None = None
        # "server": the server closed or dropped it (a fault, the pong deadline, a slow
        # consumer, a frame too big, shutdown); "client": the client closed or went away.
        self.closed_by: str | None = None
        self._queue: deque[Frame] = deque()
        self._flush_requested = False
        self._max_unsent = config.max_queued_messages
        # Set in run(), once the handshake has said whether the connection compresses.
        self._transport: asyncio.Transport | None = None
        self._framed = False  # uncompressed: write the shared wire bytes ourselves
        self._high_water = 0
        self._draining = False  # past the high-water mark: the writer awaits the drain
        self._wake = asyncio.Event()
        self._ping_due = False  # a ping the writer sends (only under a bandwidth fault)
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        # Frames a fault holds back: (due, order, frame), released by one timer.
        self._delayed: list[tuple[float, int, Frame]] = []
        self._delayed_order = itertools.count()
        self._delay_timer: Timer | None = None
        self._delivering_at: float | None = None  # the clock reading of a delivery under way
        self.faults: FaultView = NO_FAULTS
        self._bytes_per_s: float | None = None
        self.keepalive = Keepalive(
            timers,
            interval_s=config.ping_interval_s,
            timeout_s=config.pong_timeout_s,
            request_ping=self._request_ping,
            on_timeout=self._pong_timed_out,
        )
        self.rpc.intercept = lambda request: self.faults.request_error(request)

    # What the rest of the server sees

    @property
    def account(self) -> str | None:
        return self.rpc.account

    @property
    def subscriptions(self) -> list[str]:
        return list(self.rpc.subscriptions)

    @property
    def closed(self) -> bool:
        return self._closing or self._ws is None or self._ws.closed

    @property
    def awaiting_pong(self) -> bool:
        """A ping was written and no pong frame has come since (whether or not a fault
        keeps the keepalive from seeing it); False once the connection is closed."""
        return self._ping_at is not None and not self.closed

    @property
    def queued(self) -> int:
        """Frames waiting in the session's queue (not yet handed to the transport)."""
        return len(self._queue)

    @property
    def buffered_bytes(self) -> int:
        """Bytes handed to the transport and not yet taken by the kernel."""
        transport = self._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def deliver(self, frame: Frame | str, channel: str | None = None) -> None:
        """Queue a frame for the client (``channel``: the subscription it was framed
        for; None for a reply); never blocks."""
        if self._closing:
            return
        if not self.faults.outgoing:
            self._enqueue(as_frame(frame))
            return
        frame = as_frame(frame)
        # One clock reading for the whole delivery: a fault's due time (now() + delay)
        # is then exactly the one send_later schedules, so latency keeps frame order.
        self._delivering_at = self._clock.monotonic()
        try:
            for item in self.faults.transform(self, Outgoing(frame.text, channel)):
                # An untouched frame keeps its shared wire bytes.
                out = frame if item.frame is frame.text else Frame(item.frame)
                if item.delay_s > 0:
                    self.send_later(out, item.delay_s)
                else:
                    self._enqueue(out)
        finally:
            self._delivering_at = None

    def _enqueue(self, frame: Frame) -> None:
        """The hot path of every delivery: keep it to a few attribute reads."""
        queue = self._queue
        if not queue:
            self._outbox.backlogged(self)
        queue.append(frame)
        if len(queue) + len(self._delayed) >= self._max_unsent:
            self._cut_off()
        elif not self._flush_requested:
            self._flush_requested = True
            self._outbox.request_flush(self)

    def _over_limit(self) -> bool:
        """Frames queued or held back by a fault count alike: past the limit, the
        client is disconnected as a slow consumer, so memory stays bounded."""
        if len(self._queue) + len(self._delayed) < self._max_unsent:
            return False
        self._cut_off()
        return True

    def _cut_off(self) -> None:
        unsent = len(self._queue) + len(self._delayed)
        log.warning("%s: %d frames unsent, disconnecting slow consumer", self.id, unsent)
        self.disconnect_slow_consumer()

    def disconnect_slow_consumer(self) -> None:
        """Close as Paradex does when 2000+ messages accumulate (paradex-ws.md §5)."""
        self._discard_queued()
        self.close_soon(*SLOW_CONSUMER_CLOSE)

    def _discard_queued(self) -> None:
        self._queue.clear()
        self._delayed.clear()
        self._outbox.caught_up(self)

    # What faults use (mockserver.faults.base.Subject)

    def apply_faults(self, view: FaultView) -> None:
        """The faults that apply to this session now (from the server's fault book)."""
        self.faults = view
        timeout = view.pong_timeout_s()
        self.keepalive.timeout_s = timeout if timeout is not None else self._config.pong_timeout_s
        self._bytes_per_s = view.bytes_per_s()

    def send_later(self, frame: Frame | str, delay_s: float) -> None:
        """Queue ``frame`` in ``delay_s`` seconds, past the faults (a held frame's release)."""
        if self._closing:
            return
        frame = as_frame(frame)
        if delay_s <= 0:
            self._enqueue(frame)
            return
        due = self.now() + delay_s
        order = next(self._delayed_order)
        heapq.heappush(self._delayed, (due, order, frame))
        if self._over_limit():
            return
        if self._delayed[0][1] == order:  # the new earliest: move the one timer
            if self._delay_timer is not None:
                self._delay_timer.cancel()
            self._delay_timer = self._clock.call_at(due, self._release_delayed)

    def _release_delayed(self) -> None:
        self._delay_timer = None
        now = self._clock.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._enqueue(heapq.heappop(self._delayed)[2])
        if self._delayed and not self._closing:
            self._delay_timer = self._clock.call_at(self._delayed[0][0], self._release_delayed)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return self._clock.call_at(self._clock.monotonic() + delay_s, callback)

    def forget_pending_pong(self) -> None:
        self.keepalive.forget_unanswered()

    def now(self) -> float:
        if self._delivering_at is not None:
            return self._delivering_at
        return self._clock.monotonic()

    def close_soon(self, code: int, reason: str) -> None:
        """Start a close handshake without waiting for it."""
        if self._closer is None and not self._closing:
            self._closer = asyncio.create_task(self.close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame; drop TCP if the client does not complete it in time."""
        if self._closing:
            return
        self._closing = True
        self._record_close(code, reason, BY_SERVER)
        self._wake.set()
        try:
            await asyncio.wait_for(
                self._live_ws.close(code=code, message=reason.encode()),
                timeout=self._config.close_timeout_s,
            )
        except (asyncio.TimeoutError, ConnectionError):
            self.drop()
        except asyncio.CancelledError:
            # aiohttp's close frame waits on the drain future the writer task shares;
            # cancelling the writer (run() ends) cancels it here too. aiohttp has then
            # only asked the transport to close once its buffer drains, which a client
            # that never reads never lets happen: drop the connection instead.
            self.drop()
            raise

    def drop(self) -> None:
        """Close TCP at once, with no close frame: the client sees 1006."""
        self._closing = True
        self._record_close(WSCloseCode.ABNORMAL_CLOSURE, "dropped", BY_SERVER)
        self._wake.set()
        # The transport run() kept (a close still under way may outlive run()), or,
        # before run(), the request's.
        transport = self._transport
        if transport is None and self._request is not None:
            transport = self._request.transport
        if transport is not None:
            transport.abort()

    def _record_close(self, code: int, reason: str, by: str) -> None:
        """Keep the first close code: the one that ended the connection."""
        if self.close_code is None:
            self.close_code, self.close_reason = int(code), reason
            self.closed_at_us, self.closed_by = self._clock.wall_us(), by
            self.transcript.event(
                TranscriptEvent(
                    CLOSE, self.closed_at_us, None, code=self.close_code, reason=reason, by=by
                )
            )

    # The connection's life

    async def run(self) -> None:
        """Serve the connection until it closes."""
        self._transport = self._live_request.transport
        self._framed = not self._live_ws.compress and self._transport is not None
        if self._transport is not None:
            self._high_water = self._transport.get_write_buffer_limits()[1]
        self.keepalive.start()
        try:
            await self._read_loop()
        finally:
            self.keepalive.stop()
            if self._delay_timer is not None:
                self._delay_timer.cancel()
            self._closing = True
            self._discard_queued()
            self._wake.set()
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
            # The client closed (its close frame was read above) or went away.
            code = self._live_ws.close_code
            self._record_close(
                WSCloseCode.ABNORMAL_CLOSURE if code is None else code, "", BY_CLIENT
            )
            self._release()
            self._host.session_closed(self)

    def _release(self) -> None:
        """Drop the connection's objects; what the history shows (transcript, stats,
        close code) stays. The transport is kept, for a close still under way to
        abort: once closed, asyncio's transport holds nothing of the connection."""
        self._ws = self._request = self._writer = None
        self.faults = NO_FAULTS

    @property
    def _live_ws(self) -> web.WebSocketResponse:
        assert self._ws is not None, "the connection has ended"
        return self._ws

    @property
    def _live_request(self) -> web.Request:
        assert self._request is not None, "the connection has ended"
        return self._request

    async def _read_loop(self) -> None:
        ws = self._live_ws
        while not ws.closed:
            message = await ws.receive()
            kind = message.type
            if kind is WSMsgType.TEXT:
                self._handle_text(message.data)
            elif kind is WSMsgType.BINARY:
                self._handle_binary()
            elif kind is WSMsgType.PING:
                self.transcript.event(TranscriptEvent(CLIENT_PING, self._clock.wall_us(), IN))
                if not self.faults.blocked("client_ping") and not await self._pong(message.data):
                    break
            elif kind is WSMsgType.PONG:
                self._pong_received()
            else:  # CLOSE, CLOSING, CLOSED, ERROR: aiohttp has answered any close
                if kind is WSMsgType.CLOSE:
                    self._record_close(message.data, message.extra or "", BY_CLIENT)
                elif kind is WSMsgType.ERROR and isinstance(message.data, WebSocketError):
                    # aiohttp closed with this code (1007 bad UTF-8, 1009 too big) but
                    # reports 1006 afterwards; the transcript keeps the code it sent.
                    self._record_close(message.data.code, str(message.data), BY_SERVER)
                break

    def _pong_received(self) -> None:
        """A pong frame: into the transcript with its round trip, then the keepalive."""
        rtt_ms = None
        if self._ping_at is not None:
            rtt_ms = round((self._clock.monotonic() - self._ping_at) * 1000, 3)
            self._ping_at = None
        self.transcript.event(TranscriptEvent(PONG, self._clock.wall_us(), IN, rtt_ms=rtt_ms))
        if not self.faults.blocked("pong"):
            self.keepalive.pong_received()
        self._host.session_changed(self)

    async def _pong(self, payload: bytes) -> bool:
        """Answer a client's ping; False if the connection went meanwhile (a client
        flooding pings it never reads has this wait for the drain, and may vanish)."""
        try:
            await self._live_ws.pong(payload)
        except ConnectionError as exc:
            log.debug("%s: pong failed: %r", self.id, exc)
            return False
        self.transcript.event(TranscriptEvent(PONG, self._clock.wall_us(), OUT))
        return True

    def _handle_text(self, text: str) -> None:
        if len(text) >= self._check_size_from and self._too_big(text):
            return
        received_us = self._clock.wall_us()
        if self._ignored(text, received_us):
            return
        self._apply(text, self.rpc.receive(text, received_us=received_us), received_us)

    def _ignored(self, text: str, received_us: int, *, binary: bool = False) -> bool:
        """A fault (black_hole) has the frame recorded but not acted on."""
        if not self.faults.blocked("incoming"):
            return False
        self._record(ReceivedFrame(received_us, text, ignored=True, binary=binary))
        self._host.session_changed(self)
        return True

    def _too_big(self, text: str) -> bool:
        """Close 1009 for a frame over ``max_message_bytes`` that aiohttp let through.

        aiohttp refuses an uncompressed message of its ``max_msg_size`` (set one
        over the limit), but lets a decompressed one of exactly that size pass.
        """
        if not self._live_ws.compress or len(text.encode()) <= self._config.max_message_bytes:
            return False
        self.close_soon(*TOO_BIG_CLOSE)
        return True

    def _record(self, frame: ReceivedFrame) -> None:
        """Add ``frame`` to the transcript; the oldest frames make room, by count and size."""
        received = self.received
        if len(received) == received.maxlen:
            self._transcript_chars -= len(received[0].text)
        received.append(frame)
        self._transcript_chars += len(frame.text)
        while self._transcript_chars > TRANSCRIPT_MAX_CHARS and len(received) > 1:
            self._transcript_chars -= len(received.popleft().text)
        self.transcript.received(frame)

    def _handle_binary(self) -> None:
        # Paradex: "Client messages must always be sent as JSON-RPC text frames".
        received_us = self._clock.wall_us()
        if self._ignored(BINARY_TEXT, received_us, binary=True):
            return
        error = InvalidRequest("send JSON-RPC requests as text frames, not binary")
        outcome = self.rpc.reject(error, received_us=received_us)
        self._apply(BINARY_TEXT, outcome, received_us, binary=True)

    def _apply(
        self, text: str, outcome: Outcome, received_us: int, *, binary: bool = False
    ) -> None:
        error = outcome.error.kind if outcome.error is not None else None
        self._record(ReceivedFrame(received_us, text, error, binary=binary))
        if outcome.reply is not None:
            self.deliver(outcome.reply)
        if outcome.subscribed is not None:
            self._host.session_subscribed(self, outcome.subscribed)
        if outcome.unsubscribed is not None:
            self._host.session_unsubscribed(self, outcome.unsubscribed)
        if outcome.authenticated is not None:
            self._host.session_authenticated(self)
        self._host.session_changed(self)

    # Writing

    def flush(self) -> None:
        """Write what is queued (the outbox calls this once per loop turn)."""
        self._flush_requested = False
        if self._closing or not self._queue:
            return
        if self._framed and not self._draining and self._bytes_per_s is None:
            self._write_queued()
        else:
            self._start_writer()

    def _writable(self) -> asyncio.Transport | None:
        """The transport, unless the connection is closing (no frame after a close)."""
        transport = self._transport
        if transport is None or self.closed or transport.is_closing():
            return None
        return transport

    def _write_queued(self) -> None:
        """Everything queued, as one write of the frames' shared bytes."""
        queue, transport = self._queue, self._writable()
        if transport is None:
            return  # the reader sees the close and ends the session
        # One transcript entry for the whole write: the shared texts, not copies.
        self.transcript.sent(self._clock.wall_us(), queue)
        if len(queue) == 1:
            transport.write(queue.popleft().wire)
        else:
            transport.write(b"".join([frame.wire for frame in queue]))
            queue.clear()
        self._outbox.caught_up(self)
        if transport.get_write_buffer_size() > self._high_water:
            # The transport paused its protocol: queue until it has drained.
            self._draining = True
            self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name=f"{self.id}:writer")
        self._wake.set()

    async def _write_loop(self) -> None:
        """Writes that must wait: the drain, aiohttp's compression, a paced link."""
        ws, queue = self._live_ws, self._queue
        try:
            while not self._closing:
                if self._ping_due:
                    self._ping_due = False
                    await ws.ping()
                    self._ping_written()
                elif self._draining:
                    await self._live_request.writer.drain()
                    self._draining = False
                elif queue and self._framed and self._bytes_per_s is None:
                    self._write_queued()
                elif queue:
                    await self._write_one(queue.popleft())
                    if not queue:
                        self._outbox.caught_up(self)
                else:
                    self._wake.clear()
                    await self._wake.wait()
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away mid-send (aiohttp raises ClientConnectionResetError,
            # a ConnectionError, or RuntimeError once the response is closed).
            log.debug("%s: send failed: %r", self.id, exc)
            self.drop()

    async def _write_one(self, frame: Frame) -> None:
        """One frame through aiohttp (it compresses), or paced by a bandwidth fault."""
        if self._framed:
            transport = self._writable()
            if transport is None:
                return
            self.transcript.sent(self._clock.wall_us(), (frame,))
            transport.write(frame.wire)
            await self._live_request.writer.drain()
        else:
            self.transcript.sent(self._clock.wall_us(), (frame,))
            await self._live_ws.send_str(frame.text)
        if self._bytes_per_s is not None:  # a bandwidth fault: pace the link
            size = len(frame.wire) if self._framed else len(frame.text.encode())
            await self._clock.sleep_until(self._clock.monotonic() + size / self._bytes_per_s)

    # Keepalive callbacks

    def _request_ping(self) -> None:
        if self._closing or self.faults.blocked("ping"):
            return
        if self._bytes_per_s is not None:  # a paced link: the ping waits its turn
            self._ping_due = True
            self._start_writer()
            return
        transport = self._writable()
        if transport is not None:
            # Ahead of whatever is queued (a control frame may go between messages).
            transport.write(wire.PING)
            self._ping_written()

    def _ping_written(self) -> None:
        self.transcript.event(TranscriptEvent(PING, self._clock.wall_us(), OUT))
        if self._ping_at is None:
            self._ping_at = self._clock.monotonic()
        self.keepalive.ping_sent()
        self._host.session_changed(self)

    def _pong_timed_out(self) -> None:
        log.info("%s: no pong within %ss, terminating", self.id, self.keepalive.timeout_s)
        action = self._on_pong_timeout
        if action is None:
            self.drop()
        else:
            self.close_soon(action.code, action.reason)


def _peer(request: web.Request) -> str:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(request.remote or "")
