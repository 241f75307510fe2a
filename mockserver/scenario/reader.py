"""Walking PyYAML's node graph with problems that keep their file, line and key.

``Reader`` is the format-agnostic half of the scenario loader: structure
(mappings with merge keys, lists), scalars (strings, integers, durations,
choices), and payload templates (plain JSON plus the tags of ``templates.py``).
``loader.py`` walks a scenario's sections with it.

A problem is recorded with ``fail`` and abandons the part being read (``Abandon``);
``attempt`` lets the walk go on with the next part, so one pass finds every
problem. Aliases are followed with a budget (``MAX_NODES``): a "billion laughs"
file is refused (``Exhausted`` ends the walk) instead of being expanded; an
alias that contains itself and nesting deeper than ``MAX_DEPTH`` are refused
too. YAML 1.1 spellings that silently change a value (``0x1f`` is 31, ``012`` is
10, ``on`` is true) are refused in payloads with a "quote it" hint: Paradex
accounts are ``0x...`` strings, and a payload is JSON, which has no hex.
"""

from __future__ import annotations

import decimal
import difflib
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mockserver.errors import ScenarioError
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
from mockserver.units import DURATION_HINT, parse_duration

MAX_NODES = 200_000  # values visited, aliases counted each time they are used
MAX_DEPTH = 64  # collections nested in collections (libyaml itself stops at 1000)
_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"
_STR_TAG = _YAML_TAG + "str"
NULL_TAG = _YAML_TAG + "null"
_MAP_TAG = _YAML_TAG + "map"
_SEQ_TAG = _YAML_TAG + "seq"
_SCALAR_TAGS = frozenset(
    _YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary")
)

T = TypeVar("T")


class Abandon(Exception):
    """One part of the file is unusable; its problem is already recorded."""


class Exhausted(Exception):
    """The file expands past ``MAX_NODES``: stop reading it (recorded once)."""


