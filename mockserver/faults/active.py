"""A fault in a running server: its envelope, its kind, and what it has done so far."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

from mockserver.faults.base import KINDS, FaultKind, Subject
from mockserver.faults.model import Fault

State = Literal["armed", "active", "spent", "expired", "removed"]


class ActiveFault:
    """One fault the server holds: armed (waiting for its trigger), then active."""

    def __init__(
        self,
        fault: Fault,
        *,
        rng: random.Random,
        added_at: float,
        on_spent: Callable[[ActiveFault], None],
    ) -> None:
        self.fault = fault
        self.kind: FaultKind = KINDS[fault.kind](fault.params)
        self.rng = rng
        self.state: State = "armed"
        self.added_at = added_at
        self.activated_at: float | None = None
        self.remaining = fault.count
        self.acts = 0  # how many times it took effect
        self.messages_seen = 0  # for an `after` trigger
        # Per-session targets picked by a per-session trigger (None: the target's).
        self.sessions: set[str] | None = set() if fault.trigger.per_session else None
        # Per-session memory a kind keeps (last seq_no, a held frame, ...).
        self.memory: dict[str, Any] = {}
        self._on_spent = on_spent

    @property
    def name(self) -> str:
        return self.fault.name

    @property
    def active(self) -> bool:
        return self.state == "active"

    def applies_to(self, session: Subject) -> bool:
        if not self.fault.target.matches(session):
            return False
        return self.sessions is None or session.id in self.sessions

    def fires(self) -> bool:
        """One opportunity to act: the probability draw, then the count."""
        return self.draw() and self.spend()

    def draw(self) -> bool:
        """The probability draw alone (a kind that acts later spends then).

        The draw comes from the fault's own seeded RNG, so the same seed and the
        same sequence of opportunities give the same outcome.
        """
        if not self.active or self.remaining == 0:
            return False
        probability = self.fault.probability
        return probability >= 1.0 or self.rng.random() < probability

    def spend(self) -> bool:
        """Count one act; the last one the count allows makes the fault spent."""
        if not self.active or self.remaining == 0:
            return False
        self.acts += 1
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining == 0:
                self._on_spent(self)
        return True

    def to_json(self) -> dict[str, Any]:
        out = self.fault.to_json()
        out.update(
            state=self.state,
            acts=self.acts,
            remaining=self.remaining,
            sessions=sorted(self.sessions) if self.sessions is not None else None,
        )
        return out
