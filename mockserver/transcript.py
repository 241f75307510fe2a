"""What happened on one connection, in order: the session's transcript.

Every session keeps one: the connection opening (path, user agent, peer), each
frame the client sent (with the error the server answered, or whether a fault
had it ignored), each frame written to the client (the exact text), the
server's pings and the client's pongs (with the round-trip time), the client's
pings and the server's pongs, and the close (code, reason, who closed). Every
entry carries ``at_us``, the session clock's ``wall_us()``, so under the
virtual clock a transcript is the same run after run.

The send path is benchmarked (docs/performance.md), so recording is cheap: one
write of the session's queue appends its ``at_us`` and the frames' very text
strings (one string per broadcast, shared between sessions: pointers, not
copies; not the ``wire.Frame`` objects, whose wire bytes would be kept too) to
the current run of writes, a flat list closed into a tuple every RUN_SIZE
frames. No object per write: ints, strings and tuples of them are what the
garbage collector does not track (kept as a tuple per write, or as Frames, they
held the loop 100-200 ms at a time at a thousand busy sessions). Plain events
are built only when asked for (``events()``).

Memory is bounded: at most ``limit`` frames (in and out, pings and pongs
included; MockConfig.transcript_limit), the oldest dropped first, and at most
``max_in_chars`` characters of client text (as ``Session.received``).

The JSON-lines form (``write_jsonl``, ``server.write_transcript``, the control
API's ``?format=jsonl``) is an interface: the recorder's import reads it.
docs/testing.md, "The transcript", describes each line.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from mockserver.wire import Frame

if TYPE_CHECKING:
    from pathlib import Path

    from mockserver.session import Session

# Kinds of events (the ``kind`` of a JSON line).
OPEN = "open"
TEXT = "text"
BINARY = "binary"
PING = "ping"  # the server's ping (out)
PONG = "pong"  # the client's pong to it (in, with rtt_ms), or the server's to a client ping (out)
CLIENT_PING = "client_ping"  # a ping the client sent (in)
CLOSE = "close"

IN = "in"
OUT = "out"

# Who closed: the server decided (a fault, the pong deadline, a slow consumer, a
# frame too big, shutdown), or the client did (its close frame, or it went away).
BY_SERVER = "server"
BY_CLIENT = "client"

BINARY_TEXT = "<binary frame>"  # how a binary client frame is shown


@dataclass(frozen=True)
class ReceivedFrame:
    """A frame the client sent, as the transcript (and ``Session.received``) keeps it."""

    at_us: int
    text: str
    # The error kind the server answered with, if any (errors.RPC_ERRORS keys).
    error: str | None = None
    # Read but not acted on: a fault (black_hole) had the server ignore it.
    ignored: bool = False
    binary: bool = False


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing that happened on a connection (``Transcript.events()``)."""

    kind: str  # open, text, binary, ping, pong, client_ping, close
    at_us: int
    dir: str | None  # "in" (from the client), "out" (to it), None (open, close)
    text: str | None = None  # the frame's text (text and binary frames)
    error: str | None = None  # a client frame the server answered with this error kind
    ignored: bool = False  # a client frame a fault had the server ignore
    rtt_ms: float | None = None  # a pong: since the ping it answers was written
    code: int | None = None  # close
    reason: str | None = None  # close
    by: str | None = None  # close: "server" or "client"
    path: str | None = None  # open
    user_agent: str | None = None  # open
    peer: str | None = None  # open

    def to_json(self, session: str | None = None) -> dict[str, Any]:
        """The event as one JSON line's object (``session``: the session id to name)."""
        out: dict[str, Any] = {} if session is None else {"session": session}
        out.update(at_us=self.at_us, dir=self.dir, kind=self.kind)
        if self.kind == OPEN:
            out.update(path=self.path, user_agent=self.user_agent, peer=self.peer)
        elif self.kind == CLOSE:
            out.update(code=self.code, reason=self.reason, by=self.by)
        elif self.kind in (TEXT, BINARY):
            out["text"] = self.text
            if self.dir == IN:
                out.update(error=self.error, ignored=self.ignored)
        elif self.rtt_ms is not None:
            out["rtt_ms"] = self.rtt_ms
        return out


# What the transcript stores: a plain event, a client frame, or a run of writes:
# ``(frames, items)``, the items each write's ``at_us`` (an int) then its texts.
_Run = tuple[int, tuple[int | str, ...]]
_Entry = TranscriptEvent | ReceivedFrame | _Run
# Frames a run of writes holds at most. Writes are kept as flat runs of ints and
# strings, not an object per write: at a thousand busy sessions, a tuple per
# write made the garbage collector's full collections (which objects that live
# on trigger, and which walk every tracked one) hold the loop for 100 ms at a
# time, and pings went out that late. An int, a string and a tuple of them are
# not tracked.
RUN_SIZE = 256


