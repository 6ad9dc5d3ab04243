"""Percentiles and summaries of samples (pure functions, no numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0–100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], *, digits: int = 3) -> dict[str, float | int | None]:
    """n, mean, p50, p90, p99 and max of `values`, rounded to `digits` decimals."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {
        "n": len(values),
        "mean": r(sum(values) / len(values)) if values else None,
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)) if values else None,
    }


def diff(a: float | int | None, b: float | int | None, *, digits: int = 3) -> float | None:
    """a - b, or None when either is missing."""
    if a is None or b is None:
        return None
    return round(a - b, digits)


def ratio(a: float | int | None, b: float | int | None, *, digits: int = 4) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)