class Reader:
    """Walks one file's nodes, recording problems with their lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ScenarioError] = []
        self.nodes_seen = 0
        self._constructor = yaml.SafeLoader("")
        self._open: list[Node] = []  # the collections being walked, outermost first
        # Memos by node, so an alias costs one lookup however often it is used:
        # a mapping's merged items, and compiled payload subtrees with their size
        # in values (charged to the budget on every use, so a bomb still trips
        # it). A subtree holding a !seq is compiled afresh: each use counts alone.
        self._merged: dict[int, list[tuple[Node, Node]]] = {}
        self._compiled: dict[int, tuple[Template, int]] = {}
        self._sequences = 0

    # Problems

    def fail(self, node: Node | None, key: str | None, problem: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(ScenarioError(problem, file=self.file, line=line, key=key))
        raise Abandon()

    def attempt(self, action: Callable[[], T]) -> T | None:
        """Run ``action``; a recorded problem makes it None instead of ending the walk."""
        try:
            return action()
        except Abandon:
            return None

    def count(self, node: Node, values: int = 1, *, key: str | None = None) -> None:
        self.nodes_seen += values
        if self.nodes_seen > MAX_NODES:
            self.problems.append(
                ScenarioError(
                    f"the file expands to more than {MAX_NODES} values "
                    "(aliases are counted each time they are used); refusing to expand it",
                    file=self.file,
                    line=node.start_mark.line + 1,
                    key=key,
                )
            )
            raise Exhausted()

    @contextmanager
    def entering(self, node: Node, key: str) -> Iterator[None]:
        """Walk into a collection: refuse cycles (``&a [*a]``) and runaway nesting."""
        if any(node is open_node for open_node in self._open):
            self.fail(
                node,
                key,
                "an alias here refers to a value that contains it, so it would never end",
            )
        if len(self._open) >= MAX_DEPTH:
            self.fail(node, key, f"nested more than {MAX_DEPTH} levels deep")
        self._open.append(node)
        try:
            yield
        finally:
            self._open.pop()

    # Structure

    def mapping(
        self,
        node: Node,
        key: str,
        allowed: tuple[str, ...],
        *,
        extensions: bool = False,
        tag: str = _MAP_TAG,
    ) -> dict[str, tuple[Node, Node]]:
        """A mapping's entries as {name: (key node, value node)}, unknown keys refused.

        ``allowed`` empty: any key. ``extensions``: keys starting with ``x-`` are
        skipped (a place for anchors). ``tag``: the tag the mapping must carry
        (a plain one, unless the caller is reading a tag's argument).
        """
        if not isinstance(node, MappingNode) or node.tag != tag:
            self.fail(node, key, f"expected a mapping, got {describe(node)}")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in self.merged_items(node, key):
            name = self.key_name(key_node, key)
            if name is None:
                continue
            if extensions and name.startswith("x-"):
                continue
            if allowed and name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                self.attempt(
                    lambda n=name, kn=key_node, s=suggestion: self.fail(
                        kn,
                        join_key(key, n),
                        f"unknown key (expected one of: {', '.join(allowed)}){s}",
                    )
                )
                continue
            if name in entries:
                self.attempt(
                    lambda n=name, kn=key_node: self.fail(kn, join_key(key, n), "duplicate key")
                )
                continue
            entries[name] = (key_node, value_node)
        return entries

    def merged_items(self, node: MappingNode, key: str) -> list[tuple[Node, Node]]:
        """The mapping's items with YAML merge keys (``<<: *base``) applied.

        As the merge-key spec says: the mapping's own keys win over merged ones,
        and in ``<<: [*a, *b]`` the earlier source wins. Merged keys take the
        place of the ``<<`` (so a payload's JSON keys keep the order written).
        Only the mapping's own keys can be duplicates.
        """
        memo = self._merged.get(id(node))
        if memo is not None:
            return memo
        # (key node, value node, merged?) in the order written.
        entries: list[tuple[Node, Node, bool]] = []
        for key_node, value_node in node.value:
            self.count(value_node)
            if key_node.tag != _MERGE_TAG:
                entries.append((key_node, value_node, False))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.fail(source, key, "a merge key (<<) takes a mapping or a list of them")
                with self.entering(source, key):
                    entries.extend((k, v, True) for k, v in self.merged_items(source, key))
        own = {k.value for k, _, merged in entries if not merged and isinstance(k, ScalarNode)}
        taken: set[str] = set()
        items: list[tuple[Node, Node]] = []
        for key_node, value_node, merged in entries:
            if merged and isinstance(key_node, ScalarNode):
                if key_node.value in own or key_node.value in taken:
                    continue
                taken.add(key_node.value)
            items.append((key_node, value_node))
        self._merged[id(node)] = items
        return items

    def key_name(self, key_node: Node, key: str) -> str | None:
        if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
            hint = _reads_as(key_node)
            problem = f"keys must be plain strings{'; ' + hint if hint else ''}"
            self.attempt(lambda: self.fail(key_node, join_key(key, _text(key_node)), problem))
            return None
        return str(key_node.value)

    def sequence(self, node: Node, key: str, *, tag: str = _SEQ_TAG) -> list[Node]:
        if not isinstance(node, SequenceNode) or node.tag != tag:
            self.fail(node, key, f"expected a list, got {describe(node)}")
        for item in node.value:
            self.count(item)
        return list(node.value)

    def plain(self, node: Node, key: str) -> tuple[Any, dict[str, int]]:
        """A subtree as plain data (dicts, lists, scalars) for a decoder that reads plain
        data, with the line of each value by its dotted path ("" is ``node`` itself)."""
        lines: dict[str, int] = {}

        def walk(node: Node, path: str) -> Any:
            lines[path] = node.start_mark.line + 1
            where = join_key(key, path)
            if isinstance(node, MappingNode):
                with self.entering(node, where):
                    return {
                        name: walk(value, join_key(path, name))
                        for name, (_, value) in self.mapping(node, where, ()).items()
                    }
            if isinstance(node, SequenceNode):
                with self.entering(node, where):
                    return [
                        walk(item, f"{path}[{i}]")
                        for i, item in enumerate(self.sequence(node, where))
                    ]
            return self.scalar(node, where)

        return walk(node, ""), lines

    # Scalars

    def scalar(self, node: Node, key: str) -> Any:
        if not isinstance(node, ScalarNode):
            self.fail(node, key, f"expected a single value, got {describe(node)}")
        if node.tag.startswith("!"):
            self.fail(node, key, f"the tag {node.tag} is only allowed inside data")
        return self.construct(node, key)

    def construct(self, node: ScalarNode, key: str) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.fail(node, key, f"the YAML tag {_tag_name(node.tag)} is not supported here")
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.fail(node, key, f"YAML cannot read this value: {problem}")

    def string(self, node: Node, key: str) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str):
            hint = _reads_as(node)
            self.fail(
                node,
                key,
                f"expected a string; {hint}"
                if hint
                else f"expected a string, got {describe(node)}",
            )
        return value

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            self.fail(node, key, f"expected true or false, got {describe(node)}")
        return value

    def integer(self, node: Node, key: str, *, minimum: int | None = None) -> int:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, key, f"expected an integer, got {describe(node)}")
        if minimum is not None and value < minimum:
            self.fail(node, key, f"must be at least {minimum}, got {value}")
        return value

    def duration(self, node: Node, key: str, *, positive: bool = False) -> float:
        """Seconds: a number, or a string with a unit: "250ms", "2s", "1.5m", "1h"."""
        value = self.scalar(node, key)
        seconds = parse_duration(value)
        if seconds is None:
            self.fail(node, key, f"{DURATION_HINT}; got {value!r}")
        if seconds < 0:
            self.fail(node, key, f"a duration cannot be negative, got {value!r}")
        if positive and seconds <= 0:
            self.fail(node, key, "must be more than zero")
        return seconds

    def one_of(self, node: Node, key: str, options: tuple[str, ...]) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str) or value not in options:
            hint = difflib.get_close_matches(str(value), options, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.fail(node, key, f"expected one of {', '.join(options)}, got {value!r}{suggestion}")
        return value

    # Payload templates

    def template(self, node: Node, key: str) -> Template:
        memo = self._compiled.get(id(node))
        if memo is not None:
            self.count(node, memo[1], key=key)
            return memo[0]
        before = (self.nodes_seen, len(self.problems), self._sequences)
        template = self.compile(node, key)
        if (len(self.problems), self._sequences) == before[1:]:
            self._compiled[id(node)] = (template, self.nodes_seen - before[0])
        return template

    def compile(self, node: Node, key: str) -> Template:
        self.count(node, key=key)
        if node.tag.startswith("!"):
            return self.tagged(node, key)
        if isinstance(node, MappingNode):
            if node.tag != _MAP_TAG:
                self.fail(node, key, f"the YAML tag {_tag_name(node.tag)} is not supported here")
            items: dict[str, Template] = {}
            with self.entering(node, key):
                for key_node, value_node in self.merged_items(node, key):
                    name = self.key_name(key_node, key)
                    if name is None:
                        continue
                    if name in items:
                        self.attempt(
                            lambda n=name, kn=key_node: self.fail(
                                kn, join_key(key, n), "duplicate key"
                            )
                        )
                        continue
                    value = self.attempt(
                        lambda n=name, vn=value_node: self.template(vn, join_key(key, n))
                    )
                    if value is not None:
                        items[name] = value
            if all(t.static for t in items.values()):
                return Static({k: t.value for k, t in items.items()})  # type: ignore[attr-defined]
            return MappingTemplate(tuple(items.items()))
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                self.fail(node, key, f"the YAML tag {_tag_name(node.tag)} is not supported here")
            with self.entering(node, key):
                found = [
                    self.attempt(lambda i=i, n=n: self.template(n, f"{key}[{i}]"))
                    for i, n in enumerate(node.value)
                ]
            elements = tuple(t for t in found if t is not None)
            if all(t.static for t in elements):
                return Static([t.value for t in elements])  # type: ignore[attr-defined]
            return ListTemplate(elements)
        assert isinstance(node, ScalarNode)
        hint = _reads_as(node)
        if hint is not None:
            self.fail(node, key, hint)
        value = self.construct(node, key)
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
            if not isinstance(node, SequenceNode):
                self.fail(node, key, f"!choice takes a list of values, got {describe(node)}")
            with self.entering(node, key):
                options = tuple(
                    self.template(n, f"{key}[{i}]")
                    for i, n in enumerate(self.sequence(node, key, tag=tag))
                )
            if not options:
                self.fail(node, key, "!choice needs at least one value")
            return Choice(options)
        if tag == "!seq":
            self._sequences += 1
            if isinstance(node, ScalarNode) and node.value == "":
                return Sequence()
            if not isinstance(node, MappingNode):
                self.fail(node, key, f"!seq takes nothing or {{start, step}}, got {describe(node)}")
            entries = self.mapping(node, key, ("start", "step"), tag=tag)
            return Sequence(
                start=self.integer(entries["start"][1], join_key(key, "start"))
                if "start" in entries
                else 1,
                step=self.integer(entries["step"][1], join_key(key, "step"))
                if "step" in entries
                else 1,
            )
        if tag in ("!now_ms", "!now_us"):
            if not (isinstance(node, ScalarNode) and node.value == ""):
                self.fail(node, key, f"{tag} takes no value")
            return Now(tag.removeprefix("!now_"))
        hint = difflib.get_close_matches(tag, TAGS, n=1)
        suggestion = f"; did you mean {hint[0]}?" if hint else ""
        self.fail(node, key, f"unknown tag {tag} (expected one of: {', '.join(TAGS)}){suggestion}")

    def fake(self, node: Node, key: str) -> Template:
        kwargs: dict[str, Any] = {}
        if isinstance(node, ScalarNode):
            provider = str(node.value)
            if not provider:
                self.fail(node, key, "!fake needs a provider name, e.g. !fake uuid4")
        else:
            entries = self.mapping(node, key, (), tag="!fake")
            if len(entries) != 1:
                self.fail(node, key, "!fake takes a provider name, or {provider: {arguments}}")
            provider, (_, args_node) = next(iter(entries.items()))
            if not (isinstance(args_node, ScalarNode) and args_node.tag == NULL_TAG):
                for arg, (_, value_node) in self.mapping(
                    args_node, join_key(key, provider), ()
                ).items():
                    kwargs[arg] = self.scalar_or_list(value_node, join_key(key, provider, arg))
        providers = faker_providers()
        if provider not in providers:
            hint = difflib.get_close_matches(provider, sorted(providers), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.fail(node, key, f"Faker has no provider '{provider}'{suggestion}")
        # Call it once now, so a wrong argument is a load error with a line number
        # rather than a playback task that dies on its first message.
        try:
            getattr(faker_probe(), provider)(**kwargs)
        except Exception as exc:
            self.fail(node, key, f"!fake {provider} fails with these arguments: {exc}")
        return Fake(provider, tuple(sorted(kwargs.items())))

    def scalar_or_list(self, node: Node, key: str) -> Any:
        if isinstance(node, SequenceNode):
            with self.entering(node, key):
                return [self.scalar_or_list(n, key) for n in self.sequence(node, key)]
        return self.scalar(node, key)

    def decimal_range(self, node: Node, key: str) -> Template:
        entries = self.mapping(node, key, ("min", "max", "step"), tag="!decimal")
        for required in ("min", "max", "step"):
            if required not in entries:
                self.fail(node, key, f"!decimal needs '{required}' (it takes min, max and step)")
        low, high, step = (
            self.decimal(entries[k][1], join_key(key, k)) for k in ("min", "max", "step")
        )
        if step <= 0:
            self.fail(entries["step"][1], join_key(key, "step"), "must be more than zero")
        if high < low:
            self.fail(entries["max"][1], join_key(key, "max"), "must not be below min")
        digits = DecimalRange.digits(low, high, step)
        if digits > DecimalRange.MAX_DIGITS:
            self.fail(
                node,
                key,
                f"its values would have {digits} digits; the most a !decimal prints is "
                f"{DecimalRange.MAX_DIGITS}",
            )
        return DecimalRange(low, high, step)

    def decimal(self, node: Node, key: str) -> decimal.Decimal:
        # Read the scalar's text, not its float, so 0.1 stays exactly 0.1.
        if not isinstance(node, ScalarNode) or node.tag.startswith("!"):
            self.fail(node, key, f"expected a number, got {describe(node)}")
        try:
            value = decimal.Decimal(str(node.value))
        except decimal.InvalidOperation:
            self.fail(node, key, f"expected a number, got {node.value!r}")
        if not value.is_finite():
            self.fail(node, key, "must be a finite number")
        return value


_FAKER: dict[str, Any] = {}


def faker_probe() -> Any:
    """One Faker instance, made on first use (importing Faker costs ~0.2 s)."""
    if "probe" not in _FAKER:
        from faker import Faker

        probe = Faker()
        _FAKER["probe"] = probe
        # Provider methods only: Faker's own API (seed, add_provider, ...) is no payload.
        _FAKER["providers"] = frozenset(
            name
            for provider in probe.get_providers()
            for name in dir(provider)
            if not name.startswith("_") and callable(getattr(provider, name, None))
        )
    return _FAKER["probe"]


def faker_providers() -> frozenset[str]:
    faker_probe()
    return _FAKER["providers"]  # type: ignore[no-any-return]


def join_key(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping" if node.tag == _MAP_TAG else f"a {_tag_name(node.tag)} mapping"
    if isinstance(node, SequenceNode):
        return "a list" if node.tag == _SEQ_TAG else f"a {_tag_name(node.tag)} list"
    if node.tag == NULL_TAG:
        return "nothing (null)"
    if node.tag.startswith("!"):
        return f"{node.tag} {node.value}".strip()
    return repr(node.value) if isinstance(node, ScalarNode) else "something else"


def _text(node: Node) -> str:
    return str(node.value) if isinstance(node, ScalarNode) else ""


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


_BOOL_WORDS = ("true", "false")
_RADIX_INT = re.compile(r"^[-+]?0(?:[xXbB]|[0-7_]*[0-7])")  # 0x1f, 0b101, 012 (octal)


def _reads_as(node: Node) -> str | None:
    """For a plain scalar YAML 1.1 turns into something else than it looks: why."""
    if not isinstance(node, ScalarNode) or node.style:  # quoted or block: as written
        return None
    text = node.value
    reading: str | None = None
    if node.tag == _YAML_TAG + "bool" and text.lower() not in _BOOL_WORDS:
        reading = f"the boolean {str(text.lower() in ('yes', 'y', 'on')).lower()}"
    elif node.tag == _YAML_TAG + "int" and (_RADIX_INT.match(text) or ":" in text):
        reading = f"the integer {yaml.SafeLoader('').construct_object(node)}"
    elif node.tag == _YAML_TAG + "float" and ":" in text:
        reading = f"the number {yaml.SafeLoader('').construct_object(node)}"
    if reading is None:
        return None
    return f"YAML reads {text} as {reading}; quote it ('{text}') for the text"
