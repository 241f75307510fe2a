"""The server's configuration: one frozen dataclass that the CLI and the fixture build."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mockserver.errors import ConfigError

if TYPE_CHECKING:
    from mockserver.scenario.model import Scenario

# Paradex's keepalive (paradex-ws.md §6).
PARADEX_PING_INTERVAL_S = 55.0
PARADEX_PONG_TIMEOUT_S = 5.0

# Paradex's connection rate limit per IP (paradex-ws.md §5).
PARADEX_CONNECTIONS_PER_IP_PER_S = 20
PARADEX_CONNECTIONS_PER_IP_PER_MIN = 600
# Not documented by Paradex: generous (every channel family of a hundred markets
# fits), but a bound on what one connection can make the server hold.
DEFAULT_MAX_SUBSCRIPTIONS = 1000
CONNECTION_RATE_REFUSALS = ("http", "close")

# Where time comes from (mockserver/clock.py): "real" runs at ``speed`` (math.inf:
# as fast as the clients read); "virtual" stands still until the test advances it.
CLOCKS = ("real", "virtual")
# A virtual clock's payloads start at this wall time unless told otherwise, so a
# test's output is the same run after run: 2026-01-01T00:00:00Z.
VIRTUAL_EPOCH_MS = 1_767_225_600_000
# How long (real seconds) an advance waits for a client to answer a ping before it
# moves on to the pong deadline: a live client answers in a millisecond or two.
ADVANCE_PONG_GRACE_S = 1.0

# Hosts that only this machine can reach: the control API needs no token there.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, kw_only=True)
class MockConfig:
    """How one paradex-mock server runs. ``None`` means "off" where it is allowed."""

    # Network
    host: str = "127.0.0.1"
    port: int = 8080  # 0: an ephemeral port, read back from MockServer.port

    # Scenario
    scenario: str | Path | Scenario = "default"  # bundled name, file path, or a loaded Scenario
    scenario_dirs: tuple[Path, ...] = ()  # searched for a scenario name before the bundled ones
    seed: int | None = None  # overrides the scenario's seed

    # Keepalive
    ping_interval_s: float | None = PARADEX_PING_INTERVAL_S  # None: never ping
    pong_timeout_s: float | None = PARADEX_PONG_TIMEOUT_S  # None: never drop for a missing pong

    # Limits
    max_message_bytes: int = 1024 * 1024  # larger client frames are closed with 1009
    max_queued_messages: int = 2000  # "disconnect if 2000+ messages accumulate" (§5)
    transcript_limit: int = 10_000  # frames kept per session for inspection
    # WebSocket handshakes per client IP (§5: "20 connections per second or 600
    # connections per minute per IP address"); None: that limit is off.
    connections_per_ip_per_s: int | None = PARADEX_CONNECTIONS_PER_IP_PER_S
    connections_per_ip_per_min: int | None = PARADEX_CONNECTIONS_PER_IP_PER_MIN
    # How a handshake over those limits is refused (UNCONFIRMED): "http": HTTP 429
    # with Retry-After; "close": accepted, then closed 1013 "rate limit exceeded".
    connection_rate_refusal: str = "http"
    # Subscriptions per connection (UNCONFIRMED: Paradex documents no cap); None: off.
    max_subscriptions: int | None = DEFAULT_MAX_SUBSCRIPTIONS

    # Time (docs/time.md)
    clock: str = "real"  # one of CLOCKS
    speed: float = 1.0  # a real clock's pace; math.inf: as fast as the clients read
    clock_epoch_ms: int | None = None  # a virtual clock's start (None: VIRTUAL_EPOCH_MS)
    advance_pong_grace_s: float = ADVANCE_PONG_GRACE_S

    # Connections
    compression: bool = True  # accept permessage-deflate when the client offers it
    close_timeout_s: float = 0.5  # how long a close waits for the client's close frame

    # Control API
    control_api: bool = True  # False: no /_mock/ routes at all (404)
    # Required as `Authorization: Bearer <token>` on every /_mock/ request when set.
    # None on loopback: open; None beyond loopback: one is generated at start.
    control_token: str | None = None

    def __post_init__(self) -> None:
        for name in ("ping_interval_s", "pong_timeout_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or None for off), not {value}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, not {self.port}")
        for name in ("max_message_bytes", "max_queued_messages", "transcript_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("connections_per_ip_per_s", "connections_per_ip_per_min", "max_subscriptions"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1 (or None for off), not {value}")
        if self.connection_rate_refusal not in CONNECTION_RATE_REFUSALS:
            raise ConfigError(
                "connection_rate_refusal must be one of "
                f"{', '.join(CONNECTION_RATE_REFUSALS)}, not {self.connection_rate_refusal!r}"
            )
        self._check_clock()
        if self.close_timeout_s <= 0:
            raise ConfigError("close_timeout_s must be positive")
        if self.control_token is not None and not self.control_token.strip():
            raise ConfigError("control_token must not be empty (None: no token)")

    def _check_clock(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock must be one of {', '.join(CLOCKS)}, not {self.clock!r}")
        if not self.speed > 0:
            raise ConfigError(
                f"speed must be positive (math.inf: as fast as clients read), not {self.speed}"
            )
        if self.clock == "virtual" and self.speed != 1.0:
            raise ConfigError("speed goes with the real clock; a virtual clock moves when advanced")
        if self.clock_epoch_ms is not None and self.clock != "virtual":
            raise ConfigError("clock_epoch_ms goes with clock='virtual'")
        if self.advance_pong_grace_s < 0:
            raise ConfigError("advance_pong_grace_s must not be negative")

    @property
    def loopback(self) -> bool:
        """Whether the server listens on loopback only (no other machine can reach it)."""
        return self.host in LOOPBACK_HOSTS

    def but(self, **changes: object) -> MockConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def effective_control_token(config: MockConfig) -> str | None:
    """The token the control API requires: the configured one; a generated one when
    the server listens beyond loopback with none configured; else None (open)."""
    if not config.control_api:
        return None
    if config.control_token is not None:
        return config.control_token
    return None if config.loopback else secrets.token_urlsafe(24)
