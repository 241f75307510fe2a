"""Soak: connection churn against the mock, with faults on, watching for leaks.

``python -m bench.soak [--seconds 600] [--workers 40] [--json FILE]``

Two children, pinned to one CPU each and spoken to over JSON lines
(``bench.pipes``):

- *server*: ``MockServer`` on the ``default`` scenario (the synthetic market
  streams the whole time), with connection limits off, a fast keepalive (ping
  every 0.2 s, pong within 1 s) and standing faults: messages dropped,
  duplicated and delayed on some channels, and every few seconds an action
  fault (close or drop) aimed at a random connection. Its ``stats`` command
  reports open file descriptors, asyncio tasks, RSS, sessions and the fault book.
- *churn*: ``workers`` loops, each connecting (with or without
  permessage-deflate), authenticating half the time (as one of eight
  accounts), subscribing to one to
  three channels, reading for 50-300 ms, then leaving one of four ways: a
  clean close, an unsubscribe then close, an abort (TCP reset), or going silent
  until the server's pong deadline drops it.

The server's figures are read after a warm-up (the baseline: the market has
started, imports and caches are done), every ``--every`` seconds, and at the end
once the churn has stopped and every session has closed. A leak shows as file
descriptors, tasks or RSS that grow from baseline to end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time
from typing import Any

import aiohttp

from bench.pipes import Child, Result, pin_cpu, serve_commands
from bench.servers import vm_rss_bytes

CHANNELS = [
    "bbo.BTC-USD-PERP",
    "trades.ALL",
    "order_book.ETH-USD-PERP.snapshot@15@100ms",
    "order_book.SOL-USD-PERP.deltas",
    "markets_summary",
    "funding_data.BTC-USD-PERP",
]
PRIVATE = ["orders.ALL", "fills.ALL", "account"]
# A client suite's handful of accounts. (Each trading account costs the synthetic
# market about 0.2 ms per 10 ms step: a new account per connection would measure
# the market falling behind, not leaks.)
ACCOUNTS = [f"0x{n:x}" for n in range(1, 9)]
STANDING_FAULTS: list[dict[str, Any]] = [
    {"kind": "drop_messages", "target": {"channel": "trades.*"}, "probability": 0.05},
    {"kind": "duplicate_messages", "target": {"channel": "bbo.*"}, "probability": 0.05},
    {"kind": "latency", "target": {"channel": "order_book.*"}, "params": {"delay_ms": 20}},
]
ACTION_EVERY_S = 2.0


# The server child


async def serve(args: argparse.Namespace) -> None:
    from mockserver.config import MockConfig
    from mockserver.server import MockServer

    affinity = pin_cpu(0)
    server = MockServer(
        MockConfig(
            port=0,
            ping_interval_s=0.2,
            pong_timeout_s=1.0,
            connections_per_ip_per_s=None,
            connections_per_ip_per_min=None,
        )
    )
    await server.start()
    for spec in STANDING_FAULTS:
        server.add_fault(spec)
    rng = random.Random(args.seed)
    actions = asyncio.create_task(_action_faults(server, rng))

    async def stats(command: dict[str, Any]) -> Result:
        return server_stats(server)

    async def settle(command: dict[str, Any]) -> Result:
        """Wait until every session has closed, then report."""
        await server.wait_for(lambda: not server.sessions, timeout=command.get("timeout_s", 30))
        return server_stats(server)

    try:
        await serve_commands(
            {"port": server.port, "affinity": affinity}, {"stats": stats, "settle": settle}
        )
    finally:
        actions.cancel()
        await server.stop()


async def _action_faults(server: Any, rng: random.Random) -> None:
    """Every ACTION_EVERY_S, close or drop one random open connection (a fault)."""
    while True:
        await asyncio.sleep(ACTION_EVERY_S)  # the soak's cadence, not a wait for readiness
        open_sessions = list(server.sessions.values())
        if open_sessions:
            victim = rng.choice(open_sessions)
            kind = rng.choice(["close", "drop"])
            server.add_fault({"kind": kind, "target": {"session": victim.id}})


def server_stats(server: Any) -> Result:
    gc.collect()
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "rss_bytes": vm_rss_bytes(),
        "sessions": len(server.sessions),
        "closed_kept": len(server.closed_sessions),
        "connections": server.connection_attempts,
        "faults": len(list(server.faults)),
    }


# The churn child


class Churn:
    """``workers`` loops of connect, subscribe, read, leave."""

    def __init__(self, port: int, workers: int, seed: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/v1"
        self.workers = workers
        self.rng = random.Random(seed)
        self.connections = 0
        self.frames = 0
        self.errors: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def stop(self) -> Result:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return {"connections": self.connections, "frames": self.frames, "errors": self.errors}

    async def _worker(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self._one_connection(http)
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                    name = type(exc).__name__
                    self.errors[name] = self.errors.get(name, 0) + 1

    async def _one_connection(self, http: aiohttp.ClientSession) -> None:
        rng = self.rng
        ws = await http.ws_connect(self.url, compress=rng.choice([0, 15]), autoping=True)
        self.connections += 1
        try:
            request_id = 0
            channels = rng.sample(CHANNELS, rng.randint(1, 3))
            if rng.random() < 0.5:
                from mockserver.tokens import mint

                request_id += 1
                await ws.send_json(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "method": "auth",
                        "params": {"bearer": mint(rng.choice(ACCOUNTS))},
                    }
                )
                channels.append(rng.choice(PRIVATE))
            for channel in channels:
                request_id += 1
                await ws.send_json(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "method": "subscribe",
                        "params": {"channel": channel},
                    }
                )
            await self._read_for(ws, rng.uniform(0.05, 0.3))
            await self._leave(ws, rng.choice(["close", "unsubscribe", "abort", "silent"]), channels)
        finally:
            if not ws.closed:
                await ws.close()

    async def _read_for(self, ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await ws.receive(timeout=left)
            except asyncio.TimeoutError:
                return
            if message.type is not aiohttp.WSMsgType.TEXT:
                return  # closed by a fault, or by the server
            self.frames += 1

    async def _leave(
        self, ws: aiohttp.ClientWebSocketResponse, how: str, channels: list[str]
    ) -> None:
        if how == "unsubscribe":
            await ws.send_json(
                {
                    "jsonrpc": "2.0",
                    "id": "u",
                    "method": "unsubscribe",
                    "params": {"channel": channels[0]},
                }
            )
        elif how == "abort":
            transport = ws.get_extra_info("transport")
            if transport is not None:
                transport.abort()
        elif how == "silent":
            # Stop reading: aiohttp answers pings only inside receive(), so no pong
            # goes back and the server's deadline (1 s after a ping) drops it.
            await asyncio.sleep(1.5)


async def churn(args: argparse.Namespace) -> None:
    affinity = pin_cpu(1)
    state = Churn(args.port, args.workers, args.seed)

    async def start(command: dict[str, Any]) -> Result:
        state.start()
        return {"started": state.workers}

    async def stop(command: dict[str, Any]) -> Result:
        return await state.stop()

    await serve_commands({"affinity": affinity}, {"start": start, "finish": stop})


# The orchestrator


async def soak(args: argparse.Namespace) -> Result:
    here = [sys.executable, "-m", "bench.soak"]
    server = await Child.start("server", [*here, "server", "--seed", str(args.seed)])
    port = server.ready["port"]
    clients = await Child.start(
        "churn",
        [*here, "churn", "--port", str(port), "--workers", str(args.workers), "--seed", "7"],
    )
    samples: list[Result] = []
    try:
        await clients.request({"op": "start"})
        started = time.monotonic()
        await asyncio.sleep(args.warmup)  # the soak's own timing, not a readiness wait
        samples.append(
            {"at_s": time.monotonic() - started, **await server.request({"op": "stats"})}
        )
        end = started + args.seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(args.every, left))
            sample = await server.request({"op": "stats"})
            samples.append({"at_s": time.monotonic() - started, **sample})
            print(_line(samples[-1]), flush=True)
        churned = await clients.request({"op": "finish"}, 60)
        final = await server.request({"op": "settle", "timeout_s": 30}, 60)
        samples.append({"at_s": time.monotonic() - started, "settled": True, **final})
    finally:
        await clients.stop()
        await server.stop()
    return {"seconds": args.seconds, "workers": args.workers, "churn": churned, "samples": samples}


def _line(sample: Result) -> str:
    return (
        f"{sample['at_s']:7.1f} s  fds {sample['fds']:5d}  tasks {sample['tasks']:5d}  "
        f"rss {sample['rss_bytes'] / 2**20:6.1f} MiB  sessions {sample['sessions']:4d}  "
        f"connections so far {sample['connections']}"
    )


def report(result: Result) -> str:
    baseline, settled = result["samples"][0], result["samples"][-1]
    peak = max(result["samples"], key=lambda s: s["rss_bytes"])
    churned = result["churn"]
    lines = [
        f"soak: {result['seconds']:g} s of churn by {result['workers']} workers, faults on; "
        f"{churned['connections']} connections, {churned['frames']} frames read, "
        f"client-side errors {churned['errors'] or 'none'}",
        f"{'':12}{'fds':>8}{'tasks':>8}{'RSS MiB':>10}{'sessions':>10}",
    ]
    for label, sample in (("baseline", baseline), ("peak RSS", peak), ("end", settled)):
        lines.append(
            f"{label:12}{sample['fds']:8d}{sample['tasks']:8d}"
            f"{sample['rss_bytes'] / 2**20:10.1f}{sample['sessions']:10d}"
        )
    lines.append(f"(baseline after {baseline['at_s']:.0f} s of warm-up; end: every session closed)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("role", nargs="?", choices=("server", "churn"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to churn")
    parser.add_argument("--workers", type=int, default=40, help="concurrent connection loops")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before the baseline")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write every sample to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.role == "server":
        asyncio.run(serve(args))
    elif args.role == "churn":
        asyncio.run(churn(args))
    else:
        result = asyncio.run(soak(args))
        print(report(result))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
