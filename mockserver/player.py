"""Turn a scenario into timed publishes.

``schedule`` merges every emission of a set of channel scripts into one stream of
``(offset_s, script, emission)`` in time order; ties go in the order the file
declares them, so the same file always gives the same sequence. ``Player`` walks
a schedule on a ``Clock``, sleeping to absolute deadlines (no drift accumulates),
and renders each payload with its timeline's ``RenderContext``.

``ScenarioRuntime`` owns the players of a running server:
- one shared player for every ``timeline: shared`` channel, started with the
  server, publishing through the hub: every subscriber sees the same live stream;
- one player per subscription for ``timeline: per_subscription`` channels, whose
  offsets count from that subscribe;
- the ``on_subscribe`` messages each new subscriber receives after the reply.

``on_subscribe: last`` replays the hub's latest payload on the channel (the
scenario's or one a test published) that the subscriber's account may see.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from mockserver.channels import Channel, delivery_names
from mockserver.clock import Clock
from mockserver.hub import Hub
from mockserver.protocol import encode_notification
from mockserver.scenario.model import ChannelScript, Emission, Scenario
from mockserver.scenario.templates import RenderContext
from mockserver.seeds import timeline_seed

log = logging.getLogger(__name__)

Event = tuple[float, ChannelScript, Emission]

# How many messages that are already due a player publishes before it yields to
# the loop: enough to coalesce a recorded burst, few enough to keep pings on time.
PLAYER_BURST = 100


def _occurrences(emission: Emission, loop_s: float | None) -> Iterator[float]:
    """The offsets at which one emission fires, in increasing order."""
    if emission.every_s is None:
        base: Iterable[float] = (emission.at_s,)
    elif emission.count is not None:
        base = (emission.at_s + k * emission.every_s for k in range(emission.count))
    else:
        base = (emission.at_s + k * emission.every_s for k in itertools.count())
    if loop_s is None:
        yield from base
        return
    # Within a loop, only what falls inside the first period is replayed.
    in_period = list(itertools.takewhile(lambda t: t < loop_s, base))
    if not in_period:
        return
    for period in itertools.count():
        for t in in_period:
            yield t + period * loop_s


def schedule(scripts: Iterable[ChannelScript]) -> Iterator[Event]:
    """Every emission of ``scripts`` merged in time order (ties: file order)."""
    heap: list[tuple[float, int, Iterator[float], ChannelScript, Emission]] = []
    order = itertools.count()
    for script in scripts:
        for emission in script.messages:
            times = _occurrences(emission, script.loop_s)
            first = next(times, None)
            if first is not None:
                heap.append((first, next(order), times, script, emission))
    heapq.heapify(heap)
    while heap:
        when, rank, times, script, emission = heap[0]
        yield when, script, emission
        following = next(times, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following, rank, times, script, emission))


Emit = Callable[[ChannelScript, Emission, str], None]


def render(
    scripts: Iterable[ChannelScript], context: RenderContext, *, limit: int
) -> list[tuple[float, str, str]]:
    """The first ``limit`` events of a schedule as ``(offset_s, channel, data_json)``.

    What a ``Player`` with this context would publish, without a clock: for
    previews and determinism tests.
    """
    return [
        (offset, script.channel, emission.data.render_json(context))
        for offset, script, emission in itertools.islice(schedule(scripts), limit)
    ]


class Player:
    """Plays one schedule on a clock, handing each rendered payload to ``emit``."""

    def __init__(
        self,
        scripts: Iterable[ChannelScript],
        *,
        clock: Clock,
        context: RenderContext,
        emit: Emit,
    ) -> None:
        self._events = schedule(scripts)
        self._clock = clock
        self._context = context
        self._emit = emit

    async def run(self) -> None:
        clock = self._clock
        start = clock.monotonic()
        burst = 0
        for offset, script, emission in self._events:
            due = start + offset
            # Messages already due go out in the same loop turn (so a client gets
            # them in one write), up to a burst, then the player yields.
            if burst >= PLAYER_BURST or due > clock.monotonic():
                await clock.sleep_until(due)
                burst = 0
            self._emit(script, emission, emission.data.render_json(self._context))
            burst += 1


class Recipient(Protocol):
    """A subscriber that the runtime can send frames to directly."""

    @property
    def account(self) -> str | None: ...

    def deliver(self, frame: str, channel: str | None = None) -> None: ...


class ScenarioRuntime:
    """The running scenario of one server."""

    def __init__(self, scenario: Scenario, *, hub: Hub, clock: Clock, seed: int) -> None:
        self.scenario = scenario
        self._hub = hub
        self._clock = clock
        self._seed = seed
        self._shared_task: asyncio.Task[None] | None = None
        self._per_subscription: dict[tuple[int, str], asyncio.Task[None]] = {}

    def start(self) -> None:
        shared = [c for c in self.scenario.channels if c.timeline == "shared" and c.messages]
        if shared:
            player = Player(
                shared,
                clock=self._clock,
                context=self._context("shared"),
                emit=self._publish,
            )
            self._shared_task = asyncio.create_task(player.run(), name="scenario:shared")
            self._shared_task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        tasks = [t for t in (self._shared_task, *self._per_subscription.values()) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._shared_task = None
        self._per_subscription.clear()

    def _context(self, *parts: str) -> RenderContext:
        return RenderContext(seed=timeline_seed(self._seed, *parts), now_us=self._clock.wall_us)

    def _publish(self, script: ChannelScript, emission: Emission, data_json: str) -> None:
        self._hub.publish_encoded(script.channel, data_json, account=emission.account)

    def _last(self, script: ChannelScript, recipient: Recipient, name: str) -> Iterator[str]:
        """What ``on_subscribe: last`` sends this recipient for one script."""
        for concrete, data_json in self._hub.latest_for(name, account=recipient.account):
            if concrete == script.channel:
                yield data_json

    def _scripts_reaching(self, name: str) -> list[ChannelScript]:
        return [c for c in self.scenario.channels if name in delivery_names(c.channel)]

    def subscribed(self, recipient: Recipient, channel: Channel) -> None:
        """Send what a new subscriber gets first, and start its own timelines."""
        scripts = self._scripts_reaching(channel.name)
        context = self._context("on_subscribe", channel.name)
        for script in scripts:
            if script.on_subscribe_last:
                for data_json in self._last(script, recipient, channel.name):
                    recipient.deliver(encode_notification(channel.name, data_json), channel.name)
            for template in script.on_subscribe:
                recipient.deliver(
                    encode_notification(channel.name, template.render_json(context)), channel.name
                )
        own = [c for c in scripts if c.timeline == "per_subscription" and c.messages]
        if own:

            def emit(script: ChannelScript, emission: Emission, data_json: str) -> None:
                if emission.account is None or emission.account == recipient.account:
                    recipient.deliver(encode_notification(channel.name, data_json), channel.name)

            player = Player(
                own,
                clock=self._clock,
                context=self._context("per_subscription", channel.name),
                emit=emit,
            )
            task = asyncio.create_task(player.run(), name=f"scenario:{channel.name}")
            task.add_done_callback(_log_failure)
            self._per_subscription[(id(recipient), channel.name)] = task

    def unsubscribed(self, recipient: Recipient, name: str) -> None:
        task = self._per_subscription.pop((id(recipient), name), None)
        if task is not None:
            task.cancel()

    def closed(self, recipient: Recipient, names: Iterable[str]) -> None:
        for name in names:
            self.unsubscribed(recipient, name)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scenario playback %s failed", task.get_name(), exc_info=task.exception())
