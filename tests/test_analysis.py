"""Kendall's tau discrepancy tool and the statistics over seeds and users, on hand-checkable cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau, t as student_t

from padlib.analysis.kendall import kendall_by_bucket, kendall_tau, pair_distances, test_pairs
from padlib.analysis.stats import lift_difference, mean_std, paired_test, relative_improvement


def line(*positions: float) -> np.ndarray:
    """A 1-D embedding table: row 0 is padding, row k holds item k's position."""
    return np.array([[0.0], *[[p] for p in positions]])


# ---------------------------------------------------------------- Kendall's tau

def random_case(seed: int = 0, n_items: int = 30, users: int = 12, length: int = 6):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n_items + 1, 8))
    history = rng.integers(1, n_items + 1, size=(users, length))
    history[:, :2] = 0  # left padding
    target = rng.integers(1, n_items + 1, size=users)
    return emb, test_pairs(history, target)


def test_test_pairs_skips_padding_and_keeps_user_order() -> None:
    history = np.array([[0, 0, 3, 4], [5, 6, 7, 0], [0, 0, 0, 0]])
    pairs = test_pairs(history, np.array([9, 8, 1]))
    assert pairs.tolist() == [[3, 9], [4, 9], [5, 8], [6, 8], [7, 8]]
    with pytest.raises(ValueError, match=r"\[U, L\]"):
        test_pairs(history, np.array([1, 2]))


def test_pair_distances_by_hand() -> None:
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [2.0, 0.0]])
    pairs = np.array([[1, 2], [1, 3], [1, 4]])
    np.testing.assert_allclose(pair_distances(emb, pairs, "cosine"), [1.0, 2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pair_distances(emb, pairs, "euclidean"), [math.sqrt(5), 4.0, 1.0])
    with pytest.raises(ValueError, match="item 4 has a zero embedding"):
        pair_distances(np.vstack([emb[:4], [[0.0, 0.0]]]), pairs, "cosine")
    with pytest.raises(ValueError, match="outside 1..4"):
        pair_distances(emb, np.array([[0, 1]]))
    with pytest.raises(ValueError, match="metric"):
        pair_distances(emb, pairs, "manhattan")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_identical_spaces_give_tau_one(metric: str) -> None:
    emb, pairs = random_case()
    dist = pair_distances(emb, pairs, metric)
    result = kendall_tau(dist, pair_distances(emb.copy(), pairs, metric))
    assert result["tau"] == pytest.approx(1.0)
    assert result["pairs"] == len(pairs) == 12 * 4
    # repeated (item, target) pairs tie in both spaces: tau-a counts them neither way
    _, counts = np.unique(dist, return_counts=True)
    n0 = len(dist) * (len(dist) - 1) / 2
    assert result["tau_a"] == pytest.approx(1 - (counts * (counts - 1) / 2).sum() / n0)


def test_reversed_distances_give_tau_minus_one() -> None:
    # target item 5 at the origin; history items 1..4 at distances 1..4 in A and 4..1 in B
    pairs = np.array([[1, 5], [2, 5], [3, 5], [4, 5]])
    result = kendall_tau(pair_distances(line(1, 2, 3, 4, 0), pairs), pair_distances(line(4, 3, 2, 1, 0), pairs))
    assert result["tau"] == pytest.approx(-1.0) and result["tau_a"] == pytest.approx(-1.0)


def test_monotone_transform_of_distances_keeps_tau_one() -> None:
    # B places each item at the square of its A position: distances to the origin target are squared
    positions = np.array([0.5, 1.0, 1.5, 3.0, 7.0])
    pairs = np.array([[k, 6] for k in range(1, 6)])
    a = pair_distances(line(*positions, 0.0), pairs)
    b = pair_distances(line(*positions ** 2, 0.0), pairs)
    assert not np.allclose(a, b)
    assert kendall_tau(a, b)["tau"] == pytest.approx(1.0)
    emb, random_pairs = random_case(1)
    scaled = kendall_tau(pair_distances(emb, random_pairs), pair_distances(3.0 * emb, random_pairs))
    assert scaled["tau"] == pytest.approx(1.0)


def test_hand_checked_case_with_and_without_ties() -> None:
    # distances A = (1, 2, 3), B = (1, 3, 2): pairs of pairs (1,2) C, (1,3) C, (2,3) D -> (2 - 1) / 3
    pairs = np.array([[1, 4], [2, 4], [3, 4]])
    result = kendall_tau(pair_distances(line(1, 2, 3, 0), pairs), pair_distances(line(1, 3, 2, 0), pairs))
    assert result["tau"] == pytest.approx(1 / 3) and result["tau_a"] == pytest.approx(1 / 3)
    # A = (1, 1, 2) (items 1 and 2 tie), B = (1, 2, 3): C = 2, D = 0, n0 = 3, one tie in A
    tied = kendall_tau(pair_distances(line(1, -1, 2, 0), pairs), pair_distances(line(1, 2, 3, 0), pairs))
    assert tied["tau"] == pytest.approx(2 / math.sqrt((3 - 1) * (3 - 0)))
    assert tied["tau_a"] == pytest.approx(2 / 3)


def test_undefined_tau_is_none() -> None:
    assert kendall_tau(np.array([1.0]), np.array([2.0]))["tau"] is None
    assert kendall_tau(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])) == {
        "tau": None, "tau_a": None, "p_value": None, "pairs": 3}
    with pytest.raises(ValueError, match="equal length"):
        kendall_tau(np.array([1.0, 2.0]), np.array([1.0]))


