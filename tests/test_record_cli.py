"""``paradex-mock record`` as a real subprocess; ``paradex-mock import`` of each line format."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from record_roundtrip import (
    ACCOUNT,
    CHANNELS,
    RECEIVE_TIMEOUT_S,
    SCRIPT,
    check_replay,
    played,
    replay,
    source_scenario,
    subscribed,
)
from serve_process import PARADEX_MOCK, RUN_TIMEOUT_S, clean_env

from mockserver.cli import main
from mockserver.pytest_plugin import MockServerFactory
from mockserver.record import jsonl
from mockserver.scenario import loader
from mockserver.threaded import ThreadedMockServer
from mockserver.transcript import write_jsonl

SUBSCRIPTION = {"jsonrpc": "2.0", "method": "subscription"}


async def run_record(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """Start ``paradex-mock record ARGS`` (stderr piped)."""
    return await asyncio.create_subprocess_exec(
        PARADEX_MOCK,
        "record",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
    )


async def finished(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) once it exits (bounded)."""
    out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# record


async def test_the_record_command_round_trips_through_a_real_mock(
    paradex_mock_factory: MockServerFactory, tmp_path: Path
) -> None:
    """``paradex-mock record`` (token from the environment) writes a file that replays the
    source's payloads in order and on time, with the account, ids and token redacted."""
    source = await paradex_mock_factory(scenario="empty")
    token = source.token(ACCOUNT)
    output = tmp_path / "recorded.yaml"
    channel_args = [arg for channel in CHANNELS for arg in ("--channel", channel)]
    proc = await run_record(
        "--url", source.ws_url, *channel_args, "--max-messages", str(len(SCRIPT)),
        "--duration", "20", "-o", str(output), env={"PARADEX_MOCK_JWT": token},
    )  # fmt: skip
    await subscribed(source)
    await source.load_scenario(source_scenario())
    code, stdout, stderr = await finished(proc)
    assert code == 0, stderr
    assert stdout == ""
    assert stderr.splitlines()[-1] == f"paradex-mock: wrote {output}: 17 messages on 3 channel(s)"
    text = output.read_text()
    assert token not in text
    assert "# Ended by: max-messages.\n" in text
    assert loader.load(output).name == "recorded"

    replay_server = await paradex_mock_factory(scenario="empty")
    check_replay(await replay(replay_server, output), text)


