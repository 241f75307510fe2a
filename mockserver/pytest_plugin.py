"""pytest fixtures for paradex-mock, registered through the ``pytest11`` entry point.

A project that installs paradex-mock writes::

    async def test_bbo(paradex_mock):
        async with websockets.connect(paradex_mock.ws_url) as ws: ...

    def test_sync_client(paradex_mock_sync):
        ws = websocket.create_connection(paradex_mock_sync.ws_url)

Layers (override whichever you need):

- ``paradex_mock_config``: the ``MockConfig`` every server of the test starts
  from: an ephemeral port and fast keepalive timings. Override it in a
  ``conftest.py`` (it may take the plugin's own as an argument and change it:
  ``return paradex_mock_config.but(scenario="my.yaml")``), or tweak single tests
  with the marker, applied on top for every server below
  ``@pytest.mark.paradex_mock(scenario="empty", ping_interval_s=0.05)``.
- ``paradex_mock``: an in-process ``MockServer`` on the test's event loop,
  started before the test and stopped after it (async tests).
- ``paradex_mock_sync``: a server configured the same way, run by a
  ``ThreadedMockServer`` on its own loop in a background thread, for synchronous
  clients (websocket-client, requests); its ``publish``/``wait_for``/``requests``
  are safe from the test's thread. (A test asking for both fixtures gets two
  servers.)
- ``paradex_mock_factory``: several servers in one async test,
  ``server = await paradex_mock_factory(scenario=..., **options)``; each starts
  from the config and marker above with ``options`` applied last, and all are
  stopped at teardown. (Sync tests: ``with ThreadedMockServer(config.but(...))``.)

Faults (docs/faults.md) are context managers that undo themselves, on every
server the fixtures give::

    with paradex_mock.fault("drop_messages", channel="bbo.*", probability=0.5):
        ...
    paradex_mock.drop_all()                     # every connection, no close frame
    paradex_mock.refuse_connections(for_s=1.0)  # HTTP 503 for a second

Every server listens on its own ephemeral port and is stopped (clients closed
with 1001) when the test ends, whether it passed or not. A server that cannot
start (unknown scenario, a scenario file's ``file:line: key: problem``, a
misspelt marker option, a taken port) errors the test with that one line and no
traceback through the plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from mockserver.config import MockConfig
from mockserver.errors import MockError
from mockserver.server import MockServer
from mockserver.threaded import ThreadedMockServer

# Fast by default so a keepalive test needs no configuration; a client under test
# that answers pings (every WebSocket library does) is never affected.
FIXTURE_PING_INTERVAL_S = 0.5
FIXTURE_PONG_TIMEOUT_S = 0.5
FIXTURE_CLOSE_TIMEOUT_S = 0.5

MARKER = "paradex_mock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): MockConfig options for this test's paradex-mock servers "
        "(paradex_mock, paradex_mock_sync, paradex_mock_factory): "
        "scenario=, seed=, ping_interval_s=, pong_timeout_s=, ...",
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
    options = marker_options(request)
    known = {f.name for f in dataclasses.fields(MockConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        pytest.fail(
            f"@pytest.mark.{MARKER}: unknown option(s) {', '.join(unknown)} "
            f"(MockConfig has: {', '.join(sorted(known))})",
            pytrace=False,
        )
    with startup_errors(MARKER):
        return base.but(**options)


@contextlib.contextmanager
def startup_errors(fixture: str) -> Iterator[None]:
    """Report a server that cannot start (bad scenario, bad option, port taken) as one
    clear line in the test's report, instead of a traceback through the plugin."""
    try:
        yield
    except (MockError, OSError) as error:
        pytest.fail(f"{fixture}: the paradex-mock server did not start:\n{error}", pytrace=False)


@pytest_asyncio.fixture
async def paradex_mock(
    request: pytest.FixtureRequest, paradex_mock_config: MockConfig
) -> AsyncIterator[MockServer]:
    """A running in-process paradex-mock server (``.ws_url``, ``.publish()``, ``.sessions``)."""
    config = test_config(request, paradex_mock_config)
    with startup_errors("paradex_mock"):
        server = MockServer(config)
        await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def paradex_mock_sync(
    request: pytest.FixtureRequest, paradex_mock_config: MockConfig
) -> Iterator[ThreadedMockServer]:
    """A paradex-mock server on a background thread, for synchronous clients
    (``.ws_url``, and ``.publish()``/``.wait_for()``/``.requests()`` from the test's thread)."""
    server = ThreadedMockServer(test_config(request, paradex_mock_config))
    with startup_errors("paradex_mock_sync"):
        server.start()
    try:
        yield server
    finally:
        server.stop()


class MockServerFactory:
    """Starts extra servers for one test: ``await factory(scenario=..., **options)``."""

    def __init__(self, base: MockConfig) -> None:
        self.base = base
        self.servers: list[MockServer] = []

    async def __call__(self, **options: Any) -> MockServer:
        """A started server: ``base`` with ``options`` (any ``MockConfig`` field) applied."""
        server = MockServer(self.base.but(**options))
        await server.start()
        self.servers.append(server)
        return server

    async def stop_all(self) -> None:
        """Stop every server started so far (all of them, even if one fails)."""
        servers, self.servers = self.servers, []
        results = await asyncio.gather(
            *(server.stop() for server in servers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


@pytest_asyncio.fixture
async def paradex_mock_factory(
    request: pytest.FixtureRequest, paradex_mock_config: MockConfig
) -> AsyncIterator[MockServerFactory]:
    """Start several paradex-mock servers in one test; all are stopped at teardown."""
    factory = MockServerFactory(test_config(request, paradex_mock_config))
    try:
        yield factory
    finally:
        await factory.stop_all()
