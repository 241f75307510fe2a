"""The control API (/_mock/) over real HTTP, its effects seen by real WebSocket clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import RECEIVE_TIMEOUT_S, Connect
from fault_clients import closing

from mockserver import __version__
from mockserver.config import MockConfig
from mockserver.errors import ConfigError
from mockserver.faults import KINDS
from mockserver.pytest_plugin import MockServerFactory
from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")

TOKEN = "s3cret-token"
BBO = "bbo.BTC-USD-PERP"
YAML_SCENARIO = """\
name: uploaded-one
markets: [BTC-USD-PERP]
channels:
  bbo.BTC-USD-PERP:
    on_subscribe:
      - {market: BTC-USD-PERP, bid: "1", ask: "2"}
"""


class Api:
    """JSON requests to one server's control API."""

    def __init__(self, http: aiohttp.ClientSession, server: MockServer) -> None:
        self.http = http
        self.server = server

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        **options: Any,
    ) -> tuple[int, Any]:
        """The status and JSON body of ``method /_mock{path}``."""
        headers = dict(options.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        # 127.0.0.1 rather than server.url: a server bound to 0.0.0.0 is reached there too.
        url = f"http://127.0.0.1:{self.server.port}/_mock{path}"
        timeout = aiohttp.ClientTimeout(RECEIVE_TIMEOUT_S)
        async with self.http.request(
            method, url, headers=headers, timeout=timeout, **options
        ) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()

    async def ok(self, method: str, path: str, status: int = 200, **options: Any) -> Any:
        """The body of a request that must succeed with ``status``."""
        got, body = await self(method, path, **options)
        assert got == status, body
        return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, paradex_mock: MockServer) -> Api:
    return Api(http, paradex_mock)


# The index, sessions and kinds


async def test_index_names_the_version_scenario_and_resources(api: Api) -> None:
    """GET /_mock/ gives the version, the scenario's name and every resource's URL."""
    body = await api.ok("GET", "/")
    assert body["version"] == __version__
    assert body["scenario"] == "empty"
    assert set(body["resources"]) == {
        "sessions", "transcript", "faults", "kinds", "publish", "scenario", "reset",
    }  # fmt: skip
    for name in ("sessions", "transcript", "faults", "kinds", "scenario"):  # the ones a GET reads
        url = body["resources"][name]
        assert url == f"/_mock/{name}"
        assert (await api("GET", url.removeprefix("/_mock")))[0] == 200


