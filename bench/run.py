"""The orchestration: which processes run, which rows are measured, and how.

One client process (pinned to CPU 1) is reused for every row; each server (the
bare ceiling and the mock, pinned to CPU 0) is its own process. For each row the
clients connect and subscribe, then for each run the orchestrator tells the
clients how many frames to expect, the server to publish, and collects both
results. Nothing waits by sleeping: every step is a command and its answer.

A row's throughput is frames received by all clients / (last receive - first
publish), both ``time.monotonic_ns()`` readings of the same system clock.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from bench import payloads, readiness
from bench.pipes import Child
from bench.stats import summary

SERVER_CPU = 0
CLIENT_CPU = 1
RUN_TIMEOUT_S = 180.0


def core_busy_s(cores: tuple[int, ...] = (SERVER_CPU, CLIENT_CPU)) -> tuple[float, float]:
    """Seconds ``cores`` have spent since boot (``/proc/stat``): in processes (user,
    nice, system, steal), and in interrupts (irq, softirq: loopback TCP is mostly
    softirq time, which no process is charged for)."""
    tick = os.sysconf("SC_CLK_TCK")
    processes = interrupts = 0
    with open("/proc/stat") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                processes += user + nice + system + steal
                interrupts += irq + softirq
    return processes / tick, interrupts / tick


@dataclass(frozen=True)
class Settings:
    """What to measure and how much; ``FULL`` and ``SMOKE`` below."""

    clients: tuple[int, ...] = (1, 10, 100, 1000)
    several_channels: int = 9  # "several channels": one per group of clients
    deliveries: int = 200_000  # per run: messages per client = deliveries / clients
    min_messages: int = 200
    replay_messages: int = 100_000
    keepalive_s: float = 6.0  # the keepalive row's run, at the measured rate
    ping_interval_s: float = 1.0  # the mock's, under load
    idle_connections: int = 10_000
    idle_ping_interval_s: float = 55.0  # Paradex's: idle connections idle
    deflate_clients: int = 100
    ready_repeats: int = 20
    serve_repeats: int = 5
    paced: bool = True  # also a run at half the bare ceiling's rate, for latency
    paced_s: float = 2.0  # how long a paced run lasts (at least 20 messages)
    sample_every: int = 1


FULL = Settings()
SMOKE = Settings(
    clients=(1, 3),
    several_channels=3,
    deliveries=600,
    min_messages=200,
    replay_messages=500,
    keepalive_s=1.0,
    ping_interval_s=0.05,  # pings even in a short run
    idle_connections=50,
    deflate_clients=3,
    ready_repeats=3,
    serve_repeats=1,
    paced_s=0.2,
)


@dataclass
class Run:
    """One publish and what the clients saw of it."""

    deliveries_per_s: float
    frames: int
    expected: int
    seconds: float
    server_cpu_us_per_delivery: float
    server_cpu_share: float  # of one core, over the run
    client_cpu_share: float
    latency_ms: dict[str, float]
    dropped: int
    rate: float | None = None  # paced: messages per second per channel offered
    # Per second of the run, on the two pinned cores: time in processes other than
    # the server and the client (other work on the machine), and in interrupts.
    other_cpu_share: float = 0.0
    interrupt_cpu_share: float = 0.0

    @classmethod
    def from_results(
        cls,
        published: dict[str, Any],
        got: dict[str, Any],
        rate: float | None,
        core_busy_s: tuple[float, float],
        wall_s: float,
    ) -> Run:
        frames = got["frames"]
        seconds = max(1e-9, (got["last_receive_ns"] - published["first_publish_ns"]) / 1e9)
        ours = published["cpu_s"] + got["client_cpu_s"]
        return cls(
            other_cpu_share=max(0.0, core_busy_s[0] - ours) / wall_s,
            interrupt_cpu_share=core_busy_s[1] / wall_s,
            deliveries_per_s=frames / seconds if frames else 0.0,
            frames=frames,
            expected=got["expected"],
            seconds=seconds,
            server_cpu_us_per_delivery=published["cpu_s"] * 1e6 / max(1, frames),
            server_cpu_share=published["cpu_s"] / seconds,
            client_cpu_share=got["client_cpu_s"] / seconds,
            latency_ms=got["latency_ms"],
            dropped=got["dropped"],
            rate=rate,
        )


@dataclass
class Row:
    """One line of the table: the same load on the bare server and on the mock."""

    name: str
    clients: int
    channels: int
    bare: Run | None = None
    mock: Run | None = None
    bare_paced: Run | None = None
    mock_paced: Run | None = None

    @property
    def ratio(self) -> float | None:
        if self.bare is None or self.mock is None or not self.bare.deliveries_per_s:
            return None
        return self.mock.deliveries_per_s / self.bare.deliveries_per_s


class Bench:
    """The processes of one bench run and the measurements over them."""

    def __init__(self, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self.clients: Child | None = None

    async def child(self, name: str, module: str, *args: str, cpu: int) -> Child:
        """Start ``python -m module args`` pinned to ``cpu``; stopped when the run ends."""
        argv = [sys.executable, "-m", module, "--cpu", str(cpu), *args]
        started = await Child.start(name, argv)
        self._stack.push_async_callback(started.stop)
        return started

    async def server(self, kind: str, *args: str) -> Child:
        return await self.child(kind, "bench.servers", kind, *args, cpu=SERVER_CPU)

    async def start_clients(self) -> Child:
        self.clients = await self.child(
            "clients",
            "bench.clients",
            "--sample-every",
            str(self.settings.sample_every),
            cpu=CLIENT_CPU,
        )
        return self.clients

    @contextlib.asynccontextmanager
    async def connected(
        self, server: Child, n: int, channels: list[str], *, deflate: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """``n`` clients of ``server`` subscribed over ``channels``, closed afterwards."""
        assert self.clients is not None
        connected = await self.clients.request(
            {
                "op": "connect",
                "port": server.ready["port"],
                "n": n,
                "channels": channels,
                "deflate": deflate,
                "ping_interval_s": self.settings.ping_interval_s,
            },
            RUN_TIMEOUT_S,
        )
        try:
            yield connected
        finally:
            await self.clients.request({"op": "close"}, RUN_TIMEOUT_S)

    async def publish(
        self, server: Child, op: str, channels: list[str], messages: int, rate: float | None = None
    ) -> Run:
        """One run on connected clients: each gets ``messages`` frames per channel round."""
        assert self.clients is not None
        await self.clients.request({"op": "expect", "per_client": messages})
        await self.clients.send({"op": "wait", "timeout_s": RUN_TIMEOUT_S})
        command = {"op": op, "channels": channels, "messages": messages, "rate": rate}
        before, started = core_busy_s(), time.monotonic()
        published = await server.request(command, RUN_TIMEOUT_S)
        got = await self.clients.result(RUN_TIMEOUT_S)
        after, wall_s = core_busy_s(), time.monotonic() - started
        busy = (after[0] - before[0], after[1] - before[1])
        return Run.from_results(published, got, rate, busy, wall_s)

    def messages_for(self, clients: int) -> int:
        return max(self.settings.min_messages, self.settings.deliveries // clients)


async def fanout_rows(bench: Bench, bare: Child, mock: Child) -> tuple[list[Row], dict[str, Any]]:
    """Every fan-out row (bare then mock on the same load), and the keepalive rows
    measured during the largest one-channel fan-out of the mock: saturated, and
    paced at half the rate the mock reached."""
    settings = bench.settings
    rows, keepalive = [], {}
    for clients in settings.clients:
        for count in sorted({1, min(settings.several_channels, clients)}):
            row = Row(f"fan-out, {count} ch", clients, count)
            for kind, server in (("bare", bare), ("mock", mock)):
                async with bench.connected(server, clients, payloads.channels(count)):
                    await fanout_runs(bench, server, kind, row)
                    if kind == "mock" and count == 1 and clients == max(settings.clients):
                        assert row.mock is not None
                        keepalive = {
                            "saturated": await keepalive_run(bench, mock, clients, row.mock),
                            "paced": await keepalive_run(
                                bench, mock, clients, row.mock, paced=True
                            ),
                        }
            rows.append(row)
    return rows, keepalive


async def fanout_runs(bench: Bench, server: Child, kind: str, row: Row) -> None:
    """On connected clients: the saturated run, then the paced one at half the rate
    the bare server reached (measured first)."""
    channels = payloads.channels(row.channels)
    messages = bench.messages_for(row.clients)
    setattr(row, kind, await bench.publish(server, "fanout", channels, messages))
    if bench.settings.paced and row.bare is not None:
        rate = row.bare.deliveries_per_s / 2 / row.clients
        paced_messages = max(20, min(messages, int(rate * bench.settings.paced_s)))
        paced = await bench.publish(server, "fanout", channels, paced_messages, rate)
        setattr(row, f"{kind}_paced", paced)


async def keepalive_run(
    bench: Bench, mock: Child, clients: int, measured: Run, *, paced: bool = False
) -> dict[str, Any]:
    """A full fan-out of ``keepalive_s`` at the rate just measured (``paced``: at half
    of it): how late the pings went out (server side) and arrived (client side),
    pongs, drops.

    Saturated, every socket buffer between the two processes is full, so a ping
    arrives behind them (TCP keeps order): the client-side figure is then the
    queueing any server would add, and the paced run shows the mock's own.
    """
    assert bench.clients is not None
    channels = payloads.channels(1)
    messages = max(1, int(measured.deliveries_per_s * bench.settings.keepalive_s / clients))
    rate = measured.deliveries_per_s / 2 / clients if paced else None
    if rate is not None:
        messages //= 2
    await mock.request({"op": "mark"})
    run = await bench.publish(mock, "fanout", channels, messages, rate)
    server_side = await mock.request({"op": "keepalive"})
    client_side = await bench.clients.request({"op": "pings"})
    return {
        "clients": clients,
        "paced": paced,
        "seconds": run.seconds,
        "deliveries_per_s": run.deliveries_per_s,
        "ping_interval_s": bench.settings.ping_interval_s,
        "server_lateness_s": summary(server_side["ping_lateness_s"]),
        "client_lateness_s": client_side["lateness_s"],
        "round_trip_s": summary(server_side["round_trips_s"]),
        "server_cpu_share": run.server_cpu_share,
        "client_cpu_share": run.client_cpu_share,
        "pings_sent": server_side["pings_sent"],
        "pongs_received": server_side["pongs_received"],
        "pings_received_by_clients": client_side["pings"],
        "close_codes": server_side["close_codes"],
        "dropped": run.dropped + sum(server_side["close_codes"].values()),
    }


async def replay_row(bench: Bench, bare: Child, mock: Child) -> Row:
    """Pre-encoded payloads (``hub.publish_encoded``) to one client at full speed."""
    channels = payloads.channels(1)
    row = Row("replay, 1 client", 1, 1)
    for kind, server in (("bare", bare), ("mock", mock)):
        async with bench.connected(server, 1, channels):
            run = await bench.publish(server, "replay", channels, bench.settings.replay_messages)
            setattr(row, kind, run)
    return row


async def deflate_row(bench: Bench, mock: Child) -> dict[str, Any]:
    """permessage-deflate's cost: clients offering it, the mock accepting or not."""
    plain = await bench.server("mock", "--no-compression")
    n = bench.settings.deflate_clients
    channels = payloads.channels(1)
    result: dict[str, Any] = {"clients": n}
    for label, server in (("on", mock), ("off", plain)):
        async with bench.connected(server, n, channels, deflate=True) as connected:
            run = await bench.publish(server, "fanout", channels, bench.messages_for(n))
        result[label] = {**asdict(run), "negotiated": connected["deflate"]}
    on, off = result["on"], result["off"]
    result["extra_cpu_us_per_delivery"] = (
        on["server_cpu_us_per_delivery"] - off["server_cpu_us_per_delivery"]
    )
    result["throughput_ratio_on_off"] = on["deliveries_per_s"] / max(1e-9, off["deliveries_per_s"])
    return result


