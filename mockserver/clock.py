"""Where the server's time comes from.

Every timer in the server (pings, pong deadlines, scenario playback) and every
timestamp it writes goes through a ``Clock``, so a test can later swap in a clock
it controls. ``RealClock`` is the event loop's monotonic time for scheduling and
the system's wall time for timestamps.
"""

from __future__ import annotations

import asyncio
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
