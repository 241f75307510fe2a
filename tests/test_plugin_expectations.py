"""The assertion helpers and the transcript dump, as a downstream project sees them (pytester).

As tests/test_pytest_plugin.py: a separate project in a temporary directory, run
in a subprocess, the plugin coming from its ``pytest11`` entry point alone. Each
helper fails once there, and its message is read back from pytest's own output;
``--paradex-mock-transcripts`` (and its ini) write failed tests' transcripts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pytest_plugin import HELPERS, QUIET_YAML, RUN_TIMEOUT_S, ini

CONFTEST = """
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def paradex_mock_config(paradex_mock_config):
    return paradex_mock_config.but(scenario=HERE / "quiet.yaml", ping_interval_s=None)
"""

FAILING_TESTS = """
import aiohttp
import pytest

from helpers import receive_json, subscribe

BBO = "bbo.BTC-USD-PERP"
ETH = "bbo.ETH-USD-PERP"


async def test_wait_for_subscription(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO)
        await paradex_mock.wait_for_subscription(ETH, timeout=0.05)


async def test_assert_subscribed(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO)
        paradex_mock.assert_subscribed(BBO, "trades.BTC-USD-PERP")


async def test_duplicates(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO, request_id=1)
        await subscribe(ws, BBO, request_id=2)
        paradex_mock.assert_no_duplicate_subscriptions()


async def test_resubscribed(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO)
        paradex_mock.drop_all()
        await ws.receive(timeout=5.0)
        await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    paradex_mock.assert_resubscribed_after_reconnect(within=0.5)


@pytest.mark.paradex_mock(ping_interval_s=0.05, pong_timeout_s=None)
async def test_pongs(paradex_mock):
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(paradex_mock.ws_url, autoping=False) as ws:
            for _ in range(2):
                assert (await ws.receive(timeout=5.0)).type is aiohttp.WSMsgType.PING
            paradex_mock.assert_pongs_within(0.01)


async def test_received(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO)
        paradex_mock.assert_received("auth", {"bearer": "a-token"})


def test_received_sync(paradex_mock_sync):
    paradex_mock_sync.assert_received("auth")


async def test_passes(paradex_mock):
    async with aiohttp.ClientSession() as http, http.ws_connect(paradex_mock.ws_url) as ws:
        await subscribe(ws, BBO)
        paradex_mock.assert_subscribed(BBO)


def test_fails_without_a_server():
    assert 1 == 2
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A separate project whose tests fail in each helper."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    pytester.makefile(".yaml", quiet=QUIET_YAML)
    pytester.makepyfile(helpers=HELPERS, test_failing=FAILING_TESTS)
    pytester.makeconftest(CONFTEST)
    return pytester


def test_each_helper_fails_with_its_message_and_the_transcripts_are_written(
    project: pytest.Pytester,
) -> None:
    """Every helper's failure message is in pytest's report; each failed test that used a
    server gets its transcript file and a report line naming it; passing tests none."""
    project.makeini(ini(asyncio_mode="auto"))
    out = project.path / "dumps"
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--paradex-mock-transcripts={out}", timeout=RUN_TIMEOUT_S
    )
    result.assert_outcomes(passed=1, failed=8)
    result.stdout.fnmatch_lines(
        [
            "*_ test_wait_for_subscription _*",
            "E *AssertionError: no open session subscribed to 'bbo.ETH-USD-PERP' within 0.05s",
            "E *sessions and their subscriptions:",
            "E *  s1 (open): bbo.BTC-USD-PERP",
            "E *subscribe requests that failed:",
            "E *  (none)",
            "E *no client ever asked for: bbo.ETH-USD-PERP",
            "*- paradex-mock transcripts -*",
            f"paradex_mock: 4 events in {out}/test_failing.py_test_wait_for_subscription"
            ".paradex_mock.jsonl",
            "*_ test_assert_subscribed _*",
            "E *AssertionError: no open session is subscribed to trades.BTC-USD-PERP",
            "*_ test_duplicates _*",
            "E *AssertionError: 1 duplicate subscription:",
            "E *  s1: 'bbo.BTC-USD-PERP' subscribed twice: first at +0.*s, again at +0.*s "
            "(answered 'already subscribed')",
            'E *    first:  {"jsonrpc": "2.0", "id": 1, *',
            'E *    again:  {"jsonrpc": "2.0", "id": 2, *',
            "*_ test_resubscribed _*",
            "E *AssertionError: s1 (bbo.BTC-USD-PERP) was closed 1006 'dropped' by the server "
            "at +0.*s; not resubscribed within 0.5s: bbo.BTC-USD-PERP",
            "E *  no connection was opened after the close",
            "*_ test_pongs _*",
            "E *AssertionError: 1 of 2 pings not answered within 0.01s:",
            "E *  s1: ping at +0.05*s never answered (0.0*s without a pong)",
            "*_ test_received _*",
            "E *AssertionError: no client frame with method 'auth' and params matching "
            '{"bearer": "a-token"} (1 frames received from any session); the closest:',
            'E *  s1 +0.*s: {"jsonrpc": "2.0", "id": 1, "method": "subscribe", *',
            "*_ test_received_sync _*",
            "E *AssertionError: no client frame with method 'auth': nothing at all was "
            "received from any session (0 sessions)",
            "*- paradex-mock transcripts -*",
            "paradex_mock_sync: 0 events in *",
            "*_ test_fails_without_a_server _*",
        ]
    )
    files = sorted(path.name for path in out.iterdir())
    assert files == sorted(
        f"test_failing.py_test_{name}.{fixture}.jsonl"
        for name, fixture in [
            ("wait_for_subscription", "paradex_mock"),
            ("assert_subscribed", "paradex_mock"),
            ("duplicates", "paradex_mock"),
            ("resubscribed", "paradex_mock"),
            ("pongs", "paradex_mock"),
            ("received", "paradex_mock"),
            ("received_sync", "paradex_mock_sync"),
        ]
    )
    rows = [json.loads(line) for line in (out / files[1]).read_text().splitlines()]  # duplicates
    assert [(r["session"], r["dir"], r["kind"]) for r in rows] == [
        ("s1", None, "open"),
        *[("s1", "in", "text"), ("s1", "out", "text")] * 2,
        ("s1", None, "close"),  # the client closed as the exception left its `async with`
    ]
    assert json.loads(rows[3]["text"])["id"] == 2
    report = result.stdout.str()
    assert "test_passes" not in "".join(files)
    assert report.count("- paradex-mock transcripts -") == 7


def test_the_ini_option_names_the_directory(project: pytest.Pytester) -> None:
    """``paradex_mock_transcripts`` in the ini, relative to the rootdir, works the same."""
    project.makeini(ini(asyncio_mode="auto") + "paradex_mock_transcripts = ci/transcripts\n")
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "test_duplicates or test_passes", timeout=RUN_TIMEOUT_S
    )
    result.assert_outcomes(passed=1, failed=1)
    written = Path(project.path, "ci", "transcripts")
    assert [p.name for p in written.iterdir()] == [
        "test_failing.py_test_duplicates.paradex_mock.jsonl"
    ]
    result.stdout.fnmatch_lines([f"paradex_mock: 6 events in {written}/*.jsonl"])