async def test_ctrl_c_writes_what_was_recorded_and_exits_0(
    paradex_mock_factory: MockServerFactory, tmp_path: Path
) -> None:
    """SIGINT stops the recording; the file holds what arrived before it, exit 0."""
    source = await paradex_mock_factory(scenario="empty", ping_interval_s=0.05, pong_timeout_s=2)
    output = tmp_path / "stopped.yaml"
    proc = await run_record("--url", source.ws_url, "--channel", "trades.ALL", "-o", str(output))
    await subscribed(source, 1)
    for n in range(3):
        source.publish("trades.BTC-USD-PERP", {"id": str(n), "market": "BTC-USD-PERP"})
    await source.drained()
    # A ping sent after the trades is answered once the recorder has read them.
    (session,) = source.sessions.values()
    pongs = session.keepalive.stats.pongs_received
    await source.wait_for(lambda: session.keepalive.stats.pongs_received >= pongs + 2)
    proc.send_signal(signal.SIGINT)
    code, _, stderr = await finished(proc)
    assert code == 0, stderr
    assert "# Ended by: interrupted.\n" in output.read_text()
    assert [p[3]["id"] for p in played(loader.load(output))] == ["0", "1", "2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_url_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """Nothing listening: one line on stderr naming the URL, exit 1, no traceback."""
    url = f"ws://127.0.0.1:{free_port()}/v1"
    proc = await run_record("--url", url, "--channel", "trades.ALL", "-o", str(tmp_path / "x"))
    code, _, stderr = await finished(proc)
    assert code == 1
    assert stderr.splitlines()[-1].startswith(f"paradex-mock: {url}: cannot connect: ")
    assert "Traceback" not in stderr
    assert not (tmp_path / "x").exists()


@pytest.fixture
def mock_url(paradex_mock_sync: ThreadedMockServer) -> str:
    """The URL of a threaded mock (``main()`` runs an event loop of its own)."""
    return paradex_mock_sync.ws_url


@pytest.mark.paradex_mock(scenario="empty")
@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--channel", "trades.FOO-USD-PERP"],
         "subscribe 'trades.FOO-USD-PERP' refused by the server: -32600 invalid subscribe "
         "request (invalid channel)"),
        (["--channel", "trades.ALL", "--duration", "0.2"],
         "no subscription notifications: nothing written"),
        (["--channel", "account", "--jwt", "not-a-jwt"],
         "auth (the --jwt token) refused by the server: 40110 malformed bearer token"),
    ],
)  # fmt: skip
def test_a_recording_that_fails_says_why_in_one_line(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    problem: str,
) -> None:  # fmt: skip
    """A refused subscribe or auth, or nothing recorded: one line on stderr, exit 1."""
    output = tmp_path / "x.yaml"
    assert main(["record", "--url", mock_url, *args, "-o", str(output)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"paradex-mock: {problem}"
    assert not output.exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--url", "http://x/v1"], "not a WebSocket URL"),
        (["--channel", "tradez.ALL"], "'tradez.ALL' is not a Paradex channel"),
        (["--channel", "account"], "account: private, so a token is needed (--jwt or"),
        (["--duration", "soon"], "--duration: expected a duration"),
        (["--max-messages", "0"], "--max-messages: must be at least 1"),
        (["-o", "no/such/dir/x.yaml"], "-o no/such/dir/x.yaml: no directory no/such/dir"),
        (["-o", "."], "-o .: a directory"),
    ],
)
def test_bad_record_options_are_usage_errors(
    args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options exit 2 with argparse's message, before connecting anywhere."""
    base = ["record", "--url", "ws://127.0.0.1:9/v1", "--channel", "trades.ALL", "-o", "x.yaml"]
    with pytest.raises(SystemExit) as exited:
        main([*base, *args])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


# import


def frame(channel: str, data: dict[str, Any]) -> dict[str, Any]:
    return {**SUBSCRIPTION, "params": {"channel": channel, "data": data}}


def write_lines(path: Path, lines: list[Any]) -> None:
    """One line each: objects as JSON, strings as they are."""
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))


def import_lines(tmp_path: Path, lines: list[Any], *args: str) -> tuple[int, Path, str]:
    """Write ``lines`` to capture.jsonl and import it in-process."""
    capture = tmp_path / "capture.jsonl"
    write_lines(capture, lines)
    output = tmp_path / "imported.yaml"
    code = main(["import", str(capture), "-o", str(output), *args])
    return code, output, str(capture)


def test_raw_frames_without_times_are_spaced_100ms_and_others_skipped(tmp_path: Path) -> None:
    """Bare frames: only notifications are kept, 100 ms apart, in file order."""
    code, output, _ = import_lines(
        tmp_path,
        [
            {"jsonrpc": "2.0", "id": 1, "result": {"channel": "trades.ALL"}},
            frame("trades.ALL", {"id": "1", "market": "BTC-USD-PERP"}),
            {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "bbo.X-USD-PERP"}},
            frame("bbo.ETH-USD-PERP", {"seq_no": 1}),
            "",
            frame("trades.ALL", {"id": "2", "market": "ETH-USD-PERP"}),
        ],
    )
    assert code == 0
    assert played(loader.load(output)) == [
        (0.0, "trades.BTC-USD-PERP", None, {"id": "1", "market": "BTC-USD-PERP"}),
        (0.1, "bbo.ETH-USD-PERP", None, {"seq_no": 1}),
        (0.2, "trades.ETH-USD-PERP", None, {"id": "2", "market": "ETH-USD-PERP"}),
    ]


