"""The one decoder of faults: plain data (parsed YAML or JSON) to a ``Fault``.

The scenario loader and the control API both call ``decode_fault``; a problem is
a ``FaultSpecError`` whose ``path`` (``params.code``, ``target``) the loader turns
into a file line and the API into its error message. Parameters are read from
each kind's ``Params`` dataclass: its annotations say which JSON type each takes.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.errors import FaultSpecError
from mockserver.faults import kinds as _kinds  # noqa: F401  (registers every kind)
from mockserver.faults.base import KINDS, ParamError
from mockserver.faults.model import (
    TARGET_KINDS,
    TRIGGER_KEYS,
    Fault,
    Target,
    Trigger,
)
from mockserver.units import DURATION_HINT, parse_duration

ENVELOPE_KEYS = ("name", "kind", "target", "probability", "count", "for", "params", *TRIGGER_KEYS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _did_you_mean(value: str, options: tuple[str, ...] | list[str]) -> str:
    hint = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean '{hint[0]}'?" if hint else ""


def _unknown(key: str, allowed: tuple[str, ...] | list[str], path: str) -> FaultSpecError:
    return FaultSpecError(
        _join(path, key),
        f"unknown key (expected one of: {', '.join(allowed)}){_did_you_mean(key, allowed)}",
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mapping(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FaultSpecError(path, f"expected {what}, got {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise FaultSpecError(path, f"keys must be strings, got {key!r}")
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _integer(value: Any, path: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(path, f"expected an integer, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise FaultSpecError(path, f"must be at least {minimum}, got {value}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultSpecError(path, f"expected a number, got {_describe(value)}")
    return float(value)


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise FaultSpecError(path, f"expected a non-empty string, got {_describe(value)}")
    return value


def _duration(value: Any, path: str) -> float:
    seconds = parse_duration(value)
    if seconds is None:
        raise FaultSpecError(path, f"{DURATION_HINT}; got {_describe(value)}")
    if seconds < 0:
        raise FaultSpecError(path, f"a duration cannot be negative, got {value!r}")
    return seconds


def decode_target(value: Any, path: str = "target") -> Target:
    """``"all"``, or one of ``{session: s3}``, ``{connection: 3}``, ``{channel: bbo.*}``,
    ``{account: "0x1"}``."""
    if value == "all":
        return Target()
    shapes = "'all' or one of {session: ID}, {connection: N}, {channel: NAME}, {account: ADDRESS}"
    if not isinstance(value, Mapping) or len(value) != 1:
        raise FaultSpecError(path, f"expected {shapes}, got {_describe(value)}")
    ((kind, target),) = value.items()
    if kind not in TARGET_KINDS or kind == "all":
        raise _unknown(str(kind), [k for k in TARGET_KINDS if k != "all"], path)
    if kind == "connection":
        return Target("connection", _integer(target, _join(path, kind), minimum=1))
    return Target(kind, _string(target, _join(path, kind)))


def decode_trigger(data: Mapping[str, Any]) -> Trigger:
    """The one trigger key of an envelope, or ``now`` if it has none."""
    given = [key for key in TRIGGER_KEYS if key in data]
    if len(given) > 1:
        raise FaultSpecError(given[1], f"a fault has one trigger; it also has '{given[0]}'")
    if not given:
        return Trigger()
    key = given[0]
    value = data[key]
    if key == "at":
        return Trigger("at", at_s=_duration(value, key))
    if key == "after":
        after = _mapping(value, key, "{channel: NAME, messages: N}")
        for name in after:
            if name not in ("channel", "messages"):
                raise _unknown(name, ("channel", "messages"), key)
        if "channel" not in after or "messages" not in after:
            raise FaultSpecError(key, "expected {channel: NAME, messages: N}")
        return Trigger(
            "after",
            channel=_string(after["channel"], "after.channel"),
            messages=_integer(after["messages"], "after.messages", minimum=1),
        )
    if key == "on_subscribe":
        return Trigger("on_subscribe", channel=_string(value, key))
    if key == "on_auth":
        if value is True:
            return Trigger("on_auth")
        return Trigger("on_auth", account=_string(value, key))
    return Trigger("on_connection", connection=_integer(value, key, minimum=1))


def decode_params(cls: type[Any], value: Any, path: str = "params") -> Any:
    """A kind's ``Params`` from a mapping, each field checked against its annotation."""
    data = _mapping({} if value is None else value, path, "a mapping of parameters")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in fields:
            raise _unknown(key, list(fields) or ["(none: this kind takes no parameters)"], path)
        values[key] = _convert(raw, hints[key], _join(path, key))
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise FaultSpecError(_join(path, missing[0]), "required")
    try:
        return cls(**values)
    except ParamError as error:
        raise FaultSpecError(_join(path, error.field), error.problem) from None


def _convert(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, path)
    if origin is typing.Literal:
        if value not in args:
            options = ", ".join(str(a) for a in args)
            raise FaultSpecError(path, f"expected one of {options}, got {_describe(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise FaultSpecError(path, f"expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        return _integer(value, path)
    if hint is float:
        return _number(value, path)
    if hint is str:
        if not isinstance(value, str):
            raise FaultSpecError(path, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"{path}: unsupported parameter type {hint!r}")  # a kind's own bug


def decode_fault(data: Any, *, name: str | Callable[[], str], line: int = 0) -> Fault:
    """A ``Fault`` from plain data; ``name`` is used when the data gives none (a
    callable is asked only then, once the rest of the fault is known to be good)."""
    envelope = _mapping(data, "", "a fault: a mapping with at least 'kind'")
    for key in envelope:
        if key not in ENVELOPE_KEYS:
            raise _unknown(key, ENVELOPE_KEYS, "")
    if "kind" not in envelope:
        raise FaultSpecError("kind", f"required (one of: {', '.join(sorted(KINDS))})")
    kind_name = envelope["kind"]
    if not isinstance(kind_name, str) or kind_name not in KINDS:  # a list is not hashable
        known = sorted(KINDS)
        raise FaultSpecError(
            "kind",
            f"unknown fault kind {kind_name!r} (known: {', '.join(known)})"
            + _did_you_mean(str(kind_name), known),
        )
    kind = KINDS[kind_name]
    given_name: str | None = None
    if "name" in envelope:
        given_name = _string(envelope["name"], "name")
        if not _NAME.match(given_name):
            raise FaultSpecError(
                "name",
                "letters, digits and _ . : - only, starting with a letter or digit (64 at most)",
            )
    probability = 1.0
    if "probability" in envelope:
        probability = _number(envelope["probability"], "probability")
        if not 0.0 < probability <= 1.0:
            raise FaultSpecError(
                "probability", f"must be more than 0 and at most 1, got {probability}"
            )
    count = kind.default_count
    if "count" in envelope:
        raw = envelope["count"]
        count = None if raw is None else _integer(raw, "count", minimum=1)
    duration_s = None
    if envelope.get("for") is not None:
        duration_s = _duration(envelope["for"], "for")
        if duration_s <= 0:
            raise FaultSpecError("for", "must be more than zero")
    target = decode_target(envelope.get("target", "all"))
    if kind.server_level and target.kind != "all":
        raise FaultSpecError("target", f"{kind_name} acts on new connections: it takes no target")
    params = decode_params(kind.Params, envelope.get("params"))
    trigger = decode_trigger(envelope)
    if given_name is None:
        given_name = name() if callable(name) else name
    return Fault(
        name=given_name,
        kind=kind_name,
        params=params,
        target=target,
        trigger=trigger,
        probability=probability,
        count=count,
        duration_s=duration_s,
        line=line,
    )
