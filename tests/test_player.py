"""Scenario playback: the schedule (pure), then what clients receive over real sockets.

Timing checks measure arrival with the event loop's clock against the moment the
subscribe reply arrived, with generous bounds (a loaded 2-core CI box delivers
late, never early, and ``SLACK_S`` covers that); every wait is a bounded receive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import RECEIVE_TIMEOUT_S, Client, Connect

from mockserver.player import PLAYER_BURST, Player, render, schedule
from mockserver.scenario.loader import loads
from mockserver.scenario.model import ChannelScript, Emission
from mockserver.scenario.templates import RenderContext, Static
from mockserver.seeds import timeline_seed
from mockserver.server import MockServer

# How late a frame may be on a busy machine, and how early (the player's clock
# starts when the server handles the subscribe, a little before the client
# reads the reply).
SLACK_S = 0.25
EARLY_S = 0.03
# How long "nothing more arrives" is watched for.
QUIET_S = 0.15


def script(
    *emissions: Emission, channel: str = "trades.ALL", loop_s: float | None = None
) -> ChannelScript:
    """A shared-timeline channel script of the given emissions."""
    return ChannelScript(channel=channel, timeline="shared", messages=emissions, loop_s=loop_s)


def emit(n: int, **timing: Any) -> Emission:
    """An emission whose payload is ``{"n": n}``."""
    return Emission(data=Static({"n": n}), **timing)


def times(scripts: list[ChannelScript], limit: int) -> list[tuple[float, str, int]]:
    """The first ``limit`` events of the schedule as (offset, channel, n)."""
    return [
        (round(offset, 6), s.channel, e.data.value["n"])  # type: ignore[attr-defined]
        for offset, s, e in itertools.islice(schedule(scripts), limit)
    ]


BBO = (
    "{market: BTC-USD-PERP, seq_no: !seq , ask: !decimal {min: 67000.0, max: 67000.9, step: 0.1}, "
    "ask_size: '1', bid: !decimal {min: 66999.0, max: 66999.9, step: 0.1}, bid_size: '1', "
    "last_updated_at: 0}"
)


def scenario_text(channels: str, *, head: str = "") -> str:
    """A BTC and ETH scenario with the given ``channels:`` body (and top-level ``head``)."""
    return f"{head}markets: [BTC-USD-PERP, ETH-USD-PERP]\nchannels:\n{channels}"


def per_subscription(channel: str, *messages: str) -> str:
    """A ``channels:`` entry on a per-subscription timeline with these message lines."""
    lines = "".join(f"      - {m}\n" for m in messages)
    return f"  {channel}:\n    timeline: per_subscription\n    messages:\n{lines}"


async def stamped(client: Client, count: int) -> list[tuple[float, dict[str, Any]]]:
    """The next ``count`` notifications' payloads, each with its arrival time."""
    loop = asyncio.get_running_loop()
    found = []
    for _ in range(count):
        frame = await client.notification()
        found.append((loop.time(), frame["params"]["data"]))
    return found


async def payloads(client: Client, count: int) -> list[dict[str, Any]]:
    """The next ``count`` notifications' payloads."""
    return [data for _, data in await stamped(client, count)]


async def raw_notifications(client: Client, count: int) -> list[str]:
    """The next ``count`` notification frames, as the exact text the server sent."""
    found: list[str] = []
    while len(found) < count:
        message = await client.ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if '"method":"subscription"' in message.data:
            found.append(message.data)
    return found


async def subscribed(client: Client, channel: str) -> float:
    """Subscribe, check the reply, and return when it arrived (the loop's clock)."""
    reply = await client.subscribe(channel)
    assert reply["result"] == {"channel": channel}, reply
    return asyncio.get_running_loop().time()


async def assert_quiet(client: Client) -> None:
    """Nothing arrives for QUIET_S."""
    try:
        frame = await client.ws.receive(timeout=QUIET_S)
    except asyncio.TimeoutError:
        return
    pytest.fail(f"expected nothing for {QUIET_S} s, got {frame}")


