"""The shared timer queue behind every connection's keepalive (mockserver.timers)."""

from __future__ import annotations

from collections.abc import Callable

from mockserver.timers import TimerQueue


class FakeClock:
    """A clock that moves only when told, and counts the timers set on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, Callable[[], None], list[bool]]] = []

    def monotonic(self) -> float:
        return self.now

    def wall_us(self) -> int:
        return int(self.now * 1e6)

    def call_at(self, when: float, callback: Callable[[], None]) -> _Handle:
        cancelled = [False]
        self._timers.append((when, callback, cancelled))
        return _Handle(cancelled)

    async def sleep_until(self, when: float) -> None:
        raise NotImplementedError

    @property
    def live_timers(self) -> int:
        return sum(1 for _, _, cancelled in self._timers if not cancelled[0])

    def advance_to(self, when: float) -> None:
        """Move to ``when``, firing each due timer in time order (as the loop would)."""
        while True:
            due = [t for t in self._timers if t[0] <= when and not t[2][0]]
            if not due:
                break
            first = min(due, key=lambda t: t[0])
            self._timers.remove(first)
            self.now = max(self.now, first[0])
            first[1]()
        self.now = when


class _Handle:
    def __init__(self, cancelled: list[bool]) -> None:
        self._cancelled = cancelled

    def cancel(self) -> None:
        self._cancelled[0] = True


def recorder(fired: list[str], name: str) -> Callable[[], None]:
    return lambda: fired.append(name)


def test_many_timers_hold_one_timer_of_the_clock() -> None:
    """A thousand scheduled callbacks cost the underlying clock a single timer."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    fired: list[str] = []
    for i in range(1000):
        timers.call_at(1.0 + i / 1000, recorder(fired, str(i)))
    assert clock.live_timers == 1
    assert len(timers) == 1000
    clock.advance_to(3.0)
    assert fired == [str(i) for i in range(1000)]
    assert clock.live_timers == 0


def test_timers_fire_in_time_order_and_ties_in_scheduling_order() -> None:
    """Earlier deadlines fire first; equal deadlines fire in the order they were set."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    fired: list[str] = []
    timers.call_at(2.0, recorder(fired, "late"))
    timers.call_at(1.0, recorder(fired, "tie-a"))
    timers.call_at(1.0, recorder(fired, "tie-b"))
    clock.advance_to(1.5)
    assert fired == ["tie-a", "tie-b"]
    clock.advance_to(2.0)
    assert fired == ["tie-a", "tie-b", "late"]


def test_a_cancelled_timer_never_fires() -> None:
    """cancel() before the deadline keeps the callback from running; cancelling twice is fine."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    fired: list[str] = []
    handle = timers.call_at(1.0, recorder(fired, "cancelled"))
    timers.call_at(1.0, recorder(fired, "kept"))
    handle.cancel()
    handle.cancel()
    assert len(timers) == 1
    clock.advance_to(2.0)
    assert fired == ["kept"]


def test_a_callback_that_schedules_a_later_timer_does_not_hide_an_earlier_one() -> None:
    """A ping rescheduling itself far ahead leaves a nearer deadline armed."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    fired: list[str] = []

    def reschedule() -> None:
        fired.append("ping")
        timers.call_at(60.0, recorder(fired, "next ping"))

    timers.call_at(5.0, reschedule)
    timers.call_at(10.0, recorder(fired, "deadline"))
    clock.advance_to(10.0)
    assert fired == ["ping", "deadline"]
    clock.advance_to(60.0)
    assert fired[-1] == "next ping"


def test_cancelled_timers_do_not_pile_up() -> None:
    """Pong deadlines cancelled by every pong are swept out of the heap, not kept until due."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    keep = timers.call_at(100.0, lambda: None)
    for _ in range(10_000):
        timers.call_at(50.0, lambda: None).cancel()
    assert len(timers) == 1
    assert timers.stored < 200
    keep.cancel()


def test_close_cancels_everything() -> None:
    """close() (the server stopping) leaves no timer on the clock."""
    clock = FakeClock()
    timers = TimerQueue(clock)
    fired: list[str] = []
    timers.call_at(1.0, recorder(fired, "x"))
    timers.close()
    clock.advance_to(2.0)
    assert fired == []
    assert clock.live_timers == 0
