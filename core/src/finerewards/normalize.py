"""Built-in normalisers, applied within one prompt group (the K candidates of one prompt).

Inputs are oriented so that higher is better. Registered through the same hook as any
third-party normaliser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from finerewards.hookspecs import hookimpl
from finerewards.types import NormalizerSpec


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ascending 1-based ranks; tied values share the average of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def merge_near_ties(values: Sequence[float], tolerance: float) -> list[float]:
    """Values within `tolerance` of a neighbour (in sorted order, chained) replaced by their
    mean, so that ranks treat them as tied: a score's last digits should not decide a rank."""
    if tolerance <= 0 or len(values) < 2:
        return [float(v) for v in values]
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [float(v) for v in values]
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] - values[order[end]] <= tolerance:
            end += 1
        if end > start:
            members = order[start : end + 1]
            shared = math.fsum(values[i] for i in members) / len(members)
            for i in members:
                out[i] = shared
        start = end + 1
    return out


def none(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values]


def zscore(values: Sequence[float]) -> list[float]:
    """(x - mean) / std within the group; a group without spread maps to zeros."""
    if not values:
        return []
    mean = math.fsum(values) / len(values)
    var = math.fsum((v - mean) ** 2 for v in values) / len(values)
    std = math.sqrt(var)
    if std <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * len(values)
    return [(v - mean) / std for v in values]


def rank(values: Sequence[float]) -> list[float]:
    """Average ranks scaled to [0, 1] (worst 0, best 1); a single or all-tied group gives 0.5."""
    if len(values) < 2:
        return [0.5] * len(values)
    return [(r - 1) / (len(values) - 1) for r in average_ranks(values)]


def minmax(values: Sequence[float]) -> list[float]:
    """(x - min) / (max - min) within the group; a group without spread maps to 0.5."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return [0.5] * len(values)
    return [(v - low) / (high - low) for v in values]


BUILTIN: dict[str, tuple[Callable[[Sequence[float]], list[float]], str]] = {
    "none": (none, "raw scores, unchanged"),
    "zscore": (zscore, "z-score within each prompt's candidates"),
    "rank": (rank, "average rank within each prompt's candidates, scaled to [0, 1]"),
    "minmax": (minmax, "min-max scaling within each prompt's candidates"),
}


@hookimpl
def register_normalizers(register: Callable[[NormalizerSpec], None]) -> None:
    for name, (function, description) in BUILTIN.items():
        register(NormalizerSpec(name, function, description))
