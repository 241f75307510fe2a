"""Hostile scenario input: every bad file is one clear ``file:line: problem``, quickly.

Through each door a scenario comes in: the loader (``load_file``), ``paradex-mock
validate`` and ``serve --scenario`` (subprocesses: a message and exit 1, never a
traceback), the fixture factory, and the control API's upload (``PUT
/_mock/scenario``: a bundled name or a YAML body, never a path). Every load is
timed: a bomb is refused in well under a second, an enormous file in seconds.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from serve_process import PARADEX_MOCK, RUN_TIMEOUT_S, clean_env

from mockserver.cli import main
from mockserver.errors import ScenarioErrors
from mockserver.pytest_plugin import MockServerFactory
from mockserver.scenario import loader
from mockserver.scenario.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from mockserver.server import MockServer

# Bounds, generous for a loaded 2-core machine: what the issue calls "well under
# a second" (measured: a few milliseconds), and "never a hang" for a file of
# 400,000 values (measured: ~0.2 s; composing it would take ~3 s and 130 MB).
BOMB_S = 1.0
ENORMOUS_S = 5.0

HEAD = "markets: [BTC-USD-PERP]\nchannels:\n  trades.BTC-USD-PERP:\n    messages:\n"
MESSAGE = "s.yaml:5: channels.trades.BTC-USD-PERP.messages[0]"  # where HEAD's message sits


def laughs(levels: int = 9) -> str:
    """A billion laughs: ten aliases of ten aliases ... of ten values, 10**levels in all."""
    lines = ["x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n" + HEAD + f"      - {{data: {{x: *l{levels}}}}}\n"


def nested(depth: int) -> str:
    """A message whose payload nests ``depth`` lists."""
    return HEAD + f"      - {{data: {{x: {'[' * depth}{']' * depth}}}}}\n"


# (file content, the loader's whole report with {f} for the file, the time bound)
HOSTILE: dict[str, tuple[bytes, str, float]] = {
    "syntax-error": (
        b"markets: [BTC-USD-PERP\nchannels: {}\n",
        "{f}:2: YAML syntax: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts on line 1)",
        BOMB_S,
    ),
    "tab-indent": (
        b"markets:\n\t- BTC-USD-PERP\n",
        "{f}:2: YAML syntax: found character that cannot start any token "
        "(a tab: YAML indents with spaces only)",
        BOMB_S,
    ),
    "unclosed-quote": (
        b'seed: 1\nname: "abc\ndescription: x\n',
        "{f}:4: YAML syntax: found unexpected end of stream "
        "(while scanning a quoted scalar that starts on line 2)",
        BOMB_S,
    ),
    "control-character": (
        b"seed: 1\nname: a\x07b\n",
        "{f}:2: YAML: control characters are not allowed (U+0007)",
        BOMB_S,
    ),
    "latin-1": (
        b"seed: 1\nname: caf\xe9\n",
        "{f}:2: not UTF-8 text (invalid continuation byte at byte 17)",
        BOMB_S,
    ),
    "utf-16": (
        "seed: 1\n".encode("utf-16"),
        "{f}:1: not UTF-8 text (invalid start byte at byte 0)",
        BOMB_S,
    ),
    "binary": (
        bytes(range(256)) * 4,
        "{f}:2: not UTF-8 text (invalid start byte at byte 128)",
        BOMB_S,
    ),
    "empty": (b"", "{f}: the file is empty", BOMB_S),
    "only-null": (b"~\n", "{f}:1: expected a mapping, got nothing (null)", BOMB_S),
    "a-list": (b"- seed: 1\n", "{f}:1: expected a mapping, got a list", BOMB_S),
    "a-scalar": (b"just some text\n", "{f}:1: expected a mapping, got 'just some text'", BOMB_S),
    "two-documents": (
        b"seed: 1\n---\nseed: 2\n",
        "{f}:2: YAML syntax: but found another document "
        "(expected a single document in the stream that starts on line 1)",
        BOMB_S,
    ),
    "python-tag": (
        b"seed: !!python/object/apply:os.system [echo hi]\n",
        "{f}:1: seed: expected a single value, got a !!python/object/apply:os.system list",
        BOMB_S,
    ),
    "billion-laughs": (
        laughs().encode(),
        "{f}:5: channels.trades.BTC-USD-PERP.messages[0].data.x[0][0][0][0][1]: the file "
        f"expands to more than {MAX_NODES} values (aliases are counted each time they are "
        "used); refusing to expand it",
        BOMB_S,
    ),
    "recursive-alias": (
        (HEAD + "      - data: &a {x: [*a]}\n").encode(),
        "{f}:5: channels.trades.BTC-USD-PERP.messages[0].data.x[0]: an alias here refers to a "
        "value that contains it, so it would never end",
        BOMB_S,
    ),
    "deep-nesting": (
        nested(MAX_DEPTH * 2).encode(),
        "{f}:5: channels.trades.BTC-USD-PERP.messages[0].data.x"
        + "[0]" * (MAX_DEPTH - 1)
        + f": nested more than {MAX_DEPTH} levels deep",
        BOMB_S,
    ),
    "deeper-than-libyaml": (
        nested(5000).encode(),
        "{f}:5: YAML syntax: exceeded maximum nesting depth",
        BOMB_S,
    ),
    "many-values": (  # 800 kB: under the control API's 1 MiB limit on a body
        b"x-unused: [" + b"1," * 400_000 + b"1]\n",
        f"{{f}}:1: the file has more than {MAX_NODES} values; refusing to read it",
        ENORMOUS_S,
    ),
}


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    return path


def timed_report(load: Callable[[], Any]) -> tuple[str, float]:
    """The report of a load that must fail, and the seconds it took."""
    started = time.perf_counter()
    with pytest.raises(ScenarioErrors) as caught:
        load()
    return str(caught.value), time.perf_counter() - started


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file_is_one_clear_problem_quickly(tmp_path: Path, case: str) -> None:
    """Each hostile file is refused with its file:line and problem, within its time bound."""
    content, expected, bound_s = HOSTILE[case]
    path = write(tmp_path, case, content)
    report, took_s = timed_report(lambda: loader.load_file(path))
    assert report == expected.format(f=path)
    assert took_s < bound_s


def test_enormous_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 50 MB file is refused by its size: unread (its first byte is not even UTF-8)."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.write(b"\xff")
        stream.truncate(50 * 1024 * 1024)  # sparse: costs no disk
    report, took_s = timed_report(lambda: loader.load_file(path))
    assert report == f"{path}: the file is 52428800 bytes; a scenario may have {MAX_FILE_BYTES}"
    assert took_s < BOMB_S


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_endless_device_is_read_no_further_than_the_limit() -> None:
    """A device with no size (/dev/zero) is read up to the limit, then refused."""
    report, took_s = timed_report(lambda: loader.load_file("/dev/zero"))
    assert report == f"/dev/zero: larger than the {MAX_FILE_BYTES} bytes a scenario may have"
    assert took_s < ENORMOUS_S


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory given as the scenario file is one problem naming it."""
    report, _ = timed_report(lambda: loader.load_file(tmp_path))
    assert report == f"{tmp_path}: cannot read: Is a directory"


