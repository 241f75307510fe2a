"""``paradex-mock control`` and ``faults``, and serve's control options.

End to end against real ``paradex-mock serve`` subprocesses for a few cases;
``cli.main`` in-process (on a worker thread, since its urllib client blocks)
against the ``paradex_mock`` fixture for the rest.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Client, Connect
from fault_clients import closing
from serve_process import PARADEX_MOCK, READY_TIMEOUT_S, RUN_TIMEOUT_S, Processes, clean_env

from mockserver.cli import build_parser, main
from mockserver.control_client import fault_envelope
from mockserver.faults import KINDS
from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")

BBO = "bbo.BTC-USD-PERP"
TOKEN = "cli-token"


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the console script to completion (bounded): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        PARADEX_MOCK,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
    )
    out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class InProcess:
    """``cli.main(["control", "--url", url, ...])`` on a thread, output captured."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        argv = ["control", "--url", self.url, *args]
        self.capsys.readouterr()
        try:
            code = await asyncio.to_thread(main, argv)
        except SystemExit as exit_:  # argparse's usage errors
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *args: str) -> Any:
        """The printed reply of an action that must succeed."""
        code, out, err = await self(*args)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def control(paradex_mock: MockServer, capsys: pytest.CaptureFixture[str]) -> InProcess:
    return InProcess(paradex_mock.url, capsys)


# End to end: serve and control as subprocesses


