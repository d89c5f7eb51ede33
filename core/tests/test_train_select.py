"""What is kept: each prompt's best candidate, then the best fraction of prompts; seeds."""

from __future__ import annotations

import pytest

from finerewards.aggregate import rank_sum, weighted_sum
from finerewards.normalize import zscore
from finerewards.train.seeds import derive_seed, image_seed, round_prompt_indices
from finerewards.train.select import Candidate, rank_candidates, reject, select


def cands(table: dict[int, list[dict[str, float]]]) -> list[Candidate]:
    out = []
    for p, rows in table.items():
        for k, scores in enumerate(rows):
            out.append(Candidate(p, f"prompt {p}", k, 100 * p + k, f"p{p}_k{k}.png", dict(scores)))
    return out


def test_best_per_prompt_with_two_rewards_and_orientation() -> None:
    # 'loss' is lower-is-better: candidate 2 of prompt 0 wins both rewards.
    table = {
        0: [{"r": 0.1, "loss": 5.0}, {"r": 0.5, "loss": 4.0}, {"r": 0.9, "loss": 1.0}],
        1: [{"r": 0.9, "loss": 0.5}, {"r": 0.2, "loss": 3.0}, {"r": 0.3, "loss": 2.0}],
    }
    items = cands(table)
    rank_candidates(
        items, ["r", "loss"], {"r": True, "loss": False}, {"r": zscore, "loss": zscore}, rank_sum, {}
    )
    kept = select(items, 1.0, {})
    assert [(c.prompt_index, c.k) for c in kept] == [(0, 2), (1, 0)]
    assert all(c.selected == c.best for c in items)
    assert sum(c.best for c in items) == 2


def test_reject_pairs_each_kept_winner_with_its_prompts_worst() -> None:
    table = {
        0: [{"r": 0.5}, {"r": 0.1}, {"r": 0.9}],
        1: [{"r": 0.3}, {"r": 0.3}, {"r": 0.3}],  # all tied: no pair
        2: [{"r": 0.2}, {"r": 0.7}, {"r": 0.2}],  # two equally bad: the first is the loser
    }
    items = cands(table)
    rank_candidates(items, ["r"], {}, {"r": zscore}, rank_sum, {})
    kept = select(items, 1.0, {})
    winners, losers = reject(items, kept)
    assert [(w.prompt_index, w.k, lo.k) for w, lo in zip(winners, losers)] == [(0, 2, 1), (2, 1, 0)]
    assert [(c.prompt_index, c.k) for c in items if c.rejected] == [(0, 1), (2, 0)]
    assert [(c.prompt_index, c.k) for c in items if c.selected] == [(0, 2), (2, 1)]
    assert not any(c.worst for c in items if c.prompt_index == 1)


def test_reject_lower_pairs_each_winner_with_every_lower_candidate() -> None:
    table = {
        0: [{"r": 0.5}, {"r": 0.1}, {"r": 0.9}],
        1: [{"r": 0.3}, {"r": 0.3}, {"r": 0.3}],  # all tied: no pair
        2: [{"r": 0.7}, {"r": 0.7}, {"r": 0.2}],  # a tie for first: the tied one is no loser
    }
    items = cands(table)
    rank_candidates(items, ["r"], {}, {"r": zscore}, rank_sum, {})
    kept = select(items, 1.0, {})
    winners, losers = reject(items, kept, "lower")
    assert [(w.prompt_index, w.k, lo.k) for w, lo in zip(winners, losers)] == [
        (0, 2, 0),
        (0, 2, 1),
        (2, 0, 2),
    ]
    assert [(c.prompt_index, c.k) for c in items if c.rejected] == [(0, 0), (0, 1), (2, 2)]
    assert [(c.prompt_index, c.k) for c in items if c.selected] == [(0, 2), (2, 0)]


def test_reject_margin_keeps_only_pairs_some_reward_tells_apart() -> None:
    # Over the round r has an sd of about 0.23, loss (lower is better) about 1.4.
    table = {
        0: [{"r": 0.9, "loss": 1.0}, {"r": 0.1, "loss": 1.0}],  # r: 3.4 sd apart
        1: [{"r": 0.55, "loss": 1.0}, {"r": 0.5, "loss": 5.0}],  # loss: 2.8 sd apart
        2: [{"r": 0.52, "loss": 2.0}, {"r": 0.5, "loss": 2.1}],  # both close: dropped
    }
    items = cands(table)
    orientation = {"r": True, "loss": False}
    rank_candidates(items, ["r", "loss"], orientation, {"r": zscore, "loss": zscore}, rank_sum, {})
    kept = select(items, 1.0, {})
    assert len(reject(items, kept)[0]) == 3
    winners, losers = reject(items, kept, "worst", 1.0, orientation)
    assert [(w.prompt_index, w.k, lo.k) for w, lo in zip(winners, losers)] == [(0, 0, 1), (1, 0, 1)]
    assert [(c.prompt_index, c.k) for c in items if c.selected] == [(0, 0), (1, 0)]
    assert [(c.prompt_index, c.k) for c in items if c.rejected] == [(0, 1), (1, 1)]
    # Read back as replay does (from the marks), the same pairs come out again.
    again = reject(items, [c for c in items if c.selected], "worst", 1.0, orientation)
    assert [(w.k, lo.k) for w, lo in zip(*again)] == [(0, 1), (0, 1)]
    # Only the rewards named count, each in its own direction: loss read as higher-is-better
    # separates no pair.
    assert reject(items, kept, "worst", 1.0, {"loss": True})[0] == []


