"""Compact JSON, the way every frame the mock sends is encoded.

orjson does it about ten times faster than the standard library (0.7 µs against
7 µs for a trade payload, measured on the CI machine): it runs once per publish,
per reply and per rendered scenario message, so on a replay to one client it
was the largest single cost. What orjson refuses (integers beyond 64 bits,
non-string keys) falls back to the standard encoder, so the output is
what ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` gives,
apart from float spelling (``1e16`` rather than ``1e+16``, both valid JSON).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STANDARD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def loads(data: str | bytes) -> Any:
    """JSON text (or UTF-8 bytes) as RFC 8259 has it: Python's reader takes NaN and
    Infinity, which JSON has not (a ``ValueError``, as any other malformed text)."""
    return json.loads(data, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON has no {name}")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8 characters kept, not escaped)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _STANDARD.encode(value)
