"""The server's pending sends: which sessions hold frames not yet written.

A session does not write each frame as it is produced: it queues it and asks the
outbox for a flush. The outbox runs one callback per turn of the event loop that
flushes every session that asked, so a session writes everything it was handed
during that turn (a publish burst, a reply and the data after it) with one
``transport.write``: one system call per connection per turn instead of one per
frame. WebSocket frames stay separate messages; only their TCP writes coalesce.

It also knows which sessions are backlogged (frames queued, not yet handed to
their transport), so a publisher can wait for them: ``await outbox.drained()``
is the backpressure a replay at full speed needs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)

# Sessions flushed per loop turn at most (see Outbox._flush).
FLUSH_CHUNK = 128


class Flushable(Protocol):
    def flush(self) -> None: ...

    def drop(self) -> None: ...


class Outbox:
    """Flushes requested once per loop turn, and the set of backlogged sessions."""

    def __init__(self) -> None:
        self._requested: list[Flushable] = []
        self._backlogged: set[Flushable] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def request_flush(self, session: Flushable) -> None:
        """Flush ``session`` at the end of this loop turn (the session asks once per turn)."""
        if not self._requested:
            asyncio.get_running_loop().call_soon(self._flush)
        self._requested.append(session)

    def _flush(self) -> None:
        """Flush up to ``FLUSH_CHUNK`` sessions, and leave the rest to the next turn.

        A write to a loopback socket costs 10-30 µs, so flushing a thousand
        sessions in one callback would hold the loop for tens of milliseconds,
        and a ping falling due meanwhile would wait for all of them.
        """
        requested = self._requested
        if len(requested) <= FLUSH_CHUNK:
            self._requested = []
        else:
            self._requested = requested[FLUSH_CHUNK:]
            requested = requested[:FLUSH_CHUNK]
            asyncio.get_running_loop().call_soon(self._flush)
        for session in requested:
            try:
                session.flush()
            except Exception:  # one session's bug must not cost the others their flush
                log.exception("flushing %r failed; dropping it", session)
                session.drop()

    def backlogged(self, session: Flushable) -> None:
        """``session`` has frames queued that its transport has not been handed."""
        if not self._backlogged:
            self._idle.clear()
        self._backlogged.add(session)

    def caught_up(self, session: Flushable) -> None:
        """``session`` has nothing queued any more (written, discarded, or closed)."""
        self._backlogged.discard(session)
        if not self._backlogged:
            self._idle.set()

    async def drained(self) -> None:
        """Return once no session holds frames it has not handed to its transport.

        It always yields to the loop at least once, so a publisher that awaits it
        after each burst cannot starve the rest of the server, even when its
        bursts reach nobody.
        """
        if self._idle.is_set():
            await asyncio.sleep(0)
        else:
            await self._idle.wait()
