"""The bundled ``restart`` scenario, from the fixture and from the CLI.

Every connection is dropped at 2 s, new ones are refused with HTTP 503 until
3 s, then accepted again: a client that reconnects with a short backoff sees
exactly that timeline (each test takes about 3 s, the scenario's own timing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import pytest
from conftest import Client
from fault_clients import closing, now, reconnect_until_accepted
from serve_process import PARADEX_MOCK, Processes

from mockserver.server import MockServer

DROP_AT_S = 2.0
REFUSED_UNTIL_S = 3.0
# How late the client may observe each step on a loaded machine.
MARGIN_S = 0.4


@dataclass
class Timeline:
    """What a reconnecting client saw, in seconds from the scenario's start."""

    dropped: float = 0.0
    refused: list[float] = field(default_factory=list)
    accepted: float = 0.0

    def check(self, *, early_s: float = 0.0) -> None:
        """Matches the scenario, allowing each step ``early_s`` early (an imprecise start)."""
        assert DROP_AT_S - early_s <= self.dropped < DROP_AT_S + MARGIN_S, self
        assert self.refused, "no reconnect was refused"
        assert all(self.dropped <= t < REFUSED_UNTIL_S + MARGIN_S for t in self.refused), self
        assert REFUSED_UNTIL_S - early_s <= self.accepted < REFUSED_UNTIL_S + MARGIN_S, self


async def live_through_the_restart(ws_url: str, *, started: float) -> Timeline:
    """Connect and subscribe; get dropped; reconnect every 20 ms until accepted; subscribe."""
    timeline = Timeline()
    async with aiohttp.ClientSession() as http:
        client = Client(await http.ws_connect(ws_url))
        assert "result" in await client.subscribe("bbo.BTC-USD-PERP")
        ending = await closing(client, timeout=DROP_AT_S + 2)
        assert ending.dropped, ending
        timeline.dropped = ending.at - started
        refused: list[float] = []
        accepted = await reconnect_until_accepted(ws_url, within_s=REFUSED_UNTIL_S, refused=refused)
        timeline.refused = [t - started for t in refused]
        timeline.accepted = accepted - started
        again = Client(await http.ws_connect(ws_url))
        assert (await again.subscribe("bbo.BTC-USD-PERP"))["result"] == {
            "channel": "bbo.BTC-USD-PERP"
        }
        await again.ws.close()
    return timeline


@pytest.mark.paradex_mock(scenario="restart")
async def test_restart_from_the_fixture(paradex_mock: MockServer) -> None:
    """scenario="restart": dropped at 2 s, refused with 503 until 3 s, then accepted."""
    drop = paradex_mock.faults.get("restart")
    assert drop is not None
    timeline = await live_through_the_restart(paradex_mock.ws_url, started=drop.added_at)
    timeline.check()
    assert [f.state for f in paradex_mock.faults.ended] == ["spent", "expired"]


async def test_restart_from_the_cli(processes: Processes) -> None:
    """serve --scenario restart: dropped at 2 s, refused with 503 until 3 s, then accepted."""
    server = await processes.start([PARADEX_MOCK, "serve", "--scenario", "restart", "--port", "0"])
    # The URL line comes just after the scenario started: each step may look a bit early.
    timeline = await live_through_the_restart(server.ws_url, started=now())
    timeline.check(early_s=0.2)
