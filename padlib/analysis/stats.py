"""Statistics for the results table: mean ± std over seeds, relative improvement, paired tests over users.

The paper reports the mean of 3 runs; a single seed has no spread, so its std is None
rather than 0. Two models evaluated on the same test users are compared per user
(paired): the Wilcoxon signed-rank test, which suits bounded, tied per-user metrics
such as HR@10 (0/1) and nDCG@10, with the paired t-test as a second opinion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import ttest_rel, wilcoxon


def _finite_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def mean_std(values: Sequence[float] | np.ndarray) -> tuple[float, float | None]:
    """(mean, sample std with ddof=1); std is None for a single value (one seed has no spread)."""
    array = _finite_vector(values, "values")
    std = float(np.std(array, ddof=1)) if array.size > 1 else None
    return float(np.mean(array)), std


def relative_improvement(value: float, baseline: float) -> float | None:
    """(value - baseline) / |baseline| as a fraction (0.05 = +5 %); None when the baseline is 0."""
    if baseline == 0:
        return None
    return (value - baseline) / abs(baseline)


def paired_test(per_user_a: Sequence[float] | np.ndarray, per_user_b: Sequence[float] | np.ndarray) -> dict:
    """Paired comparison of two models' per-user metric on the same users (same order).

    Returns n (users), mean_difference (mean of a - b), statistic / p_value of the
    two-sided Wilcoxon signed-rank test (scipy: zero differences dropped, statistic =
    min(W+, W-)) and t_statistic / t_p_value of the paired t-test. When every
    difference is 0 no test can run: statistics are None and both p-values 1.0 (no
    evidence of a difference). The t-test is None when the differences do not vary
    (one user, or a constant non-zero shift).
    """
    a, b = _finite_vector(per_user_a, "per_user_a"), _finite_vector(per_user_b, "per_user_b")
    if a.shape != b.shape:
        raise ValueError(f"per-user values must pair up; got {a.size} and {b.size} users")
    diff = a - b
    result = {"n": int(diff.size), "mean_difference": float(diff.mean()),
              "statistic": None, "p_value": 1.0, "t_statistic": None, "t_p_value": 1.0}
    if not np.any(diff):
        return result
    signed_rank = wilcoxon(a, b)
    result.update(statistic=float(signed_rank.statistic), p_value=float(signed_rank.pvalue),
                  t_statistic=None, t_p_value=None)
    if np.ptp(diff) > 0:
        t_test = ttest_rel(a, b)
        result.update(t_statistic=float(t_test.statistic), t_p_value=float(t_test.pvalue))
    return result


def _lift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Relative lift of mean(a) over mean(b) along the last axis (inf/nan where mean(b) is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return a.mean(-1) / b.mean(-1) - 1.0


def lift_difference(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray],
                    resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float] | None:
    """Does a model's lift over another differ between two disjoint groups of users (e.g. cold
    vs warm targets)? ``first`` and ``second`` are each group's per-user (a, b) metrics; returns
    (lift_first − lift_second, low, high) with a percentile bootstrap interval that resamples each
    group's users (a user's a and b stay together). None when either group's mean b is 0."""
    groups = [tuple(_finite_vector(v, name) for v, name in zip(pair, ("a", "b"))) for pair in (first, second)]
    if any(b.mean() == 0 for _, b in groups):
        return None
    rng = np.random.default_rng(seed)
    point = float(_lift(*groups[0]) - _lift(*groups[1]))
    draws = []
    for a, b in groups:
        rows = rng.integers(0, a.size, size=(resamples, a.size))
        draws.append(_lift(a[rows], b[rows]))
    difference = draws[0] - draws[1]
    difference = difference[np.isfinite(difference)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(difference, [tail, 100 - tail])
    return point, float(low), float(high)
