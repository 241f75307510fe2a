"""``MockServer``: one running paradex-mock, as serve, the fixture and Docker use it.

::

    async with MockServer(MockConfig(port=0)) as server:
        print(server.ws_url)          # ws://127.0.0.1:PORT/v1
        server.publish("bbo.BTC-USD-PERP", {...})

The scenario is loaded in the constructor, so a bad file fails before anything
listens. ``start`` returns once the socket accepts connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

from mockserver.app import build_app
from mockserver.channels import Channel, parse_channel
from mockserver.clock import Clock, RealClock, ScaledClock, VirtualClock
from mockserver.config import VIRTUAL_EPOCH_MS, MockConfig, effective_control_token
from mockserver.errors import ConfigError, ErrorCatalogue, RpcError
from mockserver.expectations import Expectations, client_frames
from mockserver.faults import ActiveFault, Fault, FaultBook, Refusal, decode_fault
from mockserver.faults.decode import ENVELOPE_KEYS
from mockserver.hub import Hub
from mockserver.limits import ConnectionLimiter, rate_limit_refusal
from mockserver.market.engine import STEP_MS
from mockserver.market.runtime import MarketRuntime
from mockserver.outbox import Outbox
from mockserver.player import ScenarioRuntime
from mockserver.protocol import ProtocolPolicy
from mockserver.scenario import loader
from mockserver.scenario.model import Scenario
from mockserver.seeds import timeline_seed
from mockserver.session import GOING_AWAY_CLOSE, Session
from mockserver.timecontrol import TimeController
from mockserver.timers import TimerQueue
from mockserver.tokens import DEFAULT_TOKEN_TTL_S, mint

log = logging.getLogger(__name__)

CLOSED_SESSIONS_KEPT = 1000
# How often the synthetic market publishes on a virtual clock: every step (10 ms)
# would cost an advance one settle per step; the payloads are the same, in
# batches of this much simulated time.
VIRTUAL_MARKET_PACE_MS = 100


def load_scenario(config: MockConfig) -> Scenario:
    if isinstance(config.scenario, Scenario):
        return config.scenario
    return loader.load(config.scenario, search=config.scenario_dirs)


# A publish names one of a few channels, over and over: check each name once.
_publishable = lru_cache(maxsize=4096)(parse_channel)


class FaultShortcuts:
    """The common faults by name, for ``MockServer`` and ``ThreadedMockServer`` alike."""

    def fault(self, kind: str, **options: Any) -> FaultHandle:
        raise NotImplementedError

    def close_all(self, code: int = 1012, reason: str = "service restart") -> FaultHandle:
        """Close every open connection with ``code`` and ``reason``."""
        return self.fault("close", code=code, reason=reason)

    def drop_all(self) -> FaultHandle:
        """Drop every open connection at once (TCP closed, no close frame): a "restart"."""
        return self.fault("drop")

    def refuse_connections(self, *, for_s: float | None = None, **params: Any) -> FaultHandle:
        """Turn new connections away (HTTP 503 by default) until removed or ``for_s`` ends."""
        return self.fault("refuse_connections", for_s=for_s, **params)


class MockServer(FaultShortcuts, Expectations):
    """A paradex-mock server bound to one host and port."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.scenario = load_scenario(self.config)
        self.seed = self.config.seed if self.config.seed is not None else self.scenario.seed
        self.hub = Hub()
        # Active sessions by id, then the most recent closed ones (for inspection).
        self.sessions: dict[str, Session] = {}
        self.closed_sessions: deque[Session] = deque(maxlen=CLOSED_SESSIONS_KEPT)
        self._connections = 0
        # Handshakes per client IP (paradex-ws.md §5); None when both limits are off.
        self.connection_limiter = ConnectionLimiter.from_config(self.config)
        self._clock: Clock | None = None
        self._time: TimeController | None = None  # a virtual clock's mover
        self._free_run: asyncio.Task[None] | None = None  # --speed max
        self._timers: TimerQueue | None = None  # every connection's keepalive, one loop timer
        self._outbox: Outbox | None = None
        self._faults: FaultBook | None = None
        self._runtime: ScenarioRuntime | None = None
        self.market: MarketRuntime | None = None  # the synthetic market, when `synthetic:`
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        # Set (and replaced) whenever a connection opens, receives a frame, pings,
        # gets a pong, subscribes or closes: what ``wait_for`` re-checks on.
        self._changed = asyncio.Event()
        self._waiters = 0
        self.policy = self._policy()
        self._baseline = self.scenario  # what reset() returns to
        # Required by the control API (/_mock/); None: open (see effective_control_token).
        self.control_token = effective_control_token(self.config)

    def _policy(self) -> ProtocolPolicy:
        scenario = self.scenario
        rng = random.Random(timeline_seed(self.seed, "node_id"))
        return ProtocolPolicy(
            # A 16-hex-digit node id, as Paradex's auth reply carries (paradex-ws.md §2.1).
            node_id=f"{rng.getrandbits(64):016x}",
            markets=None
            if scenario.behaviour.unknown_markets == "accept"
            else frozenset(scenario.markets),
            errors=ErrorCatalogue(scenario.errors),
            auth=scenario.auth,
            reply_to_notifications=scenario.behaviour.reply_to_notifications,
            max_subscriptions=self.config.max_subscriptions,
        )

    # Lifecycle

    async def start(self) -> MockServer:
        if self._runner is not None:
            raise ConfigError("this server is already started")
        self._clock, keepalive_clock, self._time = self._clocks()
        # Keepalive and the connection limit: on the server's clock, except at
        # --speed max (there they keep real time: see mockserver.timecontrol).
        self._timers = TimerQueue(keepalive_clock)
        self._outbox = Outbox()
        self._faults = FaultBook(
            clock=self._clock,
            seed=self.seed,
            sessions=lambda: list(self.sessions.values()),
            watch_publishes=self.hub.watch,
        )
        self._runner = web.AppRunner(
            build_app(self),
            access_log=None,
            handle_signals=False,  # the CLI owns signals; the fixture must not take them
            # Connections are closed by stop() itself; never wait aiohttp's default 60 s.
            shutdown_timeout=self.config.close_timeout_s,
        )
        try:
            await self._runner.setup()
            self._site = web.TCPSite(self._runner, self.config.host, self.config.port)
            await self._site.start()
        except BaseException:
            # E.g. the port is taken: undo the setup, so nothing is left half-started.
            await self.stop()
            raise
        self._start_scenario()
        if self._time is not None and self.config.clock == "real":  # --speed max
            self._free_run = asyncio.create_task(self._time.run_free(), name="clock:free")
        log.info("paradex-mock listening on %s (scenario %s)", self.ws_url, self.scenario.name)
        return self

    async def stop(self) -> None:
        """Close every connection with 1001 (going away), then stop listening."""
        if self._runner is None:
            return
        if self._free_run is not None:
            self._free_run.cancel()
            await asyncio.gather(self._free_run, return_exceptions=True)
            self._free_run = None
        await self._stop_scenario()
        if self._faults is not None:
            self._faults.clear()
        # Stop accepting first, so nobody connects while we close the others.
        if self._site is not None:
            await self._site.stop()
        await self._close_sessions()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=self.config.close_timeout_s)
        await self._runner.cleanup()
        self._runner = self._site = None
        if self._timers is not None:
            self._timers.close()

    def _clocks(self) -> tuple[Clock, Clock, TimeController | None]:
        """The server's clock, the one keepalive and the connection limit run on, and
        what moves the server's clock when it is virtual."""
        config = self.config
        if config.clock == "virtual":
            epoch_ms = config.clock_epoch_ms
            virtual = VirtualClock(
                wall_start_us=(VIRTUAL_EPOCH_MS if epoch_ms is None else epoch_ms) * 1000
            )
            grace_s: float | None = config.advance_pong_grace_s
            keepalive: Clock = virtual
        elif math.isinf(config.speed):  # as fast as the clients read; keepalive real
            virtual = VirtualClock(wall_start_us=time.time_ns() // 1000)
            grace_s, keepalive = None, RealClock()
        else:
            real = RealClock() if config.speed == 1 else ScaledClock(config.speed)
            return real, real, None
        mover = TimeController(
            virtual, self, pong_grace_s=grace_s, close_grace_s=config.close_timeout_s
        )
        return virtual, keepalive, mover

    @property
    def clock(self) -> Clock:
        """Where the server's time comes from (``clock.monotonic()``, ``clock.wall_us()``)."""
        if self._clock is None:
            raise ConfigError("the server is not started")
        return self._clock

    async def advance(self, seconds: float) -> None:
        """Move the virtual clock ``seconds`` on: every ping, pong deadline, scenario
        message, market step and fault timer due meanwhile fires, in order, and the
        server settles after each (``mockserver.timecontrol``). Returns once done."""
        if self._time is None or self.config.clock != "virtual":
            raise ConfigError(
                "advance() needs the virtual clock: MockConfig(clock='virtual'), "
                "or @pytest.mark.paradex_mock(clock='virtual') on the test"
            )
        await self._time.advance(seconds)

    async def _close_sessions(self) -> None:
        """Close every open connection with 1001 (going away)."""
        await asyncio.gather(
            *(session.close(*GOING_AWAY_CLOSE) for session in list(self.sessions.values())),
            return_exceptions=True,
        )

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _start_scenario(self) -> None:
        """Start the scenario's players and market, and arm its faults."""
        assert self._clock is not None
        assert self._faults is not None
        self._runtime = ScenarioRuntime(
            self.scenario, hub=self.hub, clock=self._clock, seed=self.seed
        )
        self._runtime.start()
        if self.scenario.synthetic is not None:
            self.market = MarketRuntime(
                self.scenario,
                hub=self.hub,
                clock=self._clock,
                seed=self.seed,
                pace_ms=STEP_MS if self._time is None else VIRTUAL_MARKET_PACE_MS,
            )
            self.market.start()
        for fault in self.scenario.faults:
            self._faults.add(fault)

    async def _stop_scenario(self) -> None:
        if self._runtime is not None:
            await self._runtime.stop()
            self._runtime = None
        if self.market is not None:
            await self.market.stop()
            self.market = None

    # Where it listens

    @property
    def port(self) -> int:
        """The port it listens on (the real one when the config asked for 0)."""
        if self._runner is None or not self._runner.addresses:
            raise ConfigError("the server is not started")
        return int(self._runner.addresses[0][1])

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/v1"

    # Publishing

    def publish(self, channel: str, data: Any, *, account: str | None = None) -> int:
        """Publish ``data`` on ``channel`` now; returns how many sessions it reached."""
        try:
            _publishable(channel)
        except RpcError as error:
            raise ConfigError(
                f"cannot publish on '{channel}': {error.detail or error.message}"
            ) from None
        return self.hub.publish(channel, data, account=account)

    async def drained(self) -> None:
        """Return once every session has handed what it was sent to its socket.

        The backpressure of a publisher that wants to go as fast as the clients
        read (a bench, a replay at full speed): publish a burst, await this.
        """
        if self._outbox is None:
            raise ConfigError("the server is not started")
        await self._outbox.drained()

    def token(self, account: str = "0x1", *, ttl_s: float = DEFAULT_TOKEN_TTL_S) -> str:
        """A JWT this server's ``auth`` accepts for ``account`` (issued at the server's
        clock: under a virtual clock it expires when the clock says so)."""
        return mint(account, ttl_s=ttl_s, now_s=self.now_s())

    def now_s(self) -> float:
        """The server's wall time, in seconds (the real one before it starts)."""
        return time.time() if self._clock is None else self._clock.wall_us() / 1e6

    # Faults (docs/faults.md)

    @property
    def faults(self) -> FaultBook:
        """The server's faults: iterate, ``get(name)``, ``remove(name)``, ``clear()``."""
        if self._faults is None:
            raise ConfigError("the server is not started")
        return self._faults

    def fault(self, kind: str, **options: Any) -> FaultHandle:
        """Add a fault now; the handle is a context manager that removes it again::

            with server.fault("drop_messages", channel="bbo.*", probability=0.5):
                ...

        ``options`` are the envelope's (``name``, ``target``, ``probability``,
        ``count``, ``for_s``, and one trigger: ``at``, ``after``, ``on_subscribe``,
        ``on_auth``, ``on_connection``) and, for everything else, the kind's
        parameters. A ``target`` may be a ``Session``, "all" or a mapping.
        """
        return FaultHandle(self.faults, self.faults.add(self._decode(kind, options)))

    def add_fault(self, spec: Mapping[str, Any]) -> ActiveFault:
        """Add a fault from its envelope as plain data (what the control API takes)."""
        return self.faults.add(decode_fault(spec, name=self.faults.next_name))

    def _decode(self, kind: str, options: dict[str, Any]) -> Fault:
        spec: dict[str, Any] = {"kind": kind}
        params: dict[str, Any] = {}
        for key, value in options.items():
            if key == "for_s":
                spec["for"] = value
            elif key == "target" and isinstance(value, Session):
                spec["target"] = {"session": value.id}
            elif key in ENVELOPE_KEYS:
                spec[key] = value
            else:
                params[key] = value
        if params:
            spec["params"] = params
        return decode_fault(spec, name=self.faults.next_name)

    async def load_scenario(self, scenario: str | Path | Scenario) -> Scenario:
        """Replace the running scenario (a bundled name, a file, or a loaded ``Scenario``).

        Open connections stay; their subscriptions are fed by the new scenario,
        and get its on-subscribe messages again. Faults the old scenario armed
        are removed; faults added since (by a test or the control API) stay.
        """
        if not isinstance(scenario, Scenario):
            scenario = loader.load(scenario, search=self.config.scenario_dirs)
        await self._replace_scenario(scenario)
        return scenario

    async def reset(self, *, close_connections: bool = False) -> None:
        """Back to the baseline: no faults, the scenario the server started with
        (restarted from its beginning), no closed-session history; with
        ``close_connections``, no open connection either (each is closed with
        1001 first, what a shared server does between tests)."""
        if close_connections:
            await self._close_sessions()
            # Their handlers end a moment later (a session leaves `sessions` then).
            with contextlib.suppress(AssertionError):
                await self.wait_for(lambda: not self.sessions, timeout=self.config.close_timeout_s)
        self.faults.reset()
        self.closed_sessions.clear()
        if self.connection_limiter is not None:
            self.connection_limiter.clear()
        await self._replace_scenario(self._baseline)

    async def _replace_scenario(self, scenario: Scenario) -> None:
        for fault in self.scenario.faults:
            self.faults.remove(fault.name)
        await self._stop_scenario()
        self.scenario = scenario
        self.seed = self.config.seed if self.config.seed is not None else scenario.seed
        self.faults.seed = self.seed
        self.policy = self._policy()
        self.hub.clear_latest()
        self._start_scenario()
        for session in list(self.sessions.values()):
            session.rpc.policy = self.policy
            for channel in session.rpc.subscriptions.values():
                if self._runtime is not None:
                    self._runtime.subscribed(session, channel)
                if self.market is not None:
                    self.market.subscribed(session, channel)
        log.info("scenario %s loaded", scenario.name)

    # Waiting for clients, without sleeping

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float | None = 5.0) -> None:
        """Return once ``predicate()`` holds (``timeout``: real seconds; None: no limit).

        Re-checked whenever a connection opens or closes, the server receives a
        frame, sends a ping or gets a pong (so predicates over ``requests()`` or
        ``session.keepalive.stats`` work too).
        """

        async def until() -> None:
            while not predicate():
                await self._changed.wait()

        self._waiters += 1
        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s") from None
        finally:
            self._waiters -= 1

    def _notify(self) -> None:
        # Called on every frame, ping and pong: costs nothing while nobody waits.
        if self._waiters:
            self._changed.set()
            self._changed = asyncio.Event()

    def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every JSON request the clients sent (all sessions, in order), optionally one method."""
        return [
            frame.request
            for session in self.all_sessions()
            for frame in client_frames(session)
            if frame.request is not None and (method is None or frame.method == method)
        ]

    # Connections (called by the app)

    def new_websocket(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(
            autoping=False,  # pings and pongs reach the session: it keeps Paradex's timing
            compress=self.config.compression,
            # aiohttp refuses a message of exactly max_msg_size: max_message_bytes passes.
            max_msg_size=self.config.max_message_bytes + 1,
            timeout=self.config.close_timeout_s,
        )

    @property
    def connection_attempts(self) -> int:
        """WebSocket handshakes so far, refused ones included (connections are numbered so)."""
        return self._connections

    def connection_attempt(self, remote: str | None = None) -> tuple[int, Refusal | None]:
        """Number the next connection (from IP ``remote``), and say whether a fault or
        the connection rate limit refuses it (a fault's refusal does not count)."""
        self._connections += 1
        refusal = self.faults.connection_attempt(self._connections)
        if refusal is None and self.connection_limiter is not None:
            assert self._clock is not None
            assert self._timers is not None
            denied = self.connection_limiter.admit(remote or "", self._timers.monotonic())
            if denied is not None:
                refusal = rate_limit_refusal(denied, mode=self.config.connection_rate_refusal)
        return self._connections, refusal

    async def serve_connection(
        self, request: web.Request, ws: web.WebSocketResponse, *, number: int
    ) -> None:
        assert self._clock is not None
        assert self._timers is not None
        assert self._outbox is not None
        session = Session(
            number=number,
            request=request,
            ws=ws,
            config=self.config,
            clock=self._clock,
            timers=self._timers,
            outbox=self._outbox,
            policy=self.policy,
            host=self,
            on_pong_timeout=self.scenario.behaviour.on_pong_timeout,
        )
        self.sessions[session.id] = session
        self.faults.session_opened(session)
        self._notify()
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await session.run()
        finally:
            if task is not None:
                self._handlers.discard(task)

    def session_subscribed(self, session: Session, channel: Channel) -> None:
        self.hub.subscribe(channel.name, session)
        # Faults first: a channel target or an on_subscribe trigger covers what the
        # new subscriber is sent at once.
        self.faults.session_subscribed(session, channel.name)
        if self._runtime is not None:
            self._runtime.subscribed(session, channel)
        if self.market is not None:
            self.market.subscribed(session, channel)
        self._notify()

    def session_unsubscribed(self, session: Session, channel: Channel) -> None:
        self.hub.unsubscribe(channel.name, session)
        if self._runtime is not None:
            self._runtime.unsubscribed(session, channel.name)
        if self.market is not None:
            self.market.unsubscribed(session, channel.name)
        self.faults.session_changed(session)
        self._notify()

    def session_authenticated(self, session: Session) -> None:
        self.faults.session_authenticated(session)

    def session_changed(self, session: Session) -> None:
        self._notify()

    def session_closed(self, session: Session) -> None:
        names = session.subscriptions
        self.hub.remove(session, names)
        if self._runtime is not None:
            self._runtime.closed(session, names)
        if self.market is not None:
            self.market.closed(session, names)
        if self._faults is not None:
            self._faults.session_closed(session)
        self.sessions.pop(session.id, None)
        self.closed_sessions.append(session)
        self._notify()

    def all_sessions(self) -> list[Session]:
        """Closed sessions (oldest first) then the open ones."""
        return [*self.closed_sessions, *self.sessions.values()]


class FaultHandle:
    """A fault added from Python: a context manager (sync or async) that removes it.

    ``run`` is how removal reaches the server's loop: directly for an in-process
    server, through ``ThreadedMockServer.call`` for one on a background thread.
    """

    def __init__(
        self,
        book: FaultBook,
        active: ActiveFault,
        *,
        run: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._book = book
        self.fault = active
        self._run = run

    def running_with(self, run: Callable[[Callable[[], None]], None]) -> FaultHandle:
        """The same fault, removed through ``run``."""
        return FaultHandle(self._book, self.fault, run=run)

    @property
    def name(self) -> str:
        return self.fault.name

    @property
    def acts(self) -> int:
        """How many times the fault took effect so far."""
        return self.fault.acts

    @property
    def state(self) -> str:
        """armed, active, spent, expired or removed."""
        return self.fault.state

    def remove(self) -> None:
        """Remove the fault (safe at any moment, and more than once)."""
        if self._run is None:
            self._remove()
        else:
            self._run(self._remove)

    def _remove(self) -> None:
        if self._book.get(self.fault.name) is self.fault:
            self._book.remove(self.fault.name)

    def __enter__(self) -> FaultHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    async def __aenter__(self) -> FaultHandle:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.remove()
