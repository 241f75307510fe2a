"""``paradex-mock record`` and ``paradex-mock import`` (docs/recording.md).

::

    paradex-mock record --channel bbo.BTC-USD-PERP --channel trades.ALL --duration 60 -o bbo.yaml
    paradex-mock import capture.jsonl -o replay.yaml

Both write a scenario file (``-o -``: stdout) and check that it loads; progress
and problems go to stderr. Exit codes: 0 written; 1 nothing recorded, a
connection or request that failed, or bad lines in a capture (each as
``file:line: problem``, nothing written, unless ``--skip-bad``); 2 a bad command line.
The token is read from ``--jwt`` or the environment (``PARADEX_MOCK_JWT``: a
command line is visible to every user of the machine) and never written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mockserver.channels import parse_channel
from mockserver.errors import RpcError, ScenarioError
from mockserver.record import DEFAULT_URL, RecordError
from mockserver.record.jsonl import DEFAULT_SPACING_S, read_capture
from mockserver.record.redact import Redactor
from mockserver.record.writer import Header, Recording
from mockserver.scenario import loader
from mockserver.scenario.model import TIMELINES
from mockserver.units import DURATION_HINT, parse_duration

ENV_JWT = "PARADEX_MOCK_JWT"
STDOUT = "-"
# Bad lines printed before "... and N more".
MAX_PROBLEMS_SHOWN = 50


def _duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{DURATION_HINT}, more than zero; got {text!r}")
    return seconds


def _spacing(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds < 0:
        raise argparse.ArgumentTypeError(f"{DURATION_HINT}; got {text!r}")
    return seconds


def _ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"not a WebSocket URL (ws://... or wss://...): {text!r}")
    return text


def _channel(text: str) -> str:
    try:
        parse_channel(text)
    except RpcError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Paradex channel ({error.detail or error.message}; "
            "`paradex-mock channels` lists them)"
        ) from None
    return text


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.yaml",
        required=True,
        help=f"the scenario file to write ('{STDOUT}': stdout)",
    )
    parser.add_argument("--name", help="the scenario's name (default: the output file's name)")
    parser.add_argument(
        "--loop",
        action="store_true",
        help="replay the recording forever (loop: its length on every channel)",
    )
    parser.add_argument(
        "--timeline",
        choices=TIMELINES,
        default="shared",
        help="shared: one stream from the server's start, as recorded (default); "
        "per_subscription: each subscription replays its channel from its subscribe",
    )


def add_parser(commands: Any, environ: Mapping[str, str]) -> None:
    """Add ``record`` and ``import`` to the CLI's subcommands."""
    # Imported here: mockserver.cli imports this module (it is fully loaded by the
    # time it builds its parser).
    from mockserver.cli import _at_least_one

    record = commands.add_parser(
        "record",
        help="record a live endpoint into a scenario",
        description="Connect to a Paradex WebSocket endpoint (testnet by default), subscribe, "
        "and write a scenario that replays what arrived with its original timing, private "
        "data and tokens redacted. Stops after --duration, --max-messages, or Ctrl-C.",
    )
    record.add_argument(
        "--url",
        type=_ws_url,
        default=DEFAULT_URL,
        help="the endpoint to record (default %(default)s: Paradex testnet)",
    )
    record.add_argument(
        "--channel",
        dest="channels",
        metavar="NAME",
        action="append",
        type=_channel,
        required=True,
        help="a channel to subscribe to and record; repeatable",
    )
    record.add_argument(
        "--jwt",
        metavar="TOKEN",
        default=environ.get(ENV_JWT) or None,
        help=f"authenticate first (needed for private channels; env {ENV_JWT})",
    )
    record.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_duration,
        help="stop this long after subscribing ('90', '5m'; default: until Ctrl-C)",
    )
    record.add_argument(
        "--max-messages",
        metavar="N",
        type=_at_least_one,
        help="stop once N notifications are recorded",
    )
    _output_options(record)
    record.set_defaults(run=_record_command)

    imports = commands.add_parser(
        "import",
        help="turn a JSON-lines capture into a scenario",
        description="Read a JSON-lines capture (raw frames, timestamped frames, or a "
        "paradex-mock transcript) and write the scenario that replays its subscription "
        "notifications. docs/recording.md describes the accepted lines.",
    )
    imports.add_argument("capture", metavar="CAPTURE.jsonl", type=Path)
    imports.add_argument("--session", help="of a transcript with several sessions, the one to take")
    imports.add_argument(
        "--spacing",
        metavar="DURATION",
        type=_spacing,
        default=DEFAULT_SPACING_S,
        help="the time between lines that carry none (default 100ms)",
    )
    imports.add_argument(
        "--skip-bad",
        action="store_true",
        help="report bad lines as warnings and import the rest",
    )
    _output_options(imports)
    imports.set_defaults(run=_import_command)


