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
- ``paradex_mock_shared``: one server for the whole session (a
  ``ThreadedMockServer``, so async and sync tests alike use it), cleared before
  each test: connections left open closed, faults removed, history gone, the
  scenario restarted. Configured by the session-scoped
  ``paradex_mock_session_config``, not by the marker.
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
import re
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
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


def fixture_config(**changes: Any) -> MockConfig:
    """What the fixtures' servers start from: an ephemeral port, fast timings."""
    return MockConfig(
        port=0,
        ping_interval_s=FIXTURE_PING_INTERVAL_S,
        pong_timeout_s=FIXTURE_PONG_TIMEOUT_S,
        close_timeout_s=FIXTURE_CLOSE_TIMEOUT_S,
    ).but(**changes)


@pytest.fixture
def paradex_mock_config() -> MockConfig:
    """The configuration of this test's paradex-mock servers (override to change it)."""
    return fixture_config()


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
        let_go(server)


def let_go(server: MockServer) -> None:
    """Forget a stopped server's closed sessions. pytest keeps each test's fixture
    values until the whole session ends, and every closed session's transcript
    holds the frames it was sent: over a long suite, hundreds of MiB that make
    every later garbage collection (and so every later test) slower."""
    server.closed_sessions.clear()


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
        for server in servers:
            let_go(server)
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


# One server for the whole session, cleared between tests


@pytest.fixture(scope="session")
def paradex_mock_session_config() -> MockConfig:
    """The configuration of the session's shared server (override it in a conftest.py
    with ``scope="session"``; the per-test marker does not apply to it)."""
    # Every test of the session connects to this one server from 127.0.0.1.
    return fixture_config(connections_per_ip_per_s=None, connections_per_ip_per_min=None)


@pytest.fixture(scope="session")
def paradex_mock_session_server(
    paradex_mock_session_config: MockConfig,
) -> Iterator[ThreadedMockServer]:
    """The session's one server, started on first use; tests use ``paradex_mock_shared``.

    It runs on a thread of its own (a ``ThreadedMockServer``), so tests on any event
    loop (pytest-asyncio gives each test its own) and synchronous tests share it.
    """
    server = ThreadedMockServer(paradex_mock_session_config)
    with startup_errors("paradex_mock_shared"):
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def paradex_mock_shared(
    request: pytest.FixtureRequest, paradex_mock_session_server: ThreadedMockServer
) -> ThreadedMockServer:
    """The session's shared server, cleared for this test: the connections a test
    before it left open are closed (1001), no faults, no closed-session history, the
    scenario restarted from its beginning. Cheaper than a server per test when a
    suite has hundreds; ``paradex_mock`` when a test needs its own configuration."""
    if marker_options(request):
        pytest.fail(
            f"@pytest.mark.{MARKER} does not apply to paradex_mock_shared, one server for "
            "the session: override paradex_mock_session_config, or use paradex_mock",
            pytrace=False,
        )
    paradex_mock_session_server.reset(close_connections=True)
    return paradex_mock_session_server


# Transcripts of a failed test (--paradex-mock-transcripts=DIR)

TRANSCRIPTS_OPTION = "--paradex-mock-transcripts"
TRANSCRIPTS_INI = "paradex_mock_transcripts"
TRANSCRIPTS_SECTION = "paradex-mock transcripts"
# A nodeid as a file name: anything but these characters becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_CHARS = 150  # room for the suffix within a file system's 255


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paradex-mock")
    group.addoption(
        TRANSCRIPTS_OPTION,
        dest="paradex_mock_transcripts",
        metavar="DIR",
        default=None,
        help="when a test that used a paradex-mock server fails, write each server's "
        "transcript (every session's frames, pings and close) as JSON lines into DIR",
    )
    parser.addini(
        TRANSCRIPTS_INI,
        f"the directory of {TRANSCRIPTS_OPTION} (relative to the rootdir)",
        default=None,
    )


def transcripts_dir(config: pytest.Config) -> Path | None:
    """Where failed tests' transcripts go: the option (relative to the directory pytest
    was started in), else the ini value (relative to the rootdir), else None (off)."""
    option = config.getoption("paradex_mock_transcripts")
    if option:
        return config.invocation_params.dir / option
    value = config.getini(TRANSCRIPTS_INI)
    return config.rootpath / str(value) if value else None


def servers_of(item: pytest.Item) -> list[tuple[str, MockServer | ThreadedMockServer]]:
    """The paradex-mock servers the test used, each with a name for its file."""
    found: list[tuple[str, MockServer | ThreadedMockServer]] = []
    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, (MockServer, ThreadedMockServer)):
            found.append((name, value))
        elif isinstance(value, MockServerFactory):
            found.extend((f"{name}-{n}", s) for n, s in enumerate(value.servers, 1))
    return found


def transcript_file(directory: Path, nodeid: str, server_name: str) -> Path:
    """``DIR/<nodeid, sanitised>.<fixture>.jsonl``."""
    stem = _UNSAFE.sub("_", nodeid).strip("_")[:_NAME_CHARS] or "test"
    return directory / f"{stem}.{_UNSAFE.sub('_', server_name)}.jsonl"


def write_transcripts(item: pytest.Item, directory: Path) -> list[str]:
    """Write each server's transcript; a line per file (or per server that could not)."""
    lines = []
    directory.mkdir(parents=True, exist_ok=True)
    for name, server in servers_of(item):
        path = transcript_file(directory, item.nodeid, name)
        try:
            count = server.write_transcript(path)
        except (MockError, OSError, RuntimeError, TimeoutError) as error:
            lines.append(f"{name}: no transcript written ({error})")
            continue
        lines.append(f"{name}: {count} events in {path}")
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test (its setup or call) that used a server: its transcripts, and where."""
    report = yield
    directory = transcripts_dir(item.config)
    if directory is not None and report.failed and report.when in ("setup", "call"):
        lines = write_transcripts(item, directory)
        if lines:
            report.sections.append((TRANSCRIPTS_SECTION, "\n".join(lines)))
    return report
