"""GET /v1/system/config, /v1/system/state, /v1/system/time.

``config`` is Paradex testnet's configuration as ccxt's own offline test pins it
(``ccxt/test/tests_async.py`` ``test_paradex``): the chain ids and the account
class hashes are what ccxt and paradex-py derive a Starknet account address from
and sign with, so a key gives the address it would on testnet. The mock never
talks to those contracts (UNCONFIRMED values for anything but testnet; README).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mockserver.app import SERVER_KEY
from mockserver.rest.view import now_ms

SYSTEM_CONFIG: dict[str, Any] = {
    "starknet_gateway_url": "https://potc-testnet-sepolia.starknet.io",
    "starknet_fullnode_rpc_url": "https://pathfinder.api.testnet.paradex.trade/rpc/v0_7",
    "starknet_fullnode_rpc_base_url": "https://pathfinder.api.testnet.paradex.trade",
    "starknet_chain_id": "PRIVATE_SN_POTC_SEPOLIA",
    "block_explorer_url": "https://voyager.testnet.paradex.trade/",
    "paraclear_address": "0x286003f7c7bfc3f94e8f0af48b48302e7aee2fb13c23b141479ba00832ef2c6",
    "paraclear_decimals": 8,
    "paraclear_account_proxy_hash": (
        "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"
    ),
    "paraclear_account_hash": "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e",
    "oracle_address": "0x2c6a867917ef858d6b193a0ff9e62b46d0dc760366920d631715d58baeaca1f",
    "bridged_tokens": [
        {
            "name": "TEST USDC",
            "symbol": "USDC",
            "decimals": 6,
            "l1_token_address": "0x29A873159D5e14AcBd63913D4A7E2df04570c666",
            "l1_bridge_address": "0x8586e05adc0C35aa11609023d4Ae6075Cb813b4C",
            "l2_token_address": (
                "0x6f373b346561036d98ea10fb3e60d2f459c872b1933b50b21fe6ef4fda3b75e"
            ),
            "l2_bridge_address": (
                "0x46e9237f5408b5f899e72125dd69bd55485a287aaf24663d3ebe00d237fc7ef"
            ),
        }
    ],
    "l1_core_contract_address": "0x582CC5d9b509391232cd544cDF9da036e55833Af",
    "l1_operator_address": "0x11bACdFbBcd3Febe5e8CEAa75E0Ef6444d9B45FB",
    "l1_chain_id": "11155111",
    "liquidation_fee": "0.2",
    "environment": "testnet",
}


async def config(request: web.Request) -> dict[str, Any]:
    return SYSTEM_CONFIG


async def state(request: web.Request) -> dict[str, Any]:
    # Always "ok": a maintenance window is not simulated (UNCONFIRMED: docs/behaviour.md).
    return {"status": "ok"}


async def server_time(request: web.Request) -> dict[str, Any]:
    # A string of ms, as the spec types it ("1681493415023"); the market's clock.
    return {"server_time": str(now_ms(request.app[SERVER_KEY]))}


ROUTES = [
    ("GET", "/system/config", config),
    ("GET", "/system/state", state),
    ("GET", "/system/time", server_time),
]
