"""The orchestrator talks to its children over JSON lines, never by sleeping.

A child (``bench.servers``, ``bench.clients``) pins itself to one CPU, prints a
ready line (``{"ready": true, ...}``), then answers each command line read on
stdin with exactly one result line on stdout, in order. A failed command answers
``{"error": "..."}``, which the parent raises as ``ChildError``.

Parent side: ``Child``. Child side: ``pin_cpu`` and ``serve_commands``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

Result = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Result]]

# Bounds on every wait: a broken run fails instead of hanging.
READY_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 5.0
# A child's line can be large (every session's ping lateness): asyncio's default is 64 KiB.
LINE_LIMIT = 64 * 1024 * 1024


class ChildError(RuntimeError):
    """A child answered a command with an error, exited, or did not answer in time."""


def pin_cpu(cpu: int | None) -> list[int]:
    """Pin this process to ``cpu`` (if the machine has it); return the affinity now."""
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    return sorted(os.sched_getaffinity(0))


def emit(line: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def serve_commands(ready: Result, handlers: Mapping[str, Handler]) -> None:
    """Print ``ready``, then run each stdin command through ``handlers[cmd["op"]]``
    until ``{"op": "stop"}`` or EOF (the parent went away)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit({"ready": True, "pid": os.getpid(), **ready})
    while line := await reader.readline():
        command = json.loads(line)
        op = command.get("op")
        if op == "stop":
            emit({"stopped": True})
            return
        handler = handlers.get(op)
        try:
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            emit(await handler(command))
        except Exception as exc:  # reported to the parent, which raises it
            traceback.print_exc()
            emit({"error": f"{op}: {exc!r}"})


class Child:
    """A child process of the bench, spoken to in JSON lines."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, ready: Result) -> None:
        self.name = name
        self.proc = proc
        self.ready = ready

    @classmethod
    async def start(cls, name: str, argv: Sequence[str]) -> Child:
        """Spawn ``argv`` and return once it printed its ready line."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        child = cls(name, proc, {})
        try:
            child.ready = await child._read(READY_TIMEOUT_S)
        except BaseException:
            await child.kill()
            raise
        return child

    @property
    def affinity(self) -> list[int]:
        return list(self.ready.get("affinity", []))

    async def send(self, command: Mapping[str, Any]) -> None:
        """Write one command without waiting for its result (see ``result``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()

    async def result(self, timeout_s: float) -> Result:
        """The result of the oldest command not yet answered."""
        return await self._read(timeout_s)

    async def request(self, command: Mapping[str, Any], timeout_s: float = 60.0) -> Result:
        await self.send(command)
        return await self.result(timeout_s)

    async def _read(self, timeout_s: float) -> Result:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        except asyncio.TimeoutError:
            raise ChildError(f"{self.name}: no answer within {timeout_s:g}s") from None
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
            raise ChildError(f"{self.name}: exited with {code}")
        result: Result = json.loads(line)
        if "error" in result:
            raise ChildError(f"{self.name}: {result['error']}")
        return result

    async def stop(self) -> None:
        """Ask the child to stop; kill it if it does not exit in time."""
        if self.proc.returncode is None:
            try:
                await self.request({"op": "stop"}, EXIT_TIMEOUT_S)
                await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
            except (ChildError, asyncio.TimeoutError, ConnectionError):
                pass
        await self.kill()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
