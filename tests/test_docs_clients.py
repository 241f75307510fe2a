"""Paradex's own client examples, run verbatim against the mock: websocket-client and wscat.

The examples below are quoted exactly as Paradex publishes them. Each runs as a
real subprocess against the test's server with only its URL changed (and, where
the page says "Replace the placeholder JWT token with your actual token", the
JWT): the Python ones with the suite's interpreter (websocket-client is a test
dependency), the wscat one through ``bash -c`` with the wscat that ``.ci/run``
installs into ``.ci/node``.

- https://docs.paradex.trade/ws/general-information/code-examples: "Establishing
  a Connection" (also the introduction's "Example in Python"; a newer rendering of
  that page shows paradex-py there instead), "Authenticating a Connection",
  "Subscribing to a Channel", "Unsubscribing from a Channel", "Complete Example".
- https://docs.paradex.trade/ws/general-information/introduction, "Maintaining a
  Connection": the wscat command "To display incoming ping messages".

Both are fern/pages/websockets/{code-examples,introduction}.mdx in
tradeparadex/paradex-docs @9b82a75a; the quotes are those code blocks byte for byte.

``tests/test_websocket_client.py`` drives the same library in-process (the
example's callbacks, publishing, fast pings); this file runs the pages' code as is.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from paradex_spec import payload_refs, problems, validator
from test_readme import FENCE, readme, section

from mockserver.errors import MalformedToken, NotSubscribed, RpcError
from mockserver.server import MockServer

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 5.0

# What the pages point at, and the one thing a user changes in them.
DOCS_URL = "wss://ws.api.testnet.paradex.trade/v1"
DOCS_JWT = "JWcgwMbK0bx1uFFef0Lri35ZDwypmCG0isuBv"  # the pages' placeholder, not a JWT
# Where the README's recipes point: `paradex-mock serve` or `docker run -p 8080:8080`.
README_URL = "ws://127.0.0.1:8080/v1"

# code-examples: "Establishing a Connection" (and the introduction's "Example in Python").
CONNECT_EXAMPLE = """\
import websocket
import json

websocket_url = "wss://ws.api.testnet.paradex.trade/v1"

# Define a callback to check connection success
def on_open(ws):
    print('Connected')

# Connect to the WebSocket server
ws = websocket.WebSocketApp(websocket_url, on_open=on_open)

# Wait for a response
ws.run_forever()
"""

# code-examples: "Authenticating a Connection".
AUTH_EXAMPLE = """\
import websocket
import json

websocket_url = "wss://ws.api.testnet.paradex.trade/v1"

# Define the message to send
message = {
  "jsonrpc": "2.0",
  "method": "auth",
  "params": {
    "bearer": "JWcgwMbK0bx1uFFef0Lri35ZDwypmCG0isuBv"
  },
  "id": 0
}

# Define a callback to check connection success
def on_open(ws):
    # Send the message
    ws.send(json.dumps(message))

# Define a callback to handle the response
def on_message(ws, message):
    response = json.loads(message)
    print(response)

# Connect to the WebSocket server
ws = websocket.WebSocketApp(websocket_url, on_open=on_open, on_message=on_message)

# Wait for a response
ws.run_forever()
"""

# code-examples: "Subscribing to a Channel" (and, with "unsubscribe" and id 2,
# "Unsubscribing from a Channel": the two differ in nothing else).
SUBSCRIBE_EXAMPLE = """\
import websocket
import json

websocket_url = "wss://ws.api.testnet.paradex.trade/v1"

# Define the message to send
auth = {
  "jsonrpc": "2.0",
  "method": "auth",
  "params": {
    "bearer": "JWcgwMbK0bx1uFFef0Lri35ZDwypmCG0isuBv"
  },
  "id": 0
}
message = {
  "jsonrpc": "2.0",
  "method": "subscribe",
  "params": {
    "channel": "trades.ETH-USD-PERP"
  },
  "id": 1
}

# Define a callback to check connection success
def on_open(ws):
    # Auth first
    ws.send(json.dumps(auth))
    # Send the message
    ws.send(json.dumps(message))

# Define a callback to handle the response
def on_message(ws, message):
    response = json.loads(message)
    print(response)

# Connect to the WebSocket server
ws = websocket.WebSocketApp(websocket_url, on_open=on_open, on_message=on_message)

# Wait for a response
ws.run_forever()
"""
UNSUBSCRIBE_EXAMPLE = SUBSCRIBE_EXAMPLE.replace(
    '"method": "subscribe"', '"method": "unsubscribe"'
).replace('  "id": 1\n}', '  "id": 2\n}')

# code-examples: "Complete Example: Authentication, Subscription, and Message Handling".
COMPLETE_EXAMPLE = """\
import websocket
import json
import time

