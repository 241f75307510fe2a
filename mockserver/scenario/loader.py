"""Read scenario YAML into a ``Scenario``, with file:line for every problem.

The loader composes the YAML into PyYAML's node graph (which keeps each value's
line) and walks it against the format, collecting every problem it finds rather
than stopping at the first, so ``paradex-mock validate`` can list them all.

Aliases are followed with a budget (``MAX_NODES``): a "billion laughs" file is
refused with a message instead of being expanded.
"""

from __future__ import annotations

import decimal
import difflib
import importlib.resources
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mockserver.channels import parse_channel
from mockserver.errors import (
    RPC_ERRORS,
    ErrorShape,
    InvalidChannel,
    RpcError,
    ScenarioError,
    ScenarioErrors,
)
from mockserver.protocol import AuthPolicy
from mockserver.scenario.model import (
    TIMELINES,
    Behaviour,
    ChannelScript,
    CloseAction,
    Emission,
    Scenario,
)
from mockserver.scenario.templates import (
    TAGS,
    Choice,
    DecimalRange,
    Fake,
    ListTemplate,
    MappingTemplate,
    Now,
    Sequence,
    Static,
    Template,
)

FORMAT_VERSION = 1
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_NODES = 200_000  # values visited, aliases counted each time they are used
SCENARIO_SUFFIXES = (".yaml", ".yml")
_SYMBOL = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9_]+)+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"

T = TypeVar("T")


class _Abandon(Exception):
    """One part of the file is unusable; its problem is already recorded."""


