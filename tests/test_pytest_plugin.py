"""The pytest plugin, used the way a downstream project uses it (pytester).

Each test writes a separate project into a temporary directory (its own
``pytest.ini`` and test files, none of our conftest) and runs pytest on it in a
subprocess: the fixtures there come from the ``pytest11`` entry point alone.
The project's tests are grouped into few runs, since each costs a subprocess.
"""

from __future__ import annotations

import pytest

RUN_TIMEOUT_S = 60.0

QUIET_YAML = "markets: [BTC-USD-PERP]\n"
# A scenario file with a mistake on line 2.
BROKEN_YAML = "markets: [BTC-USD-PERP]\nseed: nope\n"

# The project's own helpers: a raw aiohttp client, as a downstream project would write.
HELPERS = """
import json

import aiohttp

TIMEOUT_S = 5.0


async def receive_json(ws):
    message = await ws.receive(timeout=TIMEOUT_S)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def subscribe(ws, channel, request_id=1):
    await ws.send_json(
        {"jsonrpc": "2.0", "id": request_id, "method": "subscribe", "params": {"channel": channel}}
    )
    while True:
        reply = await receive_json(ws)
        if reply.get("id") == request_id:
            return reply


async def notification(ws):
    while True:
        frame = await receive_json(ws)
        if frame.get("method") == "subscription":
            return frame
"""

# Overrides the plugin's config fixture, building on the plugin's own.
CONFTEST = """
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def paradex_mock_config(paradex_mock_config):
    return paradex_mock_config.but(scenario=HERE / "quiet.yaml", seed=7)
"""

AUTO_MODE_TESTS = """
import json
import threading

import aiohttp
import pytest
import websocket

from helpers import notification, receive_json, subscribe

CHANNEL = "bbo.BTC-USD-PERP"


def test_plugin_is_loaded_from_its_entry_point(request):
    manager = request.config.pluginmanager
    plugin = manager.get_plugin("paradex_mock")
    assert plugin is not None and plugin.__name__ == "mockserver.pytest_plugin"
    [dist] = [d for p, d in manager.list_plugin_distinfo() if p is plugin]
    assert dist.project_name == "paradex-mock"


async def test_subscribe_gets_its_ack(paradex_mock):
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock.ws_url) as ws:
            reply = await subscribe(ws, CHANNEL)
    assert reply["result"] == {"channel": CHANNEL}


async def test_conftest_override_applies(paradex_mock, paradex_mock_config):
    assert paradex_mock_config.seed == 7
    assert paradex_mock.config.seed == 7
    assert paradex_mock.seed == 7
    assert paradex_mock.scenario.name == "quiet"
    assert list(paradex_mock.scenario.markets) == ["BTC-USD-PERP"]


@pytest.mark.paradex_mock(ping_interval_s=0.05)
async def test_marker_makes_pings_fast(paradex_mock):
    assert paradex_mock.config.ping_interval_s == 0.05
    assert paradex_mock.config.seed == 7  # the marker applies on top of the conftest
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock.ws_url, autoping=False) as ws:
            for _ in range(3):
                message = await ws.receive(timeout=2.0)
                assert message.type is aiohttp.WSMsgType.PING
                await ws.pong(message.data)


async def test_publish_reaches_the_subscriber(paradex_mock):
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock.ws_url) as ws:
            await subscribe(ws, CHANNEL)
            assert paradex_mock.publish(CHANNEL, {"bid": "1"}) == 1
            frame = await notification(ws)
    assert frame["params"] == {"channel": CHANNEL, "data": {"bid": "1"}}


def test_sync_fixture_with_websocket_client(paradex_mock_sync):
    ws = websocket.create_connection(paradex_mock_sync.ws_url, timeout=5)
    try:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                            "params": {"channel": CHANNEL}}))
        assert json.loads(ws.recv())["result"] == {"channel": CHANNEL}
        assert threading.current_thread() is threading.main_thread()
        assert paradex_mock_sync.publish(CHANNEL, {"bid": "2"}) == 1
        assert json.loads(ws.recv())["params"]["data"] == {"bid": "2"}
        assert [r["id"] for r in paradex_mock_sync.requests("subscribe")] == [1]
    finally:
        ws.close()


@pytest.mark.paradex_mock(ping_interval_s=None)
async def test_factory_starts_several_servers(paradex_mock_factory):
    first = await paradex_mock_factory()
    second = await paradex_mock_factory(seed=99)
    assert first.port != second.port
    assert (first.seed, second.seed) == (7, 99)
    assert first.config.ping_interval_s is None  # the marker reaches factory servers too
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(first.ws_url) as a, http.ws_connect(second.ws_url) as b:
            await subscribe(a, CHANNEL)
            await subscribe(b, CHANNEL)
            assert first.publish(CHANNEL, {"from": "first"}) == 1
            assert second.publish(CHANNEL, {"from": "second"}) == 1
            assert (await notification(a))["params"]["data"] == {"from": "first"}
            assert (await notification(b))["params"]["data"] == {"from": "second"}
    assert len(paradex_mock_factory.servers) == 2


@pytest.mark.paradex_mock(scenario="no-such-scenario")
async def test_unknown_scenario_name(paradex_mock):
    pass


@pytest.mark.paradex_mock(scenario="broken.yaml")
def test_broken_scenario_file_sync(paradex_mock_sync):
    pass


@pytest.mark.paradex_mock(ping_intervall_s=1.0)
async def test_misspelt_marker_option(paradex_mock):
    pass
"""

