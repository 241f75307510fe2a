"""Faults from Python: handles that undo themselves, on the async and the threaded server."""

from __future__ import annotations

from typing import Any

import pytest
import websocket
from conftest import Connect, sync_call

from mockserver.server import MockServer
from mockserver.threaded import ThreadedMockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")
CHANNEL = "bbo.BTC-USD-PERP"
TIMEOUT_S = 5.0


def bbo(seq_no: int) -> dict[str, Any]:
    return {"market": "BTC-USD-PERP", "seq_no": seq_no, "bid": "1", "ask": "2"}


async def test_a_fault_lasts_as_long_as_its_with_block(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """Inside the block the channel is silent; after it the same client gets data again."""
    client = await connect()
    await client.subscribe(CHANNEL)
    with paradex_mock.fault("stale_channel", channel="bbo.*") as handle:
        assert paradex_mock.publish(CHANNEL, bbo(1)) == 1
        assert handle.state == "active"
    assert handle.state == "removed"
    assert handle.acts == 1
    paradex_mock.publish(CHANNEL, bbo(2))
    received = await client.notification(CHANNEL)
    assert received["params"]["data"]["seq_no"] == 2


async def test_async_with_and_an_exception_still_remove_the_fault(
    paradex_mock: MockServer,
) -> None:
    """The handle works with ``async with`` and removes its fault when the block raises."""
    seen = []

    async def fail_inside() -> None:
        async with paradex_mock.fault("stop_pings") as handle:
            seen.append(paradex_mock.faults.get(handle.name) is handle.fault)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert seen == [True]
    assert len(paradex_mock.faults) == 0


async def test_reset_removes_every_fault_and_restarts_the_baseline(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """``reset`` clears the faults, while connected clients stay connected."""
    client = await connect()
    paradex_mock.fault("latency", delay_ms=50)
    paradex_mock.fault("error_reply", method="subscribe")
    await paradex_mock.reset()
    assert len(paradex_mock.faults) == 0
    reply = await client.subscribe(CHANNEL)
    assert reply["result"] == {"channel": CHANNEL}


async def test_load_scenario_replaces_the_scenario_for_open_connections(
    paradex_mock: MockServer, connect: Connect
) -> None:
    """A scenario loaded at run time feeds the subscriptions that were already open."""
    client = await connect()
    await client.subscribe(CHANNEL)
    await paradex_mock.load_scenario("default")
    assert paradex_mock.scenario.name == "default"
    frame = await client.notification(CHANNEL)  # the synthetic market's bbo
    assert frame["params"]["data"]["market"] == "BTC-USD-PERP"
    await paradex_mock.reset()
    assert paradex_mock.scenario.name == "empty"


def test_threaded_close_reaches_a_blocking_client(paradex_mock_sync: ThreadedMockServer) -> None:
    """A threaded ``fault("close", ...)`` closes a websocket-client connection with its code."""
    ws = websocket.create_connection(paradex_mock_sync.ws_url, timeout=TIMEOUT_S)
    paradex_mock_sync.wait_for(lambda: len(paradex_mock_sync.server.sessions) == 1)
    paradex_mock_sync.fault("close", code=4001, reason="maintenance")
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 4001
    assert payload[2:] == b"maintenance"
    ws.close()


def test_threaded_refusal_is_undone_by_its_with_block(
    paradex_mock_sync: ThreadedMockServer,
) -> None:
    """While refused, a handshake gets 503; after the block the same client connects."""
    with (
        paradex_mock_sync.refuse_connections(),
        pytest.raises(websocket.WebSocketBadStatusException) as refused,
    ):
        websocket.create_connection(paradex_mock_sync.ws_url, timeout=TIMEOUT_S)
    assert refused.value.status_code == 503
    ws = websocket.create_connection(paradex_mock_sync.ws_url, timeout=TIMEOUT_S)
    assert sync_call(ws, 1, "subscribe", channel=CHANNEL)["result"] == {"channel": CHANNEL}
    ws.close()


def test_threaded_drop_all_and_reset(paradex_mock_sync: ThreadedMockServer) -> None:
    """``drop_all`` ends every blocking client without a close frame; ``reset`` clears faults."""
    clients = [websocket.create_connection(paradex_mock_sync.ws_url, timeout=TIMEOUT_S)]
    clients.append(websocket.create_connection(paradex_mock_sync.ws_url, timeout=TIMEOUT_S))
    paradex_mock_sync.wait_for(lambda: len(paradex_mock_sync.server.sessions) == 2)
    paradex_mock_sync.fault("error_reply", method="auth")
    paradex_mock_sync.drop_all()
    for ws in clients:
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv()
    paradex_mock_sync.reset()
    assert paradex_mock_sync.call(lambda: len(paradex_mock_sync.server.faults)) == 0
