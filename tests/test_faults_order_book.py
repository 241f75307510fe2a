"""Faults on the order book's consistency, seen from real clients: sequence gaps,
repeated or backwards ``seq_no``, and crossed books (paradex-ws.md §8).

Each runs on the synthetic market (a fast one-market scenario) and on frames the
test publishes itself, aimed by session at one of two clients: the other must
see a clean sequence.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from conftest import Connect
from fault_streams import BBO, BTC, DELTAS, SNAPSHOT, Frame, Subscriber, frame, frames, subscribe

from mockserver.scenario.loader import loads
from mockserver.server import MockServer

# ~125 book changes a second, so a test sees a dozen deltas in ~0.1 s.
FAST_BOOK = loads(
    "name: fast-book\n"
    "seed: 5\n"
    "markets:\n"
    "  BTC-USD-PERP: {trades_per_s: 100}\n"
    "synthetic: {channels: [order_book, bbo]}\n"
)
synthetic = pytest.mark.paradex_mock(scenario=FAST_BOOK)
published = pytest.mark.paradex_mock(scenario="empty")

# kind, params, and what it does to the steps between consecutive seq_nos (the
# rest are +1): a gap of skip 2 jumps by 3; a repeat steps 0 then 2 (back on
# course); backwards by 3 steps -3 then 5.
SEQ_FAULTS = [
    pytest.param("seq_gap", {"skip": 2}, {3: 1}, id="seq_gap"),
    pytest.param("seq_repeat", {}, {0: 1, 2: 1}, id="seq_repeat"),
    pytest.param("seq_backwards", {"by": 3}, {-3: 1, 5: 1}, id="seq_backwards"),
]


async def pair(connect: Connect, server: MockServer, channel: str) -> tuple[Subscriber, Subscriber]:
    """Two clients on ``channel``: the one a fault hits, and one it spares."""
    return await subscribe(connect, server, channel), await subscribe(connect, server, channel)


def steps(received: list[Frame]) -> list[int]:
    seqs = [f.data["seq_no"] for f in received]
    return [b - a for a, b in itertools.pairwise(seqs)]


def crossed(data: dict[str, Any]) -> bool:
    """A bid above the ask: a bbo's, or a book frame's best BUY above its best SELL."""
    if "bid" in data:
        return Decimal(data["bid"]) > Decimal(data["ask"])
    levels = [lv for lv in data["inserts"] if Decimal(lv["size"]) > 0]
    bids = [Decimal(lv["price"]) for lv in levels if lv["side"] == "BUY"]
    asks = [Decimal(lv["price"]) for lv in levels if lv["side"] == "SELL"]
    return bool(bids and asks) and max(bids) >= min(asks)


async def stream_under_fault(
    server: MockServer,
    pair: tuple[Subscriber, Subscriber],
    kind: str,
    shown: Callable[[list[Frame]], bool],
    **params: Any,
) -> tuple[list[Frame], list[Frame]]:
    """Each client's frames from its opening one on, with ``kind`` aimed at the first
    client: its frames until ``shown`` holds for them (frames already on their way
    when the fault came are not changed) and a few more; as many for the other."""
    hit, spared = pair
    hit_frames = [await frame(hit.client)]
    server.fault(kind, target=hit.session, **params)
    while not shown(hit_frames):
        assert len(hit_frames) < 100, "the fault never showed"
        hit_frames.append(await frame(hit.client))
    hit_frames += await frames(hit.client, 3)
    return hit_frames, await frames(spared.client, len(hit_frames))


# On the synthetic market


@synthetic
@pytest.mark.parametrize(("kind", "params", "anomalies"), SEQ_FAULTS)
async def test_seq_fault_on_synthetic_deltas(
    paradex_mock: MockServer,
    connect: Connect,
    kind: str,
    params: dict[str, Any],
    anomalies: dict[int, int],
) -> None:
    """A seq fault shows once in the target's delta seq_nos; the other session's are +1 each."""
    hit_frames, spared_frames = await stream_under_fault(
        paradex_mock,
        await pair(connect, paradex_mock, DELTAS),
        kind,
        lambda got: sum(1 for step in steps(got) if step != 1) >= sum(anomalies.values()),
        **params,
    )
    assert hit_frames[0].data["update_type"] == "s"
    hit_steps = steps(hit_frames)
    assert Counter(hit_steps) == {1: len(hit_steps) - sum(anomalies.values()), **anomalies}
    assert set(steps(spared_frames)) == {1}


@synthetic
@pytest.mark.parametrize("channel", [BBO, SNAPSHOT])
async def test_crossed_book_on_the_synthetic_market(
    paradex_mock: MockServer, connect: Connect, channel: str
) -> None:
    """crossed_book: the target's next bbo / snapshot shows a bid above the ask, once;
    the other session's stay uncrossed."""
    hit_frames, spared_frames = await stream_under_fault(
        paradex_mock,
        await pair(connect, paradex_mock, channel),
        "crossed_book",
        lambda got: crossed(got[-1].data),
        channel="bbo.*" if channel == BBO else "order_book.*",
    )
    assert [crossed(f.data) for f in hit_frames].count(True) == 1
    assert not any(crossed(f.data) for f in spared_frames)


# On published frames


def delta(seq_no: int) -> dict[str, Any]:
    level = {"side": "BUY", "price": "100", "size": str(seq_no)}
    return {
        "seq_no": seq_no,
        "market": BTC,
        "last_updated_at": 0,
        "update_type": "d",
        "inserts": [],
        "updates": [level],
        "deletes": [],
    }


