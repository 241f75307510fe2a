"""``FaultBook``: the faults of one running server, their triggers and their end.

The server tells the book what happens (a connection attempt, a session opened,
subscribed, authenticated or closed, a message published); the book fires the
triggers waiting for it, and gives each session the ``FaultView`` of the faults
that apply to it. A fault ends when its ``count`` is spent, its ``for`` runs
out, or it is removed; ending is safe at any moment (a held frame is released,
the views are rebuilt) and ``clear`` removes them all.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from mockserver.channels import delivery_names
from mockserver.clock import Clock, Timer
from mockserver.errors import FaultSpecError
from mockserver.faults.active import ActiveFault, State
from mockserver.faults.base import Refusal, Subject
from mockserver.faults.model import Fault, channel_matches
from mockserver.faults.view import NO_FAULTS, FaultView
from mockserver.seeds import timeline_seed

log = logging.getLogger(__name__)

ENDED_KEPT = 100


class DuplicateFault(FaultSpecError):
    """A fault with this name is already in the book."""


class FaultedSession(Subject, Protocol):
    """A session the book can hand a view to."""

    def apply_faults(self, view: FaultView) -> None: ...


class FaultBook:
    """Every fault of one server, armed or active."""

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int,
        sessions: Callable[[], Iterable[FaultedSession]],
        watch_publishes: Callable[[Callable[[str], None] | None], None],
    ) -> None:
        self._clock = clock
        # Each fault's RNG is seeded from this and its name (the server updates it
        # when the scenario, and with it the seed, is replaced).
        self.seed = seed
        self._sessions = sessions
        self._watch_publishes = watch_publishes
        self._faults: dict[str, ActiveFault] = {}
        self._timers: dict[str, list[Timer]] = {}
        self.ended: deque[ActiveFault] = deque(maxlen=ENDED_KEPT)
        self._numbers = itertools.count(1)

    # The book's contents

    def __iter__(self) -> Any:
        return iter(list(self._faults.values()))

    def __len__(self) -> int:
        return len(self._faults)

    def get(self, name: str) -> ActiveFault | None:
        return self._faults.get(name)

    def next_name(self) -> str:
        """A name no fault in the book has: f1, f2, ..."""
        while True:
            name = f"f{next(self._numbers)}"
            if name not in self._faults:
                return name

    def add(self, fault: Fault) -> ActiveFault:
        """Arm ``fault``; one with no trigger starts acting at once."""
        if fault.name in self._faults:
            raise DuplicateFault("name", f"a fault named {fault.name!r} exists already")
        active = ActiveFault(
            fault,
            rng=random.Random(timeline_seed(self.seed, "fault", fault.name)),
            added_at=self._clock.monotonic(),
            on_spent=lambda f: self._end(f, "spent"),
        )
        self._faults[fault.name] = active
        trigger = fault.trigger
        if trigger.kind == "now":
            self._activate(active, None)
        elif trigger.kind == "at":
            assert trigger.at_s is not None
            self._later(active, trigger.at_s, lambda: self._activate(active, None))
        elif trigger.kind == "after":
            self._update_watch()
        log.info("fault %s (%s) added", fault.name, fault.kind)
        return active

    def remove(self, name: str) -> ActiveFault | None:
        active = self._faults.get(name)
        if active is not None:
            self._end(active, "removed")
        return active

    def clear(self) -> None:
        for active in list(self._faults.values()):
            self._end(active, "removed")

    def reset(self) -> None:
        """Remove every fault and forget the ended ones; names start again at f1, so
        a test repeated after a reset draws the same random numbers."""
        self.clear()
        self.ended.clear()
        self._numbers = itertools.count(1)

    # Events from the server

    def connection_attempt(self, number: int) -> Refusal | None:
        """Connection ``number`` is being opened: whether to turn it away, and how."""
        for active in self:
            if (
                active.kind.server_level
                and self._waiting_for(active, "on_connection")
                and active.fault.trigger.connection == number
            ):
                self._activate(active, None)
        for active in self:
            if active.kind.server_level and active.active and active.fires():
                return active.kind.refusal()
        return None

    def session_opened(self, session: FaultedSession) -> None:
        for active in self:
            trigger = active.fault.trigger
            if (
                self._waiting_for(active, "on_connection")
                and not active.kind.server_level
                and trigger.connection == session.number
            ):
                self._activate(active, session)
        session.apply_faults(self.view_for(session))

    def session_subscribed(self, session: FaultedSession, name: str) -> None:
        for active in self:
            pattern = active.fault.trigger.channel
            waiting = self._waiting_for(active, "on_subscribe") and pattern is not None
            if waiting and channel_matches(pattern, name):
                self._activate(active, session)
        view = self.view_for(session)
        for active in view.faults:
            active.kind.subscribed(active, session, name)
        session.apply_faults(view)

    def session_authenticated(self, session: FaultedSession) -> None:
        for active in self:
            account = active.fault.trigger.account
            if self._waiting_for(active, "on_auth") and account in (None, session.account):
                self._activate(active, session)
        session.apply_faults(self.view_for(session))

    def session_changed(self, session: FaultedSession) -> None:
        """Its subscriptions changed: a channel or account target may match it or not now."""
        session.apply_faults(self.view_for(session))

    def session_closed(self, session: Subject) -> None:
        for active in self._faults.values():
            for key in [k for k in active.memory if k == session.id or _owned_by(k, session.id)]:
                del active.memory[key]

    def published(self, channel: str) -> None:
        """A message went out on ``channel``: count it for the ``after`` triggers."""
        names = delivery_names(channel)
        for active in self:
            trigger = active.fault.trigger
            if not self._waiting_for(active, "after") or trigger.channel is None:
                continue
            if any(channel_matches(trigger.channel, name) for name in names):
                active.messages_seen += 1
                if active.messages_seen >= (trigger.messages or 1):
                    self._activate(active, None)
                    self._update_watch()

    # Views

    def view_for(self, session: Subject) -> FaultView:
        applicable = [
            f
            for f in self._faults.values()
            if f.active and not f.kind.action and not f.kind.server_level and f.applies_to(session)
        ]
        return FaultView(applicable) if applicable else NO_FAULTS

    def _refresh(self) -> None:
        for session in self._sessions():
            session.apply_faults(self.view_for(session))

    # Life of a fault

    def _waiting_for(self, active: ActiveFault, trigger: str) -> bool:
        """Armed for this trigger, or (per-session triggers) active and still counting."""
        if active.fault.trigger.kind != trigger or active.state not in ("armed", "active"):
            return False
        return active.state == "armed" or active.fault.trigger.per_session

    def _activate(self, active: ActiveFault, session: FaultedSession | None) -> None:
        if active.state not in ("armed", "active"):
            return
        if active.state == "armed":
            active.state = "active"
            active.activated_at = self._clock.monotonic()
            if active.fault.duration_s is not None:
                self._later(active, active.fault.duration_s, lambda: self._end(active, "expired"))
        if active.kind.server_level:
            return
        targets: list[FaultedSession]
        if session is not None:
            targets = [session] if active.fault.target.matches(session) else []
        else:
            targets = [s for s in self._sessions() if active.fault.target.matches(s)]
        if active.kind.action:
            self._act(active, targets)
            return
        if active.sessions is not None:
            active.sessions.update(s.id for s in targets)
        for target in targets:
            active.kind.activated(active, target)
        self._refresh()

    def _act(self, active: ActiveFault, targets: list[FaultedSession]) -> None:
        """One firing of an action: each target (drawn by probability), then the count."""
        hit = [s for s in targets if active.draw()]
        for session in hit:
            active.kind.act(active, session)
        if hit:
            active.spend()  # one act per firing that reached somebody
        # Fired by time or by messages, an action happens once (even on nobody); fired
        # by a session's event, it waits for the next event until its count is spent.
        if not active.fault.trigger.per_session and active.state == "active":
            self._end(active, "spent")

    def _later(self, active: ActiveFault, delay_s: float, callback: Callable[[], None]) -> None:
        timer = self._clock.call_at(self._clock.monotonic() + delay_s, callback)
        self._timers.setdefault(active.name, []).append(timer)

    def _end(self, active: ActiveFault, state: State) -> None:
        if self._faults.get(active.name) is not active:
            return
        del self._faults[active.name]
        active.state = state
        for timer in self._timers.pop(active.name, []):
            timer.cancel()
        self.ended.append(active)
        if active.fault.trigger.kind == "after":
            self._update_watch()
        active.kind.removed(active, list(self._sessions()))
        log.info(
            "fault %s (%s) %s after %d acts", active.name, active.fault.kind, state, active.acts
        )
        self._refresh()

    def _update_watch(self) -> None:
        """Have the hub report publishes only while an ``after`` trigger waits."""
        waiting = any(self._waiting_for(f, "after") for f in self._faults.values())
        self._watch_publishes(self.published if waiting else None)


def _owned_by(key: object, session_id: str) -> bool:
    return isinstance(key, tuple) and bool(key) and key[0] == session_id