STRICT_MODE_TESTS = """
import aiohttp
import pytest

from helpers import subscribe


@pytest.mark.asyncio
async def test_strict_mode_fixture_with_default_config(paradex_mock, paradex_mock_config):
    assert paradex_mock_config.port == 0
    assert paradex_mock.config.scenario == "default"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock.ws_url) as ws:
            reply = await subscribe(ws, "bbo.BTC-USD-PERP")
    assert reply["result"] == {"channel": "bbo.BTC-USD-PERP"}


@pytest.mark.asyncio
@pytest.mark.paradex_mock(scenario="quiet.yaml")
async def test_strict_mode_factory(paradex_mock_factory):
    server = await paradex_mock_factory(seed=3)
    assert server.seed == 3


def test_strict_mode_sync_fixture(paradex_mock_sync):
    assert paradex_mock_sync.ws_url.endswith("/v1")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A separate project: scenario files and helpers, no conftest from this repository."""
    # Only the entry point may bring the plugin in.
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    pytester.makefile(".yaml", quiet=QUIET_YAML, broken=BROKEN_YAML)
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def ini(*, asyncio_mode: str) -> str:
    """The separate project's pytest.ini."""
    return (
        "[pytest]\n"
        f"asyncio_mode = {asyncio_mode}\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "timeout = 60\n"
    )


def run_auto_mode(project: pytest.Pytester, conftest: str, **tests: str) -> pytest.RunResult:
    """Run the separate project in asyncio_mode=auto with this conftest and test files."""
    project.makeini(ini(asyncio_mode="auto"))
    project.makeconftest(conftest)
    project.makepyfile(**tests)
    return project.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT_S)


def test_fixtures_in_auto_mode_from_the_entry_point(project: pytest.Pytester) -> None:
    """In an asyncio_mode=auto project: ack, marker, conftest override, publish, sync, factory."""
    result = run_auto_mode(project, CONFTEST, test_project=AUTO_MODE_TESTS)
    result.assert_outcomes(passed=7, errors=3)
    # A bad scenario or option is one clear line naming the fixture and the problem.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unknown_scenario_name*",
            "paradex_mock: the paradex-mock server did not start:",
            "no-such-scenario: no scenario named 'no-such-scenario'*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_broken_scenario_file_sync*",
            "paradex_mock_sync: the paradex-mock server did not start:",
            "*broken.yaml:2: seed: *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_misspelt_marker_option*",
            "@pytest.mark.paradex_mock: unknown option(s) ping_intervall_s (MockConfig has:*",
        ]
    )
    # pytrace=False: no traceback through the plugin's internals.
    assert "pytest_plugin.py" not in result.stdout.str()


def test_fixtures_in_strict_mode(project: pytest.Pytester) -> None:
    """In an asyncio_mode=strict project the fixtures serve @pytest.mark.asyncio tests."""
    project.makeini(ini(asyncio_mode="strict"))
    project.makepyfile(test_strict=STRICT_MODE_TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT_S)
    result.assert_outcomes(passed=3)


SHARED_CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def paradex_mock_session_config(paradex_mock_session_config):
    return paradex_mock_session_config.but(scenario="empty", seed=5)
"""

SHARED_TESTS = """
import json

import aiohttp
import pytest
import websocket

from helpers import subscribe

CHANNEL = "bbo.BTC-USD-PERP"
LEFT_OPEN = []  # a connection the first test leaves behind
PORTS = []


def sync_subscribe(url):
    ws = websocket.create_connection(url, timeout=5)
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                        "params": {"channel": CHANNEL}}))
    assert json.loads(ws.recv())["result"] == {"channel": CHANNEL}
    return ws


def test_first_leaves_a_connection_and_a_fault(paradex_mock_shared):
    LEFT_OPEN.append(sync_subscribe(paradex_mock_shared.ws_url))
    paradex_mock_shared.assert_subscribed(CHANNEL)
    paradex_mock_shared.fault("drop_messages", channel=CHANNEL)
    PORTS.append(paradex_mock_shared.port)
    assert paradex_mock_shared.server.seed == 5  # the session conftest applies


async def test_second_finds_it_cleared(paradex_mock_shared):
    PORTS.append(paradex_mock_shared.port)
    assert paradex_mock_shared.server.sessions == {}
    assert list(paradex_mock_shared.server.faults) == []
    assert list(paradex_mock_shared.server.closed_sessions) == []
    opcode, data = LEFT_OPEN.pop().recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1001
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock_shared.ws_url) as ws:
            await subscribe(ws, CHANNEL)
            assert paradex_mock_shared.publish(CHANNEL, {"bid": "1"}) == 1  # no fault


async def test_third_runs_on_another_loop(paradex_mock_shared):
    PORTS.append(paradex_mock_shared.port)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock_shared.ws_url) as ws:
            await subscribe(ws, CHANNEL)
    assert len(set(PORTS)) == 1  # one server for all three


@pytest.mark.paradex_mock(seed=1)
def test_marker_is_refused(paradex_mock_shared):
    pass
"""


def test_one_shared_server_for_the_session_cleared_between_tests(project: pytest.Pytester) -> None:
    """paradex_mock_shared: one server for async and sync tests alike, configured by the
    session conftest, cleared before each test; a marker on it is a clear error."""
    result = run_auto_mode(project, SHARED_CONFTEST, test_shared=SHARED_TESTS)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.paradex_mock does not apply to paradex_mock_shared*"], consecutive=False
    )