def _frames_in(entry: _Entry) -> int:
    return entry[0] if isinstance(entry, tuple) else 1


class Transcript:
    """The bounded, ordered record of one connection."""

    def __init__(self, *, limit: int, max_in_chars: int) -> None:
        self._entries: deque[_Entry] = deque()
        self._run: list[int | str] = []  # the newest writes, not yet a closed run
        self._run_frames = 0
        self._limit = limit
        self._max_in_chars = max_in_chars
        # Frames held (a write counts its frames): at least the newest ``limit``, at
        # most about a run more; the view (events(), len()) shows the newest ``limit``.
        self._count = 0
        self._in_chars = 0

    def __len__(self) -> int:
        """How many frames (and events) the transcript shows."""
        return min(self._count, self._limit)

    # Recording (the session calls these)

    def sent(self, at_us: int, frames: Iterable[Frame]) -> None:
        """One write of ``frames`` (the send path: keep it to an append)."""
        run = self._run
        before = len(run)
        run.append(at_us)
        run.extend([frame.text for frame in frames])
        added = len(run) - before - 1
        self._run_frames += added
        self._count += added
        if self._run_frames >= RUN_SIZE:
            self._close_run()
            self._trim()

    def received(self, frame: ReceivedFrame) -> None:
        self._in_chars += len(frame.text)
        self._append(frame)

    def event(self, event: TranscriptEvent) -> None:
        self._append(event)

    def _append(self, entry: TranscriptEvent | ReceivedFrame) -> None:
        self._close_run()  # the writes before it stay before it
        self._entries.append(entry)
        self._count += 1
        self._trim()

    def _close_run(self) -> None:
        if self._run:
            self._entries.append((self._run_frames, tuple(self._run)))
            self._run = []
            self._run_frames = 0

    def _trim(self) -> None:
        """Drop the oldest entries the view no longer shows, and, past the character
        cap, the oldest until within it (the newest entry stays, however long)."""
        entries = self._entries
        while entries and (
            self._count - _frames_in(entries[0]) >= self._limit
            or (self._in_chars > self._max_in_chars and len(entries) > 1)
        ):
            head = entries.popleft()
            self._count -= _frames_in(head)
            if isinstance(head, ReceivedFrame):
                self._in_chars -= len(head.text)

    # Reading

    def events(self) -> list[TranscriptEvent]:
        """The newest ``limit`` frames and events, oldest first, as plain events."""
        out: list[TranscriptEvent] = []
        for entry in [*self._entries, (self._run_frames, tuple(self._run))]:
            if isinstance(entry, tuple):
                at_us = 0
                for item in entry[1]:
                    if isinstance(item, int):
                        at_us = item
                    else:
                        out.append(TranscriptEvent(TEXT, at_us, OUT, text=item))
            elif isinstance(entry, TranscriptEvent):
                out.append(entry)
            else:
                out.append(_received_event(entry))
        return out[-self._limit :]

    def to_json(self, session: str | None = None) -> list[dict[str, Any]]:
        return [event.to_json(session) for event in self.events()]


def _received_event(frame: ReceivedFrame) -> TranscriptEvent:
    return TranscriptEvent(
        BINARY if frame.binary else TEXT,
        frame.at_us,
        IN,
        text=frame.text,
        error=frame.error,
        ignored=frame.ignored,
    )


# JSON lines


class HasTranscript(Protocol):
    """What a transcript is written from: a session."""

    id: str
    transcript: Transcript


def json_lines(sessions: Iterable[HasTranscript]) -> Iterator[str]:
    """One JSON object per event, session after session, each with ``"session"``."""
    for session in sessions:
        for event in session.transcript.events():
            yield json.dumps(event.to_json(session.id), ensure_ascii=False)


def write_jsonl(sessions: Iterable[HasTranscript], target: str | Path | IO[str]) -> int:
    """Write the sessions' transcripts as JSON lines to a path or an open text file;
    returns the number of lines."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", encoding="utf-8") as stream:
            return _write_lines(sessions, stream)
    return _write_lines(sessions, target)


def _write_lines(sessions: Iterable[HasTranscript], stream: IO[str]) -> int:
    lines = 0
    for line in json_lines(sessions):
        stream.write(line + "\n")
        lines += 1
    return lines


class TranscriptSource:
    """The transcripts of a server's sessions (a mixin of ``MockServer``)."""

    def all_sessions(self) -> list[Session]:
        raise NotImplementedError

    def transcript(self) -> list[dict[str, Any]]:
        """Every session's events (closed ones first, then the open), each with ``session``."""
        return [
            event.to_json(session.id)
            for session in self.all_sessions()
            for event in session.transcript.events()
        ]

    def write_transcript(self, target: str | Path | IO[str]) -> int:
        """Write every session's transcript (closed ones too) as JSON lines to a path or
        an open text file; returns the number of lines written."""
        return write_jsonl(self.all_sessions(), target)
