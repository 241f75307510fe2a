"""Paradex-shaped JWTs: read the ones clients send, mint ones for tests.

The mock checks a token's shape and claims, never its signature (paradex-ws.md §7:
Paradex signs with ES384; a client test has no key to verify against). ``mint``
produces tokens with the same header and claim names as Paradex's, so a client
that inspects its token (paradex-py refreshes when ``exp`` is near) sees what it
would see against Paradex.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from mockserver.errors import InvalidToken, MalformedToken

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")

# Paradex JWTs live five minutes (paradex-ws.md §7).
DEFAULT_TOKEN_TTL_S = 300


@dataclass(frozen=True)
class TokenClaims:
    """The claims the mock uses from a bearer token."""

    account: str
    expires_at: float | None
    raw: dict[str, Any]


def _b64url_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise MalformedToken() from exc


def read_token(bearer: str, *, now_s: float) -> TokenClaims:
    """Validate a bearer token as the mock's ``auth`` does.

    Not three base64url parts with JSON header and payload -> 40110 (malformed);
    ``exp`` at or before ``now_s`` -> 40111 (invalid); no ``sub`` -> 40111, since
    the subject is the account and a token without one authenticates nobody.
    The signature part may be empty (an unsigned test token) but must be base64url.
    """
    parts = bearer.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise MalformedToken()
    if not all(_BASE64URL.match(p) for p in parts):
        raise MalformedToken()
    header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedToken()
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or isinstance(exp, bool)):
        raise InvalidToken()
    if exp is not None and exp <= now_s:
        raise InvalidToken()
    account = claims.get("sub")
    if not isinstance(account, str) or not account:
        raise InvalidToken()
    return TokenClaims(account=account, expires_at=exp, raw=claims)


def _b64url(obj: dict[str, Any]) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(
    account: str,
    *,
    ttl_s: float = DEFAULT_TOKEN_TTL_S,
    now_s: float | None = None,
    issuer: str = "Paradex mock",
) -> str:
    """A JWT the mock's ``auth`` accepts for ``account`` (``ttl_s`` < 0 gives an expired one)."""
    issued = int(time.time() if now_s is None else now_s)
    header = {"alg": "ES384", "typ": "JWT"}
    claims = {
        "typ": "at+JWT",
        "exp": issued + int(ttl_s),
        "iat": issued,
        "iss": issuer,
        "sub": account,
    }
    # The signature is opaque to every client; a fixed base64url string keeps the
    # token's shape (three non-empty parts) without pretending to be verifiable.
    return f"{_b64url(header)}.{_b64url(claims)}.bW9jay1zaWduYXR1cmU"