def _warn(text: str) -> None:
    print(f"paradex-mock: {text}", file=sys.stderr)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_name(output: str) -> str:
    return "recording" if output == STDOUT else Path(output).stem


def _check_output(output: str, parser: argparse.ArgumentParser) -> None:
    """Refuse an output that cannot be written before recording, not after."""
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        parser.error(f"-o {output}: a directory")
    if not path.parent.is_dir():
        parser.error(f"-o {output}: no directory {path.parent}")


def _write(recording: Recording, header: Header, output: str) -> int:
    """Write the scenario, and check it loads; the exit code."""
    if not recording.messages:
        _warn("no subscription notifications: nothing written")
        return 1
    text = recording.to_yaml(header)
    try:
        loader.loads(text, file=output, default_name=header.name)
    except ScenarioError as error:  # a bug of the writer: say so, and write nothing
        _warn(f"the recorded scenario does not load, nothing written:\n{error}")
        return 1
    if output == STDOUT:
        sys.stdout.write(text)
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            _warn(f"cannot write {output}: {error.strerror or error}")
            return 1
    channels = len({m.channel for m in recording.messages})
    where = "stdout" if output == STDOUT else output
    _warn(f"wrote {where}: {len(recording.messages)} messages on {channels} channel(s)")
    return 0


# record


def _record_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    private = [c for c in args.channels if parse_channel(c).private]
    if private and not args.jwt:
        parser.error(f"{', '.join(private)}: private, so a token is needed (--jwt or {ENV_JWT})")
    _check_output(args.output, parser)
    try:
        return asyncio.run(_record(args))
    except RecordError as error:
        _warn(str(error))
        return 1


async def _record(args: argparse.Namespace) -> int:
    recording = Recording(redactor=Redactor(token=args.jwt), subscribed=tuple(args.channels))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Imported here: aiohttp is not needed by the rest of the command line.
    from mockserver.record.capture import capture

    recorded_at = _now_iso()
    _warn(f"recording {', '.join(args.channels)} from {args.url} (Ctrl-C to stop)")
    try:
        result = await capture(
            args.url,
            args.channels,
            recording=recording,
            jwt=args.jwt,
            duration_s=args.duration,
            max_messages=args.max_messages,
            stop=stop,
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
    notes = [f"Ended by: {result.ended_by}."]
    if result.ended_by == "format limit":
        _warn("stopped at the scenario format's limits: record less (--duration, --max-messages)")
    if result.first_problem is not None:
        _warn(f"skipped notifications that a scenario cannot carry, first: {result.first_problem}")
    header = Header(
        name=args.name or _default_name(args.output),
        source=args.url,
        recorded_at=recorded_at,
        length_s=result.length_s,
        loop=args.loop,
        timeline=args.timeline,
        notes=tuple(notes),
    )
    return _write(recording, header, args.output)


# import


def _import_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_output(args.output, parser)
    recording = Recording()
    try:
        result = read_capture(
            args.capture, recording=recording, session=args.session, spacing_s=args.spacing
        )
    except RecordError as error:
        _warn(str(error))
        return 1
    for problem in result.problems[:MAX_PROBLEMS_SHOWN]:
        print(problem, file=sys.stderr)
    if len(result.problems) > MAX_PROBLEMS_SHOWN:
        print(f"... and {len(result.problems) - MAX_PROBLEMS_SHOWN} more", file=sys.stderr)
    if result.problems and not args.skip_bad:
        _warn(f"{len(result.problems)} bad line(s), nothing written (--skip-bad imports the rest)")
        return 1
    if result.other_sessions:
        others = ", ".join(sorted(result.other_sessions))
        _warn(f"took session {result.session}; left out the notifications of {others} (--session)")
    if result.full:
        _warn("stopped at the scenario format's limits: the rest of the capture is left out")
    notes = [
        f"{result.lines} line(s) read; {result.skipped_frames} other frame(s) skipped "
        "(not subscription notifications)."
    ]
    if result.session is not None:
        notes.append(f"Transcript session: {result.session}.")
    header = Header(
        name=args.name or _default_name(args.output),
        source=str(args.capture),
        imported=True,
        loop=args.loop,
        timeline=args.timeline,
        notes=tuple(notes),
    )
    return _write(recording, header, args.output)
