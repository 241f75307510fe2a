"""``ThreadedMockServer``: a ``MockServer`` on its own event loop, for synchronous clients.

A test written against websocket-client or other blocking code has no event loop
to run the server on, so this one runs it in a daemon thread::

    with ThreadedMockServer(MockConfig(port=0)) as mock:
        ws = websocket.create_connection(mock.ws_url)
        ...
        mock.publish("bbo.BTC-USD-PERP", {...})

``start`` returns once the socket accepts connections (the loop thread signals
it; nothing polls) and re-raises a startup failure, such as a bad scenario, in
the caller's thread. Everything that touches the server's state from outside
(``publish``, ``wait_for``, ``requests``, ``call``) runs on the loop thread and
waits for the result, so the caller never races the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any, TypeVar

from mockserver.config import MockConfig
from mockserver.errors import ConfigError
from mockserver.scenario.model import Scenario
from mockserver.server import FaultHandle, FaultShortcuts, MockServer
from mockserver.session import Session
from mockserver.tokens import DEFAULT_TOKEN_TTL_S, mint

T = TypeVar("T")

# Bounds on the lifecycle: a server that cannot start or stop within these is broken.
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# How long a call onto the loop (publish, requests, ...) may take.
CALL_TIMEOUT_S = 5.0


class ThreadedMockServer(FaultShortcuts):
    """A paradex-mock server running on an event loop in a background thread."""

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        start_timeout_s: float = START_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self.config = config or MockConfig()
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: MockServer | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stop_error: BaseException | None = None
        self._url = ""
        self._port = 0

    # Lifecycle

    def start(self) -> ThreadedMockServer:
        """Start the server; returns once it listens, or raises why it could not."""
        if self._thread is not None:
            raise ConfigError("this server is already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="paradex-mock", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            self.stop()
            raise TimeoutError(f"paradex-mock did not start within {self.start_timeout_s}s")
        error = self._startup_error
        if error is not None:
            # The loop has returned already; collect the thread before raising.
            self._join()
            self._thread = None
            raise error
        return self

    def stop(self) -> None:
        """Close every client with 1001 (going away), stop the loop and join its thread."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_requested.set)
        self._join()
        self._thread = self._loop = self._server = self._stop_requested = None
        error, self._stop_error = self._stop_error, None
        if error is not None:
            raise error

    def _join(self) -> None:
        assert self._thread is not None
        if self._thread is threading.current_thread():
            raise RuntimeError("ThreadedMockServer.stop() called from its own loop thread")
        self._thread.join(self.stop_timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"paradex-mock did not stop within {self.stop_timeout_s}s")

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The loop thread

    def _run(self) -> None:
        # asyncio.run also cancels leftover tasks and closes the loop when _main returns.
        try:
            asyncio.run(self._main())
        finally:
            self._ready.set()  # never leave start() waiting, whatever happened

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            # Built on the loop thread: the constructor loads the scenario, so a bad
            # one fails here and is re-raised by start().
            server = MockServer(self.config)
            await server.start()
        except BaseException as error:
            self._startup_error = error
            self._ready.set()
            return
        self._server = server
        self._port, self._url = server.port, server.url
        self._ready.set()
        await self._stop_requested.wait()
        try:
            await server.stop()
        except Exception as error:  # re-raised by stop(), in the caller's thread
            self._stop_error = error

    # Where it listens

    @property
    def server(self) -> MockServer:
        """The running ``MockServer`` (read its state through ``call`` or ``wait_for``)."""
        if self._server is None:
            raise ConfigError("the server is not started")
        return self._server

    @property
    def port(self) -> int:
        """The port it listens on (the real one when the config asked for 0)."""
        self._running_loop()
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``."""
        self._running_loop()
        return self._url

    @property
    def ws_url(self) -> str:
        """``ws://host:port/v1``, the URL a client connects to."""
        return self.url.replace("http://", "ws://", 1) + "/v1"

    # Working with the server from the caller's thread

    def call(self, function: Callable[[], T], *, timeout: float = CALL_TIMEOUT_S) -> T:
        """Run ``function()`` on the loop thread and return its result (or raise its error)."""
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            return function()

        async def run() -> T:
            return function()

        return _result(asyncio.run_coroutine_threadsafe(run(), loop), timeout)

    def publish(self, channel: str, data: Any, *, account: str | None = None) -> int:
        """Publish ``data`` on ``channel`` now; returns how many sessions it reached."""
        server = self.server
        return self.call(lambda: server.publish(channel, data, account=account))

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Block until ``predicate()`` holds, evaluated on the loop thread (see MockServer)."""
        server, loop = self.server, self._running_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("wait_for would block the server's own loop thread")
        future = asyncio.run_coroutine_threadsafe(server.wait_for(predicate, timeout=timeout), loop)
        # The coroutine bounds itself; the margin only covers a loop that stopped answering.
        _result(future, timeout + CALL_TIMEOUT_S)

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every JSON request the clients sent (all sessions, in order), optionally one method."""
        server = self.server
        return self.call(lambda: server.requests(method))

    def token(self, account: str = "0x1", *, ttl_s: float = DEFAULT_TOKEN_TTL_S) -> str:
        """A JWT this server's ``auth`` accepts for ``account`` (issued at its clock)."""
        return mint(account, ttl_s=ttl_s, now_s=self.server.now_s())

    def advance(self, seconds: float, *, timeout: float | None = None) -> None:
        """Move the virtual clock ``seconds`` on (see ``MockServer.advance``); blocks
        until done, at most ``timeout`` real seconds (default: ``CALL_TIMEOUT_S``
        plus one per virtual minute)."""
        server = self.server
        limit = timeout if timeout is not None else CALL_TIMEOUT_S + seconds / 60
        self.run(lambda: server.advance(seconds), timeout=limit)

    def run(
        self, coroutine: Callable[[], Coroutine[Any, Any, T]], *, timeout: float = CALL_TIMEOUT_S
    ) -> T:
        """Run ``await coroutine()`` on the loop thread and return its result."""
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("run would block the server's own loop thread")
        return _result(asyncio.run_coroutine_threadsafe(coroutine(), loop), timeout)

    # Faults (docs/faults.md): as MockServer's, safe from the caller's thread

    def fault(self, kind: str, **options: Any) -> FaultHandle:
        """Add a fault now; the handle is a context manager that removes it again."""
        server = self.server
        handle = self.call(lambda: server.fault(kind, **options))
        return handle.running_with(self.call)

    def load_scenario(self, scenario: str | Path | Scenario) -> Scenario:
        """Replace the running scenario (see ``MockServer.load_scenario``)."""
        server = self.server
        return self.run(lambda: server.load_scenario(scenario))

    def reset(self, *, close_connections: bool = False) -> None:
        """Back to the baseline: no faults, the start-up scenario restarted (and,
        with ``close_connections``, every open connection closed with 1001)."""
        server = self.server
        self.run(lambda: server.reset(close_connections=close_connections))

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if self._server is None or loop is None or loop.is_closed():
            raise ConfigError("the server is not started")
        return loop

    # Expectations and transcripts (mockserver.expectations): as MockServer's, run on
    # the loop thread; a failed assertion is raised in the caller's thread.

    def wait_for_subscription(
        self, channel: str, timeout: float = 5.0, *, session: Session | None = None
    ) -> Session:
        """Block until an open session is subscribed to ``channel``; returns it."""
        server = self.server
        return self.run(
            lambda: server.wait_for_subscription(channel, timeout, session=session),
            timeout=timeout + CALL_TIMEOUT_S,
        )

    def assert_subscribed(self, *channels: str, session: Session | None = None) -> None:
        """Each channel is held by an open session (see ``MockServer.assert_subscribed``)."""
        server = self.server
        self.call(lambda: server.assert_subscribed(*channels, session=session))

    def assert_no_duplicate_subscriptions(self) -> None:
        """No session subscribed to one channel twice."""
        self.call(self.server.assert_no_duplicate_subscriptions)

    def assert_resubscribed_after_reconnect(self, within: float = 1.0) -> None:
        """After each close the server decided, the channels were resubscribed in time."""
        server = self.server
        self.call(lambda: server.assert_resubscribed_after_reconnect(within))

    def assert_pongs_within(self, seconds: float) -> None:
        """Every ping was answered within ``seconds``."""
        server = self.server
        self.call(lambda: server.assert_pongs_within(seconds))

    def assert_received(
        self, method: str, params: Any = None, *, session: Session | None = None
    ) -> dict[str, Any]:
        """A client sent ``method`` with matching ``params``; returns the request."""
        server = self.server
        return self.call(lambda: server.assert_received(method, params, session=session))

    def transcript(self) -> list[dict[str, Any]]:
        """Every session's transcript events, each with ``session``."""
        return self.call(self.server.transcript)

    def write_transcript(self, target: str | Path | IO[str]) -> int:
        """Write every session's transcript as JSON lines (see ``MockServer``)."""
        server = self.server
        return self.call(lambda: server.write_transcript(target))


def _result(future: concurrent.futures.Future[T], timeout: float) -> T:
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        if future.done():  # the call itself raised a TimeoutError: that is its answer
            raise
        future.cancel()
        raise TimeoutError(f"the paradex-mock loop did not answer within {timeout}s") from None