# WebSocket URL
websocket_url = "wss://ws.api.testnet.paradex.trade/v1"

# Your JWT token
jwt_token = "JWcgwMbK0bx1uFFef0Lri35ZDwypmCG0isuBv"

# Message ID counter
message_id = 0

# Get next message ID
def get_next_id():
    global message_id
    message_id += 1
    return message_id

# Connection opened callback
def on_open(ws):
    print("Connection established")
    \n\
    # Authenticate
    auth_message = {
        "jsonrpc": "2.0",
        "method": "auth",
        "params": {
            "bearer": jwt_token
        },
        "id": get_next_id()
    }
    ws.send(json.dumps(auth_message))

# Message received callback
def on_message(ws, message):
    data = json.loads(message)
    print(f"Received: {data}")
    \n\
    # Check if this is an authentication response
    if "result" in data and data.get("id") == 1:
        print("Authentication successful, subscribing to channel")
        \n\
        # Subscribe to trades channel
        subscribe_message = {
            "jsonrpc": "2.0",
            "method": "subscribe",
            "params": {
                "channel": "trades.ETH-USD-PERP"
            },
            "id": get_next_id()
        }
        ws.send(json.dumps(subscribe_message))

# Error callback
def on_error(ws, error):
    print(f"Error: {error}")

# Close callback
def on_close(ws, close_status_code, close_msg):
    print(f"Connection closed: {close_status_code} - {close_msg}")

# Create WebSocket connection
ws = websocket.WebSocketApp(
    websocket_url,
    on_open=on_open,
    on_message=on_message,
    on_error=on_error,
    on_close=on_close
)

# Start WebSocket connection
ws.run_forever()
"""

# introduction: "To display incoming ping messages, you can use the following wscat command".
WSCAT_COMMAND = (
    "wscat -P -w 120 -c wss://ws.api.testnet.paradex.trade/v1 -x "
    """'{"id":1,"jsonrpc":"2.0","method":"subscribe","params":{"channel":"markets_summary"}}'"""
    ' | grep "ping"'
)
# What wscat 6 prints for a ping when its stdout is a pipe (here: grep), as in a terminal.
WSCAT_PING_LINE = 'Received ping (data: "")'
WSCAT_VERSION = "6.1.0"  # pinned in .ci/run; needs Node.js >= 18
WSCAT_INSTALL = (
    f"npm install --prefix .ci/node --no-save --no-audit --no-fund wscat@{WSCAT_VERSION}"
)

TRADES = "trades.ETH-USD-PERP"


def pointed_at(source: str, url: str, *, jwt: str | None = None) -> str:
    """``source`` with the docs' URL (and, given ``jwt``, the placeholder JWT) replaced."""
    assert source.count(DOCS_URL) == 1, "the quoted example names Paradex's URL once"
    source = source.replace(DOCS_URL, url)
    if jwt is not None:
        assert source.count(DOCS_JWT) == 1, "the quoted example holds the placeholder JWT once"
        source = source.replace(DOCS_JWT, jwt)
    return source


class Printing:
    """A client subprocess and what it prints, line by line (bounded waits)."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.proc = proc
        self.stderr_path = stderr_path
        self.lines: list[str] = []

    def _context(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace")
        return f"printed so far: {self.lines}; stderr:\n{stderr}"

    async def line(self) -> str:
        """The next line it prints."""
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(
                f"nothing printed within {TIMEOUT_S}s; {self._context()}"
            ) from None
        if not raw:
            code = await asyncio.wait_for(self.proc.wait(), TIMEOUT_S)
            raise AssertionError(f"exited with {code}; {self._context()}")
        self.lines.append(raw.decode().rstrip("\n"))
        return self.lines[-1]

    async def reply(self, prefix: str = "") -> dict[str, Any]:
        """The next line, a printed dict (after ``prefix``), parsed."""
        line = await self.line()
        assert line.startswith(prefix), f"expected {prefix!r}..., got {line!r}"
        value = ast.literal_eval(line[len(prefix) :])
        assert isinstance(value, dict), line
        return value

    async def rest(self) -> str:
        """Everything it prints from here until it exits (bounded)."""
        assert self.proc.stdout is not None
        try:
            data = await asyncio.wait_for(self.proc.stdout.read(), TIMEOUT_S)
            await asyncio.wait_for(self.proc.wait(), TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"still running after {TIMEOUT_S}s; {self._context()}") from None
        return data.decode()

    def kill(self) -> None:
        """Kill it and whatever it started (it leads its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class Spawner:
    """Starts client subprocesses for one test; kills any left running at its end."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._started: list[Printing] = []

    async def __call__(
        self, argv: Sequence[str], *, env: Mapping[str, str], terminal_stdin: bool = False
    ) -> Printing:
        """Start ``argv``; ``terminal_stdin``: a stdin that stays open, as a terminal's does."""
        n = len(self._started)
        stderr_path = self._tmp_path / f"client-{n}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                # A pipe never written to nor closed: no EOF until the test ends.
                stdin=asyncio.subprocess.PIPE if terminal_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=dict(env),
                start_new_session=True,
            )
        self._started.append(Printing(proc, stderr_path))
        return self._started[-1]

    async def python(self, source: str) -> Printing:
        """Run ``source`` as a script, unbuffered, as ``python example.py`` would in a terminal."""
        script = self._tmp_path / f"example_{len(self._started)}.py"
        script.write_text(source)
        return await self(
            [sys.executable, str(script)], env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )

    async def close(self) -> None:
        for printing in self._started:
            if printing.proc.returncode is None:
                printing.kill()
                await asyncio.wait_for(printing.proc.wait(), TIMEOUT_S)
            if printing.proc.stdin is not None:
                printing.proc.stdin.close()


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawner]:
    """Starts client subprocesses; kills any the test leaves running."""
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        await spawner.close()


