"""Read scenario YAML into a ``Scenario``, with file:line for every problem.

The loader composes the YAML into PyYAML's node graph (which keeps each value's
line) and walks it against the format with a ``reader.Reader``, collecting every
problem it finds rather than stopping at the first, so ``paradex-mock validate``
can list them all, in file order. The format is docs/scenarios.md.

Top-level keys starting with ``x-`` are ignored (as in Docker Compose): the place
to define anchors that channels merge in. A loaded file is cached until it
changes: a ``Scenario`` is immutable, and the fixture loads one for every test.
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import importlib.resources
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any, NoReturn, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mockserver.channels import CATALOGUE, family_of, parse_channel
from mockserver.errors import (
    RPC_ERRORS,
    ErrorShape,
    FaultSpecError,
    InvalidChannel,
    RpcError,
    ScenarioError,
    ScenarioErrors,
)
from mockserver.faults.decode import decode_fault
from mockserver.faults.model import Fault
from mockserver.market.model import MarketSpec
from mockserver.protocol import AuthPolicy
from mockserver.scenario.model import (
    DEFAULT_COLLATERAL,
    DEFAULT_EPOCH_MS,
    SYNTHETIC_CLOCKS,
    SYNTHETIC_FAMILIES,
    TIMELINES,
    Behaviour,
    ChannelScript,
    CloseAction,
    Emission,
    MarketSettings,
    Scenario,
    SeedBook,
    Synthetic,
    market_spec,
)
from mockserver.scenario.reader import (
    MAX_DEPTH,
    MAX_NODES,
    NULL_TAG,
    Abandon,
    Exhausted,
    Reader,
    describe,
    join_key,
)
from mockserver.scenario.templates import Template

__all__ = [
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "bundled_names",
    "decode",
    "load",
    "load_file",
    "loads",
    "resolve",
]

FORMAT_VERSION = 1
# The largest scenario read (a file, or text given to ``loads``), refused before
# parsing. A file of that size but with more than MAX_NODES values is refused
# too, while it is parsed: composing YAML costs ~5 us and ~300 bytes a value.
MAX_FILE_BYTES = 16 * 1024 * 1024
SCENARIO_SUFFIXES = (".yaml", ".yml")
_SYMBOL = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9_]+)+$")
# libyaml when PyYAML has it: ~10x faster, same nodes and marks.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

T = TypeVar("T")


# The format's sections.

_TOP_KEYS = (
    "version", "name", "description", "seed", "markets", "timeline",
    "behaviour", "auth", "errors", "synthetic", "channels", "faults",
)  # fmt: skip
_MARKET_KEYS = (
    "price", "tick", "size_increment", "volatility", "book_levels", "level_size",
    "trades_per_s", "requotes_per_s", "funding_period_hours",
)  # fmt: skip
_SYNTHETIC_KEYS = ("channels", "clock", "epoch", "collateral", "book")
_BOOK_KEYS = ("bids", "asks")
MAX_BOOK_LEVELS = 1000  # per side, for `book_levels` and a seeded book
MAX_VOLATILITY = 0.05  # per sqrt(second): 5 % a second is already a crash a minute
MAX_TRADES_PER_S = 1000
_UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_CHANNEL_KEYS = ("timeline", "loop", "on_subscribe", "messages")
_MESSAGE_KEYS = ("at", "every", "count", "data", "account")
_BEHAVIOUR_KEYS = ("reply_to_notifications", "unknown_markets", "on_pong_timeout")
_AUTH_KEYS = ("accounts", "fail_with")
_ERROR_SHAPE_KEYS = ("code", "message", "data")
# RFC 6455 7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
# control frame"; 1004 is reserved.
_UNSENDABLE_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


@dataclass(frozen=True)
class _ChannelContext:
    """What reading one channel needs from the rest of the file."""

    timeline: str  # the file's default
    markets: frozenset[str] | None  # None: any market (behaviour.unknown_markets: accept)
    accounts: frozenset[str] | None  # auth.accounts


def channel_problem(name: str, markets: frozenset[str] | None) -> str:
    """Why a scenario cannot publish on ``name`` (which ``parse_channel`` refused)."""
    families = {f.family: f for f in CATALOGUE}
    family = families.get(family_of(name))
    if family is None:
        hint = difflib.get_close_matches(family_of(name), families, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown channel{suggestion} (`paradex-mock channels` lists them)"
    try:
        parse_channel(name)
    except RpcError:
        return f"not a form of {family.family} (its forms: {', '.join(family.forms)})"
    listed = ", ".join(sorted(markets or ())) or "none"
    return f"names a market the scenario does not list under 'markets' (listed: {listed})"


class _ScenarioReader(Reader):
    """Reads the sections of the scenario format (docs/scenarios.md)."""

    def scenario(self, root: Node, *, default_name: str) -> Scenario:
        top = self.mapping(root, "", _TOP_KEYS, extensions=True)

        def value(name: str, read: Callable[[Node, str], T], default: T) -> T:
            if name not in top:
                return default
            result = self.attempt(lambda: read(top[name][1], name))
            return default if result is None else result

        version = value("version", lambda n, k: self.integer(n, k), FORMAT_VERSION)
        if version != FORMAT_VERSION:
            self.attempt(
                lambda: self.fail(
                    top["version"][1],
                    "version",
                    f"this paradex-mock reads version {FORMAT_VERSION}",
                )
            )
        markets, settings = value("markets", self.markets, ((), {}))
        behaviour = value("behaviour", self.behaviour, Behaviour())
        auth = value("auth", self.auth, AuthPolicy())
        timeline = value("timeline", lambda n, k: self.one_of(n, k, TIMELINES), "shared")
        context = _ChannelContext(
            timeline=timeline,
            markets=None if behaviour.unknown_markets == "accept" else frozenset(markets),
            accounts=auth.accounts,
        )
        channels = value("channels", lambda n, k: self.channels(n, k, context), ())
        synthetic = None
        if "synthetic" in top:
            key_node, node = top["synthetic"]
            synthetic = self.attempt(
                lambda: self.synthetic(key_node, node, "synthetic", markets, settings)
            )
        return Scenario(
            name=value("name", self.string, default_name),
            source=self.file,
            description=value("description", self.string, ""),
            seed=value("seed", lambda n, k: self.integer(n, k), 0),
            markets=markets,
            market_settings=settings,
            timeline=timeline,  # type: ignore[arg-type]
            channels=channels,
            behaviour=behaviour,
            auth=auth,
            errors=value("errors", self.errors, {}),
            synthetic=synthetic,
            faults=value("faults", self.faults, ()),
        )

    def markets(self, node: Node, key: str) -> tuple[tuple[str, ...], dict[str, MarketSettings]]:
        """A list of symbols, or a mapping symbol -> settings of its synthetic market."""
        if isinstance(node, MappingNode):
            return self.market_mapping(node, key)
        if not isinstance(node, SequenceNode):
            self.fail(
                node, key, f"expected a list of symbols or a mapping of them, got {describe(node)}"
            )
        return self.market_list(node, key), {}

    def market_list(self, node: Node, key: str) -> tuple[str, ...]:
        symbols: list[str] = []
        for i, item in enumerate(self.sequence(node, key)):
            symbol = self.attempt(lambda item=item, i=i: self.string(item, f"{key}[{i}]"))
            if symbol is None:
                continue
            if not _SYMBOL.match(symbol):
                self.attempt(
                    lambda item=item, i=i, s=symbol: self.fail(
                        item, f"{key}[{i}]", f"'{s}' is not a market symbol like BTC-USD-PERP"
                    )
                )
            elif symbol in symbols:
                self.attempt(
                    lambda item=item, i=i, s=symbol: self.fail(item, f"{key}[{i}]", f"{s} twice")
                )
            else:
                symbols.append(symbol)
        return tuple(symbols)

    def market_mapping(
        self, node: Node, key: str
    ) -> tuple[tuple[str, ...], dict[str, MarketSettings]]:
        settings: dict[str, MarketSettings] = {}
        for symbol, (key_node, value_node) in self.mapping(node, key, ()).items():
            entry_key = join_key(key, symbol)
            if not _SYMBOL.match(symbol):
                self.attempt(
                    lambda kn=key_node, k=entry_key, s=symbol: self.fail(
                        kn, k, f"'{s}' is not a market symbol like BTC-USD-PERP"
                    )
                )
                continue
            found = self.attempt(
                lambda vn=value_node, k=entry_key, kn=key_node, s=symbol: self.market_settings(
                    vn, k, kn, s
                )
            )
            # A market with a bad setting still exists: its channels stay valid.
            settings[symbol] = found or MarketSettings(line=key_node.start_mark.line + 1)
        return tuple(settings), settings

    def market_settings(self, node: Node, key: str, key_node: Node, symbol: str) -> MarketSettings:
        line = key_node.start_mark.line + 1
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:  # `BTC-USD-PERP:` alone
            return MarketSettings(line=line)
        entries = self.mapping(node, key, _MARKET_KEYS)
        positive = self.positive_decimal
        values = self.fields(
            entries,
            key,
            {
                "price": positive,
                "tick": positive,
                "size_increment": positive,
                "volatility": lambda n, k: float(self.number(n, k, minimum=0)),
                "book_levels": lambda n, k: self.integer(n, k, minimum=1),
                "level_size": positive,
                "trades_per_s": lambda n, k: float(self.number(n, k, minimum=0)),
                "requotes_per_s": lambda n, k: float(self.number(n, k, minimum=0)),
                "funding_period_hours": lambda n, k: self.integer(n, k, minimum=1),
            },
        )
        limits = {
            "book_levels": (MAX_BOOK_LEVELS, f"at most {MAX_BOOK_LEVELS} levels a side"),
            "volatility": (MAX_VOLATILITY, f"at most {MAX_VOLATILITY} (per sqrt(second))"),
            "trades_per_s": (MAX_TRADES_PER_S, f"at most {MAX_TRADES_PER_S} trades a second"),
            "requotes_per_s": (MAX_TRADES_PER_S, f"at most {MAX_TRADES_PER_S} requotes a second"),
        }
        for name, (limit, problem) in limits.items():
            if values.get(name, 0) > limit:
                self.attempt(
                    lambda n=name, p=problem: self.fail(entries[n][1], join_key(key, n), p)
                )
        settings = MarketSettings(**values, line=line)
        spec = market_spec(symbol, settings)
        if "level_size" in values and values["level_size"] % spec.size_increment:
            self.attempt(
                lambda: self.fail(
                    entries["level_size"][1],
                    join_key(key, "level_size"),
                    f"not a multiple of the market's size increment ({spec.size_increment})",
                )
            )
        if spec.initial_price < 2 * spec.price_tick:
            name = "price" if "price" in values else "tick"
            if name in entries:
                self.attempt(
                    lambda: self.fail(
                        entries[name][1],
                        join_key(key, name),
                        f"the price ({spec.initial_price}) must be at least two ticks "
                        f"({spec.price_tick})",
                    )
                )
        return settings

    def number(self, node: Node, key: str, *, minimum: int | None = None) -> decimal.Decimal:
        value = self.decimal(node, key)
        if minimum is not None and value < minimum:
            self.fail(node, key, f"must be at least {minimum}, got {node.value}")
        return value

    def positive_decimal(self, node: Node, key: str) -> decimal.Decimal:
        value = self.decimal(node, key)
        if value <= 0:
            self.fail(node, key, f"must be more than zero, got {node.value}")
        return value

    def synthetic(
        self,
        key_node: Node,
        node: Node,
        key: str,
        markets: tuple[str, ...],
        settings: dict[str, MarketSettings],
    ) -> Synthetic:
        line = key_node.start_mark.line + 1
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:  # `synthetic:` alone
            entries: dict[str, tuple[Node, Node]] = {}
        else:
            entries = self.mapping(node, key, _SYNTHETIC_KEYS)
        if not markets:
            self.attempt(
                lambda: self.fail(
                    key_node, key, "the synthetic market needs markets: list them under 'markets'"
                )
            )
        values = self.fields(
            entries,
            key,
            {
                "channels": self.synthetic_families,
                "clock": lambda n, k: self.one_of(n, k, SYNTHETIC_CLOCKS),
                "epoch": self.epoch,
                "collateral": self.positive_decimal,
                "book": lambda n, k: self.books(n, k, markets, settings),
            },
        )
        if "epoch" in entries and values.get("clock", "wall") != "scenario":
            self.attempt(
                lambda: self.fail(
                    entries["epoch"][0],
                    join_key(key, "epoch"),
                    "'epoch' goes with 'clock: scenario' (the wall clock has its own); "
                    "add 'clock: scenario'",
                )
            )
        if len(values) < len(entries):
            raise Abandon()  # a field's problem is recorded; the section is unusable
        return Synthetic(
            families=values.get("channels", frozenset(SYNTHETIC_FAMILIES)),
            clock=values.get("clock", "wall"),
            epoch_ms=values.get("epoch", DEFAULT_EPOCH_MS),
            collateral=values.get("collateral", DEFAULT_COLLATERAL),
            books=values.get("book", {}),
            line=line,
        )

    def synthetic_families(self, node: Node, key: str) -> frozenset[str]:
        if isinstance(node, ScalarNode):
            self.one_of(node, key, ("all",))
            return frozenset(SYNTHETIC_FAMILIES)
        families: list[str] = []
        for i, item in enumerate(self.sequence(node, key)):
            family = self.attempt(
                lambda i=i, item=item: self.one_of(item, f"{key}[{i}]", SYNTHETIC_FAMILIES)
            )
            if family in families:
                self.attempt(
                    lambda i=i, item=item, f=family: self.fail(item, f"{key}[{i}]", f"{f} twice")
                )
            elif family is not None:
                families.append(family)
        if not families:
            self.fail(node, key, f"name at least one of {', '.join(SYNTHETIC_FAMILIES)}, or all")
        return frozenset(families)

    def epoch(self, node: Node, key: str) -> int:
        """An ISO 8601 time ("2026-01-01T00:00:00Z"; UTC unless it says) as epoch ms."""
        if not isinstance(node, ScalarNode) or node.tag.startswith("!"):
            self.fail(
                node, key, f"expected a time such as '2026-01-01T00:00:00Z', got {describe(node)}"
            )
        text = str(node.value).strip()
        # Python 3.10's fromisoformat knows no "Z" and takes only 3 or 6 decimals.
        iso = re.sub(r"[zZ]$", "+00:00", text)
        iso = re.sub(r"(\.\d{1,6})\d*", lambda m: m[1].ljust(7, "0"), iso)
        try:
            when = datetime.datetime.fromisoformat(iso)
        except ValueError:
            self.fail(
                node, key, f"expected an ISO 8601 time such as '2026-01-01T00:00:00Z', got {text!r}"
            )
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        ms = (when - _UNIX_EPOCH) // datetime.timedelta(milliseconds=1)
        if ms < 0:
            self.fail(node, key, "must not be before 1970")
        return ms

    def books(
        self,
        node: Node,
        key: str,
        markets: tuple[str, ...],
        settings: dict[str, MarketSettings],
    ) -> dict[str, SeedBook]:
        books: dict[str, SeedBook] = {}
        for symbol, (key_node, value_node) in self.mapping(node, key, ()).items():
            book_key = join_key(key, symbol)
            if symbol not in markets:
                problem = (
                    "not a market the scenario lists under 'markets' "
                    f"(listed: {', '.join(markets) or 'none'})"
                )
                self.attempt(lambda kn=key_node, k=book_key, p=problem: self.fail(kn, k, p))
                continue
            book = self.attempt(
                lambda vn=value_node, k=book_key, s=symbol: self.book(vn, k, s, settings.get(s))
            )
            if book is not None:
                books[symbol] = book
        return books

    def book(self, node: Node, key: str, symbol: str, settings: MarketSettings | None) -> SeedBook:
        entries = self.mapping(node, key, _BOOK_KEYS)
        for name in _BOOK_KEYS:
            if name not in entries:
                self.fail(node, key, f"a book needs '{name}' (it takes bids and asks)")
        spec = market_spec(symbol, settings)
        bids = self.book_side(entries["bids"][1], join_key(key, "bids"), spec)
        asks = self.book_side(entries["asks"][1], join_key(key, "asks"), spec)
        bids.sort(reverse=True)
        asks.sort()
        if bids[0][0] >= asks[0][0]:
            self.fail(
                entries["asks"][1],
                key,
                f"the book is crossed: best bid {bids[0][0]} is not below best ask {asks[0][0]}",
            )
        return SeedBook(tuple(bids), tuple(asks), line=node.start_mark.line + 1)

    def book_side(
        self, node: Node, key: str, spec: MarketSpec
    ) -> list[tuple[decimal.Decimal, decimal.Decimal]]:
        items = self.sequence(node, key)
        if not items:
            self.fail(node, key, "needs at least one [price, size] level")
        if len(items) > MAX_BOOK_LEVELS:
            self.fail(node, key, f"at most {MAX_BOOK_LEVELS} levels a side")
        levels: dict[decimal.Decimal, decimal.Decimal] = {}
        for i, item in enumerate(items):
            level = self.attempt(lambda i=i, item=item: self.level(item, f"{key}[{i}]", spec))
            if level is None:
                continue
            if level[0] in levels:
                self.attempt(
                    lambda i=i, item=item, p=level[0]: self.fail(
                        item, f"{key}[{i}]", f"the price {p} twice"
                    )
                )
                continue
            levels[level[0]] = level[1]
        if len(levels) < len(items):
            raise Abandon()
        return list(levels.items())

    def level(
        self, node: Node, key: str, spec: MarketSpec
    ) -> tuple[decimal.Decimal, decimal.Decimal]:
        items = self.sequence(node, key)
        if len(items) != 2:
            self.fail(node, key, f"a level is [price, size], got {len(items)} values")
        price = self.positive_decimal(items[0], f"{key}[0]")
        size = self.positive_decimal(items[1], f"{key}[1]")
        if price % spec.price_tick:
            self.fail(
                items[0], f"{key}[0]", f"{price} is not on the market's tick ({spec.price_tick})"
            )
        if size % spec.size_increment:
            self.fail(
                items[1],
                f"{key}[1]",
                f"{size} is not a multiple of the market's size increment ({spec.size_increment})",
            )
        return price, size

    def fields(
        self,
        entries: dict[str, tuple[Node, Node]],
        key: str,
        readers: dict[str, Callable[[Node, str], Any]],
    ) -> dict[str, Any]:
        """Read each present field on its own, so one bad field hides no other."""
        values: dict[str, Any] = {}
        for name, (_, node) in entries.items():  # in file order, as the problems go
            if name in readers:
                with suppress(Abandon):
                    values[name] = readers[name](node, join_key(key, name))
        return values

    def behaviour(self, node: Node, key: str) -> Behaviour:
        entries = self.mapping(node, key, _BEHAVIOUR_KEYS)
        return Behaviour(
            **self.fields(
                entries,
                key,
                {
                    "reply_to_notifications": self.boolean,
                    "unknown_markets": lambda n, k: self.one_of(n, k, ("reject", "accept")),
                    "on_pong_timeout": self.pong_timeout_action,
                },
            )
        )

    def pong_timeout_action(self, node: Node, key: str) -> CloseAction | None:
        if isinstance(node, ScalarNode):
            self.one_of(node, key, ("drop",))
            return None
        entries = self.mapping(node, key, ("close", "reason"))
        if "close" not in entries:
            self.fail(node, key, "expected 'drop' or {close: CODE, reason: TEXT}")
        code = self.integer(entries["close"][1], join_key(key, "close"), minimum=1000)
        if code > 4999:
            self.fail(entries["close"][1], join_key(key, "close"), "close codes end at 4999")
        if code in _UNSENDABLE_CLOSE_CODES:
            self.fail(
                entries["close"][1],
                join_key(key, "close"),
                f"{code} is reserved: RFC 6455 forbids sending it in a close frame",
            )
        reason = (
            self.string(entries["reason"][1], join_key(key, "reason"))
            if "reason" in entries
            else ""
        )
        if len(reason.encode()) > 123:
            self.fail(
                entries["reason"][1],
                join_key(key, "reason"),
                "a close reason has at most 123 bytes",
            )
        return CloseAction(code, reason)

    def auth(self, node: Node, key: str) -> AuthPolicy:
        entries = self.mapping(node, key, _AUTH_KEYS)
        return AuthPolicy(
            **self.fields(
                entries,
                key,
                {
                    "accounts": self.accounts,
                    "fail_with": lambda n, k: self.one_of(n, k, tuple(RPC_ERRORS)),
                },
            )
        )

    def accounts(self, node: Node, key: str) -> frozenset[str]:
        found = [
            self.attempt(lambda i=i, item=item: self.string(item, f"{key}[{i}]"))
            for i, item in enumerate(self.sequence(node, key))
        ]
        if None in found:
            raise Abandon()
        return frozenset(a for a in found if a is not None)

    def errors(self, node: Node, key: str) -> dict[str, ErrorShape]:
        shapes: dict[str, ErrorShape] = {}
        for kind, (_, value_node) in self.mapping(node, key, tuple(RPC_ERRORS)).items():
            shape = self.attempt(
                lambda kind=kind, v=value_node: self.error_shape(
                    v, join_key(key, kind), RPC_ERRORS[kind]
                )
            )
            if shape is not None:
                shapes[kind] = shape
        return shapes

    def error_shape(self, node: Node, key: str, error: type[RpcError]) -> ErrorShape:
        entries = self.mapping(node, key, _ERROR_SHAPE_KEYS)
        code = (
            self.integer(entries["code"][1], join_key(key, "code"))
            if "code" in entries
            else error.code
        )
        message = (
            self.string(entries["message"][1], join_key(key, "message"))
            if "message" in entries
            else error.message
        )
        data = error.data
        if "data" in entries:
            data_node = entries["data"][1]
            data = (
                None
                if data_node.tag == "tag:yaml.org,2002:null"
                else self.string(data_node, join_key(key, "data"))
            )
        return ErrorShape(code, message, data)

    def faults(self, node: Node, key: str) -> tuple[Fault, ...]:
        """``faults:``: a list of fault envelopes, read by the same decoder as the control API."""
        faults: list[Fault] = []
        for index, item in enumerate(self.sequence(node, key)):
            fault = self.attempt(lambda i=index, n=item: self.fault(n, f"{key}[{i}]", i))
            if fault is None:
                continue
            if any(f.name == fault.name for f in faults):
                self.attempt(
                    lambda n=item, i=index, f=fault: self.fail(
                        n, f"{key}[{i}].name", f"another fault is named {f.name!r}"
                    )
                )
                continue
            faults.append(fault)
        return tuple(faults)

    def fault(self, node: Node, key: str, index: int) -> Fault:
        data, lines = self.plain(node, key)
        try:
            return decode_fault(data, name=f"scenario.{index + 1}", line=node.start_mark.line + 1)
        except FaultSpecError as error:
            path = error.path
            while path and path not in lines:  # the nearest enclosing value with a line
                path = path.rpartition(".")[0]
            line = lines.get(path, node.start_mark.line + 1)
            self.problems.append(
                ScenarioError(
                    error.problem, file=self.file, line=line, key=join_key(key, error.path)
                )
            )
            raise Abandon() from None

    def channels(self, node: Node, key: str, context: _ChannelContext) -> tuple[ChannelScript, ...]:
        scripts: list[ChannelScript] = []
        for name, (key_node, value_node) in self.mapping(node, key, ()).items():
            script = self.attempt(
                lambda n=name, kn=key_node, vn=value_node: self.channel(
                    n, kn, vn, join_key(key, n), context
                )
            )
            if script is not None:
                scripts.append(script)
        return tuple(scripts)

    def channel(
        self, name: str, key_node: Node, node: Node, key: str, context: _ChannelContext
    ) -> ChannelScript:
        try:
            channel = parse_channel(name, markets=context.markets)
        except InvalidChannel:
            self.fail(key_node, key, channel_problem(name, context.markets))
        except RpcError as error:
            self.fail(key_node, key, f"not a channel Paradex accepts ({error.detail})")
        entries = self.mapping(node, key, _CHANNEL_KEYS)
        timeline = context.timeline
        if "timeline" in entries:
            timeline = self.one_of(entries["timeline"][1], join_key(key, "timeline"), TIMELINES)
        loop_s = None
        if "loop" in entries:
            loop_s = self.duration(entries["loop"][1], join_key(key, "loop"), positive=True)
        messages: tuple[Emission, ...] = ()
        if "messages" in entries:
            items = self.sequence(entries["messages"][1], join_key(key, "messages"))
            found = [
                self.attempt(
                    lambda i=i, item=item: self.emission(
                        item,
                        f"{key}.messages[{i}]",
                        private=channel.private,
                        loop_s=loop_s,
                        accounts=context.accounts,
                    )
                )
                for i, item in enumerate(items)
            ]
            messages = tuple(m for m in found if m is not None)
        on_subscribe: tuple[Template, ...] = ()
        on_subscribe_last = False
        if "on_subscribe" in entries:
            sub_node = entries["on_subscribe"][1]
            sub_key = join_key(key, "on_subscribe")
            if isinstance(sub_node, ScalarNode) and not sub_node.tag.startswith("!"):
                self.one_of(sub_node, sub_key, ("last",))
                if timeline == "per_subscription":
                    self.fail(
                        sub_node,
                        sub_key,
                        "'last' needs the shared timeline: a per-subscription timeline has "
                        "published nothing yet when its subscriber arrives",
                    )
                on_subscribe_last = True
            else:
                found_payloads = [
                    self.attempt(lambda i=i, item=item: self.payload(item, f"{sub_key}[{i}]"))
                    for i, item in enumerate(self.sequence(sub_node, sub_key))
                ]
                on_subscribe = tuple(t for t in found_payloads if t is not None)
        return ChannelScript(
            channel=name,
            timeline=timeline,  # type: ignore[arg-type]
            messages=messages,
            on_subscribe=on_subscribe,
            on_subscribe_last=on_subscribe_last,
            loop_s=loop_s,
            line=key_node.start_mark.line + 1,
        )

    def emission(
        self,
        node: Node,
        key: str,
        *,
        private: bool,
        loop_s: float | None,
        accounts: frozenset[str] | None,
    ) -> Emission:
        entries = self.mapping(node, key, _MESSAGE_KEYS)
        if "data" not in entries:
            self.fail(node, key, "a message needs 'data' (the payload to publish)")
        at_s = self.duration(entries["at"][1], join_key(key, "at")) if "at" in entries else 0.0
        if loop_s is not None and at_s >= loop_s:
            self.fail(
                entries["at"][1],
                join_key(key, "at"),
                f"at {at_s:g}s is not inside the loop (loop: {loop_s:g}s), so it would never play",
            )
        every_s = None
        if "every" in entries:
            every_s = self.duration(entries["every"][1], join_key(key, "every"), positive=True)
        count = None
        if "count" in entries:
            if every_s is None:
                self.fail(
                    entries["count"][0],
                    join_key(key, "count"),
                    "'count' goes with 'every' (how many times to repeat); add 'every'",
                )
            count = self.integer(entries["count"][1], join_key(key, "count"), minimum=1)
        account = None
        if "account" in entries:
            account_key = join_key(key, "account")
            if not private:
                self.fail(
                    entries["account"][0],
                    account_key,
                    "only private channels have accounts (a public message reaches everyone)",
                )
            account = self.string(entries["account"][1], account_key)
            if accounts is not None and account not in accounts:
                self.fail(
                    entries["account"][1],
                    account_key,
                    f"{account} is not in auth.accounts, so it can never authenticate "
                    "to receive this",
                )
        return Emission(
            data=self.payload(entries["data"][1], join_key(key, "data")),
            at_s=at_s,
            every_s=every_s,
            count=count,
            account=account,
            line=node.start_mark.line + 1,
        )

    def payload(self, node: Node, key: str) -> Template:
        if not isinstance(node, MappingNode) or node.tag.startswith("!"):
            self.fail(
                node, key, f"a payload must be a mapping (a JSON object), got {describe(node)}"
            )
        return self.template(node, key)


def _refuse(problem: str, *, file: str | Path, line: int | None = None) -> NoReturn:
    raise ScenarioErrors([ScenarioError(problem, file=file, line=line, key=None)]) from None


def decode(data: bytes, *, file: str | Path) -> str:
    """A scenario's bytes as text: at most ``MAX_FILE_BYTES``, and UTF-8 (YAML's
    encoding, and the only one read); else a ``ScenarioErrors`` naming ``file``."""
    if len(data) > MAX_FILE_BYTES:
        _refuse(f"larger than the {MAX_FILE_BYTES} bytes a scenario may have", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        _refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=file, line=line)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int | None]:
    """libyaml's complaint, with where the construct it was reading began."""
    mark = exc.problem_mark or exc.context_mark
    problem = f"YAML syntax: {exc.problem or exc.context}"
    if exc.context == "while scanning a tag":
        problem += (
            " (inside {...} or [...], a tag that takes no value needs a space after it:"
            " '!now_ms }')"
        )
    elif exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        # An unclosed quote or bracket is found where the file ends: say where it opened.
        problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
    if mark is not None:
        lines = text.splitlines()
        if mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            problem += " (a tab: YAML indents with spaces only)"
    return problem, mark.line + 1 if mark else None


