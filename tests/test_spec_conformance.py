"""What the mock sends, checked against Paradex's own published schemas.

The schemas are tradeparadex/paradex-docs' ``openrpc.json`` (method results and
error codes) and ``asyncapi-2.6.0.yaml`` (``components.schemas``: the channel
payloads), kept in ``../shared/paradex-spec`` next to the repository. Without them
these tests fail (they never skip): a silently skipped conformance suite is one
nobody notices is gone.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import paradex_spec
import pytest
from aiohttp import WSMsgType
from conftest import Client, Connect
from jsonschema import Draft7Validator
from paradex_spec import problems

from mockserver.channels import BOOK_REFRESH_RATES, CATALOGUE, PRICE_TICKS, family_of
from mockserver.scenario.loader import loads
from mockserver.server import MockServer
from mockserver.tokens import mint

# The payload schema of each channel family the default scenario must stream.
REQUIRED_FAMILIES = {
    "markets_summary": "ResponsesMarketSummaryResp",
    "bbo": "ResponsesBBOResp",
    "trades": "ResponsesTradeResult",
    "order_book": "ResponsesPriceBookUpdate",
}
# How long the default scenario is listened to.
COLLECT_S = 1.0

EMPTY = loads("name: empty\nmarkets: [BTC-USD-PERP, ETH-USD-PERP]\n")


@dataclass(frozen=True)
class Spec:
    openrpc: dict[str, Any]
    asyncapi: dict[str, Any]

    def method(self, name: str) -> dict[str, Any]:
        return next(m for m in self.openrpc["methods"] if m["name"] == name)

    def result_schema(self, method: str) -> dict[str, Any]:
        return self.method(method)["result"]["schema"]  # type: ignore[no-any-return]

    def error_codes(self, method: str) -> set[int]:
        return {e["code"] for e in self.method(method)["errors"]}

    def response_payload(self, method: str) -> dict[str, Any]:
        """AsyncAPI's schema of a method's response (``channels./<method>.subscribe``)."""
        return self.asyncapi["channels"][f"/{method}"]["subscribe"]["message"]["payload"]  # type: ignore[no-any-return]

    def payload_refs(self) -> dict[str, str]:
        """Channel family -> the ``components.schemas`` name its messages carry."""
        return paradex_spec.payload_refs()

    def component(self, name: str) -> Draft7Validator:
        """A validator for ``components.schemas.<name>``, resolving refs inside the document."""
        return paradex_spec.validator(name)


def load_spec() -> Spec:
    """The spec files, or a test failure that says where they should be."""
    return Spec(
        paradex_spec.document(paradex_spec.OPENRPC), paradex_spec.document(paradex_spec.ASYNCAPI)
    )


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every listed property required and no others allowed.

    Paradex's method result schemas declare no ``required``; the mock should still
    send exactly the members they document.
    """
    tightened = copy.deepcopy(schema)
    tightened["required"] = sorted(schema["properties"])
    tightened["additionalProperties"] = False
    return tightened


def test_spec_files_are_present() -> None:
    """The Paradex spec files are where CI puts them, and parse."""
    spec = load_spec()
    assert spec.asyncapi["asyncapi"].startswith("2.")
    assert {"auth", "subscribe", "unsubscribe"} <= {m["name"] for m in spec.openrpc["methods"]}


def test_payload_schemas_are_the_expected_components() -> None:
    """AsyncAPI names the payload schemas this suite checks, and they are valid draft-7."""
    spec = load_spec()
    refs = spec.payload_refs()
    for family, name in REQUIRED_FAMILIES.items():
        assert refs.get(family) == name, f"{family}: AsyncAPI says {refs.get(family)}"
    assert refs.get("funding_data") == "ResponsesFundingDataResult"
    for name in spec.asyncapi["components"]["schemas"]:
        Draft7Validator.check_schema(spec.asyncapi["components"]["schemas"][name])


def test_every_documented_family_is_in_the_catalogue() -> None:
    """Each channel family AsyncAPI documents is one the mock's catalogue knows."""
    spec = load_spec()
    documented = set(spec.payload_refs())
    assert documented <= {f.family for f in CATALOGUE}, documented - {f.family for f in CATALOGUE}


def test_order_book_parameters_match_asyncapi() -> None:
    """The grammar's refresh rates and price ticks are AsyncAPI's enums exactly."""
    parameters = load_spec().asyncapi["components"]["parameters"]
    assert tuple(parameters["refresh_rate"]["schema"]["enum"]) == BOOK_REFRESH_RATES
    assert tuple(parameters["price_tick"]["schema"]["enum"]) == PRICE_TICKS


# Method results and errors


@pytest.mark.paradex_mock(scenario=EMPTY)
async def test_method_results_match_the_schemas(connect: Connect) -> None:
    """auth, subscribe and unsubscribe results validate against OpenRPC and AsyncAPI."""
    spec = load_spec()
    client = await connect()
    results = {
        "auth": await client.call("auth", {"bearer": mint("0xabc")}),
        "subscribe": await client.call("subscribe", {"channel": "orders.ALL"}),
        "unsubscribe": await client.call("unsubscribe", {"channel": "orders.ALL"}, "u1"),
    }
    for method, reply in results.items():
        assert "result" in reply, reply
        result = reply["result"]
        for schema in (spec.result_schema(method), spec.response_payload(method)):
            assert problems(Draft7Validator(schema), result) == [], (method, result)
            assert problems(Draft7Validator(strict(schema)), result) == [], (method, result)