async def memory_rows(bench: Bench) -> dict[str, Any]:
    """Server RSS before any connection and with N idle subscribed connections."""
    n = bench.settings.idle_connections
    channels = payloads.channels(bench.settings.several_channels)
    result: dict[str, Any] = {"connections": n}
    for kind, args in (
        ("mock", ("--ping-interval", str(bench.settings.idle_ping_interval_s))),
        ("bare", ()),
    ):
        server = await bench.server(kind, *args)
        before = (await server.request({"op": "rss"}))["rss_bytes"]
        async with bench.connected(server, n, channels) as connected:
            after = (await server.request({"op": "rss"}))["rss_bytes"]
        result[kind] = {
            "rss_before_bytes": before,
            "rss_after_bytes": after,
            "kib_per_connection": (after - before) / n / 1024,
            "connect_seconds": connected["seconds"],
        }
        await server.stop()
    return result


def ready_rows(settings: Settings) -> dict[str, Any]:
    return {
        "in_process": readiness.in_process(repeats=settings.ready_repeats, cpu=SERVER_CPU),
        "serve": readiness.serve(repeats=settings.serve_repeats, cpu=SERVER_CPU),
    }


def header(bench: Bench, servers: list[Child]) -> dict[str, Any]:
    assert bench.clients is not None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews every figure: this says whether there was any.
        "loadavg_at_start": os.getloadavg(),
        "server_affinity": servers[0].affinity,
        "client_affinity": bench.clients.affinity,
        "client_loop": bench.clients.ready.get("loop"),
        "settings": asdict(bench.settings),
    }


async def run(settings: Settings) -> dict[str, Any]:
    """Every measurement; the result is what ``--json`` writes."""
    async with contextlib.AsyncExitStack() as stack:
        bench = Bench(settings, stack)
        await bench.start_clients()
        bare = await bench.server("bare")
        mock = await bench.server("mock", "--ping-interval", str(settings.ping_interval_s))
        started = time.monotonic()
        result: dict[str, Any] = {"header": header(bench, [bare, mock])}
        rows, result["keepalive"] = await fanout_rows(bench, bare, mock)
        rows.append(await replay_row(bench, bare, mock))
        result["throughput"] = [{**asdict(row), "ratio": row.ratio} for row in rows]
        result["deflate"] = await deflate_row(bench, mock)
        await bare.stop()
        await mock.stop()
        result["memory"] = await memory_rows(bench)
        result["ready"] = ready_rows(settings)
        result["header"]["seconds"] = time.monotonic() - started
        result["header"]["loadavg_at_end"] = os.getloadavg()
        return result