def assert_on_time(
    start: float, frames: list[tuple[float, dict[str, Any]]], offsets: tuple[float, ...]
) -> None:
    """Each frame arrived at its offset after ``start``: not early, at most SLACK_S late."""
    for expected, (arrived, _) in zip(offsets, frames, strict=True):
        late = arrived - start - expected
        assert -EARLY_S <= late <= SLACK_S, f"the {expected} s frame came {late:+.3f} s off"


# schedule(): pure


def test_schedule_merges_by_time_and_breaks_ties_in_file_order() -> None:
    """Events of all scripts come in time order; simultaneous ones in declaration order."""
    first = script(emit(1, at_s=0.2), emit(2, at_s=0.0), channel="a")
    second = script(emit(3, at_s=0.0), emit(4, at_s=0.1), channel="b")
    assert times([first, second], 10) == [
        (0.0, "a", 2), (0.0, "b", 3), (0.1, "b", 4), (0.2, "a", 1),
    ]  # fmt: skip


def test_once_count_and_forever() -> None:
    """No every: once; every with count: count times; every alone: without end."""
    once = script(emit(1, at_s=0.5), channel="once")
    counted = script(emit(2, at_s=1.0, every_s=1.0, count=3), channel="counted")
    forever = script(emit(3, every_s=2.0), channel="forever")
    events = times([once, counted, forever], 12)
    assert [e for e in events if e[1] == "once"] == [(0.5, "once", 1)]
    assert [e[0] for e in events if e[1] == "counted"] == [1.0, 2.0, 3.0]
    assert [e[0] for e in events if e[1] == "forever"] == [2.0 * k for k in range(8)]


def test_loop_replays_the_first_period() -> None:
    """loop: P replays what falls in [0, P) every P; a repeat inside it is cut at P."""
    looped = script(emit(1, at_s=0.0), emit(2, at_s=0.7), emit(3, every_s=0.3), loop_s=1.0)
    assert times([looped], 10) == [
        (0.0, "trades.ALL", 1), (0.0, "trades.ALL", 3), (0.3, "trades.ALL", 3),
        (0.6, "trades.ALL", 3), (0.7, "trades.ALL", 2), (0.9, "trades.ALL", 3),
        (1.0, "trades.ALL", 1), (1.0, "trades.ALL", 3), (1.3, "trades.ALL", 3),
        (1.6, "trades.ALL", 3),
    ]  # fmt: skip


def test_loop_with_count_replays_only_the_counted_ones() -> None:
    """A counted repeat inside a loop plays its count, then again each period."""
    looped = script(emit(1, every_s=0.1, count=2), loop_s=1.0)
    assert [e[0] for e in times([looped], 6)] == [0.0, 0.1, 1.0, 1.1, 2.0, 2.1]


def test_endless_schedules_are_lazy() -> None:
    """An endless schedule yields events on demand (a server can run for days)."""
    events = schedule([script(emit(1, every_s=0.001))])
    assert [round(next(events)[0], 3) for _ in range(3)] == [0.0, 0.001, 0.002]
    assert round(next(itertools.islice(events, 100_000, None))[0], 3) == 100.003


def test_render_previews_what_a_player_publishes() -> None:
    """render() gives (offset, channel, payload JSON) in schedule order, from the context's RNG."""
    scenario = loads(
        scenario_text(f"  bbo.BTC-USD-PERP:\n    messages:\n      - {{every: 1, data: {BBO}}}\n")
    )

    def preview(seed: int) -> list[tuple[float, str, str]]:
        return render(scenario.channels, RenderContext(seed=seed, now_us=lambda: 0), limit=3)

    events = preview(1)
    assert [(offset, channel) for offset, channel, _ in events] == [
        (0.0, "bbo.BTC-USD-PERP"), (1.0, "bbo.BTC-USD-PERP"), (2.0, "bbo.BTC-USD-PERP"),
    ]  # fmt: skip
    assert [json.loads(data)["seq_no"] for _, _, data in events] == [1, 2, 3]
    assert preview(1) == events
    assert preview(2) != events


# Over real sockets


TIMED = loads(
    scenario_text(
        per_subscription("bbo.BTC-USD-PERP", f"{{at: 80ms, every: 80ms, count: 4, data: {BBO}}}")
    )
)


