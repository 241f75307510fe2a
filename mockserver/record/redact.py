"""Take private data out of recorded payloads, keeping the replay coherent.

What goes (docs/recording.md, "Redaction"):

- the bearer token: never written; a string holding it, or anything shaped like
  a JWT (``eyJ...``, three base64url parts), becomes ``<redacted-token>``;
- on private channels, by key at any depth: account addresses (``account``,
  ``counterparty``, ...) become ``0x1``, ``0x2``, ... in order of appearance (the
  recording's own account, the token's ``sub``, is always ``0x1``, so a test
  authenticates with ``server.token("0x1")``); hashes and signatures become
  zero-padded hex counters of the same length; ids (``id``, ``order_id``,
  ``fill_id``, ``client_id``, ...) become counters of the same shape (digits stay
  digits, a UUID stays a UUID);
- everywhere, public channels included: any string containing an address the
  redactor has replaced (or the token's ``sub``) gets the placeholder instead.

The same real value always gets the same placeholder within one ``Redactor``
(one file), so an order's ``id`` and a fill's ``order_id`` still match, and the
same address spelled ``0x04ab`` or ``0x4AB`` is one account. Empty strings,
numbers other than ids, and public payloads' own fields are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from mockserver.errors import MockError
from mockserver.tokens import read_token

TOKEN_PLACEHOLDER = "<redacted-token>"

# Keys whose values are redacted on private channels, by kind of placeholder.
ACCOUNT_KEYS = frozenset(
    {
        "account", "owner_account", "counterparty", "external_account", "vault_address",
        "l1_address", "sub_account", "parent_account", "signer", "maker_account",
        "taker_account",
    }
)  # fmt: skip
HEX_KEYS = frozenset(
    {
        "hash", "txn_hash", "tx_hash", "external_txn_hash", "signature", "signatures",
        "public_key", "l2_public_key",
    }
)  # fmt: skip
ID_KEYS = frozenset(
    {
        "id", "order_id", "fill_id", "last_fill_id", "busted_fill_id", "client_id",
        "rfq_id", "quote_id", "trade_id", "request_id", "transfer_id",
    }
)  # fmt: skip

_HEX = re.compile(r"^0[xX][0-9a-fA-F]+\Z")
_HEX_INSIDE = re.compile(r"0[xX][0-9a-fA-F]+")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A replaced address shorter than this is not searched for inside other strings:
# "0x1" would be found in every hex number.
_MIN_SECRET_CHARS = 10


def token_account(token: str) -> str | None:
    """The account (``sub``) a bearer token names, read without checking it; None if none."""
    try:
        return read_token(token, now_s=0).account
    except MockError:
        return None


def _canonical_hex(value: str) -> str:
    """One spelling per number: 0x04AB and 0x4ab are the same address."""
    return hex(int(value, 16))


class Redactor:
    """Replaces private values by stable placeholders, one mapping per file."""

    def __init__(self, *, token: str | None = None) -> None:
        self._token = token or None
        self._maps: dict[str, dict[Any, Any]] = {"account": {}, "hex": {}, "id": {}}
        # Raw spellings of replaced addresses (and the token) -> what replaces them.
        self._secrets: dict[str, str] = {}
        self._secret_pattern: re.Pattern[str] | None = None
        self.counts: Counter[str] = Counter()
        # The placeholder of the token's own account (always 0x1), when there is a token.
        self.own_account: str | None = None
        if self._token is not None:
            self._add_secret(self._token, TOKEN_PLACEHOLDER)
            sub = token_account(self._token)
            if sub is not None:
                self.own_account = self.account(sub)

    # Placeholders

    def account(self, value: str) -> str:
        """The placeholder of an account address: 0x1, 0x2, ... by first appearance."""
        if not value:
            return value
        key = _canonical_hex(value) if _HEX.match(value) else value
        mapping = self._maps["account"]
        placeholder = mapping.get(key)
        if placeholder is None:
            placeholder = mapping[key] = f"0x{len(mapping) + 1:x}"
        self.counts["account"] += 1
        if len(value) >= _MIN_SECRET_CHARS and value not in self._secrets:
            self._add_secret(value, placeholder)
        return str(placeholder)

    def _counter(self, kind: str, key: Any) -> int:
        mapping = self._maps[kind]
        if key not in mapping:
            mapping[key] = len(mapping) + 1
        self.counts[kind] += 1
        return int(mapping[key])

    def hex_value(self, value: str) -> str:
        """A hash or signature: a hex counter of the same length; hex inside text likewise."""
        if not value:
            return value
        if _HEX.match(value):
            n = self._counter("hex", _canonical_hex(value))
            return "0x" + f"{n:x}".rjust(len(value) - 2, "0")
        replaced, found = _HEX_INSIDE.subn(lambda m: self.hex_value(m[0]), value)
        if found:  # a signature as JSON text: '["0x1a..", "0x2b.."]'
            return replaced
        return f"redacted-{self._counter('hex', value)}"

    def id_value(self, value: Any) -> Any:
        """An id: a counter of the same shape (digits, UUID, 0x-hex, an integer)."""
        if isinstance(value, bool) or value is None or value == "":
            return value
        if isinstance(value, int):
            return self._counter("id", value)
        if not isinstance(value, str):
            return value
        if _HEX.match(value):
            return self.hex_value(value)
        n = self._counter("id", value)
        if value.isdigit() and value.isascii():
            return str(n).rjust(len(value), "0")
        if _UUID.match(value):
            return f"00000000-0000-4000-8000-{n:012x}"
        return f"redacted-{n}"

    # Payloads

    def payload(self, data: dict[str, Any], *, private: bool) -> dict[str, Any]:
        """``data`` with its private values replaced (a new object; ``data`` is kept)."""
        if private:
            data = self._by_key(data)
        return self._scrub(data)  # type: ignore[no-any-return]

    def _by_key(self, value: Any, kind: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self._by_key(v, _kind_of(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._by_key(v, kind) for v in value]
        if kind == "account" and isinstance(value, str):
            return self.account(value)
        if kind == "hex" and isinstance(value, str):
            return self.hex_value(value)
        if kind == "id":
            return self.id_value(value)
        return value

    def _scrub(self, value: Any) -> Any:
        """Every string with a known secret or a JWT in it, fixed; anywhere."""
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, str) and len(value) >= 3:
            return self.text(value)
        return value

    def text(self, value: str) -> str:
        """A string with every known secret, and anything shaped like a JWT, replaced."""
        if self._secret_pattern is not None:
            value = self._secret_pattern.sub(lambda m: self._secrets[m[0]], value)
        if "eyJ" in value:
            value = _JWT.sub(TOKEN_PLACEHOLDER, value)
        return value

    def _add_secret(self, raw: str, placeholder: str) -> None:
        self._secrets[raw] = placeholder
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def summary(self) -> list[str]:
        """What was redacted, one line each (for the file's header)."""
        lines = []
        if self._token is not None:
            lines.append("the bearer token (never written)")
        names = {"account": "account addresses", "hex": "hashes/signatures", "id": "ids"}
        for kind, name in names.items():
            distinct = len(self._maps[kind])
            if distinct:
                lines.append(f"{name}: {distinct} distinct value(s), {self.counts[kind]} use(s)")
        return lines


def _kind_of(key: str) -> str | None:
    if key in ACCOUNT_KEYS:
        return "account"
    if key in HEX_KEYS:
        return "hex"
    if key in ID_KEYS:
        return "id"
    return None


def redacted_keys() -> Iterable[tuple[str, frozenset[str]]]:
    """The keys redacted on private channels, by placeholder kind (for the docs' test)."""
    return (("account", ACCOUNT_KEYS), ("hex", HEX_KEYS), ("id", ID_KEYS))
