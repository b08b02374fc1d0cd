"""Pair statistics shared by the benchmarks: machine load drifts, so A and B are measured in
interleaved pairs and each figure is the median of the per-pair values, with its min and max."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``median [min, max]`` of ``values``, each formatted with ``fmt``."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    return f"{fmt.format(med)} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-pair ratios a[i] / b[i] (pairs measured back to back)."""
    return [x / y for x, y in zip(a, b, strict=True) if y]


def verdict(value: float, target: float, *, at_most: bool = True) -> str:
    ok = value <= target if at_most else value >= target
    return f"(target {'<=' if at_most else '>='} {target:g}: {'met' if ok else 'NOT met'})"
