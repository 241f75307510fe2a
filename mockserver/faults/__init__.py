"""Fault injection: named, typed faults that make the server misbehave on purpose.

- ``model``: the envelope every fault shares (``Fault``, ``Target``, ``Trigger``);
- ``base``: what a kind is (``FaultKind``) and the registry ``KINDS``;
- ``kinds/``: the kinds themselves, one module per hook family;
- ``decode``: the one decoder, for scenario YAML and control-API JSON alike;
- ``active``/``view``/``book``: faults in a running server, and what each
  session must do about them.

docs/faults.md documents every kind, target and trigger.
"""

from mockserver.faults.active import ActiveFault
from mockserver.faults.base import KINDS, FaultKind, Outgoing, Refusal
from mockserver.faults.book import DuplicateFault, FaultBook
from mockserver.faults.decode import decode_fault
from mockserver.faults.model import Fault, Target, Trigger
from mockserver.faults.view import NO_FAULTS, FaultView

__all__ = [
    "KINDS",
    "NO_FAULTS",
    "ActiveFault",
    "DuplicateFault",
    "Fault",
    "FaultBook",
    "FaultKind",
    "FaultView",
    "Outgoing",
    "Refusal",
    "Target",
    "Trigger",
    "decode_fault",
]
