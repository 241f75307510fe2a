"""Where the server's time comes from.

Every timer in the server (pings, pong deadlines, scenario playback, the market,
faults' durations) and every timestamp it writes goes through a ``Clock``:

- ``RealClock``: the event loop's monotonic time for scheduling, the system's
  wall time for timestamps (``serve``, and the fixture by default);
- ``ScaledClock``: the same, ``speed`` times faster (``serve --speed 10``);
- ``VirtualClock``: time that moves only when it is moved; ``MockServer.advance``
  (``mockserver.timecontrol``) does that for a test, or, with ``--speed max``,
  as fast as the clients read.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds for scheduling, wall-clock microseconds for payloads."""

    def monotonic(self) -> float: ...

    def wall_us(self) -> int: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...

    async def sleep_until(self, when: float) -> None: ...


class RealClock:
    """The running event loop's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()

    def monotonic(self) -> float:
        return self._loop.time()

    def wall_us(self) -> int:
        return time.time_ns() // 1000

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_at(when, callback)

    async def sleep_until(self, when: float) -> None:
        delay = when - self._loop.time()
        # sleep(0) still yields, so a player that is behind cannot starve the loop.
        await asyncio.sleep(max(0.0, delay))


class ScaledClock:
    """The event loop's clock run ``speed`` times faster (``serve --speed 10``).

    Clock time starts at the loop's time and then runs ``speed`` seconds per real
    second; wall timestamps start at the real wall clock and run as fast, so a
    payload's time agrees with the replay's pace.
    """

    def __init__(self, speed: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not speed > 0 or speed == float("inf"):
            raise ValueError(f"speed must be a positive finite number, not {speed}")
        self.speed = speed
        self._loop = loop or asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._origin_wall_us = time.time_ns() // 1000

    def monotonic(self) -> float:
        return self._origin + (self._loop.time() - self._origin) * self.speed

    def wall_us(self) -> int:
        return self._origin_wall_us + round((self.monotonic() - self._origin) * 1_000_000)

    def _loop_time(self, when: float) -> float:
        return self._origin + (when - self._origin) / self.speed

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_at(self._loop_time(when), callback)

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, self._loop_time(when) - self._loop.time()))


class _VirtualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that stands still until it is moved (``MockServer.advance``).

    Timers wait in a heap of their own and fire only when ``fire_next`` moves the
    clock to them, earliest first, ties in the order they were set: a run that
    moves the clock the same way fires the same callbacks in the same order.
    ``changes`` counts timers set and fired, so whoever moves the clock can tell
    whether the callbacks it ran have finished scheduling their consequences.
    """

    def __init__(self, *, wall_start_us: int, start: float = 0.0) -> None:
        self._now = start
        self._start = start
        self._wall_start_us = wall_start_us
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._order = itertools.count()
        self.changes = 0
        self._scheduled: asyncio.Event | None = None  # set by the next call_at

    def monotonic(self) -> float:
        return self._now

    def wall_us(self) -> int:
        return self._wall_start_us + round((self._now - self._start) * 1_000_000)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _VirtualTimer(callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        self.changes += 1
        if self._scheduled is not None:
            self._scheduled.set()
        return timer

    async def scheduled(self) -> None:
        """Return once a timer is set (at once if one is)."""
        if self.next_due() is None:
            self._scheduled = asyncio.Event()
            await self._scheduled.wait()
            self._scheduled = None

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)  # still yields, as the real clock's does
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def due() -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = self.call_at(when, due)
        try:
            await waiter
        finally:
            timer.cancel()

    def next_due(self) -> float | None:
        """When the earliest live timer is due (None: no timer set)."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def fire_next(self, limit: float) -> bool:
        """Move to the earliest timer due by ``limit`` and fire every timer due by
        then (those its callbacks set for that instant too); False if none is."""
        due = self.next_due()
        if due is None or due > limit:
            return False
        self._now = max(self._now, due)
        heap = self._heap
        while heap and heap[0][0] <= self._now:
            timer = heapq.heappop(heap)[2]
            if not timer.cancelled:
                timer.cancelled = True  # fired: a late cancel() is a no-op
                self.changes += 1
                timer.callback()
        return True

    def move_to(self, when: float) -> None:
        """Set the time (never backwards) without firing anything: timers due by
        ``when`` must have been fired with ``fire_next`` first."""
        self._now = max(self._now, when)
