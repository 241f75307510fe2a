"""The fault envelope: what every fault has, whatever its kind.

A fault is one frozen ``Fault`` value (toxiproxy's toxic: name, type, attributes)::

    Fault(name="f1", kind="close", target=Target.all(), probability=1.0,
          count=1, duration_s=None, trigger=Trigger.now(), params=Close(code=1011))

- ``target``: which sessions it applies to (``Target``);
- ``trigger``: when it starts acting (``Trigger``); none means at once;
- ``probability``: the chance, per opportunity, that it acts (drawn from the
  fault's own RNG, seeded from the scenario seed and the fault's name, so a seed
  reproduces the faults too);
- ``count``: how many times it acts before it is spent (None: no limit);
- ``duration_s``: how long it stays active once it started (None: until removed);
- ``params``: the kind's own typed parameters (``kinds.py``).

``decode.py`` reads this envelope from plain data (the scenario's YAML and the
control API's JSON go through the same function); ``to_json`` writes it back.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TargetKind = Literal["all", "session", "connection", "channel", "account"]
TARGET_KINDS: tuple[TargetKind, ...] = ("all", "session", "connection", "channel", "account")

TriggerKind = Literal["now", "at", "after", "on_subscribe", "on_auth", "on_connection"]
# The keys that name a trigger in a fault's envelope ("now" is their absence).
TRIGGER_KEYS: tuple[TriggerKind, ...] = ("at", "after", "on_subscribe", "on_auth", "on_connection")


class SessionLike(Protocol):
    """What a target needs to know of a session."""

    @property
    def id(self) -> str: ...

    @property
    def number(self) -> int: ...

    @property
    def account(self) -> str | None: ...

    @property
    def subscriptions(self) -> list[str]: ...


def channel_matches(pattern: str, name: str) -> bool:
    """A channel name against a pattern: exact, or a glob (``order_book.*``)."""
    return pattern == name or fnmatch.fnmatchcase(name, pattern)


@dataclass(frozen=True)
class Target:
    """Which sessions a fault applies to."""

    kind: TargetKind = "all"
    # The session id ("s3"), connection number (3), channel pattern or account.
    value: str | int | None = None

    @classmethod
    def all(cls) -> Target:
        return cls()

    def matches(self, session: SessionLike) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "session":
            return session.id == self.value
        if self.kind == "connection":
            return session.number == self.value
        if self.kind == "account":
            return session.account == self.value
        pattern = str(self.value)
        return any(channel_matches(pattern, name) for name in session.subscriptions)

    def to_json(self) -> str | dict[str, Any]:
        return "all" if self.kind == "all" else {self.kind: self.value}


@dataclass(frozen=True)
class Trigger:
    """When a fault starts acting.

    - ``now``: as soon as it is added;
    - ``at``: ``at_s`` seconds after it was added (a scenario's faults are added
      when the scenario starts, so this is the scenario's time);
    - ``after``: once ``messages`` messages were published on ``channel``;
    - ``on_subscribe``: each time a session subscribes to ``channel`` (a pattern);
    - ``on_auth``: each time a session authenticates (as ``account``, if given);
    - ``on_connection``: when connection number ``connection`` opens.

    The last three are events of one session: the fault then applies to that
    session (if its target admits it), not to every session of the target.
    """

    kind: TriggerKind = "now"
    at_s: float | None = None
    channel: str | None = None
    messages: int | None = None
    account: str | None = None
    connection: int | None = None

    @classmethod
    def now(cls) -> Trigger:
        return cls()

    @property
    def per_session(self) -> bool:
        """Fired by one session's event (and so aimed at that session)."""
        return self.kind in ("on_subscribe", "on_auth", "on_connection")

    def to_json(self) -> dict[str, Any]:
        if self.kind == "now":
            return {}
        if self.kind == "at":
            return {"at": self.at_s}
        if self.kind == "after":
            return {"after": {"channel": self.channel, "messages": self.messages}}
        if self.kind == "on_subscribe":
            return {"on_subscribe": self.channel}
        if self.kind == "on_auth":
            return {"on_auth": self.account if self.account is not None else True}
        return {"on_connection": self.connection}


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One fault: the envelope shared by every kind, with the kind's ``params``."""

    name: str
    kind: str
    params: Any  # the kind's Params dataclass (kinds.KINDS[kind].Params)
    target: Target = field(default_factory=Target)
    trigger: Trigger = field(default_factory=Trigger)
    probability: float = 1.0
    count: int | None = None
    duration_s: float | None = None
    line: int = 0  # where a scenario declared it (0: not from a file)

    def to_json(self) -> dict[str, Any]:
        """The envelope as the control API shows it (and ``decode`` reads it back)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "target": self.target.to_json(),
            "probability": self.probability,
            "count": self.count,
            "for": self.duration_s,
            "params": dataclasses.asdict(self.params),
        }
        out.update(self.trigger.to_json())
        return out