async def test_control_adds_a_fault_that_closes_a_served_client(processes: Processes) -> None:
    """control against a serve process: sessions lists the client, a close fault gives it
    4000, an unknown session is an HTTP error on stderr with exit 1."""
    server = await processes.start([PARADEX_MOCK, "serve", "--port", "0", "--scenario", "empty"])
    env = {"PARADEX_MOCK_URL": server.http_url}
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        code, out, err = await run_cli("control", "sessions", env=env)
        assert code == 0, err
        assert [s["id"] for s in json.loads(out)["sessions"]] == ["s1"]
        code, out, err = await run_cli(
            "control", "fault", "add", "close", "--target", "session=s1", "code=4000", "reason=bye",
            env=env,
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["params"] == {"code": 4000, "reason": "bye"}
        ending = await closing(Client(ws))
        assert (ending.code, ending.reason, ending.dropped) == (4000, "bye", False)
    code, out, err = await run_cli("control", "session", "s42", env=env)
    assert code == 1
    assert out == ""
    assert "HTTP 404" in err
    assert "s42" in err


async def test_serve_beyond_loopback_prints_its_generated_token(
    processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve --host 0.0.0.0 prints 'control token: T' after the URL; control needs T."""
    server = await processes.start(
        [PARADEX_MOCK, "serve", "--host", "0.0.0.0", "--port", "0", "--scenario", "empty"]
    )
    assert server.proc.stdout is not None
    line = await asyncio.wait_for(server.proc.stdout.readline(), READY_TIMEOUT_S)
    prefix = "control token: "
    assert line.decode().startswith(prefix), line
    token = line.decode()[len(prefix) :].strip()
    assert token in server.stderr()  # the WARNING shows it too
    control = InProcess(server.http_url, capsys)
    code, _, err = await control("faults")
    assert code == 1
    assert "HTTP 401" in err
    assert await control.json("--token", token, "faults") == {"faults": []}


async def test_serve_control_token_from_the_environment(
    processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    """PARADEX_MOCK_CONTROL_TOKEN sets serve's token (no token line printed) and control's."""
    env = {"PARADEX_MOCK_CONTROL_TOKEN": TOKEN}
    server = await processes.start([PARADEX_MOCK, "serve", "--port", "0"], env=env)
    code, _, err = await InProcess(server.http_url, capsys)("kinds")
    assert code == 1
    assert "HTTP 401" in err
    code, out, err = await run_cli("control", "--url", server.http_url, "kinds", env=env)
    assert code == 0, err
    assert len(json.loads(out)["kinds"]) == len(KINDS)
    await server.signal_and_wait()
    assert await server.rest_of_stdout() == ""


async def test_serve_no_control_has_no_control_api(
    processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve --no-control: the control API is 404, so control exits 1."""
    server = await processes.start([PARADEX_MOCK, "serve", "--port", "0", "--no-control"])
    code, _, err = await InProcess(server.http_url, capsys)("sessions")
    assert code == 1
    assert "HTTP 404" in err


async def test_control_cannot_reach_a_server_exits_1(
    unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """control against a port nobody listens on: a message on stderr, exit 1."""
    code, out, err = await InProcess(f"http://127.0.0.1:{unused_tcp_port}", capsys)("kinds")
    assert code == 1
    assert out == ""
    assert "cannot reach" in err


# In-process: every action


async def test_fault_add_maps_every_option_to_the_envelope(
    control: InProcess, paradex_mock: MockServer
) -> None:
    """fault add's options and PARAM=VALUE words become the fault's envelope."""
    fault = await control.json(
        "fault", "add", "latency", "--name", "slow", "--target", "channel=bbo.*",
        "--probability", "0.5", "--count", "unlimited", "--for", "2s", "--at", "250ms",
        "delay_ms=20", "channel=bbo.BTC-USD-PERP",
    )  # fmt: skip
    assert fault["name"] == "slow"
    assert fault["target"] == {"channel": "bbo.*"}
    assert fault["probability"] == 0.5
    assert fault["count"] is None
    assert fault["for"] == 2.0
    assert fault["at"] == 0.25
    assert fault["state"] == "armed"
    assert fault["params"]["delay_ms"] == 20.0
    assert fault["params"]["channel"] == BBO
    assert paradex_mock.faults.get("slow") is not None


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["--after", "bbo.BTC-USD-PERP=3"], {"after": {"channel": BBO, "messages": 3}}),
        (["--on-subscribe", "bbo.*"], {"on_subscribe": "bbo.*"}),
        (["--on-auth"], {"on_auth": True}),
        (["--on-auth", "0x1"], {"on_auth": "0x1"}),
        (["--on-connection", "3"], {"on_connection": 3}),
        (["--target", "connection=2", "--count", "2"], {"target": {"connection": 2}, "count": 2}),
        (["--target", "session=s1"], {"target": {"session": "s1"}}),
        (["--target", "account=0x1"], {"target": {"account": "0x1"}}),
        (["--target", "all"], {"target": "all"}),
        (["reason=[1]", "code=x"], {"params": {"reason": [1], "code": "x"}}),
    ],
    ids=[
        "after", "on-subscribe", "on-auth", "on-auth-account", "on-connection", "connection",
        "session", "account", "all", "json-values",
    ],
)  # fmt: skip
def test_fault_add_envelope(words: list[str], expected: dict[str, Any]) -> None:
    """Each trigger and target option, and JSON-or-string values, as the envelope shows them."""
    args = build_parser(environ={}).parse_args(["control", "fault", "add", "close", *words])
    assert fault_envelope(args) == {"kind": "close", **expected}


async def test_fault_add_json_and_rm_and_clear(
    control: InProcess, paradex_mock: MockServer
) -> None:
    """fault add --json takes a whole envelope; fault rm removes one; fault clear all."""
    added = await control.json("fault", "add", "--json", '{"name": "q", "kind": "stop_pings"}')
    assert added["kind"] == "stop_pings"
    other = (await control.json("fault", "add", "ignore_pongs"))["name"]
    listed = await control.json("faults")
    assert [f["name"] for f in listed["faults"]] == ["q", other]
    assert (await control.json("fault", "rm", "q"))["name"] == "q"
    assert [f["name"] for f in (await control.json("faults", "--ended"))["faults"]] == [other, "q"]
    assert await control.json("fault", "clear") == {"removed": 1}
    assert len(paradex_mock.faults) == 0


async def test_bad_fault_prints_the_key_and_exits_1(control: InProcess) -> None:
    """A fault the server refuses: exit 1, the key and the problem on stderr."""
    code, out, err = await control("fault", "add", "close", "code=99")
    assert code == 1
    assert out == ""
    assert "HTTP 400 (params.code)" in err


