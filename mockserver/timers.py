"""Many timers on one event-loop timer: the keepalives of every connection share it.

Each connection has a ping due every ``ping_interval_s`` and, after each ping, a
pong deadline. Scheduling those on the event loop directly puts two handles per
connection into the loop's heap and wakes the loop once per connection; here
they live in one heap of our own, behind a single loop timer set for the
earliest of them, and everything due when it fires runs in that one callback
(pings of connections opened in the same instant go out together).

Cancelling is lazy: a cancelled entry stays in the heap, marked, until it
surfaces or until cancelled entries outnumber live ones (pong deadlines are
cancelled by every pong), when the heap is rebuilt.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from mockserver.clock import Clock, Timer


class _Entry:
    __slots__ = ("callback", "cancelled", "queue")

    def __init__(self, queue: TimerQueue, callback: Callable[[], None]) -> None:
        self.queue = queue
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.queue._cancelled_one()


class TimerQueue:
    """``call_at`` for many callbacks, with one timer of the underlying clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()  # ties fire in the order they were scheduled
        self._cancelled = 0
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self._firing = False  # callbacks that schedule more wait for the re-arm after them

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def __len__(self) -> int:
        """Live timers (cancelled ones not counted)."""
        return len(self._heap) - self._cancelled

    @property
    def stored(self) -> int:
        """Entries held, cancelled ones not yet swept out included."""
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        entry = _Entry(self, callback)
        heapq.heappush(self._heap, (when, next(self._order), entry))
        if not self._firing and (self._timer_at is None or when < self._timer_at):
            self._arm(when)
        return entry

    def close(self) -> None:
        """Cancel everything (the server stops)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        self._heap.clear()
        self._cancelled = 0

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        heap = self._heap
        now = self._clock.monotonic()
        self._firing = True
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)[2]
                if entry.cancelled:
                    self._cancelled -= 1
                    continue
                entry.cancelled = True  # fired: a late cancel() is a no-op
                entry.callback()
        finally:
            self._firing = False
            while heap and heap[0][2].cancelled:  # do not wake the loop for a dead entry
                heapq.heappop(heap)
                self._cancelled -= 1
            if heap:
                self._arm(heap[0][0])

    def _cancelled_one(self) -> None:
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            # In place: _fire may be walking this very list.
            self._heap[:] = [item for item in self._heap if not item[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0
