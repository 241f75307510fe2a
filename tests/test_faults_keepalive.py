"""Faults on the ping/pong exchange and the black hole, at millisecond keepalive timings.

Every client is a ``Probe`` (``autoping=False``, read in the background), so the
test sees each server ping, answers it (on time, late or never) and sees the
pongs to its own pings. A second session, outside the fault's target, shows
what the fault spares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import Connect
from fault_clients import Probe, now

from mockserver.server import MockServer

INTERVAL_S = 0.05
TIMEOUT_S = 0.05
# How late something may be observed on a loaded machine.
MARGIN_S = 0.3
# A ping the server had already decided to send when a fault was added may still
# arrive this long after (the writer sends it on its next turn).
IN_FLIGHT_S = 0.02
TRADES = "trades.BTC-USD-PERP"

pytestmark = pytest.mark.paradex_mock(
    scenario="empty", ping_interval_s=INTERVAL_S, pong_timeout_s=TIMEOUT_S
)

OpenProbe = Callable[..., Awaitable[Probe]]


@pytest.fixture
async def open_probe(connect: Connect) -> AsyncIterator[OpenProbe]:
    """Open a ``Probe``; the reading tasks are cancelled at the end of the test."""
    probes: list[Probe] = []

    async def open_one(*, pong_delay_s: float | None = 0.0) -> Probe:
        probes.append(await Probe.open(connect, pong_delay_s=pong_delay_s))
        return probes[-1]

    yield open_one
    for probe in probes:
        probe.task.cancel()


async def pings_pass(probe: Probe, count: int, *, since: float) -> None:
    """Wait until ``probe`` (outside the fault) got ``count`` pings after ``since``."""
    await probe.until(lambda: probe.pings_since(since) >= count)


async def test_stop_pings_silences_the_target_only(
    paradex_mock: MockServer, open_probe: OpenProbe
) -> None:
    """stop_pings: no ping reaches the target over several intervals; the other still gets
    them; pings resume once the fault is removed."""
    target, other = await open_probe(), await open_probe()
    handle = paradex_mock.fault("stop_pings", target={"session": "s1"})
    added = now()
    await pings_pass(other, 5, since=added)
    assert target.pings_since(added + IN_FLIGHT_S) == 0
    assert handle.acts >= 4  # each skipped ping counts
    assert target.end is None
    handle.remove()
    removed = now()
    await target.until(lambda: target.pings_since(removed) >= 2)
    assert target.pings[-2] - removed < INTERVAL_S + MARGIN_S


async def test_ignore_pongs_ends_an_answering_client(
    paradex_mock: MockServer, open_probe: OpenProbe
) -> None:
    """ignore_pongs: a client that answers every ping is still dropped at the pong deadline;
    the other session survives."""
    target, other = await open_probe(), await open_probe()
    await pings_pass(target, 2, since=0.0)
    paradex_mock.fault("ignore_pongs", target={"session": "s1"})
    added = now()
    ending = await target.ended()
    assert ending.dropped, ending  # the empty scenario's on_pong_timeout: drop
    # The deadline counts from the first ping whose pong was ignored: the next one, or
    # one already in flight when the fault came.
    assert ending.at - added < INTERVAL_S + TIMEOUT_S + MARGIN_S
    assert any(TIMEOUT_S * 0.9 <= ending.at - ping < TIMEOUT_S + MARGIN_S for ping in target.pings)
    await pings_pass(other, 3, since=ending.at)
    assert other.end is None
    (dropped,) = paradex_mock.closed_sessions
    stats = dropped.keepalive.stats
    assert stats.pings_sent > stats.pongs_received  # the ignored pongs were not counted


@pytest.mark.paradex_mock(ping_interval_s=0.1, pong_timeout_s=0.2)
async def test_pong_timeout_shortens_the_deadline(
    paradex_mock: MockServer, open_probe: OpenProbe
) -> None:
    """A client answering 60 ms late survives a 200 ms deadline, not a 20 ms pong_timeout;
    a late client outside the target survives."""
    target = await open_probe(pong_delay_s=0.06)
    other = await open_probe(pong_delay_s=0.06)
    await pings_pass(target, 3, since=0.0)
    assert target.end is None
    round_trips = paradex_mock.sessions["s1"].keepalive.stats.round_trips_s
    assert round_trips
    assert min(round_trips) >= 0.06 * 0.9
    handle = paradex_mock.fault("pong_timeout", timeout_s=0.02, target={"session": "s1"})
    added = now()
    ending = await target.ended()
    # Killed by the first ping sent under the fault, before its 60 ms answer could come.
    assert any(0.02 * 0.9 <= ending.at - ping < 0.06 for ping in target.pings if ping >= added)
    assert handle.state == "active"
    await pings_pass(other, 2, since=ending.at)
    assert other.end is None


async def own_ping_answered(probe: Probe, *, within_s: float) -> bool:
    """Send a ping of the client's own; whether a pong came back within ``within_s``."""
    before = len(probe.pongs)
    await probe.ws.ping(b"are you there")
    try:
        await probe.until(lambda: len(probe.pongs) > before, timeout=within_s)
    except AssertionError:
        return False
    return True


