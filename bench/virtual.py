"""What ten virtual minutes cost: ``python -m bench.virtual [--minutes 10] [--json FILE]``.

Each row starts a ``MockServer`` on the virtual clock (Paradex's keepalive, 55 s
pings and a 5 s pong deadline), opens the row's clients in the same process
(aiohttp, each reading all the time, so their library answers the pings),
and times ``await server.advance(minutes * 60)``: the real seconds and the
frames the clients got. The rows:

- ``idle``: the ``empty`` scenario and 100 connections: keepalive only;
- ``calm``: one synthetic market (2 trades and 1 requote a second), one reader
  of its bbo and trades: the suite's ten-minute test;
- ``default``: the default scenario (three busy markets), one reader of
  BTC-USD-PERP's bbo and trades;
- ``default-books``: the same, reading every market's 50 ms book snapshots.

Client and server share one process and one core, as in a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from mockserver.config import MockConfig
from mockserver.server import MockServer

CALM = """
version: 1
name: calm
seed: 11
markets:
  BTC-USD-PERP: {trades_per_s: 2, requotes_per_s: 1}
synthetic:
  channels: [bbo, trades]
"""
BOOKS = [f"order_book.{m}-USD-PERP.snapshot@15@50ms" for m in ("BTC", "ETH", "SOL")]
ROWS: dict[str, tuple[str, int, list[str]]] = {
    "idle": ("empty", 100, []),
    "calm": ("calm", 1, ["bbo.BTC-USD-PERP", "trades.BTC-USD-PERP"]),
    "default": ("default", 1, ["bbo.BTC-USD-PERP", "trades.BTC-USD-PERP"]),
    "default-books": ("default", 1, BOOKS),
}


async def read_all(ws: aiohttp.ClientWebSocketResponse, counts: list[int]) -> None:
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            counts[0] += 1


async def run_row(
    scenario: str | Path, clients: int, channels: list[str], seconds: float
) -> dict[str, Any]:
    config = MockConfig(
        port=0, scenario=scenario, clock="virtual", connections_per_ip_per_s=None,
        connections_per_ip_per_min=None,
    )  # fmt: skip
    counts = [0]
    async with MockServer(config) as server, aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(server.ws_url) for _ in range(clients)]
        readers = [asyncio.create_task(read_all(ws, counts)) for ws in sockets]
        for n, channel in enumerate(channels):
            await sockets[0].send_json(
                {"jsonrpc": "2.0", "id": n, "method": "subscribe", "params": {"channel": channel}}
            )
        await server.wait_for(lambda: len(server.sessions) == clients)
        await server.wait_for(
            lambda: sum(len(s.subscriptions) for s in server.sessions.values()) == len(channels)
        )
        started = time.perf_counter()
        await server.advance(seconds)
        took = time.perf_counter() - started
        pings = sum(s.keepalive.stats.pings_sent for s in server.sessions.values())
        pongs = sum(s.keepalive.stats.pongs_received for s in server.sessions.values())
        dropped = clients - len(server.sessions)
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers)
    return {"real_s": round(took, 3), "frames": counts[0], "pings": pings, "pongs": pongs,
            "dropped": dropped}  # fmt: skip


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.virtual", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        calm = Path(tmp) / "calm.yaml"
        calm.write_text(CALM)
        head = ("row", "clients", "real s", "frames", "pings", "pongs", "dropped")
        print(f"{head[0]:<14} " + " ".join(f"{h:>7}" for h in head[1:]))
        for name, (scenario, clients, channels) in ROWS.items():
            row = await run_row(calm if scenario == "calm" else scenario, clients, channels,
                                args.minutes * 60)  # fmt: skip
            results[name] = {"clients": clients, **row}
            cells = (clients, f"{row['real_s']:.2f}", row["frames"], row["pings"], row["pongs"],
                     row["dropped"])  # fmt: skip
            print(f"{name:<14} " + " ".join(f"{c:>7}" for c in cells))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
