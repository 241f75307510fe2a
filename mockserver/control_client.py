"""``paradex-mock control``: the control API (``/_mock/``) from a shell script.

Stdlib only (urllib): each action is one HTTP request; the JSON reply is printed
indented on stdout and the exit code is 0. An HTTP error prints its message on
stderr and exits 1; a bad command line exits 2 (argparse)::

    paradex-mock control fault add close --target session=s1 code=4000 reason=bye
    paradex-mock control sessions --closed
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_URL = "PARADEX_MOCK_URL"
ENV_CONTROL_TOKEN = "PARADEX_MOCK_CONTROL_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 10.0
PREFIX = "/_mock"
YAML_TYPE = "application/yaml"
# The largest body the control API takes (aiohttp's default client_max_size): larger
# is refused here rather than half sent.
MAX_UPLOAD_BYTES = 1024 * 1024
_UNSET: Any = object()  # --count not given (None is --count unlimited)


class Request:
    """One control request: method, path under /_mock, an optional body."""

    def __init__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.method = method
        self.path = path
        self.data = data  # sent as it is (a scenario file's bytes: the server judges them)
        self.content_type = content_type
        if body is not None:
            self.data = json.dumps(body).encode()


# The command line


def add_parser(commands: Any, environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """Add ``control`` and its actions to the CLI's subcommands."""
    control = commands.add_parser(
        "control",
        help="drive a running server's control API (/_mock/)",
        description="Send one request to a running paradex-mock's control API and print "
        "the JSON reply. Exit 0; 1 for an HTTP error (its message on stderr); 2 for usage.",
    )
    control.add_argument(
        "--url",
        default=environ.get(ENV_URL, DEFAULT_URL),
        help=f"the server's HTTP URL (env {ENV_URL}; default %(default)s)",
    )
    control.add_argument(
        "--token",
        default=environ.get(ENV_CONTROL_TOKEN),
        help=f"the control token, sent as a Bearer token (env {ENV_CONTROL_TOKEN})",
    )
    actions = control.add_subparsers(dest="action", metavar="ACTION", required=True)

    sessions = actions.add_parser("sessions", help="list the open sessions")
    sessions.add_argument("--closed", action="store_true", help="the recently closed ones too")
    sessions.set_defaults(build=lambda a: Request("GET", "/sessions" + _query(closed=a.closed)))

    session = actions.add_parser("session", help="one session, with what its client sent")
    session.add_argument("id", metavar="ID")
    session.set_defaults(build=lambda a: Request("GET", f"/sessions/{_quote(a.id)}"))

    transcript = actions.add_parser(
        "transcript", help="every session's transcript, or one session's (frames, pings, close)"
    )
    transcript.add_argument("id", metavar="SESSION", nargs="?")
    transcript.set_defaults(build=_transcript_request)

    faults = actions.add_parser("faults", help="list the armed and active faults")
    faults.add_argument("--ended", action="store_true", help="the recently ended ones too")
    faults.set_defaults(build=lambda a: Request("GET", "/faults" + _query(ended=a.ended)))

    fault = actions.add_parser("fault", help="add or remove faults")
    fault_actions = fault.add_subparsers(dest="fault_action", metavar="add|rm|clear", required=True)
    _add_fault_add(fault_actions)
    rm = fault_actions.add_parser("rm", help="remove a fault by name")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(build=lambda a: Request("DELETE", f"/faults/{_quote(a.name)}"))
    clear = fault_actions.add_parser("clear", help="remove every fault")
    clear.set_defaults(build=lambda a: Request("DELETE", "/faults"))

    kinds = actions.add_parser("kinds", help="list the fault kinds the server knows")
    kinds.set_defaults(build=lambda a: Request("GET", "/kinds"))

    publish = actions.add_parser("publish", help="publish a message on a channel")
    publish.add_argument("channel", metavar="CHANNEL")
    publish.add_argument("data", metavar="DATA_JSON", type=_json_value)
    publish.add_argument("--account", help="private channels: only this account's sessions")
    publish.set_defaults(build=_publish_request)

    scenario = actions.add_parser("scenario", help="show the scenario, or load another")
    scenario_actions = scenario.add_subparsers(dest="scenario_action", metavar="load")
    scenario.set_defaults(build=lambda a: Request("GET", "/scenario"))
    load = scenario_actions.add_parser("load", help="replace the running scenario")
    source = load.add_mutually_exclusive_group(required=True)
    source.add_argument("name", metavar="NAME", nargs="?", help="a bundled scenario's name")
    source.add_argument("--file", type=Path, help="a scenario file here, sent as a YAML body")
    load.set_defaults(build=_load_request)

    reset = actions.add_parser("reset", help="back to the baseline: no faults, scenario restarted")
    reset.set_defaults(build=lambda a: Request("POST", "/reset"))

    control.set_defaults(run=run_control)
    return control


