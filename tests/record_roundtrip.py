"""The record-and-replay round trip's pieces, shared by the in-process and CLI tests.

A source server plays ``SCRIPT`` (two public channels and one private, at known
offsets); the recorder subscribes, through aggregates where it can, before the
script starts (the source starts ``empty`` and loads the script once the
recorder is subscribed, so nothing is missed). A replay server then plays the
written file to a client subscribed the same way, and ``check_replay``
compares what it got with the script: same payloads, same order, offsets within
``tolerance_s``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from mockserver.scenario import loader
from mockserver.scenario.model import Scenario
from mockserver.scenario.templates import RenderContext
from mockserver.server import MockServer

ACCOUNT = "0x4638e3041366aa71720be63e32e53e1223316c7f0d56f7aa617542ed1e7512a"
CLIENT_ID = "my-secret-bot-7"
# What the recorder subscribes to, and the replay's client too.
CHANNELS = ("bbo.BTC-USD-PERP", "trades.ALL", "orders.ALL")
RECEIVE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Scripted:
    """One message of the source's script."""

    at_ms: int
    channel: str  # the concrete channel it is published on
    subscribed: str  # the name the client subscribed to that receives it
    data: dict[str, Any]
    account: str | None = None


def _bbo(n: int) -> dict[str, Any]:
    return {
        "market": "BTC-USD-PERP",
        "seq_no": 7687412000 + n,
        "ask": "67000.4",
        "ask_size": "0.250",
        "bid": "66999.8",
        "bid_size": "1.204",
        "last_updated_at": 1791421535351 + 40 * n,
    }


def _trade(n: int) -> dict[str, Any]:
    return {
        "id": f"17914215358312017092332{n:05d}",
        "market": "ETH-USD-PERP",
        "side": "BUY" if n % 2 else "SELL",
        "size": "0.10",
        "price": "3500.00",
        "created_at": 1791421535831 + 50 * n,
        "trade_type": "FILL",
    }


def _order(n: int) -> dict[str, Any]:
    return {
        "id": f"179142153583120170923{n:04d}",
        "account": ACCOUNT,
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.05",
        "remaining_size": "0.05",
        "price": "66000",
        "status": "NEW",
        "client_id": CLIENT_ID,
        "created_at": 1791421535900 + n,
        "flags": ["REDUCE_ONLY"],
    }


SCRIPT: tuple[Scripted, ...] = tuple(
    sorted(
        [
            *(Scripted(40 * n, "bbo.BTC-USD-PERP", "bbo.BTC-USD-PERP", _bbo(n)) for n in range(8)),
            *(
                Scripted(15 + 50 * n, "trades.ETH-USD-PERP", "trades.ALL", _trade(n))
                for n in range(6)
            ),
            *(
                Scripted(25 + 100 * n, "orders.BTC-USD-PERP", "orders.ALL", _order(n), ACCOUNT)
                for n in range(3)
            ),
        ],
        key=lambda m: m.at_ms,
    )
)


def source_scenario() -> Scenario:
    """The script as a scenario (JSON payloads are YAML flow mappings)."""
    lines = ["markets: [BTC-USD-PERP, ETH-USD-PERP]", "channels:"]
    for channel in dict.fromkeys(m.channel for m in SCRIPT):
        lines += [f"  {channel}:", "    messages:"]
        for m in (m for m in SCRIPT if m.channel == channel):
            account = f", account: {json.dumps(m.account)}" if m.account else ""
            lines.append(f"      - {{at: {m.at_ms}ms{account}, data: {json.dumps(m.data)}}}")
    return loader.loads("\n".join(lines) + "\n", file="source.yaml")


def played(scenario: Scenario) -> list[tuple[float, str, str | None, Any]]:
    """(at, channel, account, payload) of every message a scenario plays, in time order."""
    context = RenderContext(seed=0, now_us=lambda: 0)
    found = [
        (e.at_s, c.channel, e.account, json.loads(e.data.render_json(context)))
        for c in scenario.channels
        for e in c.messages
    ]
    return sorted(found, key=lambda f: f[0])


async def subscribed(server: MockServer, count: int = len(CHANNELS)) -> None:
    """Return once a session of ``server`` holds ``count`` subscriptions."""
    await server.wait_for(
        lambda: any(len(s.subscriptions) >= count for s in server.sessions.values())
    )


@dataclass(frozen=True)
class Received:
    at_s: float
    channel: str
    data: dict[str, Any]


async def replay(server: MockServer, scenario_file: Path) -> list[Received]:
    """Subscribe to ``CHANNELS`` on ``server`` as the replay account, load the file, and
    collect as many notifications as the script has, with their arrival times."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        requests = [("auth", {"bearer": server.token("0x1")})]
        requests += [("subscribe", {"channel": c}) for c in CHANNELS]
        for request_id, (method, params) in enumerate(requests, 1):
            await ws.send_json(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            )
            reply = await ws.receive_json(timeout=RECEIVE_TIMEOUT_S)
            assert "result" in reply, reply
        await server.load_scenario(scenario_file)
        received = []
        while len(received) < len(SCRIPT):
            frame = await ws.receive_json(timeout=RECEIVE_TIMEOUT_S)
            params = frame["params"]
            received.append(Received(loop.time(), params["channel"], params["data"]))
    return received


def offsets_ms(times: list[float]) -> list[float]:
    return [(t - times[0]) * 1000 for t in times]


def tolerance_ms(offset_ms: float) -> float:
    """How far a replayed offset may be from the scripted one: 40 ms, plus 10 % of it,
    covering the recording's and the replay's scheduling on a loaded 2-core machine."""
    return 40 + 0.1 * offset_ms


def check_timing(expected_ms: list[float], actual_ms: list[float]) -> None:
    late = [
        (i, e, round(a, 1))
        for i, (e, a) in enumerate(zip(expected_ms, actual_ms, strict=True))
        if abs(a - e) > tolerance_ms(e)
    ]
    assert not late, f"(index, scripted ms, got ms) out of tolerance: {late}"


def check_replay(received: list[Received], scenario_text: str) -> None:
    """The replay is the script: payloads (private ones redacted), order, timing."""
    assert [r.channel for r in received] == [m.subscribed for m in SCRIPT]
    ids: dict[str, str] = {}
    for got, sent in zip(received, SCRIPT, strict=True):
        if sent.account is None:
            assert got.data == sent.data
            continue
        # Private: the account is the replay's placeholder, ids are stable placeholders
        # of the same shape, everything else is as sent.
        assert got.data["account"] == "0x1"
        assert ids.setdefault(sent.data["id"], got.data["id"]) == got.data["id"]
        assert got.data["id"].isdigit()
        assert len(got.data["id"]) == len(sent.data["id"])
        assert got.data["client_id"] != CLIENT_ID
        kept = {k: v for k, v in sent.data.items() if k not in ("account", "id", "client_id")}
        assert {k: got.data[k] for k in kept} == kept
    assert len(set(ids.values())) == len(ids)
    check_timing(
        [float(m.at_ms - SCRIPT[0].at_ms) for m in SCRIPT], offsets_ms([r.at_s for r in received])
    )
    for secret in (ACCOUNT, ACCOUNT.removeprefix("0x"), CLIENT_ID, "eyJ"):
        assert secret not in scenario_text
