"""The Python example from Paradex's own docs, run unchanged in shape against the mock.

Paradex's pages (https://docs.paradex.trade/ws/general-information/introduction,
"Example in Python", and https://docs.paradex.trade/ws/general-information/code-examples,
"Establishing a Connection" / "Authenticating a Connection") use websocket-client::

    websocket_url = "wss://ws.api.testnet.paradex.trade/v1"

    # Define a callback to check connection success
    def on_open(ws):
        print('Connected')

    # Connect to the WebSocket server
    ws = websocket.WebSocketApp(websocket_url, on_open=on_open)

    # Wait for a response
    ws.run_forever()

and, to send a request, ``on_open`` does ``ws.send(json.dumps(message))`` and
``on_message(ws, message)`` prints ``json.loads(message)``. Here ``websocket_url``
is the mock's and ``message`` a subscribe (paradex-ws.md §2.2).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import websocket

from mockserver.scenario.loader import loads
from mockserver.threaded import ThreadedMockServer

TIMEOUT_S = 5.0
# A scenario that publishes nothing by itself: every frame the client sees is ours.
QUIET = loads("markets: [BTC-USD-PERP, ETH-USD-PERP]")
CHANNEL = "trades.ETH-USD-PERP"
TRADE = {
    "id": "1",
    "market": "ETH-USD-PERP",
    "side": "BUY",
    "size": "0.5",
    "price": "2500.1",
    "created_at": 1_700_000_000_000,
    "trade_type": "FILL",
}


@pytest.mark.paradex_mock(scenario=QUIET)
def test_docs_example_connects_subscribes_and_receives(
    paradex_mock_sync: ThreadedMockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The docs' WebSocketApp prints Connected, gets its subscribe ack, then published data."""
    websocket_url = paradex_mock_sync.ws_url

    # Define the message to send
    message = {
        "jsonrpc": "2.0",
        "method": "subscribe",
        "params": {"channel": CHANNEL},
        "id": 1,
    }
    responses: list[dict[str, Any]] = []

    # Define a callback to check connection success
    def on_open(ws: websocket.WebSocketApp) -> None:
        print("Connected")
        # Send the message
        ws.send(json.dumps(message))

    # Define a callback to handle the response
    def on_message(ws: websocket.WebSocketApp, message: str) -> None:
        response = json.loads(message)
        print(response)
        responses.append(response)
        if response.get("id") == 1:
            # The ack: the subscription is live, so data published now reaches us.
            paradex_mock_sync.publish(CHANNEL, TRADE)
        elif response.get("method") == "subscription":
            ws.close()

    # Connect to the WebSocket server
    ws = websocket.WebSocketApp(websocket_url, on_open=on_open, on_message=on_message)

    # Wait for a response (bounded: a watchdog closes the app if the mock stays silent)
    watchdog = threading.Timer(TIMEOUT_S, ws.close)
    watchdog.start()
    try:
        ws.run_forever()
    finally:
        watchdog.cancel()
        watchdog.join(TIMEOUT_S)

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Connected"
    ack, data = responses
    assert ack["result"] == {"channel": CHANNEL}
    assert ack["jsonrpc"] == "2.0"
    assert data == {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": CHANNEL, "data": TRADE},
    }
    assert str(ack) in out
    assert [r["params"]["channel"] for r in paradex_mock_sync.requests("subscribe")] == [CHANNEL]


@pytest.mark.paradex_mock(scenario=QUIET, ping_interval_s=0.05)
def test_docs_example_survives_fast_pings(
    paradex_mock_sync: ThreadedMockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """websocket-client answers the server's pings itself: still connected after 5+ pings."""
    opened = threading.Event()
    responses: list[dict[str, Any]] = []
    closed: list[Any] = []

    def on_open(ws: websocket.WebSocketApp) -> None:
        print("Connected")
        opened.set()

    def on_message(ws: websocket.WebSocketApp, message: str) -> None:
        responses.append(json.loads(message))
        # Closed from its own thread: a close() from another thread races the
        # reader, which can then wait forever on the socket it closed.
        ws.close()

    ws = websocket.WebSocketApp(
        paradex_mock_sync.ws_url,
        on_open=on_open,
        on_message=on_message,
        on_close=lambda ws, code, reason: closed.append(code),
    )
    thread = threading.Thread(target=ws.run_forever, name="websocket-client", daemon=True)
    thread.start()
    assert opened.wait(TIMEOUT_S)
    server = paradex_mock_sync.server

    def answered_five_pings() -> bool:
        return any(
            s.keepalive.stats.pongs_received >= 5 and not s.closed for s in server.sessions.values()
        )

    paradex_mock_sync.wait_for(answered_five_pings, timeout=TIMEOUT_S)
    [session] = paradex_mock_sync.call(lambda: list(server.sessions.values()))
    assert session.keepalive.stats.pings_sent >= 5
    assert session.close_code is None
    assert closed == []
    # Still usable after the pings: a request gets its answer (on_message then closes).
    ws.send(
        json.dumps(
            {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": CHANNEL}, "id": 2}
        )
    )
    thread.join(TIMEOUT_S)
    assert not thread.is_alive()
    assert [r.get("result") for r in responses] == [{"channel": CHANNEL}]
    assert capsys.readouterr().out == "Connected\n"
