"""Paradex's connection rate limit per client IP (paradex-ws.md §5), sans-I/O.

"A maximum of 20 connections per second or 600 connections per minute per IP
address." ``ConnectionLimiter.admit(ip, now)`` says whether one more WebSocket
handshake from ``ip`` is allowed at monotonic time ``now`` (the server's clock,
so a virtual clock can drive it), and, if not, for how long the client should
wait.

How it counts (UNCONFIRMED on Paradex, chosen here; docs/behaviour.md#limits):

- one fixed window per limit and IP, starting with the first connection
  admitted after the previous window ended (so a window is never split by a
  wall-clock boundary);
- only admitted connections count: a refused attempt does not use up quota,
  so a client that retries in a tight loop is let in again as soon as its
  window ends, not locked out for as long as it keeps trying;
- the work per attempt is O(1) (amortised) and the memory is bounded: an IP
  whose every window has ended is forgotten (the least recently seen IP is
  always first in line, so forgetting is a pop from the front), and at most
  ``max_tracked_ips`` IPs are remembered at once (past that the least recently
  seen is forgotten early: a flood from more addresses than that gets in more
  often than the limit says, but the server's memory stays bounded).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockserver.faults.base import Refusal

if TYPE_CHECKING:
    from mockserver.config import MockConfig

log = logging.getLogger(__name__)

# About 300 bytes each: a bound of some 20 MB however many addresses connect.
MAX_TRACKED_IPS = 65_536


@dataclass(frozen=True)
class Window:
    """At most ``limit`` connections per ``length_s`` seconds from one IP."""

    limit: int
    length_s: float
    name: str  # for messages: "second", "minute"

    def describe(self) -> str:
        return f"at most {self.limit} connections per {self.name} per IP"


@dataclass(frozen=True)
class Denied:
    """A connection over the limit: which window refused it and when it ends."""

    window: Window
    retry_after_s: float

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3)."""
        return str(max(1, math.ceil(self.retry_after_s)))


class _Windows:
    """One IP's windows: when each started and how many connections it admitted."""

    __slots__ = ("counts", "last_seen", "quiet_until", "starts")

    def __init__(self, size: int, now: float) -> None:
        self.starts = [now] * size
        self.counts = [0] * size
        self.last_seen = now
        self.quiet_until = now  # refusals are logged once per window, not per attempt


class ConnectionLimiter:
    """Counts WebSocket handshakes per client IP against fixed windows."""

    def __init__(
        self, windows: tuple[Window, ...], *, max_tracked_ips: int = MAX_TRACKED_IPS
    ) -> None:
        if not windows:
            raise ValueError("a limiter needs at least one window")
        self.windows = windows
        self.max_tracked_ips = max_tracked_ips
        self._longest_s = max(w.length_s for w in windows)
        # Least recently seen first: every attempt moves its IP to the end.
        self._ips: OrderedDict[str, _Windows] = OrderedDict()
        self.admitted = 0
        self.refused = 0

    @classmethod
    def from_config(cls, config: MockConfig) -> ConnectionLimiter | None:
        """The limiter ``config`` asks for; None when both limits are off."""
        windows = tuple(
            Window(limit, length_s, name)
            for limit, length_s, name in (
                (config.connections_per_ip_per_s, 1.0, "second"),
                (config.connections_per_ip_per_min, 60.0, "minute"),
            )
            if limit is not None
        )
        return cls(windows) if windows else None

    @property
    def tracked_ips(self) -> int:
        """How many IPs the limiter remembers now (bounded by ``max_tracked_ips``)."""
        return len(self._ips)

    def admit(self, ip: str, now: float) -> Denied | None:
        """Count one handshake from ``ip`` at ``now``; a ``Denied`` if it is over a limit."""
        self._forget_idle(now)
        state = self._ips.get(ip)
        if state is None:
            if len(self._ips) >= self.max_tracked_ips:
                self._ips.popitem(last=False)
            state = self._ips[ip] = _Windows(len(self.windows), now)
        else:
            self._ips.move_to_end(ip)
            state.last_seen = now
        denied = self._check(state, now)
        if denied is not None:
            self.refused += 1
            if now >= state.quiet_until:
                state.quiet_until = now + denied.retry_after_s
                log.warning(
                    "%s: connection refused, %s (for %.1fs more)",
                    ip,
                    denied.window.describe(),
                    denied.retry_after_s,
                )
            return denied
        for i in range(len(self.windows)):
            state.counts[i] += 1
        self.admitted += 1
        return None

    def _check(self, state: _Windows, now: float) -> Denied | None:
        for i, window in enumerate(self.windows):
            ends = state.starts[i] + window.length_s
            if now >= ends:  # the window is over: the next starts with this connection
                state.starts[i] = now
                state.counts[i] = 0
            elif state.counts[i] >= window.limit:
                return Denied(window, ends - now)
        return None

    def _forget_idle(self, now: float) -> None:
        """Drop the IPs whose every window has ended (they are at the front)."""
        ips, horizon = self._ips, now - self._longest_s
        while ips:
            ip, state = next(iter(ips.items()))
            if state.last_seen > horizon:
                return
            del ips[ip]

    def clear(self) -> None:
        """Forget every IP (the server's reset)."""
        self._ips.clear()


RATE_LIMIT_CLOSE = (1013, "rate limit exceeded")  # RFC 6455 1013: try again later


def rate_limit_refusal(denied: Denied, *, mode: str) -> Refusal:
    """How a connection over the limit is turned away (``mode``: HTTP 429 or close 1013)."""
    code, reason = RATE_LIMIT_CLOSE
    return Refusal(
        mode=mode,
        status=429,
        code=code,
        reason=reason,
        retry_after=denied.retry_after_header,
        error=f"rate limit exceeded: {denied.window.describe()}",
    )
