"""Import a JSON-lines capture into a ``Recording`` (docs/recording.md, "Importing").

One JSON object a line, in any of these shapes (they may mix):

- a frame as the client received it: ``{"jsonrpc": "2.0", "method": "subscription", ...}``;
- a frame with its arrival time: ``{"t": 12.345, "frame": ...}``, the time in seconds
  (``t`` or ``ts``), milliseconds (``ts_ms``) or microseconds (``ts_us``, ``at_us``),
  the frame an object or its text, under ``frame``, ``data``, ``text`` or ``message``;
- a paradex-mock transcript line (``server.write_transcript``, mockserver/transcript.py):
  ``{"session": "s1", "at_us": ..., "dir": "out", "kind": "text", "text": "<frame>"}``;
  only frames the server sent (``dir: out``) count.

Only ``subscription`` notifications are kept; other frames (replies, requests,
pings, frames the client sent) are skipped. Lines keep the file's order; a line
without a time comes ``spacing_s`` after the one before (the first at 0), and a
time earlier than the previous line's is taken as that line's (never reordered).
Transcripts of several sessions: the notifications of one session are taken
(``session``, or the first that has any), the others are counted as skipped, so
the same publish delivered to two clients is not replayed twice.

A line that cannot be read is a ``Problem`` (``file:line: problem``); reading goes
on, so every bad line is reported at once. Lines are read at most
``MAX_LINE_BYTES`` at a time, so a file without line breaks costs bounded memory.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mockserver.encoding import loads
from mockserver.record import RecordError
from mockserver.record.writer import Recording, subscription_notification
from mockserver.scenario.loader import MAX_FILE_BYTES

MAX_LINE_BYTES = MAX_FILE_BYTES
DEFAULT_SPACING_S = 0.1
FRAME_KEYS = ("frame", "data", "text", "message")
TIME_KEYS = {"t": 1.0, "ts": 1.0, "ts_ms": 1e-3, "ts_us": 1e-6, "at_us": 1e-6}


@dataclass(frozen=True)
class Problem:
    """A line that could not be read."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


@dataclass
class Import:
    """What an import read."""

    recording: Recording
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0
    skipped_frames: int = 0  # frames that are not notifications, or of another session
    session: str | None = None  # the transcript session taken
    other_sessions: Counter[str] = field(default_factory=Counter)  # notifications left out
    full: bool = False  # stopped at the scenario format's limits


class _BadLine(Exception):
    """Why one line cannot be read."""


def read_capture(
    path: str | Path,
    *,
    recording: Recording,
    session: str | None = None,
    spacing_s: float = DEFAULT_SPACING_S,
) -> Import:
    """Read a capture file into ``recording``; raises ``RecordError`` if it cannot be opened."""
    path = Path(path)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise RecordError(f"{path}: cannot read: {error.strerror or error}") from None
    with stream:
        return read_stream(
            stream, file=str(path), recording=recording, session=session, spacing_s=spacing_s
        )


def read_stream(
    stream: BinaryIO,
    *,
    file: str,
    recording: Recording,
    session: str | None = None,
    spacing_s: float = DEFAULT_SPACING_S,
) -> Import:
    """``read_capture`` on an open binary stream (named ``file`` in problems)."""
    result = Import(recording, session=session)
    previous_s: float | None = None
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        result.lines = number
        if len(raw) > MAX_LINE_BYTES:
            result.problems.append(Problem(file, number, f"longer than {MAX_LINE_BYTES} bytes"))
            while raw and not raw.endswith(b"\n"):  # the rest of that line
                raw = stream.readline(MAX_LINE_BYTES + 1)
            continue
        if not raw.strip():
            continue
        try:
            entry = _entry(raw)
            if entry is None:
                result.skipped_frames += 1
                continue
            line_session, time_s, frame = entry
            found = subscription_notification(frame)
            if found is None:
                result.skipped_frames += 1
                continue
            if line_session is not None:
                if result.session is None:
                    result.session = line_session
                if line_session != result.session:
                    result.other_sessions[line_session] += 1
                    continue
            if time_s is None:
                time_s = 0.0 if previous_s is None else previous_s + spacing_s
            elif previous_s is not None and time_s < previous_s:
                time_s = previous_s  # never reordered: the file's order is the replay's
            channel, data = found
            if not recording.add(channel, time_s, data):
                result.full = True
                break
            previous_s = time_s
        except (_BadLine, RecordError) as error:
            result.problems.append(Problem(file, number, str(error)))
    return result


def _entry(raw: bytes) -> tuple[str | None, float | None, Any] | None:
    """(session, time in s, frame) of one line; None for a line to skip."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _BadLine(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    obj = _json(text, "the line")
    if not isinstance(obj, dict):
        raise _BadLine(f"expected a JSON object, got {_kind(obj)}")
    if "jsonrpc" in obj or "method" in obj:  # a bare frame
        return None, None, obj
    if "dir" in obj:  # a paradex-mock transcript line (mockserver/transcript.py)
        if obj["dir"] not in ("in", "out", None):
            raise _BadLine(f'\'dir\' must be "in", "out" or null, got {json.dumps(obj["dir"])}')
        if obj["dir"] != "out":
            return None  # the client's own frames; the connection's open and close
        if not isinstance(obj.get("text"), str):
            return None  # a ping, a pong, a close: no frame text
        session = obj.get("session")
        return (
            None if session is None else str(session),
            _time(obj),
            _json(obj["text"], "'text'"),
        )
    keys = [k for k in FRAME_KEYS if k in obj]
    if not keys:
        raise _BadLine(
            "no frame: expected a JSON-RPC frame, or one under "
            + ", ".join(f"'{k}'" for k in FRAME_KEYS)
        )
    frame = obj[keys[0]]
    if isinstance(frame, str):
        frame = _json(frame, f"'{keys[0]}'")
    return None, _time(obj), frame


def _time(obj: dict[str, Any]) -> float | None:
    for key, unit in TIME_KEYS.items():
        if key in obj:
            value = obj[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise _BadLine(f"'{key}' must be a number, got {json.dumps(value)}")
            return float(value) * unit
    return None


def _json(text: str, what: str) -> Any:
    try:
        return loads(text)
    except ValueError as error:
        problem = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise _BadLine(f"{what} is not JSON ({problem})") from None
    except RecursionError:
        raise _BadLine(f"{what} is nested too deeply") from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number"
    )
