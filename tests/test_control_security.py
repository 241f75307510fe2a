"""The control API (/_mock/) and the REST endpoints against hostile requests.

The token is checked in constant time and every refusal looks the same; no
error response carries a traceback, a file path or an exception's text; bad
bodies, content types, sizes, routes and methods each get a JSON error with
the right status. Everything over real HTTP to a real server.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from mockserver import control
from mockserver.rest import system
from mockserver.server import MockServer

pytestmark = pytest.mark.paradex_mock(scenario="empty")

TOKEN = "s3cret-token-0123456789"
GENERIC_500 = {"error": "internal error (the server's log has the traceback)"}
SECRET = "/very/secret/path.py: the internals"  # what a failure must not show
# What must not appear in any error body.
LEAKS = ("Traceback", 'File "', ".py", SECRET, "RuntimeError")
TIMEOUT = aiohttp.ClientTimeout(10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


Reply = tuple[int, dict[str, str], Any]


async def request(
    http: aiohttp.ClientSession, server: MockServer, method: str, path: str, **options: Any
) -> Reply:
    """The status, headers and parsed JSON body (the body must be JSON) of one request."""
    url = f"http://127.0.0.1:{server.port}{path}"
    async with http.request(method, url, timeout=TIMEOUT, **options) as response:
        text = await response.text()
        assert response.content_type == "application/json", (response.status, text)
        return response.status, dict(response.headers), json.loads(text)


def assert_no_leak(body: Any) -> None:
    text = json.dumps(body)
    for leak in LEAKS:
        assert leak not in text, body


# The token


WRONG_AUTHORIZATIONS = {
    "missing": None,
    "empty": "Bearer ",
    "same-length": "Bearer " + "x" * len(TOKEN),
    "prefix": "Bearer " + TOKEN[:-1],
    "longer": "Bearer " + TOKEN + "0",
    "non-ascii": "Bearer " + TOKEN[:-1] + "\u00e9",
    "wrong-scheme": "Basic " + TOKEN,
    "no-scheme": TOKEN,
}


@pytest.mark.paradex_mock(control_token=TOKEN)
async def test_every_wrong_token_is_the_same_401(
    http: aiohttp.ClientSession, paradex_mock: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing, empty, same-length, prefix, longer, non-ASCII: one 401 body, compared in
    constant time (hmac.compare_digest sees each one)."""
    compared: list[bytes] = []
    original = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append(given)
        return original(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    replies = []
    for authorization in WRONG_AUTHORIZATIONS.values():
        headers = {} if authorization is None else {"Authorization": authorization}
        status, reply_headers, body = await request(
            http, paradex_mock, "GET", "/_mock/sessions", headers=headers
        )
        replies.append((status, reply_headers["WWW-Authenticate"], body))
    assert len(set(map(json.dumps, replies))) == 1, replies
    assert replies[0][:2] == (401, "Bearer")
    assert len(compared) == len(WRONG_AUTHORIZATIONS)
    status, _, _ = await request(
        http, paradex_mock, "GET", "/_mock/sessions", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200


@pytest.mark.paradex_mock(control_token=TOKEN)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_mock/no-such-route"), ("PATCH", "/_mock/faults"), ("POST", "/_mock/faults")],
    ids=["unknown-route", "wrong-method", "huge-body"],
)
async def test_without_the_token_nothing_else_is_revealed(
    http: aiohttp.ClientSession, paradex_mock: MockServer, method: str, path: str
) -> None:
    """Unauthenticated, an unknown route, a wrong method and a huge body are all 401 (the
    token is checked before routing, and before a body is read)."""
    status, _, body = await request(http, paradex_mock, method, path, data=b"{" * 2_000_000)
    assert status == 401, body


# No internals in a failure


def fail(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


async def fail_async(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


@pytest.mark.parametrize(
    ("method", "path", "break_it"),
    [
        ("GET", "/_mock/kinds", lambda mp, server: mp.setattr(control, "kind_json", fail)),
        ("GET", "/_mock/scenario", lambda mp, server: mp.setattr(control, "scenario_json", fail)),
        ("POST", "/_mock/reset", lambda mp, server: mp.setattr(server, "reset", fail_async)),
        ("DELETE", "/_mock/faults", lambda mp, server: mp.setattr(server.faults, "clear", fail)),
    ],
    ids=["kinds", "scenario", "reset", "clear-faults"],
)
async def test_internal_error_is_a_generic_500(
    http: aiohttp.ClientSession,
    paradex_mock: MockServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    break_it: Callable[[pytest.MonkeyPatch, MockServer], None],
) -> None:
    """A handler that raises answers the generic JSON 500: no traceback, path or exception
    text (the log has them); the server goes on serving."""
    break_it(monkeypatch, paradex_mock)
    status, _, body = await request(http, paradex_mock, method, path)
    assert (status, body) == (500, GENERIC_500)
    assert_no_leak(body)
    assert any(SECRET in (r.exc_text or "") for r in caplog.records)
    assert (await request(http, paradex_mock, "GET", "/_mock/"))[0] == 200


async def test_rest_internal_error_is_paradex_generic_500(
    http: aiohttp.ClientSession, paradex_mock: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REST handler that raises answers Paradex's INTERNAL_ERROR with nothing else."""
    monkeypatch.setattr(system, "now_ms", fail)
    status, _, body = await request(http, paradex_mock, "GET", "/v1/system/time")
    assert (status, body) == (500, {"error": "INTERNAL_ERROR", "message": "internal error"})


# Bad bodies, types, sizes, routes and methods

BAD_JSON = {
    "not-json": b"{kind: close}",
    "empty": b"",
    "not-utf8": b'{"kind": "caf\xe9"}',
    "nan": b'{"kind": "close", "probability": NaN}',
    "deeply-nested": b'{"kind": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge-number": b'{"kind": "close", "count": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("path", ["/_mock/faults", "/_mock/publish"])
@pytest.mark.parametrize("body", list(BAD_JSON))
async def test_malformed_json_body_is_400(
    http: aiohttp.ClientSession, paradex_mock: MockServer, path: str, body: str
) -> None:
    """Malformed JSON (syntax, empty, not UTF-8, NaN, nested 100,000 deep, a 5000-digit
    number) is a JSON 400 saying so, never a 500."""
    headers = {"Content-Type": "application/json"}
    status, _, reply = await request(
        http, paradex_mock, "POST", path, data=BAD_JSON[body], headers=headers
    )
    assert status == 400, reply
    assert reply["error"].startswith("the body is not JSON"), reply
    assert_no_leak(reply)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_json_is_read_whatever_the_content_type(
    http: aiohttp.ClientSession, paradex_mock: MockServer, content_type: str
) -> None:
    """A JSON body is read as JSON whatever Content-Type says (curl -d sends a form type)."""
    envelope = json.dumps({"kind": "stop_pings"}).encode()
    status, _, reply = await request(
        http,
        paradex_mock,
        "POST",
        "/_mock/faults",
        data=envelope,
        headers={"Content-Type": content_type},
    )
    assert status == 201, reply


async def test_scenario_body_of_an_unknown_type_is_read_as_json(
    http: aiohttp.ClientSession, paradex_mock: MockServer
) -> None:
    """PUT /scenario with YAML sent as text/plain: read as JSON, so a 400 saying so."""
    status, _, reply = await request(
        http,
        paradex_mock,
        "PUT",
        "/_mock/scenario",
        data=b"name: mine\n",
        headers={"Content-Type": "text/plain"},
    )
    assert status == 400
    assert reply["error"].startswith("the body is not JSON")
    assert paradex_mock.scenario.name == "empty"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/_mock/faults"), ("POST", "/_mock/publish"), ("PUT", "/_mock/scenario")],
)
async def test_huge_body_is_413_json(
    http: aiohttp.ClientSession, paradex_mock: MockServer, method: str, path: str
) -> None:
    """A body over 1 MiB is a JSON 413 naming the limit, for every endpoint that reads one."""
    status, _, reply = await request(http, paradex_mock, method, path, data=b" " * 2_000_000)
    assert status == 413
    assert reply["error"].startswith("the body is too large: Maximum request body size 1048576")


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/_mock/no-such-route", 404, None),
        ("GET", "/_mock/faults/a/b", 404, None),
        ("PATCH", "/_mock/faults", 405, {"GET", "POST", "DELETE"}),
        ("DELETE", "/_mock/kinds", 405, {"GET"}),
        ("POST", "/_mock/sessions", 405, {"GET"}),
        ("GET", "/_mock/reset", 405, {"POST"}),
    ],
)
async def test_unknown_route_is_404_and_wrong_method_405_in_json(
    http: aiohttp.ClientSession,
    paradex_mock: MockServer,
    method: str,
    path: str,
    status: int,
    allow: set[str] | None,
) -> None:
    """An unknown /_mock/ route is a JSON 404; a wrong method a JSON 405 with Allow."""
    got, headers, body = await request(http, paradex_mock, method, path)
    assert got == status
    assert body["error"].endswith(f"{method} {path}")
    if allow is not None:
        assert set(headers["Allow"].split(",")) == allow


async def test_rest_auth_with_a_deeply_nested_signature_is_400(
    http: aiohttp.ClientSession, paradex_mock: MockServer
) -> None:
    """A signature header nested past the parser's stack is a 400 signature error, not 500."""
    headers = {
        "PARADEX-STARKNET-ACCOUNT": "0x1",
        "PARADEX-STARKNET-SIGNATURE": "[" * 8000,
        "PARADEX-TIMESTAMP": "1",
    }
    status, _, body = await request(http, paradex_mock, "POST", "/v1/auth", headers=headers)
    assert (status, body["error"]) == (400, "INVALID_STARKNET_SIGNATURE")


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/no-such-thing"), ("POST", "/v1/markets")]
)
async def test_rest_unknown_route_or_method_is_a_json_404(
    http: aiohttp.ClientSession, paradex_mock: MockServer, method: str, path: str
) -> None:
    """Under /v1/ an unknown path, or a method a path does not take, is Paradex's JSON 404."""
    status, _, body = await request(http, paradex_mock, method, path)
    assert (status, body["error"]) == (404, "NOT_FOUND")
    assert_no_leak(body)


# What only a browser sends


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a file:// page
        {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"},  # DNS rebinding
        {"Host": "evil.example"},
    ],
    ids=["other-origin", "null-origin", "rebound-name", "other-host"],
)
async def test_open_api_refuses_what_a_web_page_sends(
    http: aiohttp.ClientSession, paradex_mock: MockServer, headers: dict[str, str]
) -> None:
    """Open (loopback, no token): a cross-origin request or one addressed to another name
    is a JSON 403, and nothing is done."""
    status, _, body = await request(http, paradex_mock, "POST", "/_mock/reset", headers=headers)
    assert status == 403, body
    assert body["error"].startswith(("cross-origin", "without a control token"))
    assert_no_leak(body)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_open_api_answers_loopback_names_and_same_origin(
    http: aiohttp.ClientSession, paradex_mock: MockServer, host: str
) -> None:
    """Addressed to a loopback name, from no origin or its own, the open API answers."""
    netloc = f"{host}:{paradex_mock.port}"
    for headers in ({"Host": netloc}, {"Host": netloc, "Origin": f"http://{netloc}"}):
        status, _, body = await request(http, paradex_mock, "GET", "/_mock/", headers=headers)
        assert status == 200, body


@pytest.mark.paradex_mock(control_token=TOKEN)
async def test_with_a_token_any_name_is_answered(
    http: aiohttp.ClientSession, paradex_mock: MockServer
) -> None:
    """With a token (as beyond loopback: Docker), any Host is answered; Origin still counts."""
    auth = {"Authorization": f"Bearer {TOKEN}", "Host": "paradex-mock:8080"}
    assert (await request(http, paradex_mock, "GET", "/_mock/", headers=auth))[0] == 200
    cross = {**auth, "Origin": "http://evil.example"}
    assert (await request(http, paradex_mock, "GET", "/_mock/", headers=cross))[0] == 403