async def test_sessions_list_what_each_client_did(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """GET /_mock/sessions shows each open session: peer, subscriptions, keepalive, requests."""
    client = await connect(path="/v1?x=1", headers={"User-Agent": "probe/1"})
    await client.subscribe(BBO)
    await paradex_mock.wait_for(lambda: bool(paradex_mock.sessions))
    (session,) = (await api.ok("GET", "/sessions"))["sessions"]
    assert session["id"] == "s1"
    assert session["number"] == 1
    assert session["peer"].startswith("127.0.0.1:")
    assert session["path"] == "/v1?x=1"
    assert session["user_agent"] == "probe/1"
    assert session["account"] is None
    assert session["subscriptions"] == [BBO]
    assert session["open"] is True
    assert session["close_code"] is None
    assert session["received_count"] == 1
    assert session["faults"] == []
    assert set(session["keepalive"]) == {"pings_sent", "pongs_received", "round_trips_ms"}


@pytest.mark.paradex_mock(ping_interval_s=0.02, pong_timeout_s=1.0)
async def test_session_keepalive_shows_round_trips(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """A session's keepalive counts pings and pongs and gives their round trips in ms."""
    client = await connect()
    # aiohttp answers pings only while the client reads.
    reading = asyncio.create_task(client.ws.receive())
    try:
        await paradex_mock.wait_for(
            lambda: any(
                s.keepalive.stats.pongs_received >= 2 for s in paradex_mock.sessions.values()
            )
        )
    finally:
        reading.cancel()
    keepalive = (await api.ok("GET", "/sessions/s1"))["keepalive"]
    assert keepalive["pings_sent"] >= 2
    assert keepalive["pongs_received"] >= 2
    assert all(0 <= rtt < 1000 for rtt in keepalive["round_trips_ms"])


async def test_one_session_shows_what_the_client_sent(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """GET /_mock/sessions/{id} adds every frame the client sent, with its error if any."""
    client = await connect()
    await client.subscribe(BBO)
    await client.subscribe("nope.BTC-USD-PERP")
    body = await api.ok("GET", "/sessions/s1")
    texts = [frame["text"] for frame in body["received"]]
    assert '"bbo.BTC-USD-PERP"' in texts[0]
    assert [frame["error"] for frame in body["received"]] == [None, "invalid_channel"]
    assert all(frame["at_us"] > 0 and frame["ignored"] is False for frame in body["received"])


async def test_closed_sessions_are_listed_on_request(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """A closed session leaves the list, returns with ?closed=true, and stays readable by id."""
    client = await connect()
    await client.ws.close()
    await paradex_mock.wait_for(lambda: not paradex_mock.sessions)
    assert (await api.ok("GET", "/sessions"))["sessions"] == []
    (closed,) = (await api.ok("GET", "/sessions?closed=true"))["sessions"]
    assert closed["id"] == "s1"
    assert closed["open"] is False
    assert closed["close_code"] == 1000
    assert (await api.ok("GET", "/sessions/s1"))["open"] is False


async def test_unknown_session_and_bad_flag_are_errors(api: Api) -> None:
    """An unknown session id is 404 and a flag that is not true/false is 400, both in JSON."""
    status, body = await api("GET", "/sessions/s99")
    assert status == 404
    assert "s99" in body["error"]
    status, body = await api("GET", "/sessions?closed=maybe")
    assert status == 400
    assert "closed" in body["error"]


async def test_unknown_path_and_method_are_json_errors(api: Api) -> None:
    """A path under /_mock/ that does not exist is a JSON 404; a wrong method a JSON 405."""
    status, body = await api("GET", "/nothing-here")
    assert status == 404
    assert "error" in body
    status, body = await api("DELETE", "/kinds")
    assert status == 405
    assert "error" in body


async def test_kinds_lists_every_fault_kind(api: Api) -> None:
    """GET /_mock/kinds lists every registered kind with its params and their defaults."""
    kinds = {kind["name"]: kind for kind in (await api.ok("GET", "/kinds"))["kinds"]}
    assert set(kinds) == set(KINDS)
    close = kinds["close"]
    assert close["params"] == {"code": 1011, "reason": ""}
    assert close["default_count"] == 1
    assert close["action"] is True
    assert close["server_level"] is False
    assert close["summary"]
    assert kinds["refuse_connections"]["server_level"] is True


# Faults


async def test_fault_created_over_http_closes_the_client_with_its_code(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """POST /_mock/faults with a close 4000 aimed at s1: s1 gets 4000 'bye', s2 stays open."""
    first, second = await connect(), await connect()
    await paradex_mock.wait_for(lambda: len(paradex_mock.sessions) == 2)
    fault = await api.ok(
        "POST",
        "/faults",
        201,
        json={
            "kind": "close",
            "target": {"session": "s1"},
            "params": {"code": 4000, "reason": "bye"},
        },
    )
    assert fault["name"] == "f1"
    assert fault["kind"] == "close"
    assert fault["params"] == {"code": 4000, "reason": "bye"}
    ending = await closing(first)
    assert (ending.code, ending.reason, ending.dropped) == (4000, "bye", False)
    reply = await second.call("subscribe", {"channel": BBO})
    assert reply["result"]["channel"] == BBO


async def test_fault_is_listed_read_and_removed_by_name(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """A named condition is listed, readable, shown on the session, and removed by DELETE."""
    await connect()
    await paradex_mock.wait_for(lambda: bool(paradex_mock.sessions))
    await api.ok("POST", "/faults", 201, json={"name": "quiet", "kind": "stop_pings"})
    listed = (await api.ok("GET", "/faults"))["faults"]
    assert [(f["name"], f["state"]) for f in listed] == [("quiet", "active")]
    assert (await api.ok("GET", "/faults/quiet"))["kind"] == "stop_pings"
    assert (await api.ok("GET", "/sessions/s1"))["faults"] == ["quiet"]
    removed = await api.ok("DELETE", "/faults/quiet")
    assert removed["name"] == "quiet"
    assert (await api.ok("GET", "/faults"))["faults"] == []
    ended = (await api.ok("GET", "/faults?ended=true"))["faults"]
    assert [(f["name"], f["state"]) for f in ended] == [("quiet", "removed")]
    assert (await api.ok("GET", "/sessions/s1"))["faults"] == []
    status, body = await api("DELETE", "/faults/quiet")
    assert status == 404
    assert "quiet" in body["error"]


async def test_delete_all_faults_counts_them(api: Api) -> None:
    """DELETE /_mock/faults removes every fault and says how many."""
    for kind in ("stop_pings", "ignore_pongs"):
        await api.ok("POST", "/faults", 201, json={"kind": kind})
    assert await api.ok("DELETE", "/faults") == {"removed": 2}
    assert (await api.ok("GET", "/faults"))["faults"] == []


@pytest.mark.parametrize(
    ("envelope", "key"),
    [
        ({"kind": "closed"}, "kind"),
        ({"kind": "close", "params": {"code": 99}}, "params.code"),
        ({"kind": "close", "target": {"sesion": "s1"}}, "target.sesion"),
        ({"kind": "close", "probability": 2}, "probability"),
        ({"kind": "close", "at": "soon"}, "at"),
    ],
    ids=["kind", "param", "target", "probability", "trigger"],
)
async def test_bad_fault_is_400_with_its_key(api: Api, envelope: dict[str, Any], key: str) -> None:
    """A fault envelope the decoder refuses is 400 with the key path of the problem."""
    status, body = await api("POST", "/faults", json=envelope)
    assert status == 400
    assert body["key"] == key
    assert body["error"].startswith(key)


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"], ids=["not-json", "not-an-object"])
async def test_fault_body_must_be_a_json_object(api: Api, body: str) -> None:
    """A body that is not JSON, or not an object, is 400."""
    status, reply = await api("POST", "/faults", data=body)
    assert status == 400
    assert "JSON" in reply["error"]


async def test_fault_name_in_use_is_409(api: Api) -> None:
    """Adding a fault under a name already in use is 409, and the first one stays."""
    await api.ok("POST", "/faults", 201, json={"name": "x", "kind": "stop_pings"})
    status, body = await api("POST", "/faults", json={"name": "x", "kind": "ignore_pongs"})
    assert status == 409
    assert body["key"] == "name"
    assert (await api.ok("GET", "/faults/x"))["kind"] == "stop_pings"


async def test_unknown_fault_is_404(api: Api) -> None:
    """GET of a fault that never existed is 404."""
    status, body = await api("GET", "/faults/ghost")
    assert status == 404
    assert "ghost" in body["error"]


# Publish


async def test_publish_reaches_a_subscriber(api: Api, connect: Connect) -> None:
    """POST /_mock/publish delivers the data to the channel's subscriber and counts it."""
    client = await connect()
    await client.subscribe(BBO)
    body = await api.ok("POST", "/publish", json={"channel": BBO, "data": {"bid": "42"}})
    assert body == {"delivered": 1}
    notification = await client.notification(BBO)
    assert notification["params"]["data"] == {"bid": "42"}


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "bogus.BTC", "data": {}},
        {"data": {}},
        {"channel": BBO},
        {"channel": BBO, "data": 1, "x": 2},
    ],
    ids=["bad-channel", "no-channel", "no-data", "unknown-key"],
)
async def test_bad_publish_is_400(api: Api, body: dict[str, Any]) -> None:
    """A publish with a bad or missing channel, no data or an unknown key is 400."""
    status, reply = await api("POST", "/publish", json=body)
    assert status == 400
    assert reply["error"]


# The scenario


async def test_scenario_shows_the_running_one(api: Api) -> None:
    """GET /_mock/scenario describes the running scenario."""
    body = await api.ok("GET", "/scenario")
    assert body["name"] == "empty"
    assert body["markets"] == ["BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"]
    assert body["source"].endswith("empty.yaml")
    assert {"description", "channels", "faults"} <= set(body)


async def test_scenario_replaced_by_bundled_name(api: Api, paradex_mock: MockServer) -> None:
    """PUT /_mock/scenario {"name": "default"} runs the bundled synthetic market instead."""
    body = await api.ok("PUT", "/scenario", json={"name": "default"})
    assert body["name"] == "default"
    assert paradex_mock.scenario.name == "default"
    assert (await api.ok("GET", "/"))["scenario"] == "default"


async def test_scenario_replaced_by_yaml_body_feeds_subscribers(api: Api, connect: Connect) -> None:
    """PUT /_mock/scenario with a YAML body loads it; a new subscriber gets its message."""
    body = await api.ok(
        "PUT", "/scenario", data=YAML_SCENARIO, headers={"Content-Type": "application/yaml"}
    )
    assert body["name"] == "uploaded-one"
    assert body["channels"] == [BBO]
    client = await connect()
    await client.subscribe(BBO)
    assert (await client.notification(BBO))["params"]["data"]["bid"] == "1"


async def test_bad_yaml_scenario_is_400_with_its_line(api: Api, paradex_mock: MockServer) -> None:
    """A bad YAML body is 400 with the loader's file:line: key: problem; nothing changes."""
    text = "markets: [BTC-USD-PERP]\nchannels:\n  bogus.BTC-USD-PERP: {}\n"
    status, body = await api("PUT", "/scenario", data=text, headers={"Content-Type": "text/yaml"})
    assert status == 400
    assert body["error"].startswith("<request body>:3: ")
    assert paradex_mock.scenario.name == "empty"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("../scenarios/default", 400),
        ("/etc/passwd", 400),
        ("default.yaml", 400),
        ("..", 400),
        (7, 400),
        ("no-such-scenario", 404),
    ],
    ids=["relative-path", "absolute-path", "file-name", "dot-dot", "not-a-string", "unknown"],
)
async def test_scenario_name_is_never_a_path(
    api: Api, paradex_mock: MockServer, name: Any, status: int
) -> None:
    """A scenario name with a path separator, a suffix or '..' is refused, as is an unknown one."""
    got, body = await api("PUT", "/scenario", json={"name": name})
    assert got == status
    assert body["error"]
    assert paradex_mock.scenario.name == "empty"


async def test_scenario_whose_fault_names_are_taken_is_409(
    api: Api, paradex_mock: MockServer
) -> None:
    """Loading a scenario that arms a fault under a name added since is 409; nothing changes."""
    await api.ok("POST", "/faults", 201, json={"name": "restart", "kind": "stop_pings"})
    status, body = await api("PUT", "/scenario", json={"name": "restart"})
    assert status == 409
    assert "restart" in body["error"]
    assert paradex_mock.scenario.name == "empty"
    assert (await api.ok("GET", "/faults/restart"))["kind"] == "stop_pings"


async def test_reset_removes_faults_and_restores_the_scenario(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """POST /_mock/reset removes every fault, forgets closed sessions, restores the scenario."""
    await api.ok("POST", "/faults", 201, json={"name": "quiet", "kind": "stop_pings"})
    await api.ok("PUT", "/scenario", json={"name": "default"})
    client = await connect()
    await client.ws.close()
    await paradex_mock.wait_for(lambda: bool(paradex_mock.closed_sessions))
    await api.ok("POST", "/reset")
    assert (await api.ok("GET", "/faults"))["faults"] == []
    assert (await api.ok("GET", "/scenario"))["name"] == "empty"
    assert (await api.ok("GET", "/sessions?closed=true"))["sessions"] == []


# Access


@pytest.mark.paradex_mock(control_token=TOKEN)
async def test_configured_token_is_required(api: Api) -> None:
    """With a control token, a request without it or with another one is 401; with it, 200."""
    for token in (None, "wrong"):
        status, body = await api("GET", "/sessions", token=token)
        assert status == 401
        assert "Bearer" in body["error"]
    status, body = await api("GET", "/sessions", headers={"Authorization": TOKEN})
    assert status == 401  # the scheme is required
    assert (await api.ok("GET", "/sessions", token=TOKEN))["sessions"] == []


@pytest.mark.paradex_mock(control_token=TOKEN)
async def test_token_does_not_guard_the_websocket_or_health(
    api: Api, paradex_mock: MockServer, connect: Connect
) -> None:
    """The token guards /_mock/ only: /health and /v1 need none."""
    async with api.http.get(paradex_mock.url + "/health") as response:
        assert response.status == 200
    client = await connect()
    assert (await client.subscribe(BBO))["result"]["channel"] == BBO


@pytest.mark.paradex_mock(control_token=TOKEN)
async def test_non_ascii_authorization_is_401(api: Api) -> None:
    """A token with characters beyond ASCII is refused like any wrong one (401, not 500)."""
    status, body = await api("GET", "/", headers={"Authorization": "Bearer caf\u00e9"})
    assert status == 401
    assert "Bearer" in body["error"]


def test_empty_control_token_is_a_config_error() -> None:
    """An empty control token is refused when the config is built (None means no token)."""
    with pytest.raises(ConfigError, match="control_token"):
        MockConfig(control_token=" ")


async def test_loopback_without_token_is_open(paradex_mock: MockServer, api: Api) -> None:
    """On loopback with no token configured the API is open and the server has no token."""
    assert paradex_mock.control_token is None
    assert (await api.ok("GET", "/"))["scenario"] == "empty"


async def test_beyond_loopback_a_token_is_generated_and_logged(
    paradex_mock_factory: MockServerFactory,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On 0.0.0.0 with no token the server makes one, logs it in a WARNING and requires it."""
    with caplog.at_level(logging.WARNING, logger="mockserver.app"):
        server = await paradex_mock_factory(host="0.0.0.0")
    token = server.control_token
    assert token is not None
    assert len(token) >= 20
    assert any(r.levelno == logging.WARNING and token in r.getMessage() for r in caplog.records)
    local = Api(http, server)
    status, _ = await local("GET", "/sessions")
    assert status == 401
    assert (await local.ok("GET", "/sessions", token=token))["sessions"] == []


async def test_beyond_loopback_a_configured_token_is_used(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession
) -> None:
    """On 0.0.0.0 with a configured token, that token (not a generated one) is required."""
    server = await paradex_mock_factory(host="0.0.0.0", control_token=TOKEN)
    assert server.control_token == TOKEN
    assert (await Api(http, server).ok("GET", "/", token=TOKEN))["version"] == __version__


async def test_control_api_turned_off_is_404(
    paradex_mock_factory: MockServerFactory, http: aiohttp.ClientSession
) -> None:
    """control_api=False: no /_mock/ routes at all (404), and no token even beyond loopback."""
    server = await paradex_mock_factory(control_api=False, host="0.0.0.0")
    assert server.control_token is None
    url = f"http://127.0.0.1:{server.port}"
    for path in ("/_mock/", "/_mock/sessions", "/_mock/faults"):
        async with http.get(url + path) as response:
            assert response.status == 404
    async with http.get(url + "/health") as response:
        assert response.status == 200


async def test_unexpected_exception_is_a_generic_500(
    api: Api,
    paradex_mock: MockServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected failure in a handler is a 500 with a generic message, and is logged."""

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(paradex_mock, "publish", broken)
    with caplog.at_level(logging.ERROR, logger="mockserver.control"):
        status, body = await api("POST", "/publish", json={"channel": BBO, "data": {}})
    assert status == 500
    assert "boom" not in body["error"]
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)