def test_tie_tolerance_stops_a_saturated_rewards_last_digits_deciding() -> None:
    # sam is saturated on prompt 0 (differences of 1e-6 against a spread of about 0.8 over the
    # round); caption prefers candidate 1 and ranks candidate 0 last.
    table = {
        0: [
            {"caption": 0.50, "sam": 2.9999936},
            {"caption": 0.56, "sam": 2.9999883},
            {"caption": 0.55, "sam": 2.9999909},
        ],
        1: [{"caption": 0.2, "sam": 1.0}, {"caption": 0.4, "sam": 2.0}, {"caption": 0.3, "sam": 3.0}],
    }
    rewards, normalizers = ["caption", "sam"], {"caption": zscore, "sam": zscore}

    def ranked(tolerance: float) -> list[Candidate]:
        items = cands(table)
        rank_candidates(items, rewards, {}, normalizers, rank_sum, {}, tolerance)
        return items

    exact = [c for c in ranked(0.0) if c.prompt_index == 0]
    assert not exact[1].best  # the sam digits outvote caption's clear preference
    tolerant = [c for c in ranked(0.01) if c.prompt_index == 0]
    assert [c.k for c in tolerant if c.best] == [1] and [c.k for c in tolerant if c.worst] == [0]
    assert tolerant[0].normalized["sam"] == tolerant[1].normalized["sam"] == 0.0
    assert tolerant[0].scores["sam"] == 2.9999936  # the record keeps the raw score


def test_rank_sum_uses_ranks_not_sort_positions() -> None:
    # Reward a prefers k=0, reward b prefers k=1 strongly; ranks tie, z-scores break the tie.
    table = {0: [{"a": 3.0, "b": 1.0}, {"a": 2.9, "b": 9.0}, {"a": 1.0, "b": 0.0}]}
    items = cands(table)
    rank_candidates(items, ["a", "b"], {}, {"a": zscore, "b": zscore}, rank_sum, {})
    assert [c.k for c in items if c.best] == [1]


def test_weights_change_the_winner() -> None:
    table = {0: [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]}
    for weights, winner in (({"a": 3.0}, 0), ({"b": 3.0}, 1)):
        items = cands(table)
        rank_candidates(items, ["a", "b"], {}, {"a": zscore, "b": zscore}, weighted_sum, weights)
        assert [c.k for c in items if c.best] == [winner]


def test_keep_fraction_keeps_the_best_prompts() -> None:
    # The normalised winner score grows with how far the best stands out in its group.
    table = {p: [{"r": 0.0}, {"r": 0.0}, {"r": float(p + 1)}] for p in range(10)}
    table[3] = [{"r": 0.0}, {"r": 1.0}, {"r": 2.0}]  # evenly spread: a weaker winner
    items = cands(table)
    rank_candidates(items, ["r"], {}, {"r": zscore}, rank_sum, {})
    kept = select(items, 0.5, {})
    assert len(kept) == 5
    assert 3 not in {c.prompt_index for c in kept}
    assert sum(c.best for c in items) == 10  # winners are still marked
    assert [c.prompt_index for c in kept] == sorted(c.prompt_index for c in kept)


@pytest.mark.parametrize("fraction, expected", [(0.01, 1), (0.25, 3), (0.3, 3), (0.999, 10), (1.0, 10)])
def test_keep_fraction_counts(fraction: float, expected: int) -> None:
    items = cands({p: [{"r": float(p)}, {"r": 0.0}] for p in range(10)})
    rank_candidates(items, ["r"], {}, {"r": zscore}, rank_sum, {})
    assert len(select(items, fraction, {})) == expected


def test_candidate_json_round_trip() -> None:
    cand = Candidate(1, "p", 2, 3, "x.png", {"r": 0.5}, {"r": 1.0}, 2.0, True, True)
    assert Candidate.from_json(cand.as_json()) == cand


def test_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(1, 2, "x") == derive_seed(1, 2, "x")
    assert 0 <= derive_seed(0) < 2**63
    seeds = {image_seed(0, r, p, k) for r in range(3) for p in range(20) for k in range(8)}
    assert len(seeds) == 3 * 20 * 8
    assert image_seed(0, 0, 0, 0) != image_seed(1, 0, 0, 0)


def test_round_prompt_indices() -> None:
    assert round_prompt_indices(0, 0, 5, 0) == [0, 1, 2, 3, 4]
    assert round_prompt_indices(0, 0, 5, 9) == [0, 1, 2, 3, 4]
    a = round_prompt_indices(7, 1, 100, 10)
    assert a == round_prompt_indices(7, 1, 100, 10) == sorted(set(a)) and len(a) == 10
    assert a != round_prompt_indices(7, 2, 100, 10)