def _count_values(text: str, file: str) -> None:
    """Refuse text with more than ``MAX_NODES`` values before composing it: the
    events stream past at a fraction of the cost of the nodes (an alias is one)."""
    values = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, _VALUE_EVENTS):
            values += 1
            if values > MAX_NODES:
                _refuse(
                    f"the file has more than {MAX_NODES} values; refusing to read it",
                    file=file,
                    line=event.start_mark.line + 1,
                )


_VALUE_EVENTS = (
    yaml.ScalarEvent,
    yaml.AliasEvent,
    yaml.SequenceStartEvent,
    yaml.MappingStartEvent,
)


def _compose(text: str, file: str) -> Node | None:
    """The YAML node graph of ``text``, or a ``ScenarioErrors`` with the line."""
    if len(text) > MAX_FILE_BYTES:  # characters: at least as many bytes
        _refuse(f"larger than the {MAX_FILE_BYTES} bytes a scenario may have", file=file)
    try:
        if len(text) > MAX_NODES:  # shorter text cannot hold more values than it has characters
            _count_values(text, file)
        return yaml.compose(text, Loader=_YAML_LOADER)  # type: ignore[no-any-return]
    except yaml.MarkedYAMLError as exc:
        problem, line = _syntax_problem(exc, text)
        _refuse(problem, file=file, line=line)
    except yaml.reader.ReaderError as exc:  # a control character, say: libyaml counts bytes
        line = text.encode("utf-8", "surrogatepass").count(b"\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        _refuse(f"YAML: {exc.reason} (U+{char:04X})", file=file, line=line)
    except yaml.YAMLError as exc:
        _refuse(f"YAML: {exc}", file=file)
    except RecursionError:  # the pure-Python parser, without libyaml
        _refuse(f"nested more than {MAX_DEPTH} levels deep", file=file)


def loads(text: str, *, file: str = "<string>", default_name: str = "scenario") -> Scenario:
    """Parse scenario YAML; raise ``ScenarioErrors`` listing every problem found."""
    root = _compose(text, file)
    if root is None:
        _refuse("the file is empty", file=file)
    reader = _ScenarioReader(file)
    try:
        scenario = reader.attempt(lambda: reader.scenario(root, default_name=default_name))
    except Exhausted:
        scenario = None
    if reader.problems or scenario is None:
        # In file order, whatever order the sections were read in.
        raise ScenarioErrors(sorted(reader.problems, key=lambda p: p.line or 0))
    return scenario


# Loaded files, by (path, mtime, size): the fixture loads the same scenario for
# every test, and a Scenario is immutable, so one load serves them all.
_CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, int, int], Scenario] = OrderedDict()
_cache_lock = threading.Lock()


