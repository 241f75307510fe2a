"""Payload templates: static JSON with generated fields marked by YAML tags.

A scenario's ``data:`` is compiled once into a tree of ``Template`` nodes. A tree
without generated fields is a ``Static`` whose JSON is encoded once at load time;
otherwise each emission renders it with a ``RenderContext`` (the timeline's seeded
RNG, its counters and its clock). The tags, documented in docs/scenarios.md:

=============================  ===============================================
``!fake NAME``                 a Faker provider, e.g. ``!fake uuid4``
``!fake {NAME: {kwargs}}``     a Faker provider with arguments
``!decimal {min, max, step}``  a decimal string on a grid, e.g. a price on its tick
``!choice [a, b, ...]``        one of the values
``!seq {start, step}``         1000, 1001, ... (``!seq`` alone starts at 1)
``!now_ms`` / ``!now_us``      the clock, in milliseconds / microseconds
=============================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mockserver.encoding import dumps

if TYPE_CHECKING:
    from faker import Faker


@dataclass
class RenderContext:
    """The state one timeline renders with: deterministic given its seed."""

    seed: int
    now_us: Callable[[], int]
    random: random.Random = field(init=False)
    counters: dict[int, int] = field(default_factory=dict)
    _fake: Faker | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    @property
    def fake(self) -> Faker:
        # Faker is created on first use only: the first instance costs ~50 ms.
        if self._fake is None:
            from faker import Faker

            self._fake = Faker()
            self._fake.random = self.random
        return self._fake


class Template:
    """A compiled payload (sub)tree."""

    static: bool = False

    def render(self, ctx: RenderContext) -> Any:
        raise NotImplementedError

    def render_json(self, ctx: RenderContext) -> str:
        return dumps(self.render(ctx))


@dataclass(frozen=True, eq=False)
class Static(Template):
    """A value with nothing generated in it: encoded once, on first use."""

    value: Any
    static = True

    def render(self, ctx: RenderContext) -> Any:
        return self.value

    def render_json(self, ctx: RenderContext) -> str:
        # Lazily: a static subtree of a generated payload is never encoded on its
        # own, and encoding every nested Static at load time costs O(size x depth).
        encoded: str | None = self.__dict__.get("_json")
        if encoded is None:
            encoded = dumps(self.value)
            object.__setattr__(self, "_json", encoded)
        return encoded


@dataclass(frozen=True, eq=False)
class MappingTemplate(Template):
    items: tuple[tuple[str, Template], ...]

    def render(self, ctx: RenderContext) -> Any:
        return {key: value.render(ctx) for key, value in self.items}


@dataclass(frozen=True, eq=False)
class ListTemplate(Template):
    items: tuple[Template, ...]

    def render(self, ctx: RenderContext) -> Any:
        return [item.render(ctx) for item in self.items]


def to_json_value(value: Any) -> Any:
    """Make a Faker result JSON-friendly: decimals as strings, as Paradex sends them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


@dataclass(frozen=True, eq=False)
class Fake(Template):
    provider: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def render(self, ctx: RenderContext) -> Any:
        method = getattr(ctx.fake, self.provider)
        return to_json_value(method(**dict(self.kwargs)))


@dataclass(frozen=True, eq=False)
class DecimalRange(Template):
    """A decimal string drawn uniformly from the grid ``min, min+step, ..., max``."""

    low: decimal.Decimal
    high: decimal.Decimal
    step: decimal.Decimal

    # decimal's default context: a value with more digits cannot be quantized.
    MAX_DIGITS: ClassVar[int] = 28

    def __post_init__(self) -> None:
        # Print with as many decimals as the finer of min and step, so a 0.1 step
        # prints "67000.1" (never "67000.10000") and min 0.05, step 0.1 prints
        # "0.15" (rounding to the step alone would put it off the grid).
        places = -min(_exponent(self.step), _exponent(self.low))
        scale = 10**places
        # Integers in units of the last printed decimal: rendering is then integer
        # arithmetic and one format, several times faster than Decimal (the default
        # scenario draws ~4000 of these a second).
        object.__setattr__(self, "_places", places)
        object.__setattr__(self, "_low", int(self.low * scale))
        object.__setattr__(self, "_step", int(self.step * scale))
        object.__setattr__(self, "_choices", int((self.high - self.low) / self.step) + 1)

    def render(self, ctx: RenderContext) -> Any:
        choices: int = self._choices  # type: ignore[attr-defined]
        # random() * n is uniform enough below 2**53 and a third of randint's cost.
        pick = int(ctx.random.random() * choices) if choices < _FLOAT_EXACT else None
        if pick is None:
            pick = ctx.random.randrange(choices)
        units: int = self._low + self._step * pick  # type: ignore[attr-defined]
        places: int = self._places  # type: ignore[attr-defined]
        if not places:
            return str(units)
        sign = "-" if units < 0 else ""
        digits = str(abs(units)).rjust(places + 1, "0")
        return f"{sign}{digits[:-places]}.{digits[-places:]}"

    @staticmethod
    def digits(low: decimal.Decimal, high: decimal.Decimal, step: decimal.Decimal) -> int:
        """How many digits the longest value of the range prints with."""
        decimals = -min(_exponent(step), _exponent(low))
        whole = max(len(str(int(abs(v)))) for v in (low, high))
        return whole + decimals


_FLOAT_EXACT = 2**53


def _exponent(value: decimal.Decimal) -> int:
    exponent = value.as_tuple().exponent
    return min(int(exponent), 0)  # as written: "0.10" keeps two decimals, "1E+3" none


@dataclass(frozen=True, eq=False)
class Choice(Template):
    options: tuple[Template, ...]

    def render(self, ctx: RenderContext) -> Any:
        return ctx.random.choice(self.options).render(ctx)


@dataclass(frozen=True, eq=False)
class Sequence(Template):
    start: int = 1
    step: int = 1

    def render(self, ctx: RenderContext) -> Any:
        key = id(self)
        value = ctx.counters.get(key, self.start)
        ctx.counters[key] = value + self.step
        return value


@dataclass(frozen=True, eq=False)
class Now(Template):
    unit: str  # "ms" or "us"

    def render(self, ctx: RenderContext) -> Any:
        now = ctx.now_us()
        return now // 1000 if self.unit == "ms" else now


TAGS = ("!fake", "!decimal", "!choice", "!seq", "!now_ms", "!now_us")