def _add_fault_add(fault_actions: Any) -> None:
    add = fault_actions.add_parser(
        "add",
        help="add a fault",
        description="Add a fault: KIND with envelope options and the kind's PARAM=VALUE "
        "parameters (a VALUE that parses as JSON is JSON, else a string); or --json ENVELOPE.",
    )
    add.add_argument("kind", metavar="KIND", nargs="?", help="`paradex-mock faults` lists them")
    add.add_argument("params", metavar="PARAM=VALUE", nargs="*", type=_param)
    add.add_argument("--json", dest="envelope", type=_json_value, help="the whole envelope")
    add.add_argument("--name")
    add.add_argument(
        "--target", type=_target, help="all, session=s1, connection=3, channel=NAME, account=ADDR"
    )
    add.add_argument("--probability", type=float)
    add.add_argument("--count", type=_count, default=_UNSET, help="N, or 'unlimited'")
    add.add_argument("--for", dest="duration", metavar="DURATION", help="'250ms', '2s' or seconds")
    trigger = add.add_mutually_exclusive_group()
    trigger.add_argument("--at", metavar="DURATION", help="start this long after it is added")
    trigger.add_argument(
        "--after", metavar="CHANNEL=N", type=_after, help="after N messages on CHANNEL"
    )
    trigger.add_argument("--on-subscribe", metavar="CHANNEL")
    trigger.add_argument("--on-auth", metavar="ACCOUNT", nargs="?", const=True)
    trigger.add_argument("--on-connection", metavar="K", type=int)
    add.set_defaults(build=_fault_add_request, parser=add)


def take_extra_params(
    args: argparse.Namespace, extras: list[str], parser: argparse.ArgumentParser
) -> None:
    """``fault add KIND --target ... code=4000``: argparse cannot take positionals after
    an option once it has matched them, so PARAM=VALUE words it left over join here."""
    if not extras:
        return
    misplaced = [word for word in extras if word.startswith("-") or "=" not in word]
    if getattr(args, "build", None) is not _fault_add_request or misplaced:
        parser.error(f"unrecognized arguments: {' '.join(misplaced or extras)}")
    args.params = [*args.params, *(_param(word) for word in extras)]


# Option types


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected PARAM=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _target(text: str) -> str | dict[str, Any]:
    if text == "all":
        return "all"
    kind, sep, value = text.partition("=")
    if not sep or not value or kind not in ("session", "connection", "channel", "account"):
        raise argparse.ArgumentTypeError(
            f"expected all, session=ID, connection=N, channel=NAME or account=ADDR, not {text!r}"
        )
    if kind == "connection":
        try:
            return {kind: int(value)}
        except ValueError:
            problem = f"connection=N takes a number, not {value!r}"
            raise argparse.ArgumentTypeError(problem) from None
    return {kind: value}


def _count(text: str) -> int | None:
    if text == "unlimited":
        return None
    try:
        return int(text)
    except ValueError:
        problem = f"expected a number or 'unlimited', not {text!r}"
        raise argparse.ArgumentTypeError(problem) from None


