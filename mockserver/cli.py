"""The ``paradex-mock`` command: ``serve``, ``validate``, ``channels``, ``scenarios``,
``faults``, ``control`` (a client of the control API: ``control_client.py``), and
``record`` and ``import`` (real traffic into a scenario: ``record/cli.py``).

Thin over ``MockServer``: it turns options (and, for the container, a few
environment variables) into one ``MockConfig`` and runs the very server the
pytest fixture runs. It is the only module that reads the environment (``control_client`` is
handed it).

``serve`` prints one line to stdout, the WebSocket URL, once the socket accepts
connections; that line is the readiness signal scripts wait for. (When it
generated a control token, because it listens beyond loopback with none given,
a second line follows: ``control token: <token>``.) Everything else (logs,
errors) goes to stderr. SIGINT and SIGTERM close every connection with 1001
(going away) and exit 0.

Exit codes: 0 success, 1 a scenario that cannot be used or a port that cannot
be bound (``validate``: a file with problems), 2 a bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mockserver import __version__, control_client
from mockserver.channels import CATALOGUE
from mockserver.config import (
    CONNECTION_RATE_REFUSALS,
    PARADEX_PING_INTERVAL_S,
    PARADEX_PONG_TIMEOUT_S,
    MockConfig,
)
from mockserver.errors import ConfigError, ScenarioError
from mockserver.record import cli as record_cli
from mockserver.scenario import loader

PROG = "paradex-mock"

# Environment variables: defaults for the container, overridden by options.
ENV_HOST = "PARADEX_MOCK_HOST"
ENV_PORT = "PARADEX_MOCK_PORT"
ENV_SCENARIO = "PARADEX_MOCK_SCENARIO"
# One directory, or several separated by os.pathsep (':' on Linux).
ENV_SCENARIO_DIR = "PARADEX_MOCK_SCENARIO_DIR"
ENV_CONTROL_TOKEN = control_client.ENV_CONTROL_TOKEN

LOG_LEVELS = ("debug", "info", "warning", "error")
OFF = "off"

log = logging.getLogger(__name__)


# Option types


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, not {port}")
    return port


def _seconds_or_off(text: str) -> float | None:
    """Positive seconds; ``0`` or ``off`` switch the timer off (``None`` in ``MockConfig``)."""
    if text.strip().lower() == OFF:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if seconds < 0 or seconds != seconds:  # negative or NaN
        raise argparse.ArgumentTypeError(f"must be positive, 0 or '{OFF}', not {text!r}")
    return seconds or None


def _speed(text: str) -> float:
    """A positive factor, or ``max`` (infinite: as fast as the clients read)."""
    if text.strip().lower() == "max":
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (a factor, or max)") from None
    if not 0 < speed < math.inf:
        raise argparse.ArgumentTypeError(f"speed must be a positive factor, or max, not {text}")
    return speed


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _count_or_off(text: str) -> int | None:
    """A positive integer; ``0`` or ``off`` switch the limit off (``None`` in ``MockConfig``)."""
    if text.strip().lower() in (OFF, "0"):
        return None
    return _at_least_one(text)


# The command line


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``environ`` supplies the container defaults."""
    env = os.environ if environ is None else environ
    defaults = MockConfig()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A local mock of the Paradex WebSocket API (JSON-RPC 2.0 on /v1).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the mock server",
        description="Run the mock server. Prints the WebSocket URL on stdout once it is ready.",
    )
    network = serve.add_argument_group("network")
    network.add_argument(
        "--host",
        default=env.get(ENV_HOST, defaults.host),
        help=f"interface to listen on (env {ENV_HOST}; default %(default)s)",
    )
    network.add_argument(
        "--port",
        type=_port,
        default=None,  # then the environment's, then MockConfig's (see _serve_command)
        help=f"port to listen on, 0 for any free port (env {ENV_PORT}; default {defaults.port})",
    )
    scenario = serve.add_argument_group("scenario")
    scenario.add_argument(
        "--scenario",
        metavar="PATH_OR_NAME",
        default=env.get(ENV_SCENARIO, str(defaults.scenario)),
        help=f"a scenario file, or the name of one (env {ENV_SCENARIO}; default %(default)s)",
    )
    scenario.add_argument(
        "--scenario-dir",
        metavar="DIR",
        dest="scenario_dirs",
        action="append",
        type=Path,
        default=None,
        help="search DIR for scenario names before the bundled ones; repeatable "
        f"(default: env {ENV_SCENARIO_DIR}, directories separated by '{os.pathsep}')",
    )
    scenario.add_argument(
        "--seed", type=int, default=None, help="override the scenario's random seed"
    )
    scenario.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="FACTOR|max",
        help="run the clock FACTOR times faster (pings, scenario, market, faults, "
        "timestamps); 'max': replay as fast as the clients read (docs/time.md)",
    )
    keepalive = serve.add_argument_group("keepalive")
    keepalive.add_argument(
        "--ping-interval",
        metavar="SECONDS",
        type=_seconds_or_off,
        default=PARADEX_PING_INTERVAL_S,
        help="seconds between the server's pings; 0 or 'off': never ping (default %(default)s)",
    )
    keepalive.add_argument(
        "--pong-timeout",
        metavar="SECONDS",
        type=_seconds_or_off,
        default=PARADEX_PONG_TIMEOUT_S,
        help="seconds a client has to answer a ping; 0 or 'off': wait forever "
        "(default %(default)s)",
    )
    limits = serve.add_argument_group("limits")
    limits.add_argument(
        "--max-message-bytes",
        metavar="N",
        type=_at_least_one,
        default=defaults.max_message_bytes,
        help="close a connection with 1009 for a larger client frame (default %(default)s)",
    )
    limits.add_argument(
        "--max-queued-messages",
        metavar="N",
        type=_at_least_one,
        default=defaults.max_queued_messages,
        help="disconnect a client once this many frames wait unsent (default %(default)s)",
    )
    for unit, window in (("s", "second"), ("min", "minute")):  # Paradex's limits (§5)
        limits.add_argument(
            f"--connections-per-ip-per-{unit}",
            metavar="N",
            type=_count_or_off,
            default=getattr(defaults, f"connections_per_ip_per_{unit}"),
            help=f"WebSocket handshakes allowed per {window} per client IP; 0 or 'off': "
            "no limit (default %(default)s)",
        )
    limits.add_argument(
        "--connection-rate-refusal",
        choices=CONNECTION_RATE_REFUSALS,
        default=defaults.connection_rate_refusal,
        help="a handshake over those limits: 'http' answers 429 with Retry-After, 'close' "
        "accepts it then closes with 1013 (default %(default)s)",
    )
    limits.add_argument(
        "--max-subscriptions",
        metavar="N",
        type=_count_or_off,
        default=defaults.max_subscriptions,
        help="subscriptions one connection may hold; 0 or 'off': no cap (default %(default)s)",
    )
    limits.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="refuse permessage-deflate even when the client offers it",
    )
    control = serve.add_argument_group("control API (/_mock/)")
    control.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=env.get(ENV_CONTROL_TOKEN) or None,
        help="require 'Authorization: Bearer TOKEN' on the control API (env "
        f"{ENV_CONTROL_TOKEN}; default: none on loopback, a generated one beyond it)",
    )
    control.add_argument(
        "--no-control",
        dest="control_api",
        action="store_false",
        help="serve no control API at all (/_mock/ is 404)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="how much to log on stderr (default %(default)s)",
    )
    serve.set_defaults(
        run=_serve_command,
        env_port=env.get(ENV_PORT),
        env_scenario_dirs=env.get(ENV_SCENARIO_DIR, ""),
    )

    validate = commands.add_parser(
        "validate",
        help="check scenario files",
        description="Load each scenario file; print 'FILE: ok' or every problem found in it.",
    )
    validate.add_argument("files", metavar="FILE", nargs="+", type=Path)
    validate.set_defaults(run=_validate_command)

    channels = commands.add_parser("channels", help="list the channels the mock serves")
    channels.set_defaults(run=_channels_command)

    scenarios = commands.add_parser("scenarios", help="list the bundled scenarios")
    scenarios.set_defaults(run=_scenarios_command)

    faults = commands.add_parser("faults", help="list the fault kinds and their parameters")
    faults.set_defaults(run=_faults_command)

    control_client.add_parser(commands, env)
    record_cli.add_parser(commands, env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    control_client.take_extra_params(args, extras, parser)
    return int(args.run(args, parser))


# serve


def _listen_port(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.port is not None:
        return int(args.port)
    if args.env_port is None:
        return MockConfig().port
    try:
        return _port(args.env_port)
    except argparse.ArgumentTypeError as error:
        parser.error(f"{ENV_PORT}={args.env_port!r}: {error}")


def _scenario_dirs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Path, ...]:
    if args.scenario_dirs is not None:
        # Given on the command line: a typo should not silently fall back to the bundled ones.
        for directory in args.scenario_dirs:
            if not directory.is_dir():
                parser.error(f"--scenario-dir {directory}: not a directory")
        return tuple(args.scenario_dirs)
    # From the environment: the container's /scenarios exists only when mounted.
    return tuple(Path(d) for d in args.env_scenario_dirs.split(os.pathsep) if d)


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> MockConfig:
    """The ``MockConfig`` that ``serve``'s options (and the environment) describe."""
    try:
        return MockConfig(
            host=args.host,
            port=_listen_port(args, parser),
            scenario=args.scenario,
            scenario_dirs=_scenario_dirs(args, parser),
            seed=args.seed,
            speed=args.speed,
            ping_interval_s=args.ping_interval,
            pong_timeout_s=args.pong_timeout,
            max_message_bytes=args.max_message_bytes,
            max_queued_messages=args.max_queued_messages,
            connections_per_ip_per_s=args.connections_per_ip_per_s,
            connections_per_ip_per_min=args.connections_per_ip_per_min,
            connection_rate_refusal=args.connection_rate_refusal,
            max_subscriptions=args.max_subscriptions,
            compression=args.compression,
            control_api=args.control_api,
            control_token=args.control_token,
        )
    except ConfigError as error:
        parser.error(str(error))


def _serve_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    config = config_from_args(args, parser)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code = asyncio.run(serve(config))
    # The process exits next. Freezing spares the interpreter's final collections a
    # walk through every object the server made: 0.1-0.3 s of the one second that
    # SIGTERM (Docker's stop) gives, measured; exit itself (atexit, flushing) is unchanged.
    gc.freeze()
    return code


async def serve(config: MockConfig) -> int:
    """Serve until SIGINT or SIGTERM; print the URL on stdout once ready. Returns the exit code."""
    # Imported here: `control`, run once per line of a shell script, needs none of it.
    from mockserver.server import MockServer

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows has no add_signal_handler: Ctrl-C still raises KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    try:
        try:
            # The scenario loads here, before anything listens.
            server = MockServer(config)
        except ScenarioError as error:
            print(error, file=sys.stderr)
            return 1
        try:
            await server.start()
        except OSError as error:
            await server.stop()
            print(_listen_problem(config, error), file=sys.stderr)
            return 1
        try:
            print(server.ws_url, flush=True)
            if server.control_token is not None and config.control_token is None:
                print(f"control token: {server.control_token}", flush=True)
            await stopping.wait()
            log.info("stopping: closing %d connection(s) with 1001", len(server.sessions))
        finally:
            await server.stop()
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)


