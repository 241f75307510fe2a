"""Paradex's ping/pong rule for one connection (paradex-ws.md §6).

The server sends a protocol-level ping every ``interval_s`` (55 s on Paradex),
on a fixed cadence from the moment the connection opened. After each ping the
client has ``timeout_s`` (5 s) to answer with a pong; if no pong arrives in that
window the connection is terminated. Any pong renews the connection.

aiohttp's ``heartbeat=`` waits half the interval for the pong, so it cannot say
55 s / 5 s; this class holds the two timers itself. It never sends anything: it
asks its session to send a ping (``request_ping``), is told when the ping went
out (``ping_sent``) and when a pong came in (``pong_received``). Its timers go
through a ``Scheduler``: the server's ``TimerQueue``, one loop timer for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mockserver.clock import Timer

# How many round trips and lateness readings a connection keeps (oldest dropped).
KEPT_READINGS = 1000


class Scheduler(Protocol):
    def monotonic(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...


@dataclass
class KeepaliveStats:
    pings_sent: int = 0
    pongs_received: int = 0
    # Round-trip times of answered pings, in seconds, oldest first (bounded).
    round_trips_s: list[float] = field(default_factory=list)
    # How late each ping went out: seconds from when it was due to when it was
    # written, oldest first (bounded).
    ping_lateness_s: list[float] = field(default_factory=list)

    def record_round_trip(self, rtt_s: float) -> None:
        _keep(self.round_trips_s, rtt_s)

    def record_lateness(self, late_s: float) -> None:
        _keep(self.ping_lateness_s, late_s)


def _keep(readings: list[float], value: float) -> None:
    readings.append(value)
    if len(readings) > KEPT_READINGS:
        del readings[0]


class Keepalive:
    """The ping timer and pong deadline of one connection."""

    def __init__(
        self,
        clock: Scheduler,
        *,
        interval_s: float | None,
        timeout_s: float | None,
        request_ping: Callable[[], None],
        on_timeout: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._interval_s = interval_s
        # The pong deadline of the next ping sent; a fault may change it (None: none).
        self.timeout_s = timeout_s
        self._request_ping = request_ping
        self._on_timeout = on_timeout
        self._next_ping_at = 0.0
        self._ping_due_at: float | None = None  # the due time of a requested ping
        self._ping_timer: Timer | None = None
        self._deadline: Timer | None = None
        self._unanswered_since: float | None = None
        self.stats = KeepaliveStats()

    def start(self) -> None:
        if self._interval_s is not None:
            self._next_ping_at = self._clock.monotonic() + self._interval_s
            self._ping_timer = self._clock.call_at(self._next_ping_at, self._ping_due)

    def stop(self) -> None:
        for timer in (self._ping_timer, self._deadline):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._deadline = None

    def _ping_due(self) -> None:
        assert self._interval_s is not None
        self._ping_due_at = self._next_ping_at  # a skipped ping's lateness is not counted
        self._next_ping_at += self._interval_s
        self._ping_timer = self._clock.call_at(self._next_ping_at, self._ping_due)
        self._request_ping()

    def ping_sent(self) -> None:
        """The session wrote a ping; the pong deadline starts now."""
        now = self._clock.monotonic()
        self.stats.pings_sent += 1
        if self._ping_due_at is not None:
            self.stats.record_lateness(max(0.0, now - self._ping_due_at))
            self._ping_due_at = None
        if self._unanswered_since is None:
            self._unanswered_since = now
            if self.timeout_s is not None:
                self._deadline = self._clock.call_at(now + self.timeout_s, self._expired)

    def pong_received(self) -> None:
        """Any pong renews the connection."""
        self.stats.pongs_received += 1
        if self._unanswered_since is not None:
            self.stats.record_round_trip(self._clock.monotonic() - self._unanswered_since)
        self._unanswered_since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def forget_unanswered(self) -> None:
        """Stop waiting for the pong of a ping already sent (its deadline is cancelled)."""
        self._unanswered_since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        self.stop()
        self._on_timeout()