def test_spacing_sets_the_gap_between_untimed_lines(tmp_path: Path) -> None:
    """--spacing 0: untimed lines play as one burst, 1 µs apart, still in order."""
    lines = [frame("bbo.ETH-USD-PERP", {"seq_no": n}) for n in range(3)]
    code, output, _ = import_lines(tmp_path, lines, "--spacing", "0")
    assert code == 0
    assert [p[0] for p in played(loader.load(output))] == [0.0, 1e-6, 2e-6]


@pytest.mark.parametrize(
    ("wrap", "times"),
    [
        (lambda t, f: {"t": 100 + t, "frame": f}, [0.0, 0.25, 1.5]),
        (lambda t, f: {"ts": 100 + t, "text": json.dumps(f)}, [0.0, 0.25, 1.5]),
        (lambda t, f: {"ts_ms": 1.7e12 + t * 1000, "data": json.dumps(f)}, [0.0, 0.25, 1.5]),
        (lambda t, f: {"ts_us": int(1.7e15 + t * 1e6), "message": f}, [0.0, 0.25, 1.5]),
    ],
    ids=["t-frame-object", "ts-text", "ts_ms-data-text", "ts_us-message-object"],
)
def test_timestamped_frames_keep_their_timing(
    tmp_path: Path, wrap: Any, times: list[float]
) -> None:
    """A frame wrapped with its time (s, ms or µs; as an object or its text) plays at its
    offset from the first."""
    lines = [wrap(t, frame("bbo.ETH-USD-PERP", {"seq_no": i})) for i, t in enumerate(times)]
    code, output, _ = import_lines(tmp_path, lines)
    assert code == 0
    at = [p[0] for p in played(loader.load(output))]
    assert at == pytest.approx(times, abs=1e-6)


def test_a_time_going_backwards_keeps_the_file_order(tmp_path: Path) -> None:
    """A line timed before the previous one plays right after it: never reordered."""
    lines = [
        {"t": 5.0, "frame": frame("bbo.ETH-USD-PERP", {"n": 1})},
        {"t": 4.0, "frame": frame("bbo.ETH-USD-PERP", {"n": 2})},
        {"t": 6.0, "frame": frame("bbo.ETH-USD-PERP", {"n": 3})},
    ]
    code, output, _ = import_lines(tmp_path, lines)
    assert code == 0
    assert [(p[0], p[3]["n"]) for p in played(loader.load(output))] == [
        (0.0, 1),
        (1e-6, 2),
        (1.0, 3),
    ]


def transcript(session: str, at_us: int, direction: str, kind: str, text: str | None) -> dict:
    line: dict[str, Any] = {"session": session, "at_us": at_us, "dir": direction, "kind": kind}
    if text is not None:
        line["text"] = text
    return line


TRANSCRIPT = [
    transcript("s1", 1_000_000, "in", "text", json.dumps({"id": 1, "method": "subscribe"})),
    transcript("s1", 1_000_100, "out", "text", json.dumps({"id": 1, "result": {}})),
    transcript("s1", 1_500_000, "out", "text", json.dumps(frame("trades.ALL", {"id": "a"}))),
    transcript("s2", 1_500_010, "out", "text", json.dumps(frame("trades.ALL", {"id": "a"}))),
    transcript("s1", 1_600_000, "out", "ping", None),
    transcript("s1", 1_600_500, "in", "pong", None),
    transcript("s1", 2_000_000, "out", "text", json.dumps(frame("trades.ALL", {"id": "b"}))),
    transcript("s2", 2_000_020, "out", "text", json.dumps(frame("trades.ALL", {"id": "b"}))),
]