@pytest.mark.paradex_mock(scenario=TIMED)
async def test_messages_arrive_in_order_with_their_timing(connect: Connect) -> None:
    """Frames come in schedule order at their offsets from the subscribe, then stop at count."""
    client = await connect()
    start = await subscribed(client, "bbo.BTC-USD-PERP")
    frames = await stamped(client, 4)
    assert [data["seq_no"] for _, data in frames] == [1, 2, 3, 4]
    assert_on_time(start, frames, (0.08, 0.16, 0.24, 0.32))
    await assert_quiet(client)


ON_SUBSCRIBE = loads(
    scenario_text(
        "  trades.BTC-USD-PERP:\n    timeline: per_subscription\n"
        "    on_subscribe:\n"
        "      - {id: '1', fixed: true}\n"
        "      - {id: '2', price: !decimal {min: 1, max: 100000, step: 1}}\n"
        "    messages:\n"
        "      - {at: 0, data: {id: '3'}}\n"
    )
)


@pytest.mark.paradex_mock(scenario=ON_SUBSCRIBE)
async def test_on_subscribe_payloads_come_right_after_the_reply(connect: Connect) -> None:
    """The on_subscribe payloads are the very next frames after the reply, before offset 0."""
    first, second = await connect(), await connect()
    await first.send({"jsonrpc": "2.0", "id": 7, "method": "subscribe",
                      "params": {"channel": "trades.BTC-USD-PERP"}})  # fmt: skip
    frames = [await first.receive_json() for _ in range(4)]
    assert frames[0]["id"] == 7
    assert [f["params"]["data"]["id"] for f in frames[1:]] == ["1", "2", "3"]
    assert [f["params"]["channel"] for f in frames[1:]] == ["trades.BTC-USD-PERP"] * 3
    # Generated on_subscribe values are drawn afresh, identically, for every subscriber.
    await subscribed(second, "trades.BTC-USD-PERP")
    again = await payloads(second, 3)
    assert again == [f["params"]["data"] for f in frames[1:]]


ONCE = loads(
    scenario_text(
        f"  bbo.BTC-USD-PERP:\n    on_subscribe: last\n    messages:\n      - {{data: {BBO}}}\n"
    )
)


@pytest.mark.paradex_mock(scenario=ONCE)
async def test_on_subscribe_last_sends_the_latest_shared_message(connect: Connect) -> None:
    """A subscriber arriving after the shared stream published gets its latest frame at once."""
    early = await connect()
    await subscribed(early, "bbo.BTC-USD-PERP")
    (published,) = await payloads(early, 1)  # live, or already as `last`
    late = await connect()
    await late.send({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                     "params": {"channel": "bbo.BTC-USD-PERP"}})  # fmt: skip
    reply, latest = await late.receive_json(), await late.receive_json()
    assert reply["id"] == 1
    assert latest["params"] == {"channel": "bbo.BTC-USD-PERP", "data": published}


DECLARED = loads(
    scenario_text(
        "  markets_summary.BTC-USD-PERP: {on_subscribe: last}\n"
        "  markets_summary.ETH-USD-PERP: {on_subscribe: last}\n"
        "  trades.BTC-USD-PERP: {}\n"
    )
)


