"""Time to ready, the two ways a user starts the mock.

- *in-process*: in a fresh interpreter pinned to the server's CPU, the time of
  ``await MockServer(config).start()`` (the constructor loads the scenario, so it
  is counted) with the fixture's default config: ``paradex_mock_config``'s, on
  the ``default`` scenario. Cold is the first start in the process (imports
  already done, as pytest has them); warm is the median of the next starts,
  each server stopped before the next.
- *serve*: ``paradex-mock serve --port P`` (the venv's console script) from
  spawn to the first 200 on ``/health``, median of several. Polling is the
  measurement itself here: a new connection every ``POLL_S``.

``python -m bench.readiness inprocess --repeats N`` prints the in-process
figures as one JSON line; the orchestrator calls ``in_process`` and ``serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.pipes import pin_cpu

POLL_S = 0.002
READY_TIMEOUT_S = 20.0
PARADEX_MOCK = str(Path(sys.executable).parent / "paradex-mock")


async def _start_times(repeats: int) -> list[float]:
    from mockserver.config import MockConfig
    from mockserver.pytest_plugin import (
        FIXTURE_CLOSE_TIMEOUT_S,
        FIXTURE_PING_INTERVAL_S,
        FIXTURE_PONG_TIMEOUT_S,
    )
    from mockserver.server import MockServer

    config = MockConfig(
        port=0,
        ping_interval_s=FIXTURE_PING_INTERVAL_S,
        pong_timeout_s=FIXTURE_PONG_TIMEOUT_S,
        close_timeout_s=FIXTURE_CLOSE_TIMEOUT_S,
    )
    times = []
    for _ in range(1 + repeats):
        started = time.perf_counter()
        server = MockServer(config)
        await server.start()
        times.append(time.perf_counter() - started)
        await server.stop()
    return times


def in_process(*, repeats: int, cpu: int | None) -> dict[str, float]:
    """Cold and warm (median of ``repeats``) start times, seconds, in a fresh process."""
    argv = [sys.executable, "-m", "bench.readiness", "inprocess", "--repeats", str(repeats)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def serve_once(cpu: int | None) -> float:
    """Seconds from spawning ``paradex-mock serve`` to its first 200 on /health."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARADEX_MOCK_")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PARADEX_MOCK, "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    try:
        while not _healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"paradex-mock serve exited with {proc.returncode}")
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"no 200 on /health within {READY_TIMEOUT_S}s")
            time.sleep(POLL_S)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def serve(*, repeats: int, cpu: int | None) -> dict[str, float]:
    times = [serve_once(cpu) for _ in range(repeats)]
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.readiness")
    parser.add_argument("what", choices=("inprocess",))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    pin_cpu(args.cpu)
    times = asyncio.run(_start_times(args.repeats))
    warm = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(json.dumps({"cold_s": times[0], "warm_s": warm}))


if __name__ == "__main__":
    main()