def load_file(path: str | Path) -> Scenario:
    """Load a scenario file (problems name this path)."""
    path = Path(path)
    cache_key: tuple[str, int, int] | None = None
    try:
        stat = path.stat()
        if stat.st_size > MAX_FILE_BYTES:  # refused before a byte is read
            _refuse(
                f"the file is {stat.st_size} bytes; a scenario may have {MAX_FILE_BYTES}",
                file=path,
            )
        if S_ISREG(stat.st_mode):  # a pipe or a device has no size or time to key on
            cache_key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            with _cache_lock:
                if cache_key in _cache:
                    _cache.move_to_end(cache_key)
                    return _cache[cache_key]
        with path.open("rb") as stream:  # bounded: /dev/zero is no scenario either
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        _refuse(f"cannot read: {exc.strerror or exc}", file=path)
    scenario = loads(decode(data, file=path), file=str(path), default_name=path.stem)
    if cache_key is not None:
        with _cache_lock:
            _cache[cache_key] = scenario
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return scenario


def bundled_names() -> list[str]:
    """The names of the scenarios that ship with paradex-mock."""
    root = importlib.resources.files("mockserver.bundled_scenarios")
    return sorted(
        p.name.rsplit(".", 1)[0] for p in root.iterdir() if p.name.endswith(SCENARIO_SUFFIXES)
    )


def resolve(ref: str | Path, *, search: tuple[Path, ...] = ()) -> Path:
    """Find a scenario by path, or by name in ``search`` then among the bundled ones."""
    path = Path(ref)
    if path.suffix in SCENARIO_SUFFIXES or path.is_file() or "/" in str(ref):
        return path
    for directory in search:
        for suffix in SCENARIO_SUFFIXES:
            candidate = directory / f"{ref}{suffix}"
            if candidate.is_file():
                return candidate
    root = importlib.resources.files("mockserver.bundled_scenarios")
    for suffix in SCENARIO_SUFFIXES:
        candidate = root / f"{ref}{suffix}"
        if candidate.is_file():
            return Path(str(candidate))
    known = ", ".join(bundled_names())
    hint = difflib.get_close_matches(str(ref), bundled_names(), n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    raise ScenarioErrors(
        [
            ScenarioError(
                f"no scenario named '{ref}'{suggestion} (bundled: {known})",
                file=str(ref),
                line=None,
                key=None,
            )
        ]
    )


def load(ref: str | Path, *, search: tuple[Path, ...] = ()) -> Scenario:
    """Load a scenario by path or name."""
    return load_file(resolve(ref, search=search))