def assert_error(reply: dict[str, Any], error: type[RpcError], request_id: int) -> None:
    """``reply`` is the mock's JSON-RPC error ``error`` for request ``request_id``."""
    assert reply["id"] == request_id
    assert reply["error"]["code"] == error.code
    assert reply["error"]["message"] == error.message


def assert_auth_ok(reply: dict[str, Any], request_id: int) -> None:
    assert reply["id"] == request_id
    assert set(reply["result"]) == {"node_id"}, reply


def assert_eth_trade(notification: dict[str, Any]) -> None:
    """A ``trades.ETH-USD-PERP`` notification whose data is Paradex's trade schema."""
    assert notification["method"] == "subscription"
    assert "id" not in notification
    assert notification["params"]["channel"] == TRADES
    trade = notification["params"]["data"]
    assert trade["market"] == "ETH-USD-PERP"
    assert problems(validator(payload_refs()["trades"]), trade) == []


# websocket-client


@pytest.mark.paradex_mock(ping_interval_s=0.02)
async def test_connection_example_prints_connected(
    paradex_mock: MockServer, spawn: Spawner
) -> None:
    """The docs' connection example prints Connected, holds the socket, and prints nothing else."""
    client = await spawn.python(pointed_at(CONNECT_EXAMPLE, paradex_mock.ws_url))
    assert await client.line() == "Connected"

    def answered_three_pings() -> bool:
        return any(s.keepalive.stats.pongs_received >= 3 for s in paradex_mock.sessions.values())

    # run_forever() holds the connection, websocket-client answering the pings itself.
    await paradex_mock.wait_for(answered_three_pings, timeout=TIMEOUT_S)
    [session] = paradex_mock.sessions.values()
    assert not session.closed
    assert paradex_mock.requests() == []
    client.kill()
    assert await client.rest() == ""


@pytest.mark.parametrize("minted", [False, True], ids=["docs-placeholder", "minted-jwt"])
async def test_auth_example_prints_the_auth_reply(
    paradex_mock: MockServer, spawn: Spawner, minted: bool
) -> None:
    """The auth example prints the reply: 40110 for the docs' placeholder, node_id for a JWT."""
    jwt = paradex_mock.token() if minted else None
    client = await spawn.python(pointed_at(AUTH_EXAMPLE, paradex_mock.ws_url, jwt=jwt))
    reply = await client.reply()
    if minted:
        assert_auth_ok(reply, 0)
    else:
        # The placeholder has no dots: not a JWT at all.
        assert_error(reply, MalformedToken, 0)
    assert [r["params"]["bearer"] for r in paradex_mock.requests("auth")] == [jwt or DOCS_JWT]


async def test_subscribe_example_prints_ack_then_trades(
    paradex_mock: MockServer, spawn: Spawner
) -> None:
    """The subscribe example prints the auth reply, the ack, then the synthetic market's trades."""
    source = pointed_at(SUBSCRIBE_EXAMPLE, paradex_mock.ws_url, jwt=paradex_mock.token())
    client = await spawn.python(source)
    assert_auth_ok(await client.reply(), 0)
    ack = await client.reply()
    assert ack["id"] == 1
    assert ack["result"] == {"channel": TRADES}
    assert {"usIn", "usDiff", "usOut"} <= set(ack)
    assert_eth_trade(await client.reply())


