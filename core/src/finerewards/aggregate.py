"""Built-in aggregators, and `rank_group`, the one path that turns raw scores into a choice.

An aggregator combines several rewards over the K candidates of one prompt into one score per
candidate, higher is better. `rank-sum` is the paper's assemble reward-ranked learning: each
reward ranks the candidates (ascending, average ranks for ties), the ranks are summed with
weights, and ties are broken by the mean z-score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from finerewards.errors import RewardError
from finerewards.hookspecs import hookimpl
from finerewards.normalize import average_ranks, zscore
from finerewards.types import AggregatorSpec, Normalizer

RRF_K = 60.0


def _weights(names: Sequence[str], weights: Mapping[str, float]) -> list[float]:
    return [float(weights.get(name, 1.0)) for name in names]


def _with_tiebreak(primary: Sequence[float], tiebreak: Sequence[float]) -> list[float]:
    """Add `tiebreak` scaled so small that it only reorders candidates tied on `primary`."""
    distinct = sorted(set(primary))
    gaps = [b - a for a, b in zip(distinct, distinct[1:])]
    room = min(gaps) if gaps else 1.0
    spread = max((abs(t) for t in tiebreak), default=0.0)
    if spread == 0.0:
        return list(primary)
    scale = 0.45 * room / spread
    return [p + scale * t for p, t in zip(primary, tiebreak)]


def rank_sum_primary(raw: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> list[float]:
    """Weighted sum of each reward's ascending average ranks (no tie-break)."""
    names = list(raw)
    size = len(raw[names[0]]) if names else 0
    total = [0.0] * size
    for name, weight in zip(names, _weights(names, weights)):
        for i, r in enumerate(average_ranks(raw[name])):
            total[i] += weight * r
    return total


def mean_zscore(raw: Mapping[str, Sequence[float]]) -> list[float]:
    names = list(raw)
    size = len(raw[names[0]]) if names else 0
    z = [zscore(raw[name]) for name in names]
    return [math.fsum(col[i] for col in z) / len(names) for i in range(size)] if names else []


def rank_sum(
    raw: Mapping[str, Sequence[float]],
    normalized: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
) -> list[float]:
    return _with_tiebreak(rank_sum_primary(raw, weights), mean_zscore(raw))


def weighted_sum(
    raw: Mapping[str, Sequence[float]],
    normalized: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
) -> list[float]:
    names = list(normalized)
    size = len(normalized[names[0]]) if names else 0
    return [
        math.fsum(w * normalized[name][i] for name, w in zip(names, _weights(names, weights)))
        for i in range(size)
    ]


def rrf(
    raw: Mapping[str, Sequence[float]],
    normalized: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
) -> list[float]:
    """Reciprocal-rank fusion: sum of w / (60 + descending rank)."""
    names = list(raw)
    size = len(raw[names[0]]) if names else 0
    total = [0.0] * size
    for name, weight in zip(names, _weights(names, weights)):
        ascending = average_ranks(raw[name])
        for i, r in enumerate(ascending):
            total[i] += weight / (RRF_K + (size + 1 - r))
    return _with_tiebreak(total, mean_zscore(raw))


def pareto_layers(raw: Mapping[str, Sequence[float]]) -> list[int]:
    """Non-dominated sorting: layer 0 holds the candidates no other candidate dominates."""
    names = list(raw)
    size = len(raw[names[0]]) if names else 0
    vectors = [[raw[name][i] for name in names] for i in range(size)]

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    layer = [-1] * size
    remaining = set(range(size))
    current = 0
    while remaining:
        front = {i for i in remaining if not any(dominates(vectors[j], vectors[i]) for j in remaining)}
        for i in front:
            layer[i] = current
        remaining -= front
        current += 1
    return layer


def pareto(
    raw: Mapping[str, Sequence[float]],
    normalized: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
) -> list[float]:
    """Non-dominated layers first; inside a layer, rank-sum over the layer's members."""
    layers = pareto_layers(raw)
    if not layers:
        return []
    names = list(raw)
    span = len(layers) * sum(abs(w) for w in _weights(names, weights)) + 1.0
    out = [0.0] * len(layers)
    for layer in set(layers):
        members = [i for i, lay in enumerate(layers) if lay == layer]
        sub = {name: [raw[name][i] for i in members] for name in names}
        inner = rank_sum(sub, {}, weights)
        for i, value in zip(members, inner):
            out[i] = (max(layers) - layer) * span + value
    return out


BUILTIN: dict[str, tuple[Callable[..., list[float]], str, bool]] = {
    "rank-sum": (rank_sum, "sum of per-reward ranks (ARL, the paper); ties by mean z-score", True),
    "weighted-sum": (weighted_sum, "weighted sum of normalised scores", False),
    "rrf": (rrf, "reciprocal-rank fusion, sum of w / (60 + rank)", True),
    "pareto": (pareto, "non-dominated layers, then rank-sum inside a layer", True),
}


@hookimpl
def register_aggregators(register: Callable[[AggregatorSpec], None]) -> None:
    for name, (function, description, rank_based) in BUILTIN.items():
        register(AggregatorSpec(name, function, description, rank_based))


@dataclass(frozen=True)
class GroupRanking:
    """The outcome for one prompt group: scores per reward and the aggregate per candidate."""

    normalized: dict[str, list[float]]
    aggregate: list[float]

    @property
    def best(self) -> int:
        """Index of the winning candidate (the first one on an exact tie)."""
        return max(range(len(self.aggregate)), key=lambda i: (self.aggregate[i], -i))

    @property
    def worst(self) -> int:
        """Index of the lowest aggregate (the first on a tie); -1 when every candidate ties."""
        lowest = min(self.aggregate, default=0.0)
        return self.aggregate.index(lowest) if lowest < max(self.aggregate, default=0.0) else -1


def check_finite(reward: str, scores: Sequence[float], labels: Sequence[str] | None = None) -> None:
    """Raise a `RewardError` naming the reward and the item when a score is NaN or infinite."""
    for i, value in enumerate(scores):
        if not math.isfinite(value):
            item = labels[i] if labels is not None else f"item {i}"
            raise RewardError(f"reward {reward!r} gave a non-finite score ({value}) for {item}")


def rank_group(
    raw: Mapping[str, Sequence[float]],
    higher_is_better: Mapping[str, bool],
    normalizers: Mapping[str, Normalizer],
    aggregator: Callable[..., list[float]],
    weights: Mapping[str, float] | None = None,
) -> GroupRanking:
    """Orient, normalise and aggregate the rewards of one prompt's candidates."""
    oriented: dict[str, list[float]] = {}
    for name, scores in raw.items():
        check_finite(name, scores)
        sign = 1.0 if higher_is_better.get(name, True) else -1.0
        oriented[name] = [sign * float(s) for s in scores]
    normalized = {name: list(normalizers[name](values)) for name, values in oriented.items()}
    aggregate = aggregator(oriented, normalized, dict(weights or {}))
    return GroupRanking(normalized, [float(a) for a in aggregate])
