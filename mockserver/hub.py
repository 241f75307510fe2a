"""Who is subscribed to what, and fan-out of published messages.

The hub knows channel names and subscribers, nothing of JSON-RPC: a published
payload is encoded once to JSON, then framed once per subscribed name it reaches
(``channels.delivery_names``), and the very same ``wire.Frame`` (and so the same
wire bytes) goes to every subscriber of that name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from mockserver.channels import delivery_names, is_private
from mockserver.protocol import dumps, encode_notification
from mockserver.wire import Frame


class Subscriber(Protocol):
    """What the hub needs of a session."""

    @property
    def account(self) -> str | None: ...

    def deliver(self, frame: Frame, channel: str | None = None) -> None: ...


class Hub:
    """The subscription registry."""

    def __init__(self, *, frame: Callable[[str, str], str] = encode_notification) -> None:
        self._frame = frame
        # Insertion-ordered, so delivery order is deterministic.
        self._subscribers: dict[str, dict[Subscriber, None]] = {}
        # For `on_subscribe: last`: per concrete channel, the latest payload (encoded)
        # per account it was sent to (None: everyone), numbered in publish order.
        self._latest: dict[str, dict[str | None, tuple[int, str]]] = {}
        self._publishes = itertools.count()
        # Told of every publish's channel, while someone watches (fault triggers).
        self._watcher: Callable[[str], None] | None = None

    def watch(self, watcher: Callable[[str], None] | None) -> None:
        """Have ``watcher`` called with the channel of every publish (None: stop)."""
        self._watcher = watcher

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(name, {})[subscriber] = None

    def unsubscribe(self, name: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(name)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._subscribers[name]

    def remove(self, subscriber: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            self.unsubscribe(name, subscriber)

    def subscriber_count(self, name: str) -> int:
        return len(self._subscribers.get(name, ()))

    def publish(self, channel: str, data: Any, *, account: str | None = None) -> int:
        """Send ``data`` on ``channel`` to everyone it reaches; returns the deliveries.

        On a private channel, ``account`` limits delivery to that account's
        sessions; ``None`` reaches every authenticated subscriber.
        """
        return self.publish_encoded(channel, dumps(data), account=account)

    def publish_encoded(self, channel: str, data_json: str, *, account: str | None = None) -> int:
        private = account is not None and is_private(channel)
        audience = account if private else None
        self._latest.setdefault(channel, {})[audience] = (next(self._publishes), data_json)
        delivered = 0
        for name in delivery_names(channel):
            subscribers = self._subscribers.get(name)
            if not subscribers:
                continue
            frame = Frame(self._frame(name, data_json))
            # A copy: a delivery may disconnect a slow consumer, which unsubscribes it.
            for subscriber in list(subscribers):
                if private and subscriber.account != account:
                    continue
                subscriber.deliver(frame, name)
                delivered += 1
        if self._watcher is not None:  # after delivery: "after N messages" spares the N-th
            self._watcher(channel)
        return delivered

    def latest_for(self, name: str, *, account: str | None = None) -> list[tuple[str, str]]:
        """(concrete channel, encoded payload): the latest publish on each channel that
        reaches ``name`` and that ``account`` was allowed to see."""
        found = []
        for channel, by_audience in self._latest.items():
            if name not in delivery_names(channel):
                continue
            visible = [v for a, v in by_audience.items() if a is None or a == account]
            if visible:
                found.append((channel, max(visible)[1]))
        return found

    def clear_latest(self) -> None:
        self._latest.clear()
