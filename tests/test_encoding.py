"""Compact JSON encoding of everything the mock sends (mockserver.encoding)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from mockserver.encoding import dumps


@pytest.mark.parametrize(
    "value",
    [
        {"market": "BTC-USD-PERP", "price": "67000.1", "size": 0.5, "seq_no": 12, "ok": True},
        {"nested": [{"a": None}, [1, 2, 3]], "text": "é ü 日本 \u2028"},
        [],
        "plain",
    ],
)
def test_dumps_reads_back_as_the_same_value_in_compact_form(value: Any) -> None:
    """Round-trips through json.loads, with no spaces and UTF-8 kept (not \\u-escaped)."""
    text = dumps(value)
    assert json.loads(text) == value
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"big": 2**70}, '{"big":1180591620717411303424}'),
        ({1: "non-string key"}, '{"1":"non-string key"}'),
    ],
)
def test_values_the_fast_encoder_refuses_fall_back_to_the_standard_one(
    value: Any, expected: str
) -> None:
    """Integers past 64 bits and non-string keys still encode, as json.dumps would."""
    assert dumps(value) == expected


def test_a_decimal_is_refused_as_json_dumps_refuses_it() -> None:
    """A Decimal is not JSON: the same TypeError the standard encoder raises."""
    with pytest.raises(TypeError):
        dumps({"price": Decimal("1.5")})