async def test_unsubscribe_example_prints_not_subscribed(
    paradex_mock: MockServer, spawn: Spawner
) -> None:
    """The unsubscribe example on a fresh connection prints auth ok, then not-subscribed."""
    source = pointed_at(UNSUBSCRIBE_EXAMPLE, paradex_mock.ws_url, jwt=paradex_mock.token())
    client = await spawn.python(source)
    assert_auth_ok(await client.reply(), 0)
    # "Unsubscribing from a channel that you are not subscribed to will return an error."
    assert_error(await client.reply(), NotSubscribed, 2)
    assert paradex_mock.requests("unsubscribe")[0]["params"] == {"channel": TRADES}


async def test_complete_example_authenticates_subscribes_and_receives(
    paradex_mock: MockServer, spawn: Spawner
) -> None:
    """The complete example prints its whole script: connection, auth, subscribe, trades."""
    source = pointed_at(COMPLETE_EXAMPLE, paradex_mock.ws_url, jwt=paradex_mock.token())
    client = await spawn.python(source)
    assert await client.line() == "Connection established"
    assert_auth_ok(await client.reply("Received: "), 1)
    assert await client.line() == "Authentication successful, subscribing to channel"
    ack = await client.reply("Received: ")
    assert (ack["id"], ack["result"]) == (2, {"channel": TRADES})
    assert_eth_trade(await client.reply("Received: "))
    # Closed by the server: websocket-client reports any close frame to on_error
    # too, then on_close; the example prints both and run_forever() returns.
    paradex_mock.close_all(code=1012, reason="service restart")
    while (line := await client.line()).startswith("Received: "):
        assert_eth_trade(ast.literal_eval(line.removeprefix("Received: ")))
    assert line.startswith("Error: ")
    assert "1012" in line
    assert await client.line() == "Connection closed: 1012 - service restart"
    assert await client.rest() == ""
    assert client.proc.returncode == 0


# wscat


def wscat_bin_dir() -> Path:
    """The directory of the wscat to run: .ci/run's project-local one, else PATH's."""
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin"
    found = shutil.which("wscat", path=str(local)) or shutil.which("wscat")
    if found is None:
        pytest.fail(
            f"wscat not found in {local} or on PATH. Install it as .ci/run does, from the "
            f"repository root: `{WSCAT_INSTALL}` (needs Node.js >= 18 and npm).",
            pytrace=False,
        )
    if shutil.which("node") is None:
        pytest.fail("wscat needs Node.js (>= 18): install node and npm.", pytrace=False)
    return Path(found).parent


def readme_wscat_command() -> str:
    """The wscat command line of the README's wscat recipe."""
    block = FENCE.search(section(readme(), "### wscat"))
    assert block is not None, "the README's wscat recipe has no code block"
    [line] = [line for line in block["body"].splitlines() if line.startswith("wscat ")]
    return line


def test_readme_wscat_recipe_is_the_docs_command() -> None:
    """The README's wscat line is Paradex's command with only the URL changed."""
    assert readme_wscat_command() == WSCAT_COMMAND.replace(DOCS_URL, README_URL)


def test_ci_installs_the_pinned_wscat() -> None:
    """.ci/run installs the wscat this file pins, into the prefix it looks in."""
    assert WSCAT_INSTALL in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.paradex_mock(ping_interval_s=0.02)
async def test_wscat_command_shows_the_server_pings(
    paradex_mock: MockServer, spawn: Spawner
) -> None:
    """Paradex's wscat command, pointed at the mock, prints one line per server ping."""
    assert DOCS_URL in WSCAT_COMMAND
    command = readme_wscat_command().replace(README_URL, paradex_mock.ws_url)
    env = {**os.environ, "PATH": os.pathsep.join([str(wscat_bin_dir()), os.environ["PATH"]])}
    # wscat quits as soon as its stdin ends (its prompt closes): give it a terminal's.
    client = await spawn(["bash", "-c", command], env=env, terminal_stdin=True)

    def answered_three_pings() -> bool:
        return any(
            s.keepalive.stats.pongs_received >= 3 and s.subscriptions
            for s in paradex_mock.sessions.values()
        )

    await paradex_mock.wait_for(answered_three_pings, timeout=TIMEOUT_S)
    assert [r["params"] for r in paradex_mock.requests("subscribe")] == [
        {"channel": "markets_summary"}
    ]
    # wscat would hold the socket for its -w 120 s, and grep prints once its input
    # ends: a server restart (Paradex's releases close connections) ends both now.
    paradex_mock.close_all()
    out = await client.rest()
    assert client.proc.returncode == 0  # grep's: it matched
    [session] = paradex_mock.all_sessions()
    assert session.close_code == 1012
    pings = session.keepalive.stats.pings_sent
    assert pings >= 3
    assert out.splitlines() == [WSCAT_PING_LINE] * pings
