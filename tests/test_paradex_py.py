"""paradex-py 0.8.2, the official SDK, unmodified, against the mock over real sockets.

paradex-py installs only on Python 3.10 (clients.md §0), so it runs in the venv
`.ci/paradex-py-venv` builds (`.venv-paradex-py/`, or the interpreter named by
``PARADEX_PY_PYTHON``), driven through pipes by tests/clients/paradex_py_driver.py:
a ``ParadexWebsocketClient(env="testnet", ws_url_override=...)`` connects,
authenticates with a JWT through a duck-typed account (clients.md A.1),
subscribes through its own ``ParadexWebsocketChannel`` enum, and every callback
it makes comes back here with the whole frame it parsed. No venv: every test
here fails, saying how to build it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import queue
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
from paradex_spec import payload_refs, problems, validator

from mockserver.config import VIRTUAL_EPOCH_MS
from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.session import Session

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "clients" / "paradex_py_driver.py"
PYTHON_ENV = "PARADEX_PY_PYTHON"
DEFAULT_PYTHON = ROOT / ".venv-paradex-py" / "bin" / "python"
HOW_TO_BUILD = (
    "paradex-py 0.8.2 installs only on Python 3.10: build its venv with `.ci/paradex-py-venv` "
    "(needs a Python 3.10: python3.10 on PATH, pyenv's, or PARADEX_PY_BASE_PYTHON), or set "
    f"{PYTHON_ENV} to a Python 3.10 that has paradex-py==0.8.2"
)

# Bounds: importing paradex-py takes ~3 s; a request waits at most its own
# timeout plus this for its answer.
START_TIMEOUT_S = 60.0
ANSWER_MARGIN_S = 10.0
WAIT_S = 5.0

MARKET = "BTC-USD-PERP"
MARKETS = {"BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"}
ACCOUNT = "0x5a1e0f0c4f1d1b0d7e2a9c3b8e6f4a2d1c0b9a8e7f6d5c4b3a29180706050403"

# Millisecond pings, which paradex-py's websockets answers by itself, but a pong
# deadline over 1 s: until its reader task first wakes (up to 1 s after connect,
# clients.md A.5) nothing reads the socket, websockets stops reading once 16
# frames wait, and unread pings get no pong. Paradex allows 5 s (paradex-ws.md).
FAST_PINGS = pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=2.0)

# (enum, params, the name paradex-py builds: clients.md A.3)
PUBLIC = [
    ("ORDER_BOOK", {"market": MARKET}, f"order_book.{MARKET}.snapshot@15@100ms"),
    ("BBO", {"market": MARKET}, f"bbo.{MARKET}"),
    ("TRADES", {"market": MARKET}, f"trades.{MARKET}"),
    ("MARKETS_SUMMARY", {}, "markets_summary.ALL"),
    ("FUNDING_DATA", {"market": MARKET}, f"funding_data.{MARKET}"),
]
PRIVATE = [
    ("ORDERS", {"market": MARKET}, f"orders.{MARKET}"),
    ("FILLS", {"market": MARKET}, f"fills.{MARKET}"),
    ("POSITIONS", {}, "positions"),
    ("ACCOUNT", {}, "account"),
    ("BALANCE_EVENTS", {}, "balance_events"),
    ("TRANSACTIONS", {}, "transaction"),
    ("TRANSFERS", {}, "transfers"),
    ("FUNDING_PAYMENTS", {"market": MARKET}, f"funding_payments.{MARKET}"),
]
# Funding is paid on the 5 s funding tick: the test does not wait that long for one.
NOT_WAITED_FOR = {f"funding_payments.{MARKET}"}


class DriverError(AssertionError):
    """paradex-py, in the driver, raised: the message is its exception."""


class ParadexPy:
    """The driver subprocess (Python 3.10, paradex-py), started on first use.

    Blocking calls over its pipes, each bounded; ``call`` runs them on a thread so
    the test's event loop (and the in-process mock on it) keeps running.
    """

    def __init__(self, python: Path, stderr_path: Path) -> None:
        self.python = python
        self.stderr_path = stderr_path
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._ids = itertools.count(1)

    @property
    def started(self) -> bool:
        return self._proc is not None

    def _start(self) -> None:
        require_python()
        self._stderr = self.stderr_path.open("w")
        self._proc = subprocess.Popen(
            [str(self.python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        stdout = self._proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, name="paradex-py-driver", daemon=True).start()
        if self._next(START_TIMEOUT_S) != {"ready": True}:
            self._die("did not start")

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self._die(f"gave no answer within {timeout}s")
        if line is None:
            self._die("exited")
        return json.loads(line)  # type: ignore[no-any-return]

    def stderr_size(self) -> int:
        return self.stderr_path.stat().st_size if self.stderr_path.exists() else 0

    def stderr_since(self, offset: int) -> str:
        if not self.stderr_path.exists():
            return ""
        with self.stderr_path.open() as stderr:
            stderr.seek(offset)
            return stderr.read()

    def _die(self, what: str) -> Any:
        self.stop()
        stderr = self.stderr_path.read_text()[-4000:]
        pytest.fail(f"the paradex-py driver ({self.python}) {what}; its stderr:\n{stderr}")

    def call_sync(self, op: str, **args: Any) -> Any:
        """Run one request in the driver; its result, or DriverError with paradex-py's."""
        if self._proc is None:
            self._start()
        assert self._proc is not None
        assert self._proc.stdin is not None
        request_id = next(self._ids)
        self._proc.stdin.write(json.dumps({"id": request_id, "op": op, **args}) + "\n")
        self._proc.stdin.flush()
        timeout = args.get("timeout", WAIT_S) + ANSWER_MARGIN_S
        while True:
            answer = self._next(timeout)
            if answer.get("id") == request_id:  # earlier ones: a request that timed out here
                break
        if "error" in answer:
            raise DriverError(f"{op}: {answer['error']}")
        return answer["result"]

    async def call(self, op: str, **args: Any) -> Any:
        return await asyncio.to_thread(self.call_sync, op, **args)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # the driver closes its clients and exits
            try:
                proc.wait(timeout=ANSWER_MARGIN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def paradex(self, name: str, server: MockServer) -> tuple[dict[str, Any], WsClient]:
        """``Paradex(env="testnet", api_base_url=<mock>/v1, ws_url_override=<mock>)``: the
        system config it fetched in its constructor, and its ``ws_client``."""
        config = await self.call(
            "paradex", client=name, api_base_url=f"{server.url}/v1", ws_url=server.ws_url
        )
        return config, WsClient(self, name)

    async def rest(self, client: WsClient, method: str, *args: Any) -> Any:
        """``paradex.api_client.<method>(*args)`` of a client made by ``paradex``."""
        return await self.call("rest", client=client.name, method=method, args=list(args))

    async def client(self, name: str, ws_url: str, jwt: str | None = None) -> WsClient:
        """A new ParadexWebsocketClient(env="testnet", ws_url_override=ws_url) in the driver."""
        await self.call("client", client=name, ws_url=ws_url, jwt=jwt)
        return WsClient(self, name)


@dataclass(frozen=True)
class WsClient:
    """One paradex-py websocket client in the driver, by name."""

    driver: ParadexPy
    name: str

    async def connect(self) -> bool:
        return await self.driver.call("connect", client=self.name)  # type: ignore[no-any-return]

    async def subscribe(self, channel: str, params: dict[str, str]) -> str:
        """``ws.subscribe(ParadexWebsocketChannel[channel], callback, params)``; the name."""
        return await self.driver.call(  # type: ignore[no-any-return]
            "subscribe", client=self.name, channel=channel, params=params
        )

    async def subscribe_all(self, channels: list[tuple[str, dict[str, str], str]]) -> list[str]:
        names = [await self.subscribe(enum, params) for enum, params, _ in channels]
        assert names == [name for _, _, name in channels]
        return names

    async def unsubscribe(self, channel: str) -> None:
        await self.driver.call("unsubscribe", client=self.name, channel=channel)

    async def subscriptions(self) -> dict[str, bool]:
        return await self.driver.call("subscriptions", client=self.name)  # type: ignore[no-any-return]

    async def mark(self) -> int:
        return await self.driver.call("mark", client=self.name)  # type: ignore[no-any-return]

    async def messages(
        self,
        channel: str,
        *,
        since: int = 0,
        count: int = 1,
        match: dict[str, Any] | None = None,
        timeout: float = WAIT_S,
    ) -> list[dict[str, Any]]:
        """The callbacks on ``channel`` (enum, channel, whole frame), waiting for ``count``."""
        return await self.driver.call(  # type: ignore[no-any-return]
            "messages",
            client=self.name,
            channel=channel,
            since=since,
            count=count,
            match=match,
            timeout=timeout,
        )


def paradex_py_python() -> Path:
    return Path(os.environ.get(PYTHON_ENV) or DEFAULT_PYTHON)


def require_python() -> Path:
    """The paradex-py venv's interpreter; the test fails, saying how to build it, without."""
    python = paradex_py_python()
    if not (python.is_file() and os.access(python, os.X_OK)):
        pytest.fail(f"no paradex-py venv: {python} is missing. {HOW_TO_BUILD}.", pytrace=False)
    return python


@pytest.fixture(scope="module")
def paradex_py_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParadexPy]:
    """One driver for the module: paradex-py takes seconds to import."""
    driver = ParadexPy(paradex_py_python(), tmp_path_factory.mktemp("paradex-py") / "stderr")
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture
async def paradex_py(
    paradex_py_process: ParadexPy, paradex_mock: MockServer
) -> AsyncIterator[ParadexPy]:
    """The driver, its clients closed after the test (before its mock stops)."""
    logged = paradex_py_process.stderr_size()
    yield paradex_py_process
    if paradex_py_process.started:
        await paradex_py_process.call("reset")
    # Shown by pytest when the test fails: what paradex-py logged meanwhile.
    print(paradex_py_process.stderr_since(logged))


