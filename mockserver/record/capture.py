"""Record a live endpoint: connect, ``auth``, ``subscribe``, keep every notification.

aiohttp's client answers the server's pings itself (``autoping``), so a long
recording stays connected through Paradex's 55 s keepalive. Replies are matched
to requests by id while notifications keep arriving: a channel subscribed first
is already being recorded while the next subscribe waits for its reply.
Arrival times are the event loop's monotonic clock.

Every failure to get going (unreachable URL, refused handshake, refused
``auth`` or ``subscribe``, no reply) is a ``RecordError`` in one line. Once
recording, the server closing the connection just ends the recording: what
arrived is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from mockserver.record import DEFAULT_URL, RecordError
from mockserver.record.writer import Recording, subscription_notification

__all__ = ["DEFAULT_URL", "Capture", "capture"]

CONNECT_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 10.0
# The largest frame taken: a full order book snapshot is far below this.
MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass
class Capture:
    """How a recording went: what ended it and how long it ran."""

    recording: Recording
    ended_by: str = ""  # "duration", "max-messages", "interrupted", "format limit", "closed ..."
    length_s: float = 0.0  # from the first message to the end
    skipped_frames: int = 0  # binary frames, and notifications of channels not subscribed
    first_problem: str | None = None  # why the first unusable notification was skipped


class _Session:
    """One connection: requests by id, notifications into the recording."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        capture: Capture,
        channels: Sequence[str],
        max_messages: int | None,
    ) -> None:
        self.ws = ws
        self.capture = capture
        self.channels = frozenset(channels)
        self.max_messages = max_messages
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 1
        self.done = asyncio.Event()  # the recording has what it wants, or the socket closed
        self.loop = asyncio.get_running_loop()
        self.first_arrival: float | None = None  # of the first message recorded
        self.ended_at = 0.0

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request; its reply (an ``error`` reply raises ``RecordError``)."""
        request_id, self.next_id = self.next_id, self.next_id + 1
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.pending[request_id] = future
        request = {"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}
        await self.ws.send_str(json.dumps(request))
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RecordError(f"no reply to {method} within {REPLY_TIMEOUT_S:g} s") from None
        finally:
            self.pending.pop(request_id, None)

    async def read(self) -> None:
        try:
            async for message in self.ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.handle(message.data)
                else:
                    self.capture.skipped_frames += 1  # binary (SBE) frames are not recorded
        finally:
            code = self.ws.close_code
            if not self.capture.ended_by:
                self.capture.ended_by = f"closed by the server (code {code})"
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(
                        RecordError(f"the server closed the connection (code {code})")
                    )
            self.done.set()

    def handle(self, text: str) -> None:
        arrived = self.loop.time()
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
            self.capture.skipped_frames += 1
            return
        if isinstance(frame, dict) and isinstance(frame.get("id"), int):
            future = self.pending.get(frame["id"])
            if future is not None and not future.done():
                future.set_result(frame)
            return
        try:
            found = subscription_notification(frame)
            if found is None:
                return
            channel, data = found
            if channel not in self.channels:
                self.capture.skipped_frames += 1
                return
            recording = self.capture.recording
            if not recording.add(channel, arrived, data):
                self.finish("format limit")
                return
            if self.first_arrival is None:
                self.first_arrival = arrived
            if self.max_messages is not None and len(recording.messages) >= self.max_messages:
                self.finish("max-messages")
        except RecordError as error:
            self.capture.skipped_frames += 1
            self.capture.first_problem = self.capture.first_problem or str(error)

    def finish(self, reason: str) -> None:
        if not self.capture.ended_by:
            self.capture.ended_by = reason
        self.done.set()


def _refusal(method: str, subject: str, reply: dict[str, Any]) -> RecordError | None:
    error = reply.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        detail = f"{error.get('code')} {error.get('message')}"
        if error.get("data"):
            detail += f" ({error['data']})"
    else:
        detail = json.dumps(error)
    return RecordError(f"{method} {subject} refused by the server: {detail}")


async def capture(
    url: str,
    channels: Sequence[str],
    *,
    recording: Recording,
    jwt: str | None = None,
    duration_s: float | None = None,
    max_messages: int | None = None,
    stop: asyncio.Event | None = None,
) -> Capture:
    """Record ``channels`` from ``url`` into ``recording`` until ``duration_s`` has passed
    since the subscriptions, ``max_messages`` are in, ``stop`` is set, or the
    server closes the connection; then close it. Raises ``RecordError`` when it
    cannot start recording."""
    result = Capture(recording)
    stop = stop or asyncio.Event()
    try:
        async with aiohttp.ClientSession() as http:
            # Bounded: a server that accepts TCP but never answers the upgrade.
            ws = await asyncio.wait_for(
                http.ws_connect(url, autoping=True, max_msg_size=MAX_FRAME_BYTES),
                CONNECT_TIMEOUT_S,
            )
            session = _Session(ws, result, channels, max_messages)
            reader = asyncio.create_task(session.read())
            try:
                await _start(session, channels, jwt)
                await _until_done(session, stop, duration_s, result)
            finally:
                await ws.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    except aiohttp.WSServerHandshakeError as error:
        raise RecordError(
            f"{url}: the WebSocket handshake was refused (HTTP {error.status})"
        ) from None
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as error:
        raise RecordError(f"{url}: cannot connect: {_reason(error)}") from None
    if session.first_arrival is not None:
        result.length_s = max(recording.last_offset_s, session.ended_at - session.first_arrival)
    return result


async def _start(session: _Session, channels: Sequence[str], jwt: str | None) -> None:
    if jwt is not None:
        refused = _refusal("auth", "(the --jwt token)", await session.call("auth", {"bearer": jwt}))
        if refused is not None:
            raise refused
    for channel in channels:
        reply = await session.call("subscribe", {"channel": channel})
        refused = _refusal("subscribe", f"'{channel}'", reply)
        if refused is not None:
            raise refused


async def _until_done(
    session: _Session, stop: asyncio.Event, duration_s: float | None, result: Capture
) -> None:
    waits = [asyncio.ensure_future(session.done.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    session.ended_at = session.loop.time()
    if not result.ended_by:
        result.ended_by = "interrupted" if stop.is_set() else "duration"


def _reason(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(error, aiohttp.ClientConnectorError):
        return str(error.os_error.strerror or error.os_error)
    return str(error) or type(error).__name__