def _after(text: str) -> dict[str, Any]:
    channel, sep, messages = text.rpartition("=")
    try:
        return {"channel": channel, "messages": int(messages)} if sep and channel else {}
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected CHANNEL=N, not {text!r}")


def _query(**flags: bool) -> str:
    on = {name: "true" for name, value in flags.items() if value}
    return "?" + urllib.parse.urlencode(on) if on else ""


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


# Requests from the actions


def fault_envelope(args: argparse.Namespace) -> dict[str, Any]:
    """The fault envelope ``fault add``'s options describe."""
    envelope: dict[str, Any] = {"kind": args.kind}
    options = {
        "name": args.name,
        "target": args.target,
        "probability": args.probability,
        "for": args.duration,
        "at": args.at,
        "after": args.after,
        "on_subscribe": args.on_subscribe,
        "on_auth": args.on_auth,
        "on_connection": args.on_connection,
    }
    envelope.update({key: value for key, value in options.items() if value is not None})
    if args.count is not _UNSET:
        envelope["count"] = args.count
    if args.params:
        envelope["params"] = dict(args.params)
    return envelope


def _fault_add_request(args: argparse.Namespace) -> Request:
    parser: argparse.ArgumentParser = args.parser
    if args.envelope is not None:
        if args.kind is not None or args.params:
            parser.error("--json takes the whole envelope: give no KIND or PARAM=VALUE with it")
        return Request("POST", "/faults", body=args.envelope)
    if args.kind is None:
        parser.error("give a KIND (or --json ENVELOPE)")
    return Request("POST", "/faults", body=fault_envelope(args))


def _transcript_request(args: argparse.Namespace) -> Request:
    if args.id is None:
        return Request("GET", "/transcript")
    return Request("GET", f"/sessions/{_quote(args.id)}/transcript")


def _publish_request(args: argparse.Namespace) -> Request:
    body: dict[str, Any] = {"channel": args.channel, "data": args.data}
    if args.account is not None:
        body["account"] = args.account
    return Request("POST", "/publish", body=body)


def _load_request(args: argparse.Namespace) -> Request:
    if args.file is not None:
        try:
            with args.file.open("rb") as stream:  # bounded: /dev/zero is no scenario
                data = stream.read(MAX_UPLOAD_BYTES + 1)
        except OSError as error:
            problem = f"paradex-mock control: cannot read {args.file}: {error.strerror}"
            raise SystemExit(problem) from None
        if len(data) > MAX_UPLOAD_BYTES:
            problem = (
                f"paradex-mock control: {args.file} is larger than the {MAX_UPLOAD_BYTES} "
                "bytes the control API takes (serve it by name from --scenario-dir instead)"
            )
            raise SystemExit(problem)
        # Bytes as they are: the server reports a file that is not UTF-8 with its line.
        return Request("PUT", "/scenario", data=data, content_type=YAML_TYPE)
    return Request("PUT", "/scenario", body={"name": args.name})


# Sending


def send(url: str, token: str | None, request: Request) -> tuple[int, Any]:
    """Send ``request``; the HTTP status and the parsed JSON reply (raises URLError)."""
    headers = {"Accept": "application/json"}
    if request.data is not None:
        headers["Content-Type"] = request.content_type
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = urllib.request.Request(
        url.rstrip("/") + PREFIX + request.path,
        data=request.data,
        method=request.method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(http, timeout=TIMEOUT_S) as response:
            return response.status, _parse(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _parse(error.read())


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return {"error": text.strip() or "(an empty reply)"}


def run_control(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run one ``control`` action: print the reply; exit 0, or 1 for an HTTP error."""
    request: Request = args.build(args)
    try:
        status, reply = send(args.url, args.token, request)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"paradex-mock control: cannot reach {args.url}: {reason}", file=sys.stderr)
        return 1
    if status >= 400:
        message = reply.get("error") if isinstance(reply, dict) else None
        key = reply.get("key") if isinstance(reply, dict) else None
        where = f" ({key})" if key else ""
        print(f"paradex-mock control: HTTP {status}{where}: {message or reply}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2))
    return 0