class _Reader:
    """Walks one file's nodes, recording problems with their lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ScenarioError] = []
        self.nodes_seen = 0
        self._constructor = yaml.SafeLoader("")

    # Problems

    def fail(self, node: Node | None, key: str | None, problem: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(ScenarioError(problem, file=self.file, line=line, key=key))
        raise _Abandon()

    def attempt(self, action: Callable[[], T]) -> T | None:
        """Run ``action``; a recorded problem makes it None instead of ending the walk."""
        try:
            return action()
        except _Abandon:
            return None

    def count(self, node: Node) -> None:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_NODES:
            self.fail(
                node,
                None,
                f"the file expands to more than {MAX_NODES} values "
                "(aliases are counted each time they are used); refusing to expand it",
            )

    # Structure

    def mapping(
        self, node: Node, key: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[Node, Node]]:
        """A mapping's entries as {name: (key node, value node)}, unknown keys refused."""
        if not isinstance(node, MappingNode):
            self.fail(node, key, f"expected a mapping, got {_describe(node)}")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in self.merged_items(node, key):
            name = self.key_name(key_node, key)
            if name is None:
                continue
            if allowed and name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                self.attempt(
                    lambda n=name, kn=key_node, s=suggestion: self.fail(
                        kn, _join(key, n), f"unknown key (expected one of: {', '.join(allowed)}){s}"
                    )
                )
                continue
            if name in entries:
                self.attempt(
                    lambda n=name, kn=key_node: self.fail(kn, _join(key, n), "duplicate key")
                )
                continue
            entries[name] = (key_node, value_node)
        return entries

    def merged_items(self, node: MappingNode, key: str) -> Iterator[tuple[Node, Node]]:
        """The mapping's items with YAML merge keys (``<<: *base``) applied."""
        merged: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            self.count(value_node)
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self.fail(source, key, "a merge key (<<) takes a mapping or a list of them")
                    merged.extend(self.merged_items(source, key))
            else:
                own.append((key_node, value_node))
        own_names = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        yield from ((k, v) for k, v in merged if k.value not in own_names)
        yield from own

    def key_name(self, key_node: Node, key: str) -> str | None:
        if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
            self.attempt(lambda: self.fail(key_node, key, "keys must be plain strings"))
            return None
        return str(key_node.value)

    def sequence(self, node: Node, key: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, key, f"expected a list, got {_describe(node)}")
        for item in node.value:
            self.count(item)
        return list(node.value)

    # Scalars

    def scalar(self, node: Node, key: str) -> Any:
        if not isinstance(node, ScalarNode):
            self.fail(node, key, f"expected a single value, got {_describe(node)}")
        if node.tag.startswith("!"):
            self.fail(node, key, f"the tag {node.tag} is only allowed inside data")
        return self._constructor.construct_object(node, deep=True)

    def string(self, node: Node, key: str) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str):
            self.fail(node, key, f"expected a string, got {_describe(node)}")
        return value

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            self.fail(node, key, f"expected true or false, got {_describe(node)}")
        return value

    def integer(self, node: Node, key: str, *, minimum: int | None = None) -> int:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, key, f"expected an integer, got {_describe(node)}")
        if minimum is not None and value < minimum:
            self.fail(node, key, f"must be at least {minimum}, got {value}")
        return value

    def duration(self, node: Node, key: str, *, positive: bool = False) -> float:
        """Seconds: a number, or a string with a unit: "250ms", "2s", "1.5m", "1h"."""
        value = self.scalar(node, key)
        seconds: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            self.fail(
                node, key, f"expected a duration (seconds, or e.g. '250ms', '2s'), got {value!r}"
            )
        if positive and seconds <= 0:
            self.fail(node, key, "must be more than zero")
        return seconds

    def one_of(self, node: Node, key: str, options: tuple[str, ...]) -> str:
        value = self.scalar(node, key)
        if value not in options:
            self.fail(node, key, f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    # Payload templates

    def template(self, node: Node, key: str) -> Template:
        self.count(node)
        if node.tag.startswith("!"):
            return self.tagged(node, key)
        if isinstance(node, MappingNode):
            items: list[tuple[str, Template]] = []
            for key_node, value_node in self.merged_items(node, key):
                name = self.key_name(key_node, key)
                if name is not None:
                    items.append((name, self.template(value_node, _join(key, name))))
            children = tuple(items)
            if all(t.static for _, t in children):
                return Static({k: t.value for k, t in children})  # type: ignore[attr-defined]
            return MappingTemplate(children)
        if isinstance(node, SequenceNode):
            elements = tuple(self.template(n, f"{key}[{i}]") for i, n in enumerate(node.value))
            if all(t.static for t in elements):
                return Static([t.value for t in elements])  # type: ignore[attr-defined]
            return ListTemplate(elements)
        value = self._constructor.construct_object(node, deep=True)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, key, "JSON has no NaN or infinity")
        if not isinstance(value, (str, int, float, bool, type(None))):
            self.fail(
                node,
                key,
                f"YAML reads this as {type(value).__name__}, which JSON cannot carry; quote it",
            )
        return Static(value)

    def tagged(self, node: Node, key: str) -> Template:
        tag = node.tag
        if tag == "!fake":
            return self.fake(node, key)
        if tag == "!decimal":
            return self.decimal_range(node, key)
        if tag == "!choice":
            options = tuple(
                self.template(n, f"{key}[{i}]") for i, n in enumerate(self.sequence(node, key))
            )
            if not options:
                self.fail(node, key, "!choice needs at least one value")
            return Choice(options)
        if tag == "!seq":
            if isinstance(node, ScalarNode) and node.value == "":
                return Sequence()
            entries = self.mapping(node, key, ("start", "step"))
            return Sequence(
                start=self.integer(entries["start"][1], _join(key, "start"))
                if "start" in entries
                else 1,
                step=self.integer(entries["step"][1], _join(key, "step"))
                if "step" in entries
                else 1,
            )
        if tag in ("!now_ms", "!now_us"):
            if not (isinstance(node, ScalarNode) and node.value == ""):
                self.fail(node, key, f"{tag} takes no value")
            return Now(tag.removeprefix("!now_"))
        self.fail(node, key, f"unknown tag {tag} (expected one of: {', '.join(TAGS)})")

    def fake(self, node: Node, key: str) -> Template:
        from faker import Faker  # only files that use !fake pay for importing Faker

        kwargs: dict[str, Any] = {}
        if isinstance(node, ScalarNode):
            provider = str(node.value)
        else:
            entries = self.mapping(node, key, ())
            if len(entries) != 1:
                self.fail(node, key, "!fake takes a provider name, or {provider: {arguments}}")
            provider, (_, args_node) = next(iter(entries.items()))
            if not (isinstance(args_node, ScalarNode) and args_node.value == ""):
                for arg, (_, value_node) in self.mapping(
                    args_node, _join(key, provider), ()
                ).items():
                    kwargs[arg] = self.scalar_or_list(value_node, _join(key, provider, arg))
        if provider.startswith("_") or not callable(getattr(_faker_probe(Faker), provider, None)):
            hint = difflib.get_close_matches(provider, dir(_faker_probe(Faker)), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.fail(node, key, f"Faker has no provider '{provider}'{suggestion}")
        return Fake(provider, tuple(sorted(kwargs.items())))

    def scalar_or_list(self, node: Node, key: str) -> Any:
        if isinstance(node, SequenceNode):
            return [self.scalar_or_list(n, key) for n in self.sequence(node, key)]
        return self.scalar(node, key)

    def decimal_range(self, node: Node, key: str) -> Template:
        entries = self.mapping(node, key, ("min", "max", "step"))
        for required in ("min", "max", "step"):
            if required not in entries:
                self.fail(node, key, f"!decimal needs '{required}' (it takes min, max and step)")
        low, high, step = (
            self.decimal(entries[k][1], _join(key, k)) for k in ("min", "max", "step")
        )
        if step <= 0:
            self.fail(entries["step"][1], _join(key, "step"), "must be more than zero")
        if high < low:
            self.fail(entries["max"][1], _join(key, "max"), "must not be below min")
        return DecimalRange(low, high, step)

    def decimal(self, node: Node, key: str) -> decimal.Decimal:
        # Read the scalar's text, not its float, so 0.1 stays exactly 0.1.
        if not isinstance(node, ScalarNode) or node.tag.startswith("!"):
            self.fail(node, key, f"expected a number, got {_describe(node)}")
        try:
            value = decimal.Decimal(str(node.value))
        except decimal.InvalidOperation:
            self.fail(node, key, f"expected a number, got {node.value!r}")
        if not value.is_finite():
            self.fail(node, key, "must be a finite number")
        return value


_FAKER_PROBE: list[Any] = []


def _faker_probe(faker_class: type) -> Any:
    """One Faker instance, made once, to check provider names against."""
    if not _FAKER_PROBE:
        _FAKER_PROBE.append(faker_class())
    return _FAKER_PROBE[0]


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing (null)"
    return repr(node.value) if isinstance(node, ScalarNode) else "something else"


# The format's sections.

_TOP_KEYS = (
    "version", "name", "description", "seed", "markets", "timeline",
    "behaviour", "auth", "errors", "channels",
)  # fmt: skip
_CHANNEL_KEYS = ("timeline", "loop", "on_subscribe", "messages")
_MESSAGE_KEYS = ("at", "every", "count", "data", "account")
_BEHAVIOUR_KEYS = ("reply_to_notifications", "unknown_markets", "on_pong_timeout")
_AUTH_KEYS = ("accounts", "fail_with")
_ERROR_SHAPE_KEYS = ("code", "message", "data")


class _ScenarioReader(_Reader):
    def scenario(self, root: Node, *, default_name: str) -> Scenario:
        top = self.mapping(root, "", _TOP_KEYS)

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
        markets = value("markets", self.markets, ())
        behaviour = value("behaviour", self.behaviour, Behaviour())
        timeline = value("timeline", lambda n, k: self.one_of(n, k, TIMELINES), "shared")
        known_markets = None if behaviour.unknown_markets == "accept" else frozenset(markets)
        channels = value("channels", lambda n, k: self.channels(n, k, timeline, known_markets), ())
        return Scenario(
            name=value("name", self.string, default_name),
            source=self.file,
            description=value("description", self.string, ""),
            seed=value("seed", lambda n, k: self.integer(n, k), 0),
            markets=markets,
            timeline=timeline,  # type: ignore[arg-type]
            channels=channels,
            behaviour=behaviour,
            auth=value("auth", self.auth, AuthPolicy()),
            errors=value("errors", self.errors, {}),
        )

    def markets(self, node: Node, key: str) -> tuple[str, ...]:
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

    def behaviour(self, node: Node, key: str) -> Behaviour:
        entries = self.mapping(node, key, _BEHAVIOUR_KEYS)
        changes: dict[str, Any] = {}
        if "reply_to_notifications" in entries:
            changes["reply_to_notifications"] = self.boolean(
                entries["reply_to_notifications"][1], _join(key, "reply_to_notifications")
            )
        if "unknown_markets" in entries:
            changes["unknown_markets"] = self.one_of(
                entries["unknown_markets"][1], _join(key, "unknown_markets"), ("reject", "accept")
            )
        if "on_pong_timeout" in entries:
            changes["on_pong_timeout"] = self.pong_timeout_action(
                entries["on_pong_timeout"][1], _join(key, "on_pong_timeout")
            )
        return Behaviour(**changes)

    def pong_timeout_action(self, node: Node, key: str) -> CloseAction | None:
        if isinstance(node, ScalarNode):
            self.one_of(node, key, ("drop",))
            return None
        entries = self.mapping(node, key, ("close", "reason"))
        if "close" not in entries:
            self.fail(node, key, "expected 'drop' or {close: CODE, reason: TEXT}")
        code = self.integer(entries["close"][1], _join(key, "close"), minimum=1000)
        if code > 4999:
            self.fail(entries["close"][1], _join(key, "close"), "close codes end at 4999")
        reason = (
            self.string(entries["reason"][1], _join(key, "reason")) if "reason" in entries else ""
        )
        return CloseAction(code, reason)

    def auth(self, node: Node, key: str) -> AuthPolicy:
        entries = self.mapping(node, key, _AUTH_KEYS)
        accounts = None
        if "accounts" in entries:
            items = self.sequence(entries["accounts"][1], _join(key, "accounts"))
            accounts = frozenset(
                self.string(item, f"{_join(key, 'accounts')}[{i}]") for i, item in enumerate(items)
            )
        fail_with = None
        if "fail_with" in entries:
            fail_with = self.one_of(
                entries["fail_with"][1], _join(key, "fail_with"), tuple(RPC_ERRORS)
            )
        return AuthPolicy(accounts=accounts, fail_with=fail_with)

    def errors(self, node: Node, key: str) -> dict[str, ErrorShape]:
        shapes: dict[str, ErrorShape] = {}
        for kind, (_, value_node) in self.mapping(node, key, tuple(RPC_ERRORS)).items():
            shape = self.attempt(
                lambda kind=kind, v=value_node: self.error_shape(
                    v, _join(key, kind), RPC_ERRORS[kind]
                )
            )
            if shape is not None:
                shapes[kind] = shape
        return shapes

    def error_shape(self, node: Node, key: str, error: type[RpcError]) -> ErrorShape:
        entries = self.mapping(node, key, _ERROR_SHAPE_KEYS)
        code = (
            self.integer(entries["code"][1], _join(key, "code"))
            if "code" in entries
            else error.code
        )
        message = (
            self.string(entries["message"][1], _join(key, "message"))
            if "message" in entries
            else error.message
        )
        data = error.data
        if "data" in entries:
            data_node = entries["data"][1]
            data = (
                None
                if data_node.tag == "tag:yaml.org,2002:null"
                else self.string(data_node, _join(key, "data"))
            )
        return ErrorShape(code, message, data)

    def channels(
        self,
        node: Node,
        key: str,
        default_timeline: str,
        markets: frozenset[str] | None,
    ) -> tuple[ChannelScript, ...]:
        scripts: list[ChannelScript] = []
        for name, (key_node, value_node) in self.mapping(node, key, ()).items():
            script = self.attempt(
                lambda n=name, kn=key_node, vn=value_node: self.channel(
                    n, kn, vn, _join(key, n), default_timeline, markets
                )
            )
            if script is not None:
                scripts.append(script)
        return tuple(scripts)

    def channel(
        self,
        name: str,
        key_node: Node,
        node: Node,
        key: str,
        default_timeline: str,
        markets: frozenset[str] | None,
    ) -> ChannelScript:
        try:
            channel = parse_channel(name, markets=markets)
        except InvalidChannel:
            self.fail(key_node, key, self.channel_problem(name, markets))
        except RpcError as error:
            self.fail(key_node, key, f"not a channel Paradex accepts ({error.detail})")
        entries = self.mapping(node, key, _CHANNEL_KEYS)
        timeline = default_timeline
        if "timeline" in entries:
            timeline = self.one_of(entries["timeline"][1], _join(key, "timeline"), TIMELINES)
        loop_s = None
        if "loop" in entries:
            loop_s = self.duration(entries["loop"][1], _join(key, "loop"), positive=True)
        messages: tuple[Emission, ...] = ()
        if "messages" in entries:
            items = self.sequence(entries["messages"][1], _join(key, "messages"))
            found = [
                self.attempt(
                    lambda i=i, item=item: self.emission(
                        item, f"{key}.messages[{i}]", channel.private
                    )
                )
                for i, item in enumerate(items)
            ]
            messages = tuple(m for m in found if m is not None)
        on_subscribe: tuple[Template, ...] = ()
        on_subscribe_last = False
        if "on_subscribe" in entries:
            sub_node = entries["on_subscribe"][1]
            sub_key = _join(key, "on_subscribe")
            if isinstance(sub_node, ScalarNode) and not sub_node.tag.startswith("!"):
                self.one_of(sub_node, sub_key, ("last",))
                on_subscribe_last = True
            else:
                on_subscribe = tuple(
                    self.payload(item, f"{sub_key}[{i}]")
                    for i, item in enumerate(self.sequence(sub_node, sub_key))
                )
        return ChannelScript(
            channel=name,
            timeline=timeline,  # type: ignore[arg-type]
            messages=messages,
            on_subscribe=on_subscribe,
            on_subscribe_last=on_subscribe_last,
            loop_s=loop_s,
            line=key_node.start_mark.line + 1,
        )

    @staticmethod
    def channel_problem(name: str, markets: frozenset[str] | None) -> str:
        try:
            parse_channel(name)
        except RpcError:
            return "unknown channel (see `paradex-mock channels` for the names Paradex accepts)"
        listed = ", ".join(sorted(markets or ())) or "none"
        return f"names a market the scenario does not list under 'markets' (listed: {listed})"

    def emission(self, node: Node, key: str, private: bool) -> Emission:
        entries = self.mapping(node, key, _MESSAGE_KEYS)
        if "data" not in entries:
            self.fail(node, key, "a message needs 'data' (the payload to publish)")
        at_s = self.duration(entries["at"][1], _join(key, "at")) if "at" in entries else 0.0
        every_s = None
        if "every" in entries:
            every_s = self.duration(entries["every"][1], _join(key, "every"), positive=True)
        count = None
        if "count" in entries:
            if every_s is None:
                self.fail(entries["count"][0], _join(key, "count"), "'count' goes with 'every'")
            count = self.integer(entries["count"][1], _join(key, "count"), minimum=1)
        account = None
        if "account" in entries:
            if not private:
                self.fail(
                    entries["account"][0],
                    _join(key, "account"),
                    "only private channels have accounts",
                )
            account = self.string(entries["account"][1], _join(key, "account"))
        return Emission(
            data=self.payload(entries["data"][1], _join(key, "data")),
            at_s=at_s,
            every_s=every_s,
            count=count,
            account=account,
            line=node.start_mark.line + 1,
        )

    def payload(self, node: Node, key: str) -> Template:
        if not isinstance(node, MappingNode) or node.tag.startswith("!"):
            self.fail(
                node, key, f"a payload must be a mapping (a JSON object), got {_describe(node)}"
            )
        return self.template(node, key)


def loads(text: str, *, file: str = "<string>", default_name: str = "scenario") -> Scenario:
    """Parse scenario YAML; raise ``ScenarioErrors`` listing every problem found."""
    reader = _ScenarioReader(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = f"YAML syntax: {exc.problem or exc.context}"
        raise ScenarioErrors([ScenarioError(problem, file=file, line=line, key=None)]) from None
    except yaml.YAMLError as exc:
        raise ScenarioErrors(
            [ScenarioError(f"YAML: {exc}", file=file, line=None, key=None)]
        ) from None
    if root is None:
        raise ScenarioErrors([ScenarioError("the file is empty", file=file, line=None, key=None)])
    scenario = reader.attempt(lambda: reader.scenario(root, default_name=default_name))
    if reader.problems or scenario is None:
        raise ScenarioErrors(reader.problems)
    return scenario


def load_file(path: str | Path) -> Scenario:
    """Load a scenario file (problems name this path)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioErrors(
                [
                    ScenarioError(
                        f"the file is {size} bytes; the limit is {MAX_FILE_BYTES}",
                        file=path,
                        line=None,
                        key=None,
                    )
                ]
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioErrors(
            [ScenarioError(f"cannot read: {exc.strerror}", file=path, line=None, key=None)]
        ) from None
    except UnicodeDecodeError as exc:
        raise ScenarioErrors(
            [ScenarioError(f"not UTF-8 text ({exc.reason})", file=path, line=None, key=None)]
        ) from None
    return loads(text, file=str(path), default_name=path.stem)


def bundled_names() -> list[str]:
    """The names of the scenarios that ship with paradex-mock."""
    root = importlib.resources.files("mockserver.bundled_scenarios")
    return sorted(
        p.name.rsplit(".", 1)[0] for p in root.iterdir() if p.name.endswith(SCENARIO_SUFFIXES)
    )


def resolve(ref: str | Path, *, search: tuple[Path, ...] = ()) -> Path:
    """Find a scenario by path, or by name in ``search`` then among the bundled ones."""
    path = Path(ref)
    if path.suffix in SCENARIO_SUFFIXES or path.exists() or "/" in str(ref):
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
    raise ScenarioErrors(
        [
            ScenarioError(
                f"no scenario named '{ref}' (bundled: {known})", file=str(ref), line=None, key=None
            )
        ]
    )


def load(ref: str | Path, *, search: tuple[Path, ...] = ()) -> Scenario:
    """Load a scenario by path or name."""
    return load_file(resolve(ref, search=search))