def test_oversized_text_is_refused_by_loads() -> None:
    """Text handed to ``loads`` (the control API's upload, a test) has the same size limit."""
    report, took_s = timed_report(lambda: loader.loads("#" * (MAX_FILE_BYTES + 1), file="t"))
    assert report == f"t: larger than the {MAX_FILE_BYTES} bytes a scenario may have"
    assert took_s < BOMB_S


# Wrong types and unknown keys, section by section: (YAML, where the problem is reported)

M = "markets: [BTC-USD-PERP]\n"
MS = "markets: {BTC-USD-PERP: {"  # a market's settings, closed by the case
CH = M + "channels: {bbo.BTC-USD-PERP: "  # a channel, closed by the case
MSG = M + "channels: {bbo.BTC-USD-PERP: {messages: [{data: {}, "  # a message, closed by the case
SYN = M + "synthetic: {"  # the synthetic market's settings, closed by the case
WRONG_TYPES: list[tuple[str, str]] = [
    ("version: x\n", "1: version"),
    ("name: [a]\n", "1: name"),
    ("description: {a: 1}\n", "1: description"),
    ("seed: x\n", "1: seed"),
    ("markets: 5\n", "1: markets"),
    ("markets: [5]\n", "1: markets[0]"),
    ("timeline: [shared]\n", "1: timeline"),
    ("behaviour: [x]\n", "1: behaviour"),
    ("behaviour: {reply_to_notifications: maybe}\n", "1: behaviour.reply_to_notifications"),
    ("behaviour: {unknown_markets: 1}\n", "1: behaviour.unknown_markets"),
    ("behaviour: {on_pong_timeout: [1]}\n", "1: behaviour.on_pong_timeout"),
    ("behaviour: {on_pong_timeout: {close: x}}\n", "1: behaviour.on_pong_timeout.close"),
    ("auth: 5\n", "1: auth"),
    ("auth: {accounts: 0x1}\n", "1: auth.accounts"),
    ("auth: {fail_with: 1}\n", "1: auth.fail_with"),
    ("errors: [x]\n", "1: errors"),
    ("errors: {parse_error: 5}\n", "1: errors.parse_error"),
    ("errors: {parse_error: {code: x}}\n", "1: errors.parse_error.code"),
    ("errors: {parse_error: {message: [x]}}\n", "1: errors.parse_error.message"),
    ("errors: {parse_error: {data: {}}}\n", "1: errors.parse_error.data"),
    ("markets: {BTC-USD-PERP: 5}\n", "1: markets.BTC-USD-PERP"),
    *((f"{MS}{field}: {value}}}}}\n", f"1: markets.BTC-USD-PERP.{field}") for field, value in [
        ("price", "x"), ("tick", "[1]"), ("size_increment", "{}"), ("volatility", "x"),
        ("book_levels", "1.5"), ("level_size", "x"), ("trades_per_s", "x"),
        ("funding_period_hours", "x"),
    ]),
    (M + "synthetic: 5\n", "2: synthetic"),
    (SYN + "channels: 5}\n", "2: synthetic.channels"),
    (SYN + "clock: 1}\n", "2: synthetic.clock"),
    (SYN + "clock: scenario, epoch: x}\n", "2: synthetic.epoch"),
    (SYN + "collateral: x}\n", "2: synthetic.collateral"),
    (SYN + "book: [x]}\n", "2: synthetic.book"),
    (
        SYN + "book: {BTC-USD-PERP: {bids: 5, asks: [[1, 1]]}}}\n",
        "2: synthetic.book.BTC-USD-PERP.bids",
    ),
    (M + "channels: [bbo.BTC-USD-PERP]\n", "2: channels"),
    (CH + "5}\n", "2: channels.bbo.BTC-USD-PERP"),
    (CH + "{timeline: 1}}\n", "2: channels.bbo.BTC-USD-PERP.timeline"),
    (CH + "{loop: x}}\n", "2: channels.bbo.BTC-USD-PERP.loop"),
    (CH + "{on_subscribe: 5}}\n", "2: channels.bbo.BTC-USD-PERP.on_subscribe"),
    (CH + "{messages: {}}}\n", "2: channels.bbo.BTC-USD-PERP.messages"),
    (CH + "{messages: [5]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0]"),
    (CH + "{messages: [{data: 5}]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0].data"),
    (MSG + "at: x}]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0].at"),
    (MSG + "every: x}]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0].every"),
    (MSG + "every: 1, count: x}]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0].count"),
    (
        "channels: {account: {messages: [{data: {}, account: [1]}]}}\n",
        "1: channels.account.messages[0].account",
    ),
    ("faults: {kind: close}\n", "1: faults"),
    ("faults: [5]\n", "1: faults[0]"),
    ("faults: [{kind: 5}]\n", "1: faults[0].kind"),
    ("faults: [{kind: close, probability: x}]\n", "1: faults[0].probability"),
    ("faults: [{kind: close, count: x}]\n", "1: faults[0].count"),
    ("faults: [{kind: close, params: {code: x}}]\n", "1: faults[0].params.code"),
]  # fmt: skip
UNKNOWN_KEYS: list[tuple[str, str]] = [
    ("bogus: 1\n", "1: bogus"),
    (MS + "bogus: 1}}\n", "1: markets.BTC-USD-PERP.bogus"),
    ("behaviour: {bogus: 1}\n", "1: behaviour.bogus"),
    ("behaviour: {on_pong_timeout: {close: 4000, bogus: 1}}\n",
     "1: behaviour.on_pong_timeout.bogus"),
    ("auth: {bogus: 1}\n", "1: auth.bogus"),
    ("errors: {bogus: {}}\n", "1: errors.bogus"),
    ("errors: {parse_error: {bogus: 1}}\n", "1: errors.parse_error.bogus"),
    (SYN + "bogus: 1}\n", "2: synthetic.bogus"),
    (SYN + "book: {BTC-USD-PERP: {bids: [], asks: [], bogus: 1}}}\n",
     "2: synthetic.book.BTC-USD-PERP.bogus"),
    (CH + "{bogus: 1}}\n", "2: channels.bbo.BTC-USD-PERP.bogus"),
    (MSG + "bogus: 1}]}}\n", "2: channels.bbo.BTC-USD-PERP.messages[0].bogus"),
    (MSG.replace("data: {}", "data: {x: !decimal {min: 1, max: 2, step: 1, bogus: 1}}") + "}]}}\n",
     "2: channels.bbo.BTC-USD-PERP.messages[0].data.x.bogus"),
    (MSG.replace("data: {}", "data: {x: !seq {bogus: 1}}") + "}]}}\n",
     "2: channels.bbo.BTC-USD-PERP.messages[0].data.x.bogus"),
    ("faults: [{kind: close, bogus: 1}]\n", "1: faults[0].bogus"),
    ("faults: [{kind: close, params: {bogus: 1}}]\n", "1: faults[0].params.bogus"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "where"), WRONG_TYPES, ids=[w for _, w in WRONG_TYPES])
