"""``paradex-mock record`` and ``paradex-mock import``: real traffic into a scenario.

A recording is a list of ``subscription`` notifications with their arrival
times. ``writer.Recording`` collects them (redacted by ``redact.Redactor``) and
writes the scenario YAML that replays them with their original timing;
``capture.py`` fills one from a live WebSocket endpoint, ``jsonl.py`` from a
JSON-lines capture, and ``cli.py`` puts both on the command line. Everything but
``capture.py`` is free of I/O. docs/recording.md documents the format choices.

``RecordError`` (a ``MockError``) is what the command line reports as one line.
"""

from __future__ import annotations

from mockserver.errors import MockError

# What ``record`` connects to unless told otherwise: Paradex testnet (paradex-ws.md §1).
DEFAULT_URL = "wss://ws.api.testnet.paradex.trade/v1"


class RecordError(MockError):
    """A recording or an import that cannot go on: said in one line, exit 1."""
