"""ThreadedMockServer: a MockServer on a background thread, driven from synchronous code."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import websocket
from conftest import sync_call

from mockserver.config import MockConfig
from mockserver.errors import ConfigError, ScenarioError
from mockserver.scenario.loader import loads
from mockserver.threaded import ThreadedMockServer

TIMEOUT_S = 5.0
QUIET = loads("markets: [BTC-USD-PERP]")
CHANNEL = "bbo.BTC-USD-PERP"


@pytest.fixture
def config(paradex_mock_config: MockConfig) -> MockConfig:
    """The plugin's fast test config, on a scenario that publishes nothing by itself."""
    return paradex_mock_config.but(scenario=QUIET)


@pytest.fixture
def mock(config: MockConfig) -> Iterator[ThreadedMockServer]:
    """A started threaded server, stopped after the test."""
    with ThreadedMockServer(config) as server:
        yield server


@pytest.fixture
def client(mock: ThreadedMockServer) -> Iterator[websocket.WebSocket]:
    """A blocking websocket-client connection to ``mock``."""
    ws = websocket.create_connection(mock.ws_url, timeout=TIMEOUT_S)
    try:
        yield ws
    finally:
        ws.close()


def mock_threads() -> list[threading.Thread]:
    """The live threads a ThreadedMockServer runs its loop on."""
    return [t for t in threading.enumerate() if t.name == "paradex-mock"]


def test_start_listens_and_stop_joins_the_thread(config: MockConfig) -> None:
    """start() returns a listening server; stop() ends its thread and is idempotent."""
    before = len(mock_threads())
    server = ThreadedMockServer(config).start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url == f"ws://127.0.0.1:{server.port}/v1"
        with urllib.request.urlopen(server.url + "/health", timeout=TIMEOUT_S) as response:
            assert json.load(response)["status"] == "ok"
        assert len(mock_threads()) == before + 1
    finally:
        server.stop()
    assert len(mock_threads()) == before
    server.stop()
    with pytest.raises(ConfigError, match="not started"):
        _ = server.ws_url


def test_context_manager_starts_and_stops(config: MockConfig) -> None:
    """``with ThreadedMockServer(...)`` runs the server for the block only."""
    with ThreadedMockServer(config) as server:
        port = server.port
        websocket.create_connection(server.ws_url, timeout=TIMEOUT_S).close()
    with pytest.raises(ConnectionRefusedError):
        websocket.create_connection(f"ws://127.0.0.1:{port}/v1", timeout=TIMEOUT_S)


def test_startup_failure_is_raised_in_the_callers_thread(config: MockConfig) -> None:
    """A bad scenario fails start() with the ScenarioError itself, leaving no thread."""
    before = len(mock_threads())
    server = ThreadedMockServer(config.but(scenario="no-such-scenario"))
    with pytest.raises(ScenarioError, match="no scenario named 'no-such-scenario'"):
        server.start()
    assert len(mock_threads()) == before
    with pytest.raises(ConfigError, match="not started"):
        _ = server.server


def test_port_in_use_is_raised_in_the_callers_thread(mock: ThreadedMockServer) -> None:
    """A second server on a taken port fails start() with the OSError."""
    with pytest.raises(OSError, match="address already in use"):
        ThreadedMockServer(mock.config.but(port=mock.port)).start()


def test_start_twice_is_refused(mock: ThreadedMockServer) -> None:
    """Starting a started server is a ConfigError, not a second thread."""
    with pytest.raises(ConfigError, match="already started"):
        mock.start()


def test_publish_from_the_test_thread(
    mock: ThreadedMockServer, client: websocket.WebSocket
) -> None:
    """publish() from the caller's thread reaches a subscribed client and counts it."""
    ack = sync_call(client, 1, "subscribe", channel=CHANNEL)
    assert ack["result"] == {"channel": CHANNEL}
    assert mock.publish(CHANNEL, {"market": "BTC-USD-PERP", "bid": "1"}) == 1
    frame = json.loads(client.recv())
    assert frame["method"] == "subscription"
    assert frame["params"] == {
        "channel": CHANNEL,
        "data": {"market": "BTC-USD-PERP", "bid": "1"},
    }
    assert mock.publish("trades.BTC-USD-PERP", {}) == 0


def test_publish_on_a_bad_channel_raises_in_the_caller(mock: ThreadedMockServer) -> None:
    """An error raised on the loop thread comes back to the caller."""
    with pytest.raises(ConfigError, match="cannot publish on 'nonsense'"):
        mock.publish("nonsense", {})


def test_wait_for_and_requests(mock: ThreadedMockServer, client: websocket.WebSocket) -> None:
    """wait_for() blocks until a predicate holds on the loop; requests() lists what was sent."""
    client.send(
        json.dumps(
            {"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": {"channel": CHANNEL}}
        )
    )
    server = mock.server
    mock.wait_for(lambda: len(server.requests("subscribe")) == 1, timeout=TIMEOUT_S)
    mock.wait_for(lambda: server.hub.subscriber_count(CHANNEL) == 1, timeout=TIMEOUT_S)
    [request] = mock.requests("subscribe")
    assert request["id"] == 7
    assert mock.requests("auth") == []
    assert mock.call(lambda: len(server.sessions)) == 1


def test_wait_for_times_out_with_an_assertion(mock: ThreadedMockServer) -> None:
    """A predicate that never holds fails wait_for() with AssertionError after the timeout."""
    with pytest.raises(AssertionError, match=r"not met within 0.05s"):
        mock.wait_for(lambda: False, timeout=0.05)


def test_token_is_accepted_by_auth(mock: ThreadedMockServer, client: websocket.WebSocket) -> None:
    """token() mints a JWT the server's auth accepts."""
    reply = sync_call(client, 1, "auth", bearer=mock.token("0xabc"))
    assert "node_id" in reply["result"]
    mock.wait_for(lambda: any(s.account == "0xabc" for s in mock.server.sessions.values()))


def test_stop_closes_clients_with_1001(config: MockConfig) -> None:
    """stop() sends every connected client a 1001 (going away) close frame."""
    closes: list[int | None] = []
    sockets: list[websocket.WebSocket] = []
    opened = threading.Event()

    def on_open(app: websocket.WebSocketApp) -> None:
        sockets.append(app.sock)
        opened.set()

    server = ThreadedMockServer(config).start()
    try:
        app = websocket.WebSocketApp(
            server.ws_url,
            on_open=on_open,
            on_close=lambda ws, code, reason: closes.append(code),
        )
        thread = threading.Thread(target=app.run_forever, daemon=True)
        thread.start()
        assert opened.wait(TIMEOUT_S)
        server.wait_for(lambda: len(server.server.sessions) == 1)
        session = next(iter(server.server.sessions.values()))
    finally:
        server.stop()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive()
    # websocket-client 1.9 answers a server's close but then never closes its
    # socket (close() returns early once send_close() marked it disconnected).
    sockets[0].shutdown()
    assert closes == [1001]
    assert session.close_code == 1001
