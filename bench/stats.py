"""Percentiles and the few summaries both the children and the report use."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100, nearest rank) of values sorted ascending."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def summary(values: Sequence[float], *, scale: float = 1.0) -> dict[str, float | int | None]:
    """p50, p99, max and the count of ``values``, each multiplied by ``scale``
    (None when there are none: JSON has no NaN)."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    return {
        "p50": percentile(ordered, 50) * scale,
        "p99": percentile(ordered, 99) * scale,
        "max": ordered[-1] * scale,
        "count": len(ordered),
    }
