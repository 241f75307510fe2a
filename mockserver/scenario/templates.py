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
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker

_ENCODE = {"separators": (",", ":"), "ensure_ascii": False}


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
        return json.dumps(self.render(ctx), **_ENCODE)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Static(Template):
    value: Any
    static = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "_json", json.dumps(self.value, **_ENCODE))  # type: ignore[arg-type]

    def render(self, ctx: RenderContext) -> Any:
        return self.value

    def render_json(self, ctx: RenderContext) -> str:
        return self._json  # type: ignore[attr-defined,no-any-return]


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

    def render(self, ctx: RenderContext) -> Any:
        steps = int((self.high - self.low) / self.step)
        value = self.low + self.step * ctx.random.randint(0, steps)
        # Quantize to the step so 0.1 steps print as "67000.1", never "67000.10000".
        return format(value.quantize(self.step), "f")


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