@pytest.mark.parametrize(
    "words",
    [
        ["fault", "add"],
        ["fault", "add", "close", "--json", "{}"],
        ["fault", "add", "close", "--bogus"],
        ["fault", "add", "close", "--at", "1s", "--on-auth"],
        ["fault", "add", "close", "--target", "sesion=s1"],
        ["fault", "add", "close", "--count", "many"],
        ["sessions", "extra=word"],
        ["publish", BBO, "{not json"],
        ["scenario", "load"],
        ["teleport"],
    ],
    ids=[
        "no-kind", "json-and-kind", "unknown-option", "two-triggers", "bad-target", "bad-count",
        "extra-word", "bad-json", "load-nothing", "unknown-action",
    ],
)  # fmt: skip
async def test_usage_errors_exit_2(control: InProcess, words: list[str]) -> None:
    """A bad command line exits 2 with a usage message and sends nothing."""
    code, out, err = await control(*words)
    assert code == 2
    assert out == ""
    assert "usage:" in err


async def test_sessions_and_session(
    control: InProcess, paradex_mock: MockServer, connect: Connect
) -> None:
    """sessions lists the open ones (--closed: the closed too); session ID shows what it sent."""
    client = await connect()
    await client.subscribe(BBO)
    (listed,) = (await control.json("sessions"))["sessions"]
    assert listed["subscriptions"] == [BBO]
    detail = await control.json("session", "s1")
    assert BBO in detail["received"][0]["text"]
    await client.ws.close()
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    assert (await control.json("sessions"))["sessions"] == []
    assert [s["id"] for s in (await control.json("sessions", "--closed"))["sessions"]] == ["s1"]


async def test_publish_reaches_a_subscriber(control: InProcess, connect: Connect) -> None:
    """publish CHANNEL DATA_JSON delivers the data to a subscriber and prints the count."""
    client = await connect()
    await client.subscribe(BBO)
    assert await control.json("publish", BBO, '{"bid": "7"}') == {"delivered": 1}
    assert (await client.notification(BBO))["params"]["data"] == {"bid": "7"}


async def test_scenario_show_load_and_reset(
    control: InProcess, paradex_mock: MockServer, tmp_path: Path
) -> None:
    """scenario shows it; scenario load NAME and --file replace it; reset restores the first."""
    assert (await control.json("scenario"))["name"] == "empty"
    assert (await control.json("scenario", "load", "default"))["name"] == "default"
    file = tmp_path / "mine.yaml"
    file.write_text("name: mine\nmarkets: [ETH-USD-PERP]\n")
    loaded = await control.json("scenario", "load", "--file", str(file))
    assert loaded["name"] == "mine"
    assert loaded["markets"] == ["ETH-USD-PERP"]
    await control.json("fault", "add", "stop_pings")
    assert (await control.json("reset"))["scenario"] == "empty"
    assert paradex_mock.scenario.name == "empty"
    assert len(paradex_mock.faults) == 0


async def test_scenario_load_by_path_is_refused(control: InProcess) -> None:
    """scenario load with a path instead of a name is refused by the server: exit 1."""
    code, _, err = await control("scenario", "load", "/etc/passwd")
    assert code == 1
    assert "HTTP 400" in err


async def test_kinds_lists_every_kind(control: InProcess) -> None:
    """kinds prints every kind the server knows."""
    kinds = (await control.json("kinds"))["kinds"]
    assert {kind["name"] for kind in kinds} == set(KINDS)


# paradex-mock faults


def test_faults_command_lists_every_kind_with_its_params(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """paradex-mock faults prints, offline, each kind with its params' defaults and summary."""
    assert main(["faults"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line and line[0] != " "}
    assert set(KINDS) <= set(rows)
    assert 'code=1011 reason=""' in rows["close"]
    assert "timeout_s=0.1" in rows["pong_timeout"]
    assert KINDS["drop"].summary().replace("``", "") in rows["drop"]


def test_main_module_has_the_commands() -> None:
    """The parser lists faults and control among its commands."""
    help_text = build_parser(environ={}).format_help()
    assert "faults" in help_text
    assert "control" in help_text
