"""pytest fixtures for paradex-mock, registered through the ``pytest11`` entry point.

A project that installs paradex-mock writes::

    async def test_bbo(paradex_mock):
        async with websockets.connect(paradex_mock.ws_url) as ws: ...

Layers (override whichever you need):

- ``paradex_mock_config``: the ``MockConfig`` every server of the test starts
  from: an ephemeral port and fast keepalive timings. Override it in a
  ``conftest.py``, or tweak single tests with the marker (applied on top)
  ``@pytest.mark.paradex_mock(scenario="empty", ping_interval_s=0.05)``.
- ``paradex_mock``: an in-process ``MockServer`` on the test's event loop,
  started before the test and stopped after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mockserver.config import MockConfig
from mockserver.server import MockServer

# Fast by default so a keepalive test needs no configuration; a client under test
# that answers pings (every WebSocket library does) is never affected.
FIXTURE_PING_INTERVAL_S = 0.5
FIXTURE_PONG_TIMEOUT_S = 0.5
FIXTURE_CLOSE_TIMEOUT_S = 0.5

MARKER = "paradex_mock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): MockConfig options for this test's paradex_mock server "
        "(scenario=, seed=, ping_interval_s=, pong_timeout_s=, ...)",
    )


def marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of every ``paradex_mock`` marker on the test, closest last."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword options only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def paradex_mock_config() -> MockConfig:
    """The configuration of this test's paradex-mock servers (override to change it)."""
    return MockConfig(
        port=0,
        ping_interval_s=FIXTURE_PING_INTERVAL_S,
        pong_timeout_s=FIXTURE_PONG_TIMEOUT_S,
        close_timeout_s=FIXTURE_CLOSE_TIMEOUT_S,
    )


def test_config(request: pytest.FixtureRequest, base: MockConfig) -> MockConfig:
    """``base`` with the test's ``@pytest.mark.paradex_mock(...)`` options applied."""
    return base.but(**marker_options(request))


@pytest_asyncio.fixture
async def paradex_mock(
    request: pytest.FixtureRequest, paradex_mock_config: MockConfig
) -> AsyncIterator[MockServer]:
    """A running in-process paradex-mock server (``.ws_url``, ``.publish()``, ``.sessions``)."""
    server = MockServer(test_config(request, paradex_mock_config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
