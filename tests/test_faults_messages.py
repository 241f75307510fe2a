"""Faults on the frames going out, seen from real clients: latency, bandwidth, and
single messages dropped, duplicated, reordered, delayed, malformed or gone stale.

Every test publishes its own frames (scenario ``empty``) to two clients and aims
the fault at one of them by session, so the other shows the target excludes it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from conftest import Client, Connect
from fault_streams import (
    BBO,
    MARGIN_S,
    TRADES,
    Subscriber,
    frame,
    frames,
    has_id,
    ids,
    now,
    read_until,
    subscribe,
)

from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")


async def pair(
    connect: Connect, server: MockServer, *channels: str
) -> tuple[Subscriber, Subscriber]:
    """Two clients subscribed to the same ``channels``: the one a fault hits, and one it spares."""
    return (
        await subscribe(connect, server, *channels),
        await subscribe(connect, server, *channels),
    )


def publish(server: MockServer, *names: str, channel: str = TRADES, **extra: Any) -> float:
    """Publish one message per name (its ``id``) on ``channel``; returns when it started."""
    sent = now()
    for name in names:
        server.publish(channel, {"id": name, **extra})
    return sent


# latency


async def test_latency_delays_its_target_by_delay_ms(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency: the target's frame arrives delay_ms late; the other session's on time."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    delay_s = 0.15
    with paradex_mock.fault("latency", delay_ms=delay_s * 1000, target=hit.session):
        sent = publish(paradex_mock, "a")
        late, on_time = await asyncio.gather(frame(hit.client), frame(spared.client))
    assert late.data["id"] == on_time.data["id"] == "a"
    assert delay_s <= late.at - sent < delay_s + MARGIN_S
    assert on_time.at - sent < delay_s


async def test_latency_jitter_stays_within_bounds_and_keeps_order(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency with jitter_ms: each frame is delay ± jitter late, and none overtakes another."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    names = [str(n) for n in range(20)]
    with paradex_mock.fault("latency", delay_ms=40, jitter_ms=30, target=hit.session):
        sent = publish(paradex_mock, *names)
        received = await frames(hit.client, len(names))
    assert ids(received) == names
    for each in received:
        assert 0.010 <= each.at - sent < 0.070 + MARGIN_S


async def test_latency_with_a_probability_still_keeps_the_order(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency with a probability: a frame it does not delay still waits behind delayed ones."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    names = [str(n) for n in range(20)]
    with paradex_mock.fault("latency", delay_ms=50, probability=0.5, target=hit.session) as handle:
        publish(paradex_mock, *names)
        received = await frames(hit.client, len(names))
    assert 0 < handle.acts < len(names)
    assert ids(received) == names


async def test_latency_jitter_varies_from_frame_to_frame(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency with jitter_ms: frames sent one at a time are each delayed differently."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    delays = []
    with paradex_mock.fault("latency", delay_ms=30, jitter_ms=25, target=hit.session):
        for n in range(10):
            sent = publish(paradex_mock, str(n))
            delays.append((await frame(hit.client)).at - sent)
    assert all(0.005 <= d < 0.055 + MARGIN_S for d in delays)
    assert max(delays) - min(delays) > 0.010


async def test_latency_on_one_channel_leaves_the_others_on_time(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency with a channel: only that channel is late, so a later frame elsewhere overtakes."""
    client = await subscribe(connect, paradex_mock, TRADES, BBO)
    delay_s = 0.15
    with paradex_mock.fault("latency", channel="trades.*", delay_ms=delay_s * 1000):
        sent = publish(paradex_mock, "late")
        publish(paradex_mock, "on time", channel=BBO)
        first, second = await frames(client.client, 2)
    assert (first.channel, second.channel) == (BBO, TRADES)
    assert first.at - sent < delay_s <= second.at - sent


