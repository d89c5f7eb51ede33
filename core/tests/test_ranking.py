"""Normalisers and aggregators: exact cases, the notebook's failure case, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finerewards.aggregate import (
    BUILTIN as AGGREGATORS,
)
from finerewards.aggregate import (
    pareto_layers,
    rank_group,
    rank_sum,
    rank_sum_primary,
)
from finerewards.errors import RewardError
from finerewards.normalize import BUILTIN as NORMALIZERS
from finerewards.normalize import average_ranks, merge_near_ties, minmax, rank, zscore

finite = st.integers(min_value=-2000, max_value=2000).map(lambda n: n / 8)
"""Scores on a grid, so that the transforms below stay strictly increasing in floating point."""


def test_average_ranks_share_ties() -> None:
    assert average_ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]


def test_merge_near_ties_chains_neighbours_and_keeps_the_rest() -> None:
    merged = merge_near_ties([3.0, 2.9999936, 1.0, 2.9999883, 1.5], 1e-4)
    assert merged[0] == merged[1] == merged[3] == pytest.approx((3.0 + 2.9999936 + 2.9999883) / 3)
    assert merged[2] == 1.0 and merged[4] == 1.5
    assert average_ranks(merged) == [4.0, 4.0, 1.0, 4.0, 2.0]
    assert merge_near_ties([1.0, 1.00001], 0.0) == [1.0, 1.00001]


def test_normalisers_exact() -> None:
    assert rank([10.0, 30.0, 20.0, 20.0]) == [0.0, 1.0, 0.5, 0.5]
    assert minmax([1.0, 3.0, 2.0]) == [0.0, 1.0, 0.5]
    assert minmax([2.0, 2.0]) == [0.5, 0.5]
    z = zscore([1.0, 2.0, 3.0])
    assert z[1] == 0.0 and math.isclose(z[2], math.sqrt(1.5))
    assert zscore([4.0, 4.0, 4.0]) == [0.0, 0.0, 0.0]
    assert rank([7.0]) == [0.5]


def test_notebook_failure_case_best_on_both_rewards_wins() -> None:
    """The notebook summed argsort positions; candidate 2 is best on both rewards and must win.

    With argsort sums, reward a's sort order [1, 3, 0, 2] and reward b's [3, 0, 1, 2] give
    position sums that crown candidate 3; ranks crown candidate 2.
    """
    raw = {"a": [0.3, 0.1, 0.9, 0.2], "b": [0.5, 0.6, 0.95, 0.1]}
    result = rank_group(raw, {"a": True, "b": True}, {"a": zscore, "b": zscore}, rank_sum)
    assert result.best == 2
    argsort_sum = [sum(sorted(range(4), key=lambda i: raw[k][i]).index(j) for k in raw) for j in range(4)]
    naive = [sum(sorted(range(4), key=lambda i: raw[k][i])[j] for k in raw) for j in range(4)]
    assert argsort_sum.index(max(argsort_sum)) == 2  # ranks (the inverse permutation) are right
    assert naive.index(max(naive)) != 2  # positions (the notebook's bug) are wrong


def test_lower_is_better_is_oriented() -> None:
    raw = {"loss": [0.9, 0.1, 0.5]}
    result = rank_group(raw, {"loss": False}, {"loss": rank}, rank_sum)
    assert result.best == 1
    assert result.normalized["loss"] == [0.0, 1.0, 0.5]


def test_rank_sum_tie_broken_by_mean_zscore() -> None:
    # a ranks: [1,2,3]; b ranks: [3,2,1] -> all tie at 4; z-scores break the tie.
    raw = {"a": [0.0, 0.5, 0.6], "b": [10.0, 9.0, 0.0]}
    scores = rank_sum(raw, {}, {})
    assert rank_sum_primary(raw, {}) == [4.0, 4.0, 4.0]
    assert scores.index(max(scores)) == 1  # mean z: c0 = (-1.39 + 0.81)/2 ... c1 is highest


def test_weights_change_the_winner() -> None:
    raw = {"a": [1.0, 0.0], "b": [0.0, 1.0]}
    hib = {"a": True, "b": True}
    norms = {"a": zscore, "b": zscore}
    assert rank_group(raw, hib, norms, rank_sum, {"a": 3.0}).best == 0
    assert rank_group(raw, hib, norms, rank_sum, {"b": 3.0}).best == 1


def test_pareto_layers_and_choice() -> None:
    raw = {"a": [1.0, 2.0, 3.0, 0.0], "b": [3.0, 2.0, 1.0, 0.0]}
    assert pareto_layers(raw) == [0, 0, 0, 1]
    scores = AGGREGATORS["pareto"][0](raw, {}, {})
    assert min(scores[:3]) > scores[3]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores_name_the_reward(bad: float) -> None:
    with pytest.raises(RewardError, match="reward 'caption' gave a non-finite score"):
        rank_group({"caption": [0.1, bad]}, {}, {"caption": zscore}, rank_sum)


groups = st.integers(min_value=2, max_value=7).flatmap(
    lambda k: st.lists(st.lists(finite, min_size=k, max_size=k), min_size=1, max_size=3)
)


def _raw(columns: list[list[float]]) -> dict[str, list[float]]:
    return {f"r{i}": column for i, column in enumerate(columns)}


@settings(max_examples=150, deadline=None)
@given(groups, st.sampled_from(["rank-sum", "rrf", "pareto"]), st.randoms(use_true_random=False))
def test_rank_based_aggregators_ignore_monotone_transforms(columns, name, rnd) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(columns)
    function = AGGREGATORS[name][0]
    transforms = [
        lambda v: v * 3.0 + 7.0,
        lambda v: math.atan(v / 100),
        lambda v: v**3,
        lambda v: math.exp(v / 100),
    ]
    chosen = {k: transforms[rnd.randrange(len(transforms))] for k in raw}
    changed = {k: [chosen[k](x) for x in v] for k, v in raw.items()}
    if name == "rank-sum":
        assert rank_sum_primary(changed, {}) == rank_sum_primary(raw, {})
    if name == "pareto":
        assert pareto_layers(changed) == pareto_layers(raw)
    before, after = function(raw, {}, {}), function(changed, {}, {})
    primary = rank_sum_primary(raw, {}) if name != "pareto" else pareto_layers(raw)
    for i in range(len(before)):
        for j in range(len(before)):
            if primary[i] != primary[j]:  # strict orders must survive; ties may re-break
                assert (before[i] > before[j]) == (after[i] > after[j])


@settings(max_examples=150, deadline=None)
@given(
    groups,
    st.sampled_from(sorted(AGGREGATORS)),
    st.sampled_from(sorted(NORMALIZERS)),
    st.randoms(use_true_random=False),
)
def test_aggregators_are_permutation_equivariant(columns, name, norm, rnd) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(columns)
    k = len(columns[0])
    perm = list(range(k))
    rnd.shuffle(perm)
    hib = {n: True for n in raw}
    norms = {n: NORMALIZERS[norm][0] for n in raw}
    agg = AGGREGATORS[name][0]
    plain = rank_group(raw, hib, norms, agg)
    permuted = rank_group({n: [v[i] for i in perm] for n, v in raw.items()}, hib, norms, agg)
    for position, i in enumerate(perm):
        assert math.isclose(permuted.aggregate[position], plain.aggregate[i], rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(groups)
def test_candidate_best_on_every_reward_always_wins(columns) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(columns)
    k = len(columns[0])
    top = max(max(c) for c in columns) + 1.0
    for column in raw.values():
        column[k - 1] = top
    for name, (agg, _, _) in AGGREGATORS.items():
        norms = {n: zscore for n in raw}
        assert rank_group(raw, {n: True for n in raw}, norms, agg).best == k - 1, name
