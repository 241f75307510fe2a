"""Assertions on what the client did, with failure messages that say what happened.

``Expectations`` is a mixin of ``MockServer`` (and every helper is also on
``ThreadedMockServer``, run on its loop)::

    session = await paradex_mock.wait_for_subscription("bbo.BTC-USD-PERP")
    paradex_mock.assert_subscribed("bbo.BTC-USD-PERP", "trades.BTC-USD-PERP")
    paradex_mock.assert_no_duplicate_subscriptions()
    paradex_mock.assert_resubscribed_after_reconnect(within=1.0)
    paradex_mock.assert_pongs_within(2.0)
    paradex_mock.assert_received("auth", {"bearer": token})

They read the sessions' ``received`` frames and transcripts (mockserver.transcript).
Times in messages are seconds since the session opened (``s2 +0.105s``), or since
the close a reconnect follows. docs/testing.md shows each helper and its message.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mockserver.channels import delivery_names
from mockserver.session import GOING_AWAY_CLOSE
from mockserver.transcript import BY_SERVER, IN, PING, PONG, TranscriptSource

if TYPE_CHECKING:
    from mockserver.clock import Clock
    from mockserver.session import Session

# How many near misses a failed assert_received shows, and how much of each frame.
CLOSEST_SHOWN = 5
FRAME_CHARS_SHOWN = 300
_GLOB_CHARS = frozenset("*?[")
# The error kind of a subscribe to a channel the connection already holds.
ALREADY_SUBSCRIBED = "already_subscribed"


@dataclass(frozen=True)
class ClientFrame:
    """One frame a client sent, parsed: ``request`` is None unless it is a JSON object."""

    session: Session
    at_us: int
    text: str
    request: dict[str, Any] | None
    error: str | None  # the error kind the server answered with
    ignored: bool

    @property
    def method(self) -> Any:
        return None if self.request is None else self.request.get("method")

    @property
    def params(self) -> Any:
        return None if self.request is None else self.request.get("params")

    @property
    def channel(self) -> str | None:
        """The channel of a subscribe or unsubscribe request."""
        params = self.params
        channel = params.get("channel") if isinstance(params, dict) else None
        return channel if isinstance(channel, str) else None

    @property
    def took_effect(self) -> bool:
        return self.error is None and not self.ignored

    @property
    def when(self) -> str:
        """``s1 +0.105s``: the session and the time since it opened."""
        return f"{self.session.id} {since(self.session, self.at_us)}"

    def shown(self) -> str:
        text = self.text
        if len(text) > FRAME_CHARS_SHOWN:
            text = text[:FRAME_CHARS_SHOWN] + f"... ({len(self.text)} chars)"
        answered = f" -> {self.error}" if self.error else ""
        ignored = " (ignored: a fault)" if self.ignored else ""
        return f"{self.when}: {text}{answered}{ignored}"


def client_frames(session: Session) -> list[ClientFrame]:
    """What the client of ``session`` sent (as ``session.received`` keeps it), parsed."""
    out = []
    for frame in list(session.received):
        request = None
        if not frame.binary:
            try:
                obj = json.loads(frame.text)
            except (ValueError, RecursionError):  # a hostile frame's nesting too
                obj = None
            request = obj if isinstance(obj, dict) else None
        out.append(
            ClientFrame(session, frame.at_us, frame.text, request, frame.error, frame.ignored)
        )
    return out


def since(session: Session, at_us: int) -> str:
    return f"+{(at_us - session.connected_at_us) / 1e6:.3f}s"


def channel_matches(pattern: str, name: str) -> bool:
    """Exact, unless ``pattern`` has a glob character (``*``, ``?``, ``[``): then fnmatch."""
    if _GLOB_CHARS.isdisjoint(pattern):
        return pattern == name
    return fnmatch.fnmatchcase(name, pattern)


def params_match(expected: Any, actual: Any) -> bool:
    """Every key of an expected dict is in ``actual`` and matches, recursively; anything
    else (lists included) must be equal, and a boolean is never equal to a number."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and params_match(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def aliases(first: str, second: str) -> bool:
    """Two spellings of one audience (``markets_summary`` and ``markets_summary.ALL``):
    each reaches the other's subscribers (channels.delivery_names)."""
    return first != second and second in delivery_names(first) and first in delivery_names(second)


def _canonical(method: Any, params: Any) -> str:
    return json.dumps({"method": method, "params": params}, sort_keys=True, default=str)


def _closeness(expected: str, frame: ClientFrame) -> float:
    seen = frame.text if frame.request is None else _canonical(frame.method, frame.params)
    return difflib.SequenceMatcher(None, expected, seen).ratio()


def _how_closed(session: Session) -> str:
    if session.close_code is None:
        return "open"
    reason = f" {session.close_reason!r}" if session.close_reason else ""
    at = since(session, session.closed_at_us or session.connected_at_us)
    return f"closed {session.close_code}{reason} by the {session.closed_by} at {at}"


def _listed(sessions: list[Session]) -> list[str]:
    """Each session, how it ended, and its subscriptions (the last ones, when closed)."""
    if not sessions:
        return ["  (no client connected)"]
    return [f"  {s.id} ({_how_closed(s)}): {_names(s.subscriptions)}" for s in sessions]


def _names(channels: Iterable[str]) -> str:
    return ", ".join(channels) or "(nothing)"


def _seconds(us: int) -> str:
    return f"{us / 1e6:.3f}s"


class Expectations(TranscriptSource):
    """Assertions on what the clients of a server did (a mixin of ``MockServer``)."""

    sessions: dict[str, Session]
    closed_sessions: deque[Session]
    _clock: Clock | None

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        raise NotImplementedError

    def _now_us(self) -> int | None:
        return None if self._clock is None else self._clock.wall_us()

    def _candidates(self, session: Session | None) -> list[Session]:
        return [session] if session is not None else list(self.sessions.values())

    # Subscriptions

    async def wait_for_subscription(
        self, channel: str, timeout: float = 5.0, *, session: Session | None = None
    ) -> Session:
        """Return the open session subscribed to ``channel`` (exact, or an fnmatch glob
        such as ``bbo.*``) once there is one (``session``: that one only)."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        found: list[Session] = []

        def subscribed() -> bool:
            found[:] = self._subscribed_to(channel, session)
            return bool(found)

        try:
            await self.wait_for(subscribed, timeout=timeout)
        except AssertionError:
            head = f"no open session subscribed to {channel!r} within {timeout}s"
            raise AssertionError(self._subscription_report(head, [channel], session)) from None
        return found[0]

    def assert_subscribed(self, *channels: str, session: Session | None = None) -> None:
        """Each channel (exact, or an fnmatch glob) is held by an open session (``session``:
        by that one)."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        if not channels:
            raise TypeError("assert_subscribed() needs at least one channel")
        missing = [c for c in channels if not self._subscribed_to(c, session)]
        if missing:
            if session is not None:
                head = f"session {session.id} is not subscribed to {_names(missing)}"
            else:
                head = f"no open session is subscribed to {_names(missing)}"
            raise AssertionError(self._subscription_report(head, missing, session))

    def _subscribed_to(self, channel: str, session: Session | None) -> list[Session]:
        return [
            s
            for s in self._candidates(session)
            if not s.closed and any(channel_matches(channel, name) for name in s.subscriptions)
        ]

    def _subscription_report(self, head: str, channels: list[str], session: Session | None) -> str:
        """What the sessions are subscribed to, and the subscribes that failed."""
        lines = [head]
        shown = [session] if session is not None else self.all_sessions()
        lines.append("sessions and their subscriptions:")
        lines.extend(_listed(shown))
        failed = [
            frame
            for s in shown
            for frame in client_frames(s)
            if frame.method == "subscribe" and not frame.took_effect
        ]
        lines.append("subscribe requests that failed:")
        lines.extend(f"  {frame.shown()}" for frame in failed)
        if not failed:
            lines.append("  (none)")
        unasked = [c for c in channels if not any(self._asked_for(c, s) for s in shown)]
        if unasked:
            lines.append(f"no client ever asked for: {_names(unasked)}")
        return "\n".join(lines)

    @staticmethod
    def _asked_for(channel: str, session: Session) -> bool:
        return any(
            f.method == "subscribe"
            and f.channel is not None
            and channel_matches(channel, f.channel)
            for f in client_frames(session)
        )

    def assert_no_duplicate_subscriptions(self) -> None:
        """No session (open or closed) subscribed to one channel twice: a second
        ``subscribe`` while it held the channel, or two spellings of one audience."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        problems = []
        for session in self.all_sessions():
            problems.extend(_duplicates(session))
        if problems:
            count = f"{len(problems)} duplicate subscription{'s' if len(problems) > 1 else ''}"
            raise AssertionError("\n".join([f"{count}:", *problems]))

    def assert_resubscribed_after_reconnect(self, within: float = 1.0) -> None:
        """After every close or drop the server decided (not the client's own close,
        not shutdown) of a session with subscriptions, later sessions subscribed to the
        same channels, each within ``within`` seconds of that close."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        sessions = self.all_sessions()
        dropped = [s for s in sessions if _dropped_by_server(s) and s.subscriptions]
        if not dropped:
            lines = [
                "no session with subscriptions was closed or dropped by the server, so there "
                "was no reconnect to check (provoke one: server.drop_all(), server.close_all(), "
                "a pong timeout)",
                "sessions:",
                *_listed(sessions),
            ]
            raise AssertionError("\n".join(lines))
        problems = []
        for old in dropped:
            problem = _resubscription_problem(old, sessions, within)
            if problem:
                problems.append(problem)
        if problems:
            raise AssertionError("\n".join(problems))

    # Keepalive

    def assert_pongs_within(self, seconds: float) -> None:
        """Every ping the server sent was answered by a pong within ``seconds``; a ping
        still unanswered for longer than that (or until its connection closed) fails."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        now_us = self._now_us()
        problems, pings = [], 0
        limit_us = round(seconds * 1e6)
        for session in self.all_sessions():
            pending: list[int] = []
            for event in session.transcript.events():
                if event.kind == PING:
                    pings += 1
                    pending.append(event.at_us)
                elif event.kind == PONG and event.dir == IN:
                    for at_us in pending:
                        if event.at_us - at_us > limit_us:
                            problems.append(
                                f"  {session.id}: ping at {since(session, at_us)} answered "
                                f"after {_seconds(event.at_us - at_us)}"
                            )
                    pending.clear()
            end_us = session.closed_at_us if session.closed_at_us is not None else now_us
            for at_us in pending:
                if end_us is not None and end_us - at_us > limit_us:
                    ended = "" if session.closed_at_us is None else f", then {_how_closed(session)}"
                    problems.append(
                        f"  {session.id}: ping at {since(session, at_us)} never answered "
                        f"({_seconds(end_us - at_us)} without a pong{ended})"
                    )
        if not pings:
            raise AssertionError(
                "no ping was sent, so no pong to check (ping_interval_s is "
                "None, or the test ended before the first ping)"
            )
        if problems:
            head = f"{len(problems)} of {pings} pings not answered within {seconds}s:"
            raise AssertionError("\n".join([head, *problems]))

    # Any request

    def assert_received(
        self, method: str, params: Any = None, *, session: Session | None = None
    ) -> dict[str, Any]:
        """A client (of ``session``, if given) sent a JSON request with ``method`` and, if
        given, ``params`` matching (every given key equal, recursively for objects);
        returns the first such request."""
        __tracebackhide__ = True  # pytest: the failure is the caller's line
        shown = [session] if session is not None else self.all_sessions()
        frames = [frame for s in shown for frame in client_frames(s)]
        for frame in frames:
            if frame.method == method and (params is None or params_match(params, frame.params)):
                assert frame.request is not None
                return frame.request
        wanted = f"method {method!r}" + (
            "" if params is None else f" and params matching {json.dumps(params, default=str)}"
        )
        where = f"session {session.id}" if session is not None else "any session"
        if not frames:
            raise AssertionError(
                f"no client frame with {wanted}: nothing at all was received from {where} "
                f"({len(shown)} session{'s' if len(shown) != 1 else ''})"
            )
        expected = _canonical(method, params)
        closest = sorted(frames, key=lambda f: -_closeness(expected, f))[:CLOSEST_SHOWN]
        lines = [
            f"no client frame with {wanted} ({len(frames)} frames received from {where}); "
            "the closest:",
            *(f"  {frame.shown()}" for frame in closest),
        ]
        raise AssertionError("\n".join(lines))


def _dropped_by_server(session: Session) -> bool:
    """Closed or dropped by the server, for a reason other than its shutdown."""
    shutdown = (session.close_code, session.close_reason) == GOING_AWAY_CLOSE
    return session.closed_by == BY_SERVER and not shutdown


def _duplicates(session: Session) -> list[str]:
    """Each subscription of ``session`` made twice, in words."""
    problems = []
    held: dict[str, ClientFrame] = {}  # channel -> the subscribe that made it
    for frame in client_frames(session):
        channel = frame.channel
        if channel is None or frame.ignored:
            continue
        if frame.method == "subscribe" and frame.error == ALREADY_SUBSCRIBED:
            first = held.get(channel)
            earlier = f"first at {since(session, first.at_us)}" if first else "first (dropped)"
            problems.append(
                f"  {session.id}: {channel!r} subscribed twice: {earlier}, again at "
                f"{since(session, frame.at_us)} (answered 'already subscribed')"
                + (f"\n    first:  {first.text}" if first else "")
                + f"\n    again:  {frame.text}"
            )
        elif frame.method == "subscribe" and frame.error is None:
            for name, first in held.items():
                if aliases(name, channel):
                    problems.append(
                        f"  {session.id}: {channel!r} at {since(session, frame.at_us)} is "
                        f"another name for {name!r}, subscribed at "
                        f"{since(session, first.at_us)} (both get the same messages)"
                        f"\n    first:  {first.text}\n    again:  {frame.text}"
                    )
            held[channel] = frame
        elif frame.method == "unsubscribe" and frame.error is None:
            held.pop(channel, None)
    return problems


def _resubscription_problem(old: Session, sessions: list[Session], within: float) -> str | None:
    """What is missing after ``old`` was closed, in words (None: nothing)."""
    closed_us = old.closed_at_us
    assert closed_us is not None
    later = [s for s in sessions if s is not old and s.connected_at_us >= closed_us]
    first_subscribe: dict[str, tuple[Session, int]] = {}
    for session in later:
        for frame in client_frames(session):
            channel = frame.channel
            if (
                frame.method == "subscribe"
                and channel
                and frame.took_effect
                and frame.at_us >= closed_us
                and channel not in first_subscribe
            ):
                first_subscribe[channel] = (session, frame.at_us)
    limit_us = within * 1e6
    missing = [
        c
        for c in old.subscriptions
        if c not in first_subscribe or first_subscribe[c][1] - closed_us > limit_us
    ]
    if not missing:
        return None
    lines = [
        f"{old.id} ({_names(old.subscriptions)}) was {_how_closed(old)}; "
        f"not resubscribed within {within}s: {_names(missing)}"
    ]
    if not later:
        lines.append("  no connection was opened after the close")
    for session in later:
        opened = _seconds(session.connected_at_us - closed_us)
        made = [
            f"{c} at +{_seconds(at - closed_us)}"
            for c, (s, at) in first_subscribe.items()
            if s is session
        ]
        lines.append(
            f"  {session.id} opened {opened} after the close, subscribed to: {_names(made)}"
        )
    return "\n".join(lines)