def test_wrong_type_is_one_problem_at_its_line_and_key(text: str, where: str) -> None:
    """A value of the wrong type anywhere is one problem naming its line and dotted key."""
    report, took_s = timed_report(lambda: loader.loads(text, file="s.yaml"))
    assert report.startswith(f"s.yaml:{where}: "), report
    assert "\n" not in report
    assert took_s < BOMB_S


@pytest.mark.parametrize(("text", "where"), UNKNOWN_KEYS, ids=[w for _, w in UNKNOWN_KEYS])
def test_unknown_key_at_any_level_is_refused(text: str, where: str) -> None:
    """An unknown key at any level is a problem naming its line and dotted key."""
    report, _ = timed_report(lambda: loader.loads(text, file="s.yaml"))
    assert f"s.yaml:{where}: unknown key (expected one of: " in report, report


# The command line: a message and exit 1, never a traceback

CLI_CASES = ("billion-laughs", "many-values", "latin-1", "tab-indent", "a-list", "empty")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PARADEX_MOCK, *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )


def hostile_files(tmp_path: Path, cases: tuple[str, ...]) -> list[tuple[Path, str]]:
    """The named HOSTILE cases as files, each with the report expected for it."""
    return [
        (path, HOSTILE[case][1].format(f=path))
        for case in cases
        for path in [write(tmp_path, case, HOSTILE[case][0])]
    ]