@published
@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        pytest.param("seq_gap", {"skip": 2}, [100, 103, 104, 105], id="seq_gap"),
        pytest.param("seq_repeat", {}, [100, 100, 102, 103, 104, 105], id="seq_repeat"),
        pytest.param("seq_backwards", {"by": 2}, [100, 98, 102, 103, 104, 105], id="backwards"),
    ],
)
async def test_seq_fault_on_published_deltas(
    paradex_mock: MockServer,
    connect: Connect,
    kind: str,
    params: dict[str, Any],
    expected: list[int],
) -> None:
    """A seq fault rewrites the target's very next delta; the other session gets 100..105."""
    hit, spared = await pair(connect, paradex_mock, DELTAS)
    paradex_mock.publish(DELTAS, delta(100))
    paradex_mock.fault(kind, target=hit.session, **params)
    for seq_no in range(101, 106):
        paradex_mock.publish(DELTAS, delta(seq_no))
    received = await frames(hit.client, len(expected))
    assert [f.data["seq_no"] for f in received] == expected
    assert [f.data["seq_no"] for f in await frames(spared.client, 6)] == list(range(100, 106))


@published
async def test_seq_gap_withholds_the_frames_it_skips(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """seq_gap: the frames inside the gap are the ones missing, not renumbered ones."""
    hit, _ = await pair(connect, paradex_mock, DELTAS)
    paradex_mock.fault("seq_gap", skip=2, target=hit.session)
    for seq_no in range(1, 5):
        paradex_mock.publish(DELTAS, delta(seq_no))
    received = await frames(hit.client, 2)
    assert [f.data["updates"][0]["size"] for f in received] == ["3", "4"]


@published
async def test_seq_gap_spares_the_first_frame_of_a_subscription_newer_than_it(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """seq_gap on_subscribe: the new subscription's first frame arrives, the next is cut."""
    paradex_mock.fault("seq_gap", on_subscribe=DELTAS)
    hit = await subscribe(connect, paradex_mock, DELTAS)
    for seq_no in range(1, 5):
        paradex_mock.publish(DELTAS, delta(seq_no))
    assert [f.data["seq_no"] for f in await frames(hit.client, 3)] == [1, 3, 4]


@published
async def test_seq_gap_with_count_1_on_all_sessions_is_one_whole_gap(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """seq_gap aimed at every session with count 1: one session gets the whole gap, the
    other a clean sequence (never a gap cut short)."""
    first, second = await pair(connect, paradex_mock, DELTAS)
    paradex_mock.fault("seq_gap", skip=2)
    for seq_no in range(1, 6):
        paradex_mock.publish(DELTAS, delta(seq_no))
    seen = [
        [f.data["seq_no"] for f in await frames(first.client, 3)],
        [f.data["seq_no"] for f in await frames(second.client, 5)],
    ]
    assert seen == [[3, 4, 5], [1, 2, 3, 4, 5]]


def bbo(seq_no: int) -> dict[str, Any]:
    return {
        "market": BTC,
        "seq_no": seq_no,
        "bid": "100.5",
        "bid_size": "1",
        "ask": "101.5",
        "ask_size": "2",
        "last_updated_at": 0,
    }


def snapshot(seq_no: int) -> dict[str, Any]:
    sides = [("BUY", "99"), ("BUY", "98"), ("SELL", "101"), ("SELL", "102")]
    return {
        "seq_no": seq_no,
        "market": BTC,
        "last_updated_at": 0,
        "update_type": "s",
        "inserts": [{"side": side, "price": price, "size": "1"} for side, price in sides],
        "updates": [],
        "deletes": [],
    }


@published
async def test_crossed_book_swaps_a_published_bbo(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """crossed_book on bbo: the target's next bbo has bid and ask swapped, then clean ones."""
    hit, spared = await pair(connect, paradex_mock, BBO)
    paradex_mock.fault("crossed_book", channel="bbo.*", target=hit.session)
    paradex_mock.publish(BBO, bbo(1))
    paradex_mock.publish(BBO, bbo(2))
    swapped, clean = await frames(hit.client, 2)
    assert swapped.data | {"seq_no": 1} == bbo(1) | {
        "bid": "101.5",
        "bid_size": "2",
        "ask": "100.5",
        "ask_size": "1",
    }
    assert clean.data == bbo(2)
    assert [f.data for f in await frames(spared.client, 2)] == [bbo(1), bbo(2)]


@published
async def test_crossed_book_adds_a_bid_above_a_published_snapshot_s_asks(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """crossed_book on a snapshot: the target's next one has a BUY level above the lowest
    SELL; the other session's is as published."""
    hit, spared = await pair(connect, paradex_mock, SNAPSHOT)
    paradex_mock.fault("crossed_book", target=hit.session)
    paradex_mock.publish(SNAPSHOT, snapshot(1))
    paradex_mock.publish(SNAPSHOT, snapshot(2))
    bad, good = await frames(hit.client, 2)
    added = [lv for lv in bad.data["inserts"] if lv not in snapshot(1)["inserts"]]
    assert len(added) == 1
    assert added[0]["side"] == "BUY"
    assert Decimal(added[0]["price"]) > Decimal("101")
    assert crossed(bad.data)
    assert not crossed(good.data)
    assert [f.data for f in await frames(spared.client, 2)] == [snapshot(1), snapshot(2)]
