"""POST /v1/auth (ccxt, the spec) and POST /v1/auth/{public_key} (paradex-py).

The signature headers Paradex's OpenAPI declares are checked for presence and
shape only; the StarkNet signature itself is not verified (the mock has no
account registry to verify against). A request that passes gets
``{"jwt_token": ...}``, minted by ``mockserver.tokens.mint`` for the account
the ``PARADEX-STARKNET-ACCOUNT`` header names (its ``sub``), which the
socket's ``auth`` accepts. What each header must look like:

=============================  ================================  ============================
header                         shape                             refused with (400 unless said)
=============================  ================================  ============================
PARADEX-STARKNET-ACCOUNT       ``0x`` + 1-64 hex digits          INVALID_STARKNET_ADDRESS
PARADEX-STARKNET-SIGNATURE     a JSON array of 2+ felts, each    INVALID_STARKNET_SIGNATURE
                               a decimal or ``0x`` hex string
                               (paradex-py ``["12","34"]``,
                               ccxt ``["0xc","0x22"]``)
PARADEX-TIMESTAMP              unix seconds                      INVALID_TIMESTAMP
PARADEX-SIGNATURE-EXPIRATION   unix seconds, in the future       INVALID_TIMESTAMP (401 when
(optional)                                                       it is past)
=============================  ================================  ============================

A required header that is missing: 400 VALIDATION_ERROR. The codes are from
``responses.ErrorCode``; which case gets which is UNCONFIRMED (docs/behaviour.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from mockserver.app import SERVER_KEY
from mockserver.rest.errors import (
    InvalidStarknetAddress,
    InvalidStarknetSignature,
    InvalidTimestamp,
    RestError,
    SignatureExpired,
)
from mockserver.tokens import mint

ACCOUNT = "PARADEX-STARKNET-ACCOUNT"
SIGNATURE = "PARADEX-STARKNET-SIGNATURE"
TIMESTAMP = "PARADEX-TIMESTAMP"
EXPIRATION = "PARADEX-SIGNATURE-EXPIRATION"
REQUIRED = (ACCOUNT, SIGNATURE, TIMESTAMP)

_FELT_HEX = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
_FELT = re.compile(r"^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$")
_SECONDS = re.compile(r"^[0-9]{1,12}$")


class InvalidPublicKey(RestError):
    error = "PUBLIC_KEY_INVALID"


def check_headers(headers: Any, *, now_s: float) -> str:
    """The account of a well-formed set of auth headers, or the ``RestError`` it earns."""
    missing = [name for name in REQUIRED if not headers.get(name)]
    if missing:
        raise RestError(f"missing required header(s): {', '.join(missing)}")
    account = headers[ACCOUNT]
    if not _FELT_HEX.match(account):
        raise InvalidStarknetAddress(f"{ACCOUNT} must be 0x and 1-64 hex digits, not {account!r}")
    if not _is_signature(headers[SIGNATURE]):
        raise InvalidStarknetSignature(
            f'{SIGNATURE} must be a JSON array of felts, e.g. ["123","456"] or ["0x7b","0x1c8"]'
        )
    if not _SECONDS.match(headers[TIMESTAMP]):
        raise InvalidTimestamp(f"{TIMESTAMP} must be unix seconds, not {headers[TIMESTAMP]!r}")
    expiration = headers.get(EXPIRATION)
    if expiration is not None:
        if not _SECONDS.match(expiration):
            raise InvalidTimestamp(f"{EXPIRATION} must be unix seconds, not {expiration!r}")
        if int(expiration) <= now_s:
            raise SignatureExpired(f"the signature expired at {expiration}")
    return account


def _is_signature(raw: str) -> bool:
    try:
        parts = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the stack
        return False
    return (
        isinstance(parts, list)
        and len(parts) >= 2
        and all(isinstance(p, str) and _FELT.match(p) for p in parts)
    )


async def auth(request: web.Request) -> dict[str, Any]:
    public_key = request.match_info.get("public_key")
    if public_key is not None and not _FELT_HEX.match(public_key):
        raise InvalidPublicKey(f"the public key must be 0x and hex digits, not {public_key!r}")
    server = request.app[SERVER_KEY]
    account = check_headers(request.headers, now_s=server.now_s())
    return {"jwt_token": mint(account, now_s=server.now_s())}


ROUTES = [
    ("POST", "/auth", auth),
    ("POST", "/auth/{public_key}", auth),
]