def test_validate_reports_every_hostile_file_and_exits_1(tmp_path: Path) -> None:
    """`validate` on hostile files prints each one's report, no traceback, and exits 1."""
    files = hostile_files(tmp_path, CLI_CASES)
    good = write(tmp_path, "good", b"seed: 1\n")
    result = run_cli("validate", *(str(p) for p, _ in files), str(good))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [*(report for _, report in files), f"{good}: ok"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["billion-laughs", "latin-1", "a-scalar"])
def test_serve_with_a_hostile_scenario_exits_1_with_the_report(tmp_path: Path, case: str) -> None:
    """`serve --scenario FILE` with a hostile file: the report on stderr, exit 1, no URL."""
    [(path, report)] = hostile_files(tmp_path, (case,))
    result = run_cli("serve", "--port", "0", "--scenario", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == report
    assert result.stdout == ""


async def test_factory_raises_the_loader_error(
    tmp_path: Path, paradex_mock_factory: MockServerFactory
) -> None:
    """The fixture factory given a bomb raises the loader's ScenarioErrors, with file:line."""
    [(path, report)] = hostile_files(tmp_path, ("billion-laughs",))
    with pytest.raises(ScenarioErrors) as caught:
        await paradex_mock_factory(scenario=path)
    assert str(caught.value) == report


@pytest.mark.paradex_mock(scenario="empty")
@pytest.mark.parametrize("case", ["latin-1", "billion-laughs"])
async def test_control_load_file_reports_the_servers_problem(
    tmp_path: Path, paradex_mock: MockServer, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """`control scenario load --file` sends the file's bytes as they are: the server's
    report (its line) on stderr, exit 1, no traceback."""
    [(path, _)] = hostile_files(tmp_path, (case,))
    argv = ["control", "--url", paradex_mock.url, "scenario", "load", "--file", str(path)]
    code = await asyncio.to_thread(main, argv)
    expected = HOSTILE[case][1].format(f="<request body>")
    assert (code, capsys.readouterr().err) == (1, f"paradex-mock control: HTTP 400: {expected}\n")
    assert paradex_mock.scenario.name == "empty"


def test_control_load_file_too_large_is_refused_before_sending(tmp_path: Path) -> None:
    """A file over the control API's 1 MiB is refused by `control` itself, unsent."""
    path = write(tmp_path, "large", b"#" * (2 * 1024 * 1024))
    url = "http://127.0.0.1:9"  # nothing listens: the file must be refused first
    with pytest.raises(SystemExit, match="larger than the 1048576 bytes the control API takes"):
        main(["control", "--url", url, "scenario", "load", "--file", str(path)])


# The control API: a bundled name or an uploaded body, never a path

YAML = {"Content-Type": "application/yaml"}


async def put_scenario(server: MockServer, **options: Any) -> tuple[int, str, dict[str, Any]]:
    """PUT /_mock/scenario: the status, content type and JSON body of the reply."""
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"http://127.0.0.1:{server.port}/_mock/scenario",
            timeout=aiohttp.ClientTimeout(ENORMOUS_S * 2),
            **options,
        ) as response,
    ):
        return response.status, response.content_type, await response.json()