def test_kendall_by_bucket_groups_pairs_by_target_bucket() -> None:
    emb_a, pairs = random_case(2, n_items=30, users=40)
    emb_b = emb_a + np.random.default_rng(3).normal(scale=0.8, size=emb_a.shape)
    item_buckets = np.zeros(31, dtype=np.int32)
    item_buckets[1:] = np.repeat([1, 2, 3], 10)  # items 1-10 bucket 1, 11-20 bucket 2, 21-30 bucket 3
    result = kendall_by_bucket(emb_a, emb_b, pairs, item_buckets, n_buckets=4, metric="cosine")
    assert sorted(result) == [1, 2, 3, 4]
    assert result[4] == {"tau": None, "tau_a": None, "p_value": None, "pairs": 0}
    assert sum(r["pairs"] for r in result.values()) == len(pairs)
    dist_a, dist_b = pair_distances(emb_a, pairs, "cosine"), pair_distances(emb_b, pairs, "cosine")
    for bucket in (1, 2, 3):
        in_bucket = item_buckets[pairs[:, 1]] == bucket  # the target's bucket, not the history item's
        expected = kendalltau(dist_a[in_bucket], dist_b[in_bucket])
        assert result[bucket]["pairs"] == int(in_bucket.sum()) > 0
        assert result[bucket]["tau"] == pytest.approx(expected.statistic)
        assert result[bucket]["p_value"] == pytest.approx(expected.pvalue)


def test_kendall_by_bucket_uses_the_target_bucket_not_the_history_bucket() -> None:
    # all history items are in bucket 1, both targets in bucket 2
    history = np.array([[1, 2, 3], [1, 2, 3]])
    pairs = test_pairs(history, np.array([4, 5]))
    emb = np.array([[0.0], [1.0], [2.0], [4.0], [0.0], [10.0]])
    result = kendall_by_bucket(emb, emb, pairs, np.array([0, 1, 1, 1, 2, 2]), n_buckets=2)
    assert result[1]["pairs"] == 0 and result[2]["pairs"] == 6 and result[2]["tau"] == pytest.approx(1.0)


# ---------------------------------------------------------------- statistics

def test_mean_std() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)  # sample std: sqrt(((-1)^2 + 0 + 1^2) / 2)
    assert mean_std([0.25]) == (0.25, None)
    with pytest.raises(ValueError, match="non-empty"):
        mean_std([])
    with pytest.raises(ValueError, match="NaN"):
        mean_std([1.0, float("nan")])


def test_relative_improvement() -> None:
    assert relative_improvement(0.12, 0.10) == pytest.approx(0.2)
    assert relative_improvement(0.08, 0.10) == pytest.approx(-0.2)
    assert relative_improvement(0.1, 0.0) is None
    assert relative_improvement(-1.0, -2.0) == pytest.approx(0.5)


def test_paired_test_all_positive_differences() -> None:
    a, b = np.array([2.0, 4.0, 6.0, 8.0, 10.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # differences 1..5
    result = paired_test(a, b)
    assert result["n"] == 5 and result["mean_difference"] == pytest.approx(3.0)
    # every sign positive: W- = 0; exact two-sided p = 2 / 2^5
    assert result["statistic"] == 0.0 and result["p_value"] == pytest.approx(2 / 32)
    t_value = 3.0 / (math.sqrt(2.5) / math.sqrt(5))  # mean / (sample std / sqrt(n))
    assert result["t_statistic"] == pytest.approx(t_value)
    assert result["t_p_value"] == pytest.approx(2 * student_t.sf(t_value, df=4))


def test_paired_test_drops_zero_differences_in_wilcoxon() -> None:
    # differences (0, 1, -2, 3): the zero is dropped, ranks 1, 2, 3 -> W+ = 4, W- = 2;
    # over the 8 equally likely sign patterns P(W- <= 2) = 3/8, two-sided p = 3/4
    result = paired_test([1.0, 2.0, 0.0, 4.0], [1.0, 1.0, 2.0, 1.0])
    assert result["n"] == 4 and result["mean_difference"] == pytest.approx(0.5)
    assert result["statistic"] == 2.0 and result["p_value"] == pytest.approx(0.75)


def test_paired_test_identical_and_constant_shift_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = paired_test([0.5, 0.25, 1.0], [0.5, 0.25, 1.0])
        shifted = paired_test([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
        one_user = paired_test([1.0], [0.0])
    assert same == {"n": 3, "mean_difference": 0.0, "statistic": None, "p_value": 1.0,
                    "t_statistic": None, "t_p_value": 1.0}
    assert shifted["statistic"] == 0.0 and shifted["p_value"] == pytest.approx(2 / 16)
    assert shifted["t_statistic"] is None and shifted["t_p_value"] is None
    assert one_user["p_value"] == pytest.approx(1.0) and one_user["t_statistic"] is None


def test_paired_test_needs_paired_users() -> None:
    with pytest.raises(ValueError, match="pair up"):
        paired_test([1.0, 0.0], [1.0])


def test_lift_difference_interval_covers_the_true_contrast() -> None:
    rng = np.random.default_rng(1)
    base_cold, base_warm = rng.uniform(0.0, 0.2, 3000), rng.uniform(0.1, 0.5, 3000)
    point, low, high = lift_difference((1.5 * base_cold, base_cold), (1.1 * base_warm, base_warm), resamples=500)
    assert point == pytest.approx(0.4) and low < point < high and low > 0.3 and high < 0.5
    noisy = lift_difference((base_cold + rng.normal(0, 0.05, 3000), base_cold), (base_warm, base_warm),
                            resamples=500)
    assert noisy[1] < 0 < noisy[2]                       # no real difference: the interval holds 0
    assert lift_difference((base_cold, np.zeros(3000)), (base_warm, base_warm)) is None
