"""Seeds derived from the scenario's seed, stable across processes."""

from __future__ import annotations

import zlib


def timeline_seed(seed: int, *parts: str) -> int:
    """A stable seed for one timeline, fault or generator (Python's ``hash()`` is
    salted per process, so it cannot be used)."""
    return zlib.crc32("\x00".join((str(seed), *parts)).encode())