def test_a_transcript_gives_one_sessions_notifications(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """paradex-mock's transcript lines: the server's notifications to the first session,
    timed by at_us; the other session is left out, and said so."""
    code, output, _ = import_lines(tmp_path, TRANSCRIPT)
    assert code == 0
    assert [(p[0], p[3]["id"]) for p in played(loader.load(output))] == [(0.0, "a"), (0.5, "b")]
    assert (
        "took session s1; left out the notifications of s2 (--session)" in capsys.readouterr().err
    )
    assert "# Transcript session: s1.\n" in output.read_text()


def test_session_picks_the_transcripts_session(tmp_path: Path) -> None:
    """--session s2 takes that session's notifications instead."""
    code, output, _ = import_lines(tmp_path, TRANSCRIPT, "--session", "s2")
    assert code == 0
    assert [(round(p[0], 6), p[3]["id"]) for p in played(loader.load(output))] == [
        (0.0, "a"),
        (0.50001, "b"),
    ]


BAD_LINES = [
    frame("trades.ALL", {"id": "1"}),
    "{not json",
    "[1, 2]",
    {"t": "soon", "frame": frame("trades.ALL", {})},
    {"t": 1.0},
    {"t": 1.0, "frame": "{nope"},
    frame("tradez.ALL", {"id": "2"}),
    {**SUBSCRIPTION, "params": {"data": {}}},
    frame("trades.ALL", [1]),
    {"dir": "sideways", "text": "{}"},
    '{"t": NaN, "frame": {}}',
]
BAD_REPORT = [
    "capture.jsonl:2: the line is not JSON (Expecting property name enclosed in double quotes)",
    "capture.jsonl:3: expected a JSON object, got a list",
    "capture.jsonl:4: 't' must be a number, got \"soon\"",
    "capture.jsonl:5: no frame: expected a JSON-RPC frame, or one under 'frame', 'data', "
    "'text', 'message'",
    "capture.jsonl:6: 'frame' is not JSON (Expecting property name enclosed in double quotes)",
    "capture.jsonl:7: 'tradez.ALL' is not a Paradex channel name",
    "capture.jsonl:8: a subscription notification without params.channel",
    "capture.jsonl:9: trades.ALL: the payload is not a JSON object",
    'capture.jsonl:10: \'dir\' must be "in", "out" or null, got "sideways"',
    "capture.jsonl:11: the line is not JSON (JSON has no NaN)",
]


def test_bad_lines_are_listed_as_file_line_problems_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad line is reported as file:line: problem on stderr; exit 1, no file."""
    monkeypatch.chdir(tmp_path)
    write_lines(Path("capture.jsonl"), BAD_LINES)
    assert main(["import", "capture.jsonl", "-o", "out.yaml"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == BAD_REPORT
    assert err[-1] == (
        "paradex-mock: 10 bad line(s), nothing written (--skip-bad imports the rest)"
    )
    assert not Path("out.yaml").exists()


def test_skip_bad_imports_the_good_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--skip-bad: the problems are still listed, the good lines are imported, exit 0."""
    monkeypatch.chdir(tmp_path)
    write_lines(Path("capture.jsonl"), BAD_LINES)
    assert main(["import", "capture.jsonl", "-o", "out.yaml", "--skip-bad"]) == 0
    assert capsys.readouterr().err.splitlines()[: len(BAD_REPORT)] == BAD_REPORT
    assert [p[3] for p in played(loader.load("out.yaml"))] == [{"id": "1"}]


def test_a_line_too_long_is_a_problem_and_reading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line over MAX_LINE_BYTES is refused without being held in memory whole."""
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 200)
    long = json.dumps(frame("trades.ALL", {"pad": "x" * 1000}))
    code, output, capture = import_lines(
        tmp_path, [long, frame("trades.ALL", {"id": "1"})], "--skip-bad"
    )
    assert code == 0
    assert f"{capture}:1: longer than 200 bytes" in capsys.readouterr().err
    assert [p[3] for p in played(loader.load(output))] == [{"id": "1"}]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read: No such file or directory"),
        (b"", "no subscription notifications: nothing written"),
        (b'{"jsonrpc": "2.0", "id": 1, "result": {}}\n', "no subscription notifications"),
    ],
)
def test_an_import_with_nothing_to_import_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, problem: str
) -> None:
    """A missing file, or one without notifications: one line, exit 1."""
    capture = tmp_path / "c.jsonl"
    if content is not None:
        capture.write_bytes(content)
    assert main(["import", str(capture), "-o", str(tmp_path / "o.yaml")]) == 1
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "o.yaml").exists()


def test_import_to_stdout_writes_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o - writes the scenario on stdout; the summary goes to stderr."""
    capture = tmp_path / "c.jsonl"
    capture.write_text(
        json.dumps(frame("trades.ALL", {"id": "1", "market": "BTC-USD-PERP"})) + "\n"
    )
    assert main(["import", str(capture), "-o", "-", "--name", "piped", "--loop"]) == 0
    out, err = capsys.readouterr()
    scenario = loader.loads(out)
    assert scenario.name == "piped"
    assert scenario.channels[0].loop_s == 0.001
    assert err.splitlines()[-1] == "paradex-mock: wrote stdout: 1 messages on 1 channel(s)"


async def test_a_servers_own_transcript_imports_to_what_its_client_received(
    paradex_mock_factory: MockServerFactory, tmp_path: Path
) -> None:
    """A transcript written by paradex-mock itself imports to the notifications its client
    received, in order; the replies, the open and the close lines are skipped."""
    server = await paradex_mock_factory(scenario="empty")
    sent = [
        ("trades.BTC-USD-PERP", {"id": "1", "market": "BTC-USD-PERP", "price": "67000.5"}),
        ("bbo.ETH-USD-PERP", {"market": "ETH-USD-PERP", "seq_no": 7, "ask": "3500.1"}),
        ("trades.ETH-USD-PERP", {"id": "2", "market": "ETH-USD-PERP", "price": "3500.0"}),
    ]
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        for request_id, channel in enumerate(["trades.ALL", "bbo.ETH-USD-PERP"], 1):
            request = {"method": "subscribe", "params": {"channel": channel}}
            await ws.send_json({"jsonrpc": "2.0", "id": request_id, **request})
            assert "result" in await ws.receive_json(timeout=RECEIVE_TIMEOUT_S)
        for channel, data in sent:
            server.publish(channel, data)
        received = [await ws.receive_json(timeout=RECEIVE_TIMEOUT_S) for _ in sent]
    capture = tmp_path / "transcript.jsonl"
    write_jsonl(server.all_sessions(), capture)
    output = tmp_path / "replay.yaml"
    assert main(["import", str(capture), "-o", str(output)]) == 0
    assert [(p[1], p[3]) for p in played(loader.load(output))] == sent
    assert [r["params"]["data"] for r in received] == [data for _, data in sent]


# docs/recording.md

DOC = Path(__file__).resolve().parents[1] / "docs" / "recording.md"


def doc_block(mark: str | None = None, language: str = "yaml") -> str:
    """The doc's fenced block of ``language`` right after ``<!-- mark -->`` (or the first)."""
    text = DOC.read_text(encoding="utf-8")
    prefix = f"<!-- {mark} -->\n" if mark else ""
    start = text.index(f"{prefix}```{language}\n") + len(prefix) + len(language) + 4
    return text[start : text.index("```\n", start)]


def test_the_docs_capture_imports_to_the_docs_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/recording.md: its example capture imports to its example scenario, exactly."""
    monkeypatch.chdir(tmp_path)
    Path("capture.jsonl").write_text(doc_block("capture", "json"))
    assert main(["import", "capture.jsonl", "-o", "replay.yaml"]) == 0
    assert Path("replay.yaml").read_text() == doc_block("imported")


def test_the_docs_recorded_file_loads() -> None:
    """docs/recording.md: the example of a recorded file is a scenario that loads."""
    scenario = loader.loads(doc_block())
    assert [c.channel for c in scenario.channels] == ["bbo.BTC-USD-PERP", "trades.BTC-USD-PERP"]
