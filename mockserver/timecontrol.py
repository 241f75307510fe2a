"""Moving a ``VirtualClock``: ``MockServer.advance`` and ``serve --speed max``.

``advance(55)`` moves the clock to each timer due in the next 55 seconds in
turn (a ping, a pong deadline, the scenario's next message, the market's next
step, a fault's end), fires it, and lets the server *settle* before the next:

1. the event loop turns until the callbacks have run their course: the tasks
   they woke have run and set their next timers (``VirtualClock.changes`` stops
   moving) and every session has handed its frames to its socket
   (``Outbox.drained``);
2. a client that was just pinged is given up to ``advance_pong_grace_s`` real
   seconds for its pong (a live client answers in a millisecond), so the pong
   deadline that follows fires only for a client that really did not answer;
   each ping is waited for once;
3. a connection that is closing is given up to ``close_timeout_s`` to finish its
   close handshake, so its close lands at the virtual instant it was decided.

The same moves give the same callbacks in the same order, at the same virtual
times and wall timestamps: what a client receives over ten virtual minutes is
the same run after run, and takes the real time of the work, not of the
waiting. What a client does on its own initiative (a resubscribe after a drop)
reaches the server at whatever virtual instant the clock is at; a test that
needs it at a given point waits for it (``wait_for``) before advancing further.

``run_free`` is ``--speed max``: it moves the clock to the next timer whenever
the server has settled and every subscriber has taken what it was sent, so a
replay runs as fast as the clients read. Time stands still while no client is
subscribed to anything (there is nobody to read), and keepalive stays on real
time there (a ping every 55 virtual seconds would be a ping storm).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from mockserver.clock import VirtualClock

if TYPE_CHECKING:
    from mockserver.session import Session

log = logging.getLogger(__name__)

# Consecutive loop turns with no timer set or fired that count as settled.
QUIET_TURNS = 2
# A bound on one settle's loop turns: a task that sets a timer on every turn
# (a replay of messages due at once) would otherwise keep the advance here.
MAX_SETTLE_TURNS = 10_000


class Settling(Protocol):
    """What the controller needs from its server."""

    @property
    def sessions(self) -> Mapping[str, Session]: ...

    async def drained(self) -> None: ...

    async def wait_for(
        self, predicate: Callable[[], bool], *, timeout: float | None = 5.0
    ) -> None: ...


class TimeController:
    """Moves one server's virtual clock, letting the server settle at each step."""

    def __init__(
        self,
        clock: VirtualClock,
        server: Settling,
        *,
        pong_grace_s: float | None,
        close_grace_s: float,
    ) -> None:
        self.clock = clock
        self._server = server
        self._pong_grace_s = pong_grace_s  # None: keepalive is not on this clock
        self._close_grace_s = close_grace_s
        self._lock = asyncio.Lock()
        # Pings and closes already waited for, so each costs its grace once at most.
        self._given_up: set[tuple[str, int]] = set()

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, firing every timer due on the way in order."""
        if not seconds >= 0:
            raise ValueError(f"advance() takes seconds >= 0, not {seconds}")
        async with self._lock:  # two advances at once would interleave their steps
            target = self.clock.monotonic() + seconds
            await self.settle()  # what the test did before this call, first
            while self.clock.fire_next(target):
                await self.settle()
            self.clock.move_to(target)

    async def run_free(self) -> None:
        """Advance to each next timer as soon as the server has settled (``--speed max``)."""
        server = self._server
        while True:
            await self.settle()
            if not self._someone_subscribed():
                await server.wait_for(self._someone_subscribed, timeout=None)
                continue
            if self.clock.next_due() is None:
                await self.clock.scheduled()
                continue
            self.clock.fire_next(float("inf"))

    def _someone_subscribed(self) -> bool:
        return any(c.subscriptions and not c.closed for c in self._server.sessions.values())

    async def settle(self) -> None:
        """Return once the server has done what the last timers started (module doc)."""
        while True:
            await self._quiesce()
            waiting = self._waiting()
            if not waiting:
                return
            closing = any(ping < 0 for _, ping in waiting)
            grace = self._close_grace_s if closing else self._pong_grace_s or 0.0
            try:
                await self._server.wait_for(lambda: not self._waiting(), timeout=grace)
            except AssertionError:
                self._given_up.update(self._waiting())

    async def _quiesce(self) -> None:
        clock, quiet = self.clock, 0
        for _ in range(MAX_SETTLE_TURNS):
            mark = clock.changes
            await self._server.drained()  # one loop turn at least; the writes, if pending
            quiet = quiet + 1 if clock.changes == mark else 0
            if quiet >= QUIET_TURNS:
                return
        log.warning("the server did not settle within %d loop turns", MAX_SETTLE_TURNS)

    def _waiting(self) -> set[tuple[str, int]]:
        """The pings and closes still worth waiting for, as (session id, ping number or -1)."""
        waiting = set()
        for session in self._server.sessions.values():
            if session.closed:
                key = (session.id, -1)  # closing: its handshake is under way
            elif self._pong_grace_s is not None and session.awaiting_pong:
                key = (session.id, session.keepalive.stats.pings_sent)
            else:
                continue
            if key not in self._given_up:
                waiting.add(key)
        return waiting
