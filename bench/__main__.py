"""``python -m bench [--smoke] [--json FILE] [--clients 1,10,...] [--deliveries N]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from bench.report import render
from bench.run import FULL, SMOKE, Settings, run


def settings_from(args: argparse.Namespace) -> Settings:
    settings = SMOKE if args.smoke else FULL
    changes: dict[str, object] = {}
    if args.clients:
        changes["clients"] = tuple(int(n) for n in args.clients.split(","))
    for name in ("deliveries", "replay_messages", "idle_connections", "ping_interval_s"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return dataclasses.replace(settings, **changes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (seconds)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--clients", help="comma-separated client counts (1,10,100,1000)")
    parser.add_argument("--deliveries", type=int, help="deliveries per fan-out run")
    parser.add_argument("--replay-messages", type=int, help="messages of the replay run")
    parser.add_argument("--idle-connections", type=int, help="for the memory row")
    parser.add_argument("--ping-interval-s", type=float, help="the mock's, under load")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(settings_from(args)))
    sys.stdout.write(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
