"""Who is subscribed to what, and fan-out of published messages.

The hub knows channel names and subscribers, nothing of JSON-RPC: a published
payload is encoded once to JSON, then framed once per subscribed name it reaches
(``channels.delivery_names``), and the very same string goes to every subscriber
of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from mockserver.channels import delivery_names, parse_channel
from mockserver.protocol import dumps, encode_notification


class Subscriber(Protocol):
    """What the hub needs of a session."""

    @property
    def account(self) -> str | None: ...

    def deliver(self, frame: str) -> None: ...


class Hub:
    """The subscription registry."""

    def __init__(self, *, frame: Callable[[str, str], str] = encode_notification) -> None:
        self._frame = frame
        # Insertion-ordered, so delivery order is deterministic.
        self._subscribers: dict[str, dict[Subscriber, None]] = {}
        # The latest payload (encoded) per concrete channel, for `on_subscribe: last`.
        self._latest: dict[str, str] = {}

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
        self._latest[channel] = data_json
        private = account is not None and parse_channel(channel).private
        delivered = 0
        for name in delivery_names(channel):
            subscribers = self._subscribers.get(name)
            if not subscribers:
                continue
            frame = self._frame(name, data_json)
            # A copy: a delivery may disconnect a slow consumer, which unsubscribes it.
            for subscriber in list(subscribers):
                if private and subscriber.account != account:
                    continue
                subscriber.deliver(frame)
                delivered += 1
        return delivered

    def latest_for(self, name: str) -> list[tuple[str, str]]:
        """(concrete channel, encoded payload) of the latest publish reaching ``name``."""
        return [(ch, data) for ch, data in self._latest.items() if name in delivery_names(ch)]

    def clear_latest(self) -> None:
        self._latest.clear()