@pytest.mark.paradex_mock(scenario="empty")
@pytest.mark.parametrize(
    "name",
    ["../scenarios/default", "/etc/passwd", "..", "default.yaml", "http://example.com/s.yaml",
     "file:///etc/passwd", "~/s", "default\x00", ""],
    ids=["relative", "absolute", "dot-dot", "file-name", "url", "file-url", "home", "nul", "empty"],
)  # fmt: skip
async def test_control_api_never_loads_a_path(paradex_mock: MockServer, name: str) -> None:
    """A scenario name that is a path, a URL or not a name is 400 JSON; nothing changes."""
    status, content_type, body = await put_scenario(paradex_mock, json={"name": name})
    assert (status, content_type) == (400, "application/json")
    assert body["error"].startswith("not a scenario name: ")
    assert paradex_mock.scenario.name == "empty"


@pytest.mark.paradex_mock(scenario="empty")
@pytest.mark.parametrize("case", ["billion-laughs", "many-values", "latin-1", "deep-nesting"])
async def test_uploaded_hostile_scenario_is_400_with_its_line(
    paradex_mock: MockServer, case: str
) -> None:
    """A hostile YAML body is 400 with the loader's report on <request body>, in time."""
    content, expected, bound_s = HOSTILE[case]
    started = time.perf_counter()
    status, content_type, body = await put_scenario(paradex_mock, data=content, headers=YAML)
    took_s = time.perf_counter() - started
    assert (status, content_type) == (400, "application/json")
    assert body == {"error": expected.format(f="<request body>")}
    assert took_s < bound_s + 1.0  # plus the HTTP round trip
    assert paradex_mock.scenario.name == "empty"


@pytest.mark.paradex_mock(scenario="empty")
async def test_uploaded_body_is_utf8_whatever_its_charset(paradex_mock: MockServer) -> None:
    """A body's claimed charset is not used: an unknown one still reads as UTF-8."""
    headers = {"Content-Type": "application/yaml; charset=no-such-charset"}
    status, _, body = await put_scenario(paradex_mock, data=b"name: mine\n", headers=headers)
    assert status == 200, body
    assert paradex_mock.scenario.name == "mine"


@pytest.mark.paradex_mock(scenario="empty")
async def test_oversized_upload_is_413_json(paradex_mock: MockServer) -> None:
    """A body past aiohttp's client_max_size (1 MiB) is 413 with a JSON error naming it."""
    status, content_type, body = await put_scenario(
        paradex_mock, data=b"#" * (2 * 1024 * 1024), headers=YAML
    )
    assert (status, content_type) == (413, "application/json")
    assert body["error"].startswith("the body is too large: Maximum request body size 1048576")
    assert paradex_mock.scenario.name == "empty"
