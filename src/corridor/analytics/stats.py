"""Small statistics the KPIs share: percentiles, growth, month keys."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; None when empty.

    The same definition as numpy's default and DuckDB's `quantile_cont`, so both sides of the
    bench agree: p50 of [1, 2, 3, 4] is 2.5, p90 is 3.7.
    """
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Iterable[float], digits: int = 2) -> dict:
    """{"n", "p50", "p90", "mean"} of values (hours, days, ...), rounded; None fields when empty."""
    xs = list(values)
    r = lambda v: None if v is None else round(v, digits)  # noqa: E731
    return {"n": len(xs), "p50": r(percentile(xs, 50)), "p90": r(percentile(xs, 90)),
            "mean": r(sum(xs) / len(xs)) if xs else None}


def growth_pct(now: float, before: float | None) -> float | None:
    """Percentage change against the same period a year earlier; None when there was nothing then."""
    if not before:
        return None
    return round((now - before) / before * 100.0, 1)


def month_key(t: datetime) -> str:
    """'YYYY-MM' of an aware time, in UTC (months are cut in UTC so every party counts alike)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m")


def year_before(key: str) -> str:
    """'YYYY-MM' one year before a month key."""
    return f"{int(key[:4]) - 1:04d}{key[4:]}"


def ratio(num: float, den: float, digits: int = 4) -> float | None:
    """num/den rounded, None when den is 0."""
    return round(num / den, digits) if den else None