async def test_no_pong_reply_leaves_the_clients_pings_unanswered(
    paradex_mock: MockServer, open_probe: OpenProbe
) -> None:
    """no_pong_reply: the target's own ping gets no pong (the other's does); the server's
    pings still reach it; answered again once removed."""
    target, other = await open_probe(), await open_probe()
    with paradex_mock.fault("no_pong_reply", target={"session": "s1"}) as handle:
        assert await own_ping_answered(other, within_s=1.0)
        sent = now()
        assert not await own_ping_answered(target, within_s=4 * INTERVAL_S)
        assert target.pings_since(sent) >= 1
        assert handle.acts == 1
    assert await own_ping_answered(target, within_s=1.0)
    assert target.end is None


def trade_ids(probe: Probe) -> list[str]:
    """The ids of the trades ``probe`` was sent."""
    return [t["params"]["data"]["id"] for t in probe.texts if t.get("method") == "subscription"]


async def test_black_hole_is_a_zombie_connection(
    paradex_mock: MockServer, open_probe: OpenProbe
) -> None:
    """black_hole: no reply, data or ping reaches the target and the server does not close it
    past the pong deadline; its frames are recorded as ignored; removed, all flows again."""
    target, other = await open_probe(), await open_probe()
    for probe in (target, other):
        assert "result" in await probe.call("subscribe", {"channel": TRADES})
    handle = paradex_mock.fault("black_hole", target={"session": "s1"})
    added = now()
    seen = len(target.texts)
    request_id = await target.send("no.such.method")
    paradex_mock.publish(TRADES, {"market": "BTC-USD-PERP", "id": "1"})
    assert "error" in await other.call("no.such.method")
    # Past several pong deadlines: the other session is pinged (and answers) meanwhile.
    await pings_pass(other, 6, since=added)
    assert len(target.texts) == seen
    assert target.pings_since(added + IN_FLIGHT_S) == 0
    assert target.end is None
    await target.ws.send_bytes(b"binary")  # not even rejected
    session = paradex_mock.sessions["s1"]
    await paradex_mock.wait_for(lambda: session.received[-1].text == "<binary frame>")
    request, binary = list(session.received)[-2:]
    assert f'"id": {request_id}' in request.text
    assert (request.ignored, request.error, binary.ignored, binary.error) == (
        True,
        None,
        True,
        None,
    )
    handle.remove()
    removed = now()
    assert (await target.call("no.such.method"))["error"]["code"] == -32601
    assert target.reply(request_id) is None  # the ignored request stays unanswered
    paradex_mock.publish(TRADES, {"market": "BTC-USD-PERP", "id": "2"})
    await target.until(lambda: trade_ids(target) == ["2"])
    await target.until(lambda: target.pings_since(removed) >= 1)
    await other.until(lambda: trade_ids(other) == ["1", "2"])
