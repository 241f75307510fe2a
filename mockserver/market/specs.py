"""Built-in market specs for well-known Paradex symbols, and defaults for any other.

``spec_for("BTC-USD-PERP")`` is the built-in spec; ``spec_for("FOO-USD-PERP")``
derives one from the symbol (base ``FOO``, price 100, tick 0.01, ...); keyword
overrides (a scenario's ``markets:`` entry) are applied last. For a derived
spec the tick, size increment, level size and open interest follow the price,
so ``spec_for("FOO-USD-PERP", initial_price="0.002")`` is still a usable book.

Values are 2024-ish orders of magnitude, not live Paradex data: realistic
enough that prices, sizes and notionals look like the real thing.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import Any

from mockserver.market.model import MarketSpec

_DECIMAL_FIELDS = frozenset(
    f.name for f in dataclasses.fields(MarketSpec) if f.type in ("Decimal", Decimal)
)
_FIELDS = frozenset(f.name for f in dataclasses.fields(MarketSpec))


def base_of(symbol: str) -> str:
    """The base currency of a symbol: its first dash-separated part (``kBONK``)."""
    return symbol.split("-", 1)[0]


def _quote_of(symbol: str) -> str:
    parts = symbol.split("-")
    return parts[1] if len(parts) > 1 and parts[1] else "USD"


def _spec(symbol: str, price: str, tick: str, increment: str, **kw: Any) -> MarketSpec:
    return MarketSpec(
        symbol=symbol,
        base_currency=base_of(symbol),
        initial_price=Decimal(price),
        price_tick=Decimal(tick),
        size_increment=Decimal(increment),
        **kw,
    )


BUILTIN_SPECS: dict[str, MarketSpec] = {
    spec.symbol: spec
    for spec in (
        _spec(
            "BTC-USD-PERP", "67000", "0.1", "0.001",
            level_units=500, trades_per_s=3.0,
            max_order_size=Decimal("100"), open_interest_units=5_000_000,
        ),
        _spec(
            "ETH-USD-PERP", "3500", "0.01", "0.001",
            volatility_per_sqrt_s=0.0004, level_units=8_000, trades_per_s=2.5,
            max_order_size=Decimal("1000"), open_interest_units=30_000_000,
        ),
        _spec(
            "SOL-USD-PERP", "150", "0.001", "0.01",
            volatility_per_sqrt_s=0.0005, level_units=15_000, trades_per_s=2.0,
            max_order_size=Decimal("10000"), open_interest_units=60_000_000,
        ),
        _spec(
            "ARB-USD-PERP", "0.8", "0.0001", "0.1",
            volatility_per_sqrt_s=0.0006, level_units=150_000, trades_per_s=1.0,
            max_order_size=Decimal("1000000"), open_interest_units=300_000_000,
        ),
        _spec(
            "DOGE-USD-PERP", "0.15", "0.00001", "1",
            volatility_per_sqrt_s=0.0007, level_units=80_000, trades_per_s=1.0,
            max_order_size=Decimal("5000000"), open_interest_units=200_000_000,
        ),
        _spec(
            "kBONK-USD-PERP", "0.02", "0.000001", "1",
            volatility_per_sqrt_s=0.0009, level_units=500_000, trades_per_s=1.0,
            max_order_size=Decimal("50000000"), open_interest_units=2_000_000_000,
        ),
        _spec(
            "AVAX-USD-PERP", "35", "0.001", "0.01",
            volatility_per_sqrt_s=0.0006, level_units=30_000, trades_per_s=1.0,
            max_order_size=Decimal("50000"), open_interest_units=50_000_000,
        ),
        _spec(
            "LINK-USD-PERP", "15", "0.001", "0.1",
            volatility_per_sqrt_s=0.0006, level_units=8_000, trades_per_s=1.0,
            max_order_size=Decimal("100000"), open_interest_units=20_000_000,
        ),
        _spec(
            "XRP-USD-PERP", "0.5", "0.0001", "1",
            volatility_per_sqrt_s=0.0005, level_units=20_000, trades_per_s=1.0,
            max_order_size=Decimal("2000000"), open_interest_units=50_000_000,
        ),
    )
}  # fmt: skip


def _pow10(exponent: int) -> Decimal:
    return Decimal(10) ** exponent  # plain digits for positive exponents (10000, not 1E+4)


def _derived(symbol: str, price: Decimal) -> MarketSpec:
    """A spec for an unknown symbol, scaled to its price (100 unless overridden)."""
    magnitude = math.floor(math.log10(price))
    tick = _pow10(magnitude - 4)  # ~10^4 ticks to the price: 100 -> 0.01
    # One size unit worth about 1 quote unit, but never finer than 0.001 or coarser than 1.
    increment = _pow10(max(-3, min(0, round(-math.log10(price)))))
    unit_notional = float(price * increment)
    return MarketSpec(
        symbol=symbol,
        base_currency=base_of(symbol),
        quote_currency=_quote_of(symbol),
        initial_price=price,
        price_tick=tick,
        size_increment=increment,
        level_units=max(10, round(20_000 / unit_notional)),  # ~20k quote a level
        max_order_size=_pow10(round(math.log10(1_000_000 / float(price)))),  # ~1M quote
        open_interest_units=max(1, round(50_000_000 / unit_notional)),  # ~50M quote
    )


def _coerce(name: str, value: Any) -> Any:
    if name in _DECIMAL_FIELDS and not isinstance(value, Decimal):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(f"market parameter {name!r} must be a decimal, got {value!r}")
        return Decimal(str(value))
    return value


def spec_for(symbol: str, **overrides: Any) -> MarketSpec:
    """The spec of ``symbol``: built-in if known, else derived; ``overrides`` applied last.

    Decimal fields accept ``str``/``int``/``float`` too (``initial_price="2500"``).
    An unknown parameter raises ``TypeError``.
    """
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown market parameter(s): {', '.join(unknown)}")
    if "symbol" in overrides and overrides["symbol"] != symbol:
        raise TypeError("spec_for: the symbol is the first argument, not an override")
    values = {name: _coerce(name, value) for name, value in overrides.items()}
    base = BUILTIN_SPECS.get(symbol)
    if base is None:
        price = values.get("initial_price", Decimal(100))
        if price <= 0:
            raise ValueError(f"{symbol}: initial_price must be positive, got {price}")
        base = _derived(symbol, price)
    return dataclasses.replace(base, **values)
