"""The Dockerfile's commands, run verbatim without a Docker engine.

There is no Docker on the test machines, so this reads the Dockerfile and runs
what a container would: the exact ENTRYPOINT (from the venv, found on PATH as
``paradex-mock``) with the image's ENV, except ``PARADEX_MOCK_PORT=0`` so it
picks a free port; then the exact HEALTHCHECK command through ``/bin/sh -c``, as
Docker's CMD-SHELL form runs it; then the STOPSIGNAL.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from serve_process import BIN_DIR, EXIT_TIMEOUT_S, URL_LINE, Processes, clean_env

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RECEIVE_TIMEOUT_S = 5.0
EXIT_WITHIN_S = 1.0


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile, continuation lines joined."""

    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        parsed = cls()
        pending = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):  # Docker drops comments, even mid-instruction
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            logical = (pending + line).strip()
            pending = ""
            keyword, _, rest = logical.partition(" ")
            parsed.instructions.append((keyword.upper(), rest.strip()))
        assert not pending, "the Dockerfile ends inside a continued line"
        return parsed

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"the Dockerfile has no {keyword}"
        return found[-1]

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for rest in self.all("ENV"):
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                assert sep, f"use ENV KEY=VALUE, not {rest!r}"
                env[key] = value
        return env

    @property
    def entrypoint(self) -> list[str]:
        command = json.loads(self.last("ENTRYPOINT"))  # exec form, so `docker run` args append
        assert isinstance(command, list)
        return [str(part) for part in command]

    @property
    def healthcheck_shell_command(self) -> str:
        options, sep, command = self.last("HEALTHCHECK").partition("CMD ")
        assert sep, "HEALTHCHECK needs a CMD"
        assert all(o.startswith("--") for o in options.split()), options
        assert not command.lstrip().startswith("["), "expected the shell form (CMD-SHELL)"
        return command.strip()


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    """The repository's Dockerfile, parsed."""
    return Dockerfile.parse(DOCKERFILE.read_text())


def container_env(dockerfile: Dockerfile, **overrides: str) -> dict[str, str]:
    """The image's ENV on top of this machine's, with the venv first on PATH."""
    env = {**dockerfile.env, **overrides}
    env["PATH"] = os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")])
    return env


async def healthcheck(dockerfile: Dockerfile, port: int) -> int:
    """Run the HEALTHCHECK command as Docker does (``/bin/sh -c``); its exit code."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        dockerfile.healthcheck_shell_command,
        env=clean_env(container_env(dockerfile, PARADEX_MOCK_PORT=str(port))),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_S + 5)


def test_image_shape(dockerfile: Dockerfile) -> None:
    """Slim official base, non-root user, pip install, port 8080 exposed, /scenarios, SIGTERM."""
    assert dockerfile.all("FROM") == ["python:3.12-slim"]
    assert dockerfile.last("USER").split(":")[0] not in ("root", "0")
    assert any("pip install --no-cache-dir ." in run for run in dockerfile.all("RUN"))
    env = dockerfile.env
    assert env["PARADEX_MOCK_PORT"] == "8080"
    assert env["PARADEX_MOCK_SCENARIO_DIR"] == "/scenarios"
    assert dockerfile.last("EXPOSE") == env["PARADEX_MOCK_PORT"]
    assert dockerfile.last("STOPSIGNAL") == "SIGTERM"
    assert dockerfile.entrypoint == ["paradex-mock", "serve", "--host", "0.0.0.0"]
    health = dockerfile.healthcheck_shell_command
    assert "urllib" in health
    assert "curl" not in health  # slim images have none
    assert "${PARADEX_MOCK_PORT}" in health


def test_dockerignore_keeps_what_the_image_copies(dockerfile: Dockerfile) -> None:
    """Every COPY source reaches the build context; the venv and .git do not."""
    patterns = [
        p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and p[0] != "#"
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") for p in patterns)

    sources = [s for copy in dockerfile.all("COPY") for s in shlex.split(copy)[:-1]]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f".dockerignore excludes {source}, which the image copies"
    for path in (".git", ".venv", "tests"):
        assert ignored(path), f".dockerignore should exclude {path}"


async def test_entrypoint_healthcheck_and_stopsignal(
    dockerfile: Dockerfile, processes: Processes
) -> None:
    """The ENTRYPOINT serves, the HEALTHCHECK passes, STOPSIGNAL closes clients with 1001."""
    server = await processes.start(
        dockerfile.entrypoint, env=container_env(dockerfile, PARADEX_MOCK_PORT="0")
    )
    match = URL_LINE.fullmatch(server.url_line)
    assert match is not None, server.url_line
    assert match["host"] == "0.0.0.0"

    assert await healthcheck(dockerfile, server.port) == 0

    async with (
        aiohttp.ClientSession() as http,
        # ccxt's URL: any query string reaches /v1, and the answers are JSON.
        http.ws_connect(server.ws_url + "?sbeSchemaId=1&sbeSchemaVersion=3") as ws,
    ):
        await ws.send_json(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "subscribe",
                "params": {"channel": "bbo.BTC-USD-PERP"},
            }
        )
        reply = await ws.receive_json(timeout=RECEIVE_TIMEOUT_S)
        assert reply["id"] == 1
        assert reply["result"] == {"channel": "bbo.BTC-USD-PERP"}

        async def close_frame() -> aiohttp.WSMessage:
            message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            while message.type is aiohttp.WSMsgType.TEXT:
                message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            return message

        closing = asyncio.create_task(close_frame())
        stop_signal = signal.Signals[dockerfile.last("STOPSIGNAL")]
        exit_code, exit_s = await server.signal_and_wait(stop_signal)
        message = await closing
    assert exit_code == 0, server.stderr()
    assert exit_s < EXIT_WITHIN_S, server.stderr()
    assert message.type is aiohttp.WSMsgType.CLOSE, message
    assert message.data == 1001

    # Once the server is gone the same check fails, so it does check something.
    assert await healthcheck(dockerfile, server.port) != 0