# What to check


def family(channel: str) -> str:
    return channel.split(".", 1)[0]


def assert_parsed(record: dict[str, Any], enum: str, channel: str) -> dict[str, Any]:
    """A callback paradex-py made: its enum, the exact channel, a JSON-RPC notification;
    the payload valid against Paradex's AsyncAPI schema. Returns the payload."""
    message = record["message"]
    assert record["enum"] == enum
    assert message["jsonrpc"] == "2.0"
    assert message["method"] == "subscription"
    assert message["params"]["channel"] == channel
    data: dict[str, Any] = message["params"]["data"]
    assert problems(validator(payload_refs()[family(channel)]), data) == [], channel
    return data


async def assert_sentinels_arrive(
    server: MockServer,
    client: WsClient,
    channels: list[tuple[str, dict[str, str], str]],
    *,
    account: str | None = None,
    since: int = 0,
) -> None:
    """Data published on each channel reaches its callback, frame for frame."""
    for enum, _, channel in channels:
        data = {"sentinel": channel, "n": 1}
        assert server.publish(channel, data, account=account) == 1
        (record,) = await client.messages(channel, since=since, match={"sentinel": channel})
        assert record["enum"] == enum
        assert record["message"] == {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": channel, "data": data},
        }


def only_session(server: MockServer) -> Session:
    (session,) = server.sessions.values()
    return session