ERROR_PROBES: list[tuple[str, dict[str, Any] | Any, bool]] = [
    ("auth", {"bearer": "not-a-jwt"}, False),
    ("auth", {"bearer": mint("0x1", ttl_s=-60)}, False),
    ("auth", {}, False),
    ("auth", [], False),
    ("subscribe", {"channel": "nope"}, False),
    ("subscribe", {"channel": "order_book.BTC-USD-PERP.deltas@15@50ms"}, False),
    ("subscribe", {"channel": "orders.ALL"}, False),
    ("subscribe", {"channel": 5}, False),
    ("subscribe", {"channel": "trades.ALL"}, True),
    ("unsubscribe", {"channel": "bbo.ALL"}, False),
    ("unsubscribe", {}, False),
]


@pytest.mark.paradex_mock(scenario=EMPTY)
@pytest.mark.parametrize(("method", "params", "twice"), ERROR_PROBES)
async def test_error_codes_are_listed_for_the_method(
    connect: Connect, method: str, params: Any, twice: bool
) -> None:
    """Every error code the mock answers a method with is one OpenRPC lists for it."""
    spec = load_spec()
    client = await connect()
    if twice:
        await client.call(method, params)
    reply = await client.call(method, params)
    assert "error" in reply, reply
    error = reply["error"]
    assert error["code"] in spec.error_codes(method), (method, error)
    assert isinstance(error["message"], str)
    assert isinstance(error.get("data", ""), str)


# Channel payloads from the bundled default scenario


def names_to_subscribe(server: MockServer) -> list[str]:
    """Every channel the default scenario declares, plus aggregate and per-market names."""
    scenario = server.scenario
    names: list[str] = [c.channel for c in scenario.channels]
    if scenario.markets:
        market = scenario.markets[0]
        names += [
            "markets_summary",
            "markets_summary.ALL",
            f"markets_summary.{market}",
            "bbo.ALL",
            f"bbo.{market}",
            "trades.ALL",
            f"trades.{market}",
            "funding_data",
            *(f"order_book.ALL.snapshot@15@{rate}" for rate in BOOK_REFRESH_RATES),
            *(f"order_book.{market}.snapshot@15@{rate}" for rate in BOOK_REFRESH_RATES),
        ]
    return list(dict.fromkeys(names))


def account_for(server: MockServer) -> str | None:
    """An account whose private messages the default scenario sends, or any it accepts."""
    scenario = server.scenario
    if scenario.auth.fail_with is not None:
        return None
    for script in scenario.channels:
        for emission in script.messages:
            if emission.account is not None:
                return emission.account
    return sorted(scenario.auth.accounts)[0] if scenario.auth.accounts else "0x1"


async def collect(client: Client, names: list[str], seconds: float) -> dict[str, list[Any]]:
    """Subscribe to ``names`` at once and gather every notification for ``seconds``.

    One loop reads replies and data alike, so messages sent right after a subscribe
    reply (``on_subscribe`` snapshots) are kept too.
    """
    for request_id, name in enumerate(names, start=1000):
        request = {"jsonrpc": "2.0", "id": request_id, "method": "subscribe"}
        await client.ws.send_str(json.dumps({**request, "params": {"channel": name}}))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    refused: list[str] = []
    received: dict[str, list[Any]] = defaultdict(list)
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await client.ws.receive(timeout=remaining)
        except asyncio.TimeoutError:
            break
        assert message.type is WSMsgType.TEXT, f"unexpected frame {message}"
        frame = json.loads(message.data)
        if "error" in frame:
            refused.append(f"{names[frame['id'] - 1000]}: {frame['error']}")
        elif frame.get("method") == "subscription":
            channel = frame["params"]["channel"]
            assert channel in names, f"notification on a channel never subscribed: {channel}"
            received[channel].append(frame["params"]["data"])
    assert refused == [], f"the mock refused channels of its own default scenario: {refused}"
    return received


@pytest.mark.paradex_mock(scenario="default")
async def test_default_scenario_payloads_match_the_schemas(
    connect: Connect, paradex_mock: MockServer
) -> None:
    """Every notification the default scenario sends in ~1 s matches its AsyncAPI schema."""
    spec = load_spec()
    refs = spec.payload_refs()
    client = await connect()
    account = account_for(paradex_mock)
    private = {f.family for f in CATALOGUE if f.private}
    names = names_to_subscribe(paradex_mock)
    if account is not None:
        assert "result" in await client.call("auth", {"bearer": mint(account)})
    else:
        names = [n for n in names if family_of(n) not in private]
    received = await collect(client, names, COLLECT_S)

    by_family: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for channel, payloads in received.items():
        by_family[family_of(channel)].extend((channel, p) for p in payloads)
    missing = [f for f in REQUIRED_FAMILIES if not by_family.get(f)]
    assert not missing, (
        f"the default scenario ({paradex_mock.scenario.source}) emitted no "
        f"{', '.join(missing)} notifications in {COLLECT_S}s; it must stream every family of "
        f"{sorted(REQUIRED_FAMILIES)} (subscribed: {names}; got: "
        f"{ {f: len(v) for f, v in by_family.items()} })"
    )
    snapshots = [p for _, p in by_family["order_book"] if p.get("update_type") == "s"]
    assert snapshots, "the default scenario sent no order_book snapshot (update_type 's')"

    report: list[str] = []
    for family, items in sorted(by_family.items()):
        if family not in refs:
            continue  # no published schema (e.g. funding_rate_comparison)
        validator = spec.component(refs[family])
        for channel, payload in items:
            for problem in problems(validator, payload)[:3]:
                report.append(
                    f"{channel} [{refs[family]}]: {problem}; data={json.dumps(payload)[:300]}"
                )
    assert not report, "payloads that do not match Paradex's AsyncAPI:\n" + "\n".join(report[:30])
