"""From raw scores to the kept samples: rank each prompt's candidates, keep the winners.

Pure Python on plain records (no torch), so the choice that decides what the model learns from
is easy to test on its own. Ranking goes through `finerewards.aggregate.rank_group`, the one
path shared with `fr score`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from finerewards.aggregate import rank_group
from finerewards.normalize import merge_near_ties
from finerewards.types import Normalizer


@dataclass
class Candidate:
    """One generated image of a round and everything decided about it."""

    prompt_index: int
    prompt: str
    k: int
    seed: int
    image: str
    scores: dict[str, float] = field(default_factory=dict)
    normalized: dict[str, float] = field(default_factory=dict)
    aggregate: float = 0.0
    best: bool = False
    worst: bool = False
    selected: bool = False
    rejected: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Candidate:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


def groups(candidates: Sequence[Candidate]) -> dict[int, list[Candidate]]:
    """Candidates by prompt, each group ordered by candidate index."""
    out: dict[int, list[Candidate]] = {}
    for cand in candidates:
        out.setdefault(cand.prompt_index, []).append(cand)
    return {key: sorted(group, key=lambda c: c.k) for key, group in sorted(out.items())}


def rank_candidates(
    candidates: Sequence[Candidate],
    rewards: Sequence[str],
    higher_is_better: Mapping[str, bool],
    normalizers: Mapping[str, Normalizer],
    aggregator: Callable[..., list[float]],
    weights: Mapping[str, float],
    tie_tolerance: float = 0.0,
) -> None:
    """Fill `normalized`, `aggregate`, `best` and `worst` of every candidate, group by group.

    `worst` is the lowest aggregate of the group (the first of equals), and only where the
    group's aggregates differ: a group of ties has no worse candidate to learn against.
    Scores of one prompt that differ by at most `tie_tolerance` standard deviations of their
    reward over all `candidates` rank as ties (a saturated reward's last digits, such as sam's
    2.99999 against 2.99998, would otherwise decide ranks and z-scores); the candidates keep
    their raw scores.
    """
    spread = _spreads(candidates, {name: True for name in rewards}) if tie_tolerance > 0 else {}
    for group in groups(candidates).values():
        raw = {
            name: merge_near_ties([c.scores[name] for c in group], tie_tolerance * spread.get(name, 0.0))
            for name in rewards
        }
        ranking = rank_group(raw, higher_is_better, normalizers, aggregator, weights)
        for i, cand in enumerate(group):
            cand.normalized = {name: ranking.normalized[name][i] for name in rewards}
            cand.aggregate = ranking.aggregate[i]
            cand.best = i == ranking.best
            cand.worst = i == ranking.worst


def prompt_score(cand: Candidate, weights: Mapping[str, float]) -> float:
    """How good a prompt's winner is, comparable across prompts: weighted sum of normalised scores."""
    return math.fsum(float(weights.get(name, 1.0)) * v for name, v in cand.normalized.items())


def select(
    candidates: Sequence[Candidate], keep_fraction: float, weights: Mapping[str, float]
) -> list[Candidate]:
    """Mark and return the kept candidates (prompt order): each prompt's best, then the top F."""
    winners = [c for c in candidates if c.best]
    for cand in candidates:
        cand.selected = False
    if keep_fraction < 1.0 and winners:
        count = max(1, math.ceil(keep_fraction * len(winners) - 1e-9))
        order = sorted(winners, key=lambda c: (-prompt_score(c, weights), c.prompt_index))
        winners = order[:count]
    for cand in winners:
        cand.selected = True
    return sorted(winners, key=lambda c: c.prompt_index)


def reject(
    candidates: Sequence[Candidate],
    kept: Sequence[Candidate],
    pairs: str = "worst",
    margin: float = 0.0,
    higher_is_better: Mapping[str, bool] | None = None,
) -> tuple[list[Candidate], list[Candidate]]:
    """Preference pairs for `objective = "dpo"`: (winners, losers), aligned.

    `pairs = "worst"`: each kept winner with its prompt's worst candidate; `"lower"`: with every
    candidate of its prompt whose aggregate is strictly lower (K - 1 pairs where nothing ties),
    so a round holds more distinct pairs to learn from. With `margin` > 0 a pair stays only
    where the winner beats the loser on some reward of `higher_is_better` by more than `margin`
    standard deviations of that reward's raw scores over `candidates` (the round): pairs that
    no reward tells clearly apart are mostly two satisfying or two failing images. Marks the
    losers `rejected`; a kept winner with no loser left is unmarked as kept.
    """
    spread = _spreads(candidates, higher_is_better or {}) if margin > 0 else {}
    by_prompt = groups(candidates)
    for cand in candidates:
        cand.rejected = False
    winners, losers = [], []
    for cand in kept:
        group = by_prompt.get(cand.prompt_index, [])
        if pairs == "lower":
            below = [c for c in group if c.aggregate < cand.aggregate]
        else:
            below = [c for c in group if c.worst and c is not cand]
        if margin > 0:
            below = [c for c in below if _separation(cand, c, spread) > margin]
        if not below:
            cand.selected = False
            continue
        for loser in below:
            loser.rejected = True
            winners.append(cand)
            losers.append(loser)
    return winners, losers


def _spreads(candidates: Sequence[Candidate], higher_is_better: Mapping[str, bool]) -> dict[str, float]:
    """Each reward's standard deviation over the candidates, signed so that better is positive."""
    out = {}
    for name, higher in higher_is_better.items():
        sd = statistics.pstdev([c.scores[name] for c in candidates]) if candidates else 0.0
        if sd > 0:
            out[name] = sd if higher else -sd
    return out


def _separation(winner: Candidate, loser: Candidate, spread: Mapping[str, float]) -> float:
    """By how many standard deviations the winner beats the loser on its best reward."""
    return max(((winner.scores[n] - loser.scores[n]) / sd for n, sd in spread.items()), default=0.0)
