"""Unit tests of the hub: fan-out, private routing and the latest payload per channel."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.hub import Hub
from mockserver.wire import Frame


@dataclass(eq=False)
class Recorder:
    """A subscriber that keeps what it is sent."""

    account: str | None = None
    frames: list[Frame] = field(default_factory=list)

    def deliver(self, frame: Frame, channel: str | None = None) -> None:
        self.frames.append(frame)


def test_one_publish_sends_the_same_frame_object_to_every_subscriber() -> None:
    """A broadcast is encoded once: every subscriber of a name gets the identical string."""
    hub = Hub()
    a, b = Recorder(), Recorder()
    hub.subscribe("trades.BTC-USD-PERP", a)
    hub.subscribe("trades.BTC-USD-PERP", b)
    assert hub.publish("trades.BTC-USD-PERP", {"price": "1"}) == 2
    assert a.frames[0] is b.frames[0]


def test_private_publish_with_account_reaches_only_that_account() -> None:
    """A private publish naming an account skips the other accounts' sessions."""
    hub = Hub()
    mine, theirs = Recorder(account="0xa"), Recorder(account="0xb")
    hub.subscribe("orders.ALL", mine)
    hub.subscribe("orders.ALL", theirs)
    assert hub.publish("orders.BTC-USD-PERP", {"id": "1"}, account="0xa") == 1
    assert len(mine.frames) == 1
    assert theirs.frames == []


def test_latest_for_shows_an_account_only_what_it_could_see() -> None:
    """The latest private payload is per account; a broadcast one is visible to all."""
    hub = Hub()
    hub.publish("account", {"v": "everyone"})
    hub.publish("account", {"v": "a only"}, account="0xa")
    assert hub.latest_for("account", account="0xa") == [("account", '{"v":"a only"}')]
    assert hub.latest_for("account", account="0xb") == [("account", '{"v":"everyone"}')]


def test_latest_for_an_aggregate_lists_each_market() -> None:
    """Subscribing to trades.ALL sees the latest trade of every market."""
    hub = Hub()
    hub.publish("trades.BTC-USD-PERP", {"m": "BTC"})
    hub.publish("trades.ETH-USD-PERP", {"m": "ETH"})
    hub.publish("trades.BTC-USD-PERP", {"m": "BTC2"})
    assert sorted(hub.latest_for("trades.ALL")) == [
        ("trades.BTC-USD-PERP", '{"m":"BTC2"}'),
        ("trades.ETH-USD-PERP", '{"m":"ETH"}'),
    ]


def test_unsubscribed_sessions_receive_nothing() -> None:
    """After unsubscribe (or remove) a subscriber is no longer delivered to."""
    hub = Hub()
    a = Recorder()
    hub.subscribe("bbo.BTC-USD-PERP", a)
    hub.remove(a, ["bbo.BTC-USD-PERP"])
    assert hub.publish("bbo.BTC-USD-PERP", {}) == 0
    assert hub.subscriber_count("bbo.BTC-USD-PERP") == 0


def test_account_on_a_public_channel_is_ignored() -> None:
    """Only private channels are filtered by account; a public publish reaches everyone."""
    hub = Hub()
    a, b = Recorder(account="0xa"), Recorder(account="0xb")
    hub.subscribe("trades.BTC-USD-PERP", a)
    hub.subscribe("trades.BTC-USD-PERP", b)
    assert hub.publish("trades.BTC-USD-PERP", {"id": "1"}, account="0xa") == 2