@pytest.mark.paradex_mock(scenario=DECLARED)
async def test_on_subscribe_last_replays_what_a_test_published(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """last includes publish() calls; an aggregate gets the latest of every market it covers."""
    paradex_mock.publish("markets_summary.BTC-USD-PERP", {"symbol": "BTC-USD-PERP", "v": 1})
    paradex_mock.publish("markets_summary.ETH-USD-PERP", {"symbol": "ETH-USD-PERP", "v": 1})
    paradex_mock.publish("markets_summary.BTC-USD-PERP", {"symbol": "BTC-USD-PERP", "v": 2})
    paradex_mock.publish("trades.BTC-USD-PERP", {"id": "1"})  # no `last` on trades
    client = await connect()
    await subscribed(client, "markets_summary")
    frames = [await client.receive_json() for _ in range(2)]
    assert [f["params"]["channel"] for f in frames] == ["markets_summary"] * 2
    assert [f["params"]["data"] for f in frames] == [
        {"symbol": "BTC-USD-PERP", "v": 2}, {"symbol": "ETH-USD-PERP", "v": 1},
    ]  # fmt: skip
    await subscribed(client, "trades.BTC-USD-PERP")
    await assert_quiet(client)


PER_SUBSCRIPTION = loads(
    scenario_text(
        per_subscription("bbo.BTC-USD-PERP", f"{{at: 50ms, every: 50ms, count: 3, data: {BBO}}}"),
        head="seed: 5\n",
    )
)


@pytest.mark.paradex_mock(scenario=PER_SUBSCRIPTION)
async def test_per_subscription_timelines_restart_with_identical_payloads(connect: Connect) -> None:
    """Each subscriber's timeline starts at its subscribe, with the same values as the others'."""
    first, second = await connect(), await connect()
    await subscribed(first, "bbo.BTC-USD-PERP")
    seen_first = await payloads(first, 3)
    start = await subscribed(second, "bbo.BTC-USD-PERP")
    seen_second = await stamped(second, 3)
    assert [data for _, data in seen_second] == seen_first
    assert [data["seq_no"] for data in seen_first] == [1, 2, 3]
    # Restarted: the second subscriber waits its own 50 ms for its first frame.
    assert seen_second[0][0] - start >= 0.05 - EARLY_S


def expected_per_subscription(seed: int, channel: str, count: int) -> list[dict[str, Any]]:
    """What docs/scenarios.md says a per-subscription timeline renders with this seed."""
    context = RenderContext(seed=timeline_seed(seed, "per_subscription", channel), now_us=lambda: 0)
    return [
        json.loads(data) for _, _, data in render(PER_SUBSCRIPTION.channels, context, limit=count)
    ]


@pytest.mark.paradex_mock(scenario=PER_SUBSCRIPTION)
async def test_per_subscription_values_come_from_seed_and_channel(connect: Connect) -> None:
    """A per-subscription stream is render() with a generator seeded from (seed, channel)."""
    client = await connect()
    await subscribed(client, "bbo.BTC-USD-PERP")
    assert await payloads(client, 3) == expected_per_subscription(5, "bbo.BTC-USD-PERP", 3)


@pytest.mark.paradex_mock(scenario=PER_SUBSCRIPTION, seed=6)
async def test_the_seed_override_changes_the_values(connect: Connect) -> None:
    """A server seed (MockConfig.seed) replaces the scenario's: the values follow it."""
    client = await connect()
    await subscribed(client, "bbo.BTC-USD-PERP")
    seen = await payloads(client, 3)
    assert seen == expected_per_subscription(6, "bbo.BTC-USD-PERP", 3)
    assert seen != expected_per_subscription(5, "bbo.BTC-USD-PERP", 3)


SHARED = loads(
    scenario_text(f"  bbo.BTC-USD-PERP:\n    messages:\n      - {{every: 20ms, data: {BBO}}}\n")
)


@pytest.mark.paradex_mock(scenario=SHARED)
async def test_shared_timeline_subscribers_receive_identical_frames(connect: Connect) -> None:
    """On the shared timeline a late subscriber joins mid-stream and gets the very same bytes."""
    early, late = await connect(), await connect()
    await subscribed(early, "bbo.BTC-USD-PERP")
    early_frames = await raw_notifications(early, 3)
    await subscribed(late, "bbo.BTC-USD-PERP")
    late_frames = await raw_notifications(late, 3)
    last_seq = json.loads(late_frames[-1])["params"]["data"]["seq_no"]
    while json.loads(early_frames[-1])["params"]["data"]["seq_no"] < last_seq:
        early_frames += await raw_notifications(early, 1)
    assert json.loads(late_frames[0])["params"]["data"]["seq_no"] > 3  # joined mid-stream
    assert set(late_frames) <= set(early_frames)


ENDLESS = loads(
    scenario_text(per_subscription("bbo.BTC-USD-PERP", f"{{every: 30ms, data: {BBO}}}"))
)


@pytest.mark.paradex_mock(scenario=ENDLESS)
async def test_unsubscribe_stops_a_per_subscription_player(connect: Connect) -> None:
    """After the unsubscribe reply nothing more arrives; subscribing again starts from zero."""
    client = await connect()
    await subscribed(client, "bbo.BTC-USD-PERP")
    assert [data["seq_no"] for data in await payloads(client, 2)] == [1, 2]
    reply = await client.call("unsubscribe", {"channel": "bbo.BTC-USD-PERP"})
    assert reply["result"] == {"channel": "bbo.BTC-USD-PERP"}
    await assert_quiet(client)
    await subscribed(client, "bbo.BTC-USD-PERP")
    assert [data["seq_no"] for data in await payloads(client, 2)] == [1, 2]


LOOPED = loads(
    scenario_text(
        "  trades.BTC-USD-PERP:\n    timeline: per_subscription\n    loop: 150ms\n    messages:\n"
        "      - {at: 0ms, data: {id: '1'}}\n"
        "      - {at: 60ms, data: {id: '2'}}\n"
    )
)


@pytest.mark.paradex_mock(scenario=LOOPED)
async def test_a_loop_replays_over_the_socket(connect: Connect) -> None:
    """A looped channel repeats its period's messages at +P, in order."""
    client = await connect()
    start = await subscribed(client, "trades.BTC-USD-PERP")
    frames = await stamped(client, 5)
    assert [data["id"] for _, data in frames] == ["1", "2", "1", "2", "1"]
    assert_on_time(start, frames, (0.0, 0.06, 0.15, 0.21, 0.3))


PRIVATE = loads(
    scenario_text(
        per_subscription(
            "orders.ALL",
            "{at: 0, account: '0x1', data: {id: 'for-0x1'}}",
            "{at: 0, account: '0x2', data: {id: 'for-0x2'}}",
            "{at: 50ms, data: {id: 'for-everyone'}}",
        )
        + "  account:\n    on_subscribe: last\n    messages:\n"
        "      - {at: 0, account: '0x1', data: {account: '0x1'}}\n"
        "      - {at: 0, account: '0x2', data: {account: '0x2'}}\n",
        head="auth: {accounts: ['0x1', '0x2']}\n",
    )
)


async def authenticated(connect: Connect, server: MockServer, account: str) -> Client:
    """A client authenticated as ``account``."""
    client = await connect()
    reply = await client.call("auth", {"bearer": server.token(account)})
    assert "result" in reply, reply
    return client


@pytest.mark.paradex_mock(scenario=PRIVATE)
async def test_private_messages_reach_only_their_account(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """account: targets one account's sessions; a message without it reaches every account."""
    one, two = [await authenticated(connect, paradex_mock, a) for a in ("0x1", "0x2")]
    for client, account in ((one, "0x1"), (two, "0x2")):
        await subscribed(client, "orders.ALL")
        assert [d["id"] for d in await payloads(client, 2)] == [f"for-{account}", "for-everyone"]


@pytest.mark.paradex_mock(scenario=PRIVATE)
async def test_on_subscribe_last_on_a_private_channel_is_per_account(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """last on a private channel is the latest message of the subscriber's own account."""
    for account in ("0x1", "0x2"):
        client = await authenticated(connect, paradex_mock, account)
        await subscribed(client, "account")
        assert await payloads(client, 1) == [{"account": account}]
    await assert_quiet(client)  # the other account's state never came


class CountingClock:
    """A clock stuck at 0 that counts the player's sleeps (each one a yield to the loop)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return 0.0

    def wall_us(self) -> int:
        return 0

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        raise NotImplementedError

    async def sleep_until(self, when: float) -> None:
        self.sleeps.append(when)


async def test_a_player_publishes_messages_already_due_in_bursts() -> None:
    """250 messages due at once go out in bursts of PLAYER_BURST, one yield between bursts."""
    clock = CountingClock()
    published: list[int] = []
    player = Player(
        [script(*(emit(n, at_s=0.0) for n in range(250)), emit(250, at_s=1.0))],
        clock=clock,  # type: ignore[arg-type]
        context=RenderContext(seed=1, now_us=lambda: 0),
        emit=lambda _script, _emission, data_json: published.append(json.loads(data_json)["n"]),
    )
    await player.run()
    assert published == list(range(251))
    # A yield after each full burst of the 250, then the wait for the 1 s one.
    assert clock.sleeps == [0.0] * (249 // PLAYER_BURST) + [1.0]
