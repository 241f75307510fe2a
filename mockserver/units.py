"""Durations as people write them: seconds, or a number with a unit ("250ms", "2s")."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
DURATION_HINT = (
    "expected a duration: seconds, or a number with a unit (ms, s, m, h) such as '250ms' or '2s'"
)


def parse_duration(value: object) -> float | None:
    """Seconds, or None if ``value`` is not a duration (a negative number is returned
    as it is, for the caller to refuse with its own words)."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds is None or not math.isfinite(seconds):
        return None
    return seconds
