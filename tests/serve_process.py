"""Run ``paradex-mock serve`` as a real subprocess, the way a user or Docker does.

The URL line on stdout is the readiness signal: ``start`` waits for it (bounded)
and never sleeps. ``Processes`` kills whatever a test leaves running.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The venv's console script sits next to its python.
BIN_DIR = Path(sys.executable).parent
PARADEX_MOCK = str(BIN_DIR / "paradex-mock")
PYTHON_M = (sys.executable, "-m", "mockserver")

# Bounds for every wait on a subprocess: a broken server fails fast instead of hanging.
READY_TIMEOUT_S = 10.0
EXIT_TIMEOUT_S = 5.0
RUN_TIMEOUT_S = 20.0

URL_LINE = re.compile(r"ws://(?P<host>[^\s:]+):(?P<port>\d+)/v1\n")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any PARADEX_MOCK_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARADEX_MOCK_")}
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    """A running ``serve`` subprocess and the URL it printed."""

    proc: asyncio.subprocess.Process
    url_line: str
    stderr_path: Path

    @property
    def port(self) -> int:
        match = URL_LINE.fullmatch(self.url_line)
        assert match is not None, f"not a URL line: {self.url_line!r}"
        return int(match["port"])

    @property
    def http_url(self) -> str:
        """Where a local client reaches it (0.0.0.0 is not an address to connect to)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def signal_and_wait(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``signum``; return the exit code and the seconds it took to exit."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        code = await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
        return code, time.monotonic() - sent

    async def rest_of_stdout(self) -> str:
        """Everything printed on stdout after the URL line (call once it has exited)."""
        assert self.proc.stdout is not None
        data = await asyncio.wait_for(self.proc.stdout.read(), EXIT_TIMEOUT_S)
        return data.decode()


class Processes:
    """Starts ``serve`` subprocesses for one test and kills any left running."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._running: list[asyncio.subprocess.Process] = []

    async def start(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        """Start ``command`` and return once it printed its URL line."""
        stderr_path = self._tmp_path / f"stderr-{len(self._running)}.log"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=clean_env(env),
            )
        self._running.append(proc)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no URL line within {READY_TIMEOUT_S}s; stderr:\n{stderr_path.read_text()}"
            ) from None
        if not line:
            code = await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_S)
            raise AssertionError(
                f"exited with {code} before printing its URL; stderr:\n{stderr_path.read_text()}"
            )
        return ServerProcess(proc, line.decode(), stderr_path)

    async def close(self) -> None:
        """Kill every process still running and reap it."""
        for proc in self._running:
            if proc.returncode is None:
                proc.kill()
                await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_S)
        self._running.clear()