def _listen_problem(config: MockConfig, error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.errno is not None and error.errno in _ADDRESS_IN_USE:
        reason = "the port is already in use (pick another with --port, or 0 for any free port)"
    return f"{PROG}: cannot listen on {config.host}:{config.port}: {reason}"


# errno.EADDRINUSE, and Windows' WSAEADDRINUSE.
_ADDRESS_IN_USE = frozenset({errno.EADDRINUSE, 10048})


# validate


def _validate_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    failed = 0
    for file in args.files:
        try:
            loader.load_file(file)
        except ScenarioError as error:
            failed += 1
            print(error)
        else:
            print(f"{file}: ok")
    return 1 if failed else 0


# channels


def _channels_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    rows: list[tuple[str, ...]] = [("FAMILY", "ACCESS", "FED BY", "SCHEMA", "NAMES", "SUMMARY")]
    for family in CATALOGUE:
        access = "private" if family.private else "public"
        schema = family.schema or "(unpublished)"
        for i, form in enumerate(family.forms):
            if i == 0:
                rows.append((family.family, access, family.fed_by, schema, form, family.summary))
            else:
                rows.append(("", "", "", "", form, ""))
    print(_table(rows))
    print("\nPrivate channels need `auth` first. {market}: a symbol such as BTC-USD-PERP.")
    print("SCHEMA: the payload's name in AsyncAPI's components.schemas (see README, Channels).")
    return 0


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


# scenarios


def _scenarios_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    rows: list[tuple[str, str]] = [("NAME", "DESCRIPTION")]
    for name in loader.bundled_names():
        try:
            description = loader.load(name).description.strip() or "(no description)"
        except ScenarioError as error:
            description = f"(cannot be loaded: {error.problem})"
        # A multi-line description is shown by its first line.
        rows.append((name, description.splitlines()[0]))
    print(_table(rows))
    return 0


# faults


def _faults_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mockserver.faults.decode import KINDS  # registers every kind

    rows: list[tuple[str, ...]] = [("KIND", "PARAMS (defaults)", "SUMMARY")]
    for name in sorted(KINDS):
        kind = KINDS[name]
        params = " ".join(f"{key}={json.dumps(value)}" for key, value in kind.param_docs().items())
        rows.append((name, params or "-", kind.summary().replace("``", "")))
    print(_table(rows))
    print("\ndocs/faults.md documents every kind, target and trigger.")
    return 0