async def test_removing_latency_leaves_delayed_frames_to_their_time(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """latency removed: a frame it delayed still leaves at its time; a new one goes at once."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    delay_s = 0.15
    handle = paradex_mock.fault("latency", delay_ms=delay_s * 1000, target=hit.session)
    sent = publish(paradex_mock, "delayed")
    handle.remove()
    publish(paradex_mock, "after")
    after, delayed = await frames(hit.client, 2)
    assert (after.data["id"], delayed.data["id"]) == ("after", "delayed")
    assert after.at - sent < delay_s <= delayed.at - sent


# bandwidth


async def test_bandwidth_paces_frames_at_bytes_per_s(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """bandwidth: N bytes take about N / bytes_per_s to arrive; the other session is not paced."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    bytes_per_s = 20_000
    names = [str(n) for n in range(5)]
    with paradex_mock.fault("bandwidth", bytes_per_s=bytes_per_s, target=hit.session):
        sent = publish(paradex_mock, *names, padding="x" * 1500)
        paced, free = await asyncio.gather(
            frames(hit.client, len(names)), frames(spared.client, len(names))
        )
    assert ids(paced) == ids(free) == names
    # The writer waits len(frame) / bytes_per_s after each frame it sends.
    expected_s = sum(len(f.text.encode()) for f in paced[:-1]) / bytes_per_s
    assert expected_s > 0.25
    assert 0.9 * expected_s <= paced[-1].at - sent < expected_s + MARGIN_S
    assert free[-1].at - sent < expected_s / 2


# drop_messages


async def test_drop_messages_drops_only_its_channel_and_target(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """drop_messages with a channel: the target loses that channel's frames and no others."""
    hit = await subscribe(connect, paradex_mock, TRADES, BBO)
    spared = await subscribe(connect, paradex_mock, TRADES)
    with paradex_mock.fault("drop_messages", channel="trades.*", target=hit.session) as handle:
        publish(paradex_mock, "a")
        publish(paradex_mock, "b", channel=BBO)
        publish(paradex_mock, "c")
        publish(paradex_mock, "end", channel=BBO)
        assert ids(await read_until(hit.client, has_id("end"))) == ["b", "end"]
        assert ids(await frames(spared.client, 2)) == ["a", "c"]
        assert handle.acts == 2


async def dropped_by_seed(factory: Any, seed: int, count: int) -> set[str]:
    """The ids a client of a server with ``seed`` receives from ``count`` trades when
    half of them are dropped at random."""
    server: MockServer = await factory(seed=seed)
    async with aiohttp.ClientSession() as http:

        async def open_client() -> Client:
            return Client(await http.ws_connect(server.ws_url))

        client = await subscribe(open_client, server, TRADES, BBO)
        server.fault("drop_messages", channel="trades.*", probability=0.5)
        publish(server, *(str(n) for n in range(count)))
        publish(server, "end", channel=BBO)
        received = await read_until(client.client, has_id("end"))
        await client.client.ws.close()
    return set(ids(received[:-1]))


async def test_drop_messages_probability_follows_the_seed(paradex_mock_factory: Any) -> None:
    """drop_messages with a probability: the same seed drops the same frames, another differs."""
    count = 24
    first = await dropped_by_seed(paradex_mock_factory, 7, count)
    again = await dropped_by_seed(paradex_mock_factory, 7, count)
    other = await dropped_by_seed(paradex_mock_factory, 8, count)
    assert 0 < len(first) < count
    assert first == again
    assert first != other


# duplicate_messages


async def test_duplicate_messages_sends_count_frames_twice(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """duplicate_messages with count 2: the next two frames come twice, then single again."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    paradex_mock.fault("duplicate_messages", channel=TRADES, count=2, target=hit.session)
    publish(paradex_mock, "a", "b", "c", "end")
    assert ids(await read_until(hit.client, has_id("end"))) == ["a", "a", "b", "b", "c", "end"]
    assert ids(await read_until(spared.client, has_id("end"))) == ["a", "b", "c", "end"]


# reorder_messages


async def test_reorder_messages_swaps_two_frames(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """reorder_messages: a frame is held and sent after the next one (count 1: once)."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    paradex_mock.fault("reorder_messages", count=1, target=hit.session)
    publish(paradex_mock, "a", "b", "c", "end")
    assert ids(await read_until(hit.client, has_id("end"))) == ["b", "a", "c", "end"]
    assert ids(await read_until(spared.client, has_id("end"))) == ["a", "b", "c", "end"]


async def test_reorder_messages_releases_a_lone_frame_after_max_hold_ms(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """reorder_messages: a held frame with no successor still goes out after max_hold_ms."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    hold_s = 0.08
    with paradex_mock.fault("reorder_messages", max_hold_ms=hold_s * 1000, target=hit.session):
        sent = publish(paradex_mock, "alone")
        released = await frame(hit.client)
    assert released.data["id"] == "alone"
    assert hold_s <= released.at - sent < hold_s + MARGIN_S


async def test_removing_reorder_messages_releases_its_held_frame(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Removing reorder_messages sends the frame it held at once."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    handle = paradex_mock.fault("reorder_messages", max_hold_ms=60_000, target=hit.session)
    publish(paradex_mock, "held")
    with pytest.raises(asyncio.TimeoutError):
        await hit.client.ws.receive(timeout=0.05)
    handle.remove()
    assert (await frame(hit.client, timeout=1.0)).data["id"] == "held"


async def test_a_stale_reorder_timer_does_not_release_a_later_held_frame(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """reorder_messages: the hold timer of a frame already swapped leaves the next held frame be."""
    hit, _ = await pair(connect, paradex_mock, TRADES)
    hold_s = 0.2
    with paradex_mock.fault("reorder_messages", max_hold_ms=hold_s * 1000, target=hit.session):
        publish(paradex_mock, "a", "b")  # a is held, then swapped with b: its timer stays
        assert ids(await frames(hit.client, 2)) == ["b", "a"]
        with pytest.raises(asyncio.TimeoutError):  # halfway to a's timer, nothing moves
            await hit.client.ws.receive(timeout=hold_s / 2)
        sent = publish(paradex_mock, "c")  # held with a timer of its own
        released = await frame(hit.client)
    assert released.data["id"] == "c"
    assert hold_s <= released.at - sent


# delay_messages


async def test_delay_messages_lets_later_frames_overtake(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """delay_messages: the delayed frame arrives delay_ms late, after the frames sent after it."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    delay_s = 0.1
    paradex_mock.fault(
        "delay_messages", delay_ms=delay_s * 1000, count=1, channel="trades.*", target=hit.session
    )
    sent = publish(paradex_mock, "a", "b", "c")
    received = await frames(hit.client, 3)
    assert ids(received) == ["b", "c", "a"]
    assert delay_s <= received[-1].at - sent < delay_s + MARGIN_S
    assert ids(await frames(spared.client, 3)) == ["a", "b", "c"]


# malformed


@pytest.mark.parametrize("mode", ["truncate", "garbage"])
async def test_malformed_sends_one_broken_frame_then_good_ones(
    paradex_mock: MockServer, connect: Connect, mode: str
) -> None:
    """malformed: the client gets one text frame json.loads refuses, then good frames again."""
    hit, spared = await pair(connect, paradex_mock, TRADES)
    paradex_mock.fault("malformed", mode=mode, channel=TRADES, target=hit.session)
    publish(paradex_mock, "a", "b")
    broken, good = await frames(hit.client, 2)
    whole = await frames(spared.client, 2)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)
    assert good.data["id"] == "b"
    assert ids(whole) == ["a", "b"]
    if mode == "truncate":
        assert broken.text == whole[0].text[: len(whole[0].text) // 2]
    else:
        assert not whole[0].text.startswith(broken.text)  # not a cut: other text altogether


# stale_channel


async def test_stale_channel_goes_silent_for_its_target_only(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """stale_channel: one channel stops for the target while its other channel goes on and
    another session on the same channel is untouched; removed, the channel resumes."""
    hit = await subscribe(connect, paradex_mock, BBO, TRADES)
    spared = await subscribe(connect, paradex_mock, BBO)
    with paradex_mock.fault("stale_channel", channel="bbo.*", target=hit.session):
        for n in range(3):
            publish(paradex_mock, f"bbo {n}", channel=BBO)
            publish(paradex_mock, f"trade {n}")
        stale = await frames(hit.client, 3)
        assert [f.channel for f in stale] == [TRADES] * 3
        assert ids(await frames(spared.client, 3)) == ["bbo 0", "bbo 1", "bbo 2"]
        assert not hit.session.closed
    publish(paradex_mock, "fresh", channel=BBO)
    assert ids(await frames(hit.client, 1)) == ["fresh"]