def subscribes(session: Session) -> list[dict[str, Any]]:
    return [
        r
        for r in map(json.loads, (f.text for f in session.received))
        if r.get("method") == "subscribe"
    ]


def subscribed_to(names: list[str], *, account: str | None = None) -> Callable[[Session], bool]:
    def holds(session: Session) -> bool:
        return set(session.subscriptions) == set(names) and session.account == account

    return holds


# The tests


def test_the_venv_has_paradex_py_0_8_2_on_python_3_10() -> None:
    """The interpreter the tests drive runs Python 3.10 with paradex-py 0.8.2 installed."""
    probe = (
        "import sys, json; from importlib.metadata import version; "
        "print(json.dumps([list(sys.version_info[:2]), version('paradex-py')]))"
    )
    result = subprocess.run(
        [str(require_python()), "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n{HOW_TO_BUILD}"
    assert json.loads(result.stdout) == [[3, 10], "0.8.2"], HOW_TO_BUILD


@FAST_PINGS
async def test_public_channels_reach_the_callbacks(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """connect, then subscribe through the enum: each callback gets its channel's frames."""
    client = await paradex_py.client("public", paradex_mock.ws_url)
    assert await client.connect() is True
    session = only_session(paradex_mock)
    assert session.user_agent.startswith("paradex-py/0.8.2 ")
    assert session.path == "/v1"

    names = await client.subscribe_all(PUBLIC)
    await paradex_mock.wait_for(lambda: subscribed_to(names)(session))
    for enum, params, channel in PUBLIC:
        data = assert_parsed((await client.messages(channel))[0], enum, channel)
        market = data.get("market", data.get("symbol"))  # summaries name it symbol
        assert market == params.get("market", market)
        assert market in MARKETS
    assert await client.subscriptions() == dict.fromkeys(names, True)  # the acks, parsed
    assert [r["params"]["channel"] for r in subscribes(session)] == names
    assert all(isinstance(r["id"], int) for r in subscribes(session))

    await assert_sentinels_arrive(paradex_mock, client, PUBLIC)
    assert session.keepalive.stats.pongs_received >= 1
    assert session.close_code is None


@FAST_PINGS
async def test_unsubscribe_stops_one_channel(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """unsubscribe_by_name: the mock drops that subscription; the others keep flowing."""
    client = await paradex_py.client("public", paradex_mock.ws_url)
    assert await client.connect()
    session = only_session(paradex_mock)
    bbo, trades = PUBLIC[1], PUBLIC[2]
    names = await client.subscribe_all([bbo, trades])
    await paradex_mock.wait_for(lambda: subscribed_to(names)(session))
    await client.messages(bbo[2])

    await client.unsubscribe(trades[2])
    await paradex_mock.wait_for(lambda: subscribed_to([bbo[2]])(session))
    (unsubscribe,) = paradex_mock.requests("unsubscribe")
    assert unsubscribe["params"] == {"channel": trades[2]}
    assert isinstance(unsubscribe["id"], str)  # paradex-py's quirk: a string id here only
    since = await client.mark()
    assert paradex_mock.publish(trades[2], {"sentinel": trades[2]}) == 0
    await assert_sentinels_arrive(paradex_mock, client, [bbo], since=since)
    assert [r["channel"] for r in await client.messages(bbo[2], since=since)] != []
    with pytest.raises(DriverError, match="0 of 1 callbacks"):
        await client.messages(trades[2], since=since, timeout=0.2)


@FAST_PINGS
async def test_private_channels_after_auth_with_a_jwt(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """With an account's JWT, auth goes first; each private callback gets that account's data."""
    jwt = paradex_mock.token(ACCOUNT)
    client = await paradex_py.client("private", paradex_mock.ws_url, jwt=jwt)
    assert await client.connect()
    session = only_session(paradex_mock)
    await paradex_mock.wait_for(lambda: session.account == ACCOUNT)
    auth = json.loads(session.received[0].text)
    assert auth["method"] == "auth"
    assert auth["params"] == {"bearer": jwt}
    assert isinstance(auth["id"], int)

    names = await client.subscribe_all(PRIVATE)
    await paradex_mock.wait_for(lambda: subscribed_to(names, account=ACCOUNT)(session))
    for enum, params, channel in PRIVATE:
        if channel in NOT_WAITED_FOR:
            continue
        data = assert_parsed((await client.messages(channel))[0], enum, channel)
        assert data.get("market", MARKET) == params.get("market", data.get("market", MARKET))
        assert data.get("account", ACCOUNT) == ACCOUNT
    assert await client.subscriptions() == dict.fromkeys(names, True)

    await assert_sentinels_arrive(paradex_mock, client, PRIVATE, account=ACCOUNT)


@FAST_PINGS
async def test_after_a_drop_it_reconnects_reauthenticates_and_resubscribes(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """A drop of a subscribed, authenticated client: it reconnects, sends auth and the same
    subscribes, and its callbacks get the new connection's data."""
    jwt = paradex_mock.token(ACCOUNT)
    client = await paradex_py.client("reconnecting", paradex_mock.ws_url, jwt=jwt)
    assert await client.connect()
    first = only_session(paradex_mock)
    # book, bbo, orders, account: the market's flow; mmp: quiet, the test's own frames.
    flowing = [PUBLIC[0], PUBLIC[1], PRIVATE[0], PRIVATE[3]]
    channels = [*flowing, ("MMP", {}, "mmp")]
    names = await client.subscribe_all(channels)
    await paradex_mock.wait_for(lambda: subscribed_to(names, account=ACCOUNT)(first))
    for _, _, channel in flowing:
        await client.messages(channel)

    # paradex-py notices a drop only if it finds its reader inside recv(): a frame
    # still being handled when the socket dies leaves it CLOSED outside recv(),
    # and it never reconnects by itself (clients.md A.5; about half the drops
    # under this flow). So the flow pauses, the reader catches up (the mmp frame
    # reaches its callback after everything sent before it), and then the drop.
    with contextlib.ExitStack() as paused:
        for _, _, channel in flowing:
            paused.enter_context(paradex_mock.fault("stale_channel", channel=channel))
        await assert_sentinels_arrive(paradex_mock, client, channels[-1:], account=ACCOUNT)
        since = await client.mark()
        paradex_mock.drop_all()

    def resubscribed() -> bool:
        return any(
            s is not first and subscribed_to(names, account=ACCOUNT)(s)
            for s in paradex_mock.sessions.values()
        )

    await paradex_mock.wait_for(resubscribed)
    assert first.close_code == 1006
    second = only_session(paradex_mock)
    requests = [json.loads(f.text) for f in second.received]
    assert requests[0]["method"] == "auth"
    assert requests[0]["params"] == {"bearer": jwt}
    assert [r["params"]["channel"] for r in subscribes(second)] == names
    assert [r["params"]["channel"] for r in subscribes(first)] == names
    for enum, _, channel in flowing:  # the new session's data, each from its snapshot on
        assert_parsed((await client.messages(channel, since=since))[0], enum, channel)
    await assert_sentinels_arrive(paradex_mock, client, channels, account=ACCOUNT, since=since)
    assert await client.subscriptions() == dict.fromkeys(names, True)


async def rest_json(server: MockServer, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/v1{path}") as response:
        assert response.status == 200, path
        return await response.json()


@FAST_PINGS
async def test_paradex_reads_the_mocks_rest_then_streams_from_it(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """Paradex(api_base_url=mock) fetches /system/config in its constructor, its REST
    client reads the mock's markets and book, and its ws_client streams from the mock."""
    config, ws = await paradex_py.paradex("sdk", paradex_mock)
    served = await rest_json(paradex_mock, "/system/config")
    for key, value in config.items():
        if key == "bridged_tokens":  # paradex-py keeps some of each token's fields
            assert all(t.items() <= b.items() for t, b in zip(value, served[key], strict=True))
        elif key in served:
            assert value == served[key], key
    assert config["starknet_chain_id"] == served["starknet_chain_id"] != ""

    assert await paradex_py.rest(ws, "fetch_system_state") == await rest_json(
        paradex_mock, "/system/state"
    )
    assert int((await paradex_py.rest(ws, "fetch_system_time"))["server_time"]) > 0
    markets = await paradex_py.rest(ws, "fetch_markets")
    assert {m["symbol"] for m in markets["results"]} == MARKETS
    (summary,) = (await paradex_py.rest(ws, "fetch_markets_summary", {"market": MARKET}))["results"]
    assert summary["symbol"] == MARKET
    book = await paradex_py.rest(ws, "fetch_orderbook", MARKET)
    bbo = await paradex_py.rest(ws, "fetch_bbo", MARKET)
    assert book["market"] == bbo["market"] == MARKET
    assert book["bids"]
    assert book["asks"]

    assert await ws.connect()
    (bbo_channel,) = await ws.subscribe_all([PUBLIC[1]])
    assert_parsed((await ws.messages(bbo_channel))[0], "BBO", bbo_channel)


# A bbo every virtual second, for ten virtual minutes.
EVERY_SECOND = loads(f"""
name: every-second
markets: [{MARKET}]
channels:
  bbo.{MARKET}:
    loop: 1s
    messages:
      - at: 0ms
        data: {{market: {MARKET}, bid: "1", ask: "2", last_updated_at: !now_ms }}
""")


@pytest.mark.paradex_mock(
    scenario=EVERY_SECOND, clock="virtual", ping_interval_s=55.0, pong_timeout_s=5.0
)
async def test_ten_virtual_minutes_keep_paradex_py_connected(
    paradex_mock: MockServer, paradex_py: ParadexPy
) -> None:
    """Under the virtual clock, paradex-py (another process) answers each of the ten
    pings of ten virtual minutes at Paradex's 55 s / 5 s, keeps its one connection,
    and gets the 600 bbo frames stamped a virtual second apart, in seconds."""
    client = await paradex_py.client("virtual", paradex_mock.ws_url)
    assert await client.connect()
    session = only_session(paradex_mock)
    names = await client.subscribe_all([PUBLIC[1]])
    await paradex_mock.wait_for(lambda: subscribed_to(names)(session))
    await paradex_mock.advance(600)
    assert session.keepalive.stats.pings_sent == 10  # at 55, 110, ..., 550 s
    assert session.keepalive.stats.pongs_received == 10
    assert list(paradex_mock.sessions.values()) == [session]
    # The frame of 0 s went out before the subscription: those of 1 s to 600 s.
    records = await client.messages(names[0], count=600, timeout=30)
    stamps = [r["message"]["params"]["data"]["last_updated_at"] for r in records]
    assert stamps == [VIRTUAL_EPOCH_MS + 1000 * n for n in range(1, 601)]
