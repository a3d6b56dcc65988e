"""Kendall's tau discrepancy between two item-embedding spaces (PAD paper §4.3, Fig. 6).

The paper asks how far alignment moves an embedding space, not item by item but in
the *order of distances* a sequential recommender relies on. Definition used here:

* Pairs. For every test user u with non-padding history items h_u (at most
  ``max_input_length``, in the test split) and target t_u, the pair set is
  P = {(i, t_u) : i in h_u}, one pair per history position (a repeated item or the
  same (item, target) pair from several users is kept, so each pair weighs as often
  as the model sees it).
* Distances. For an embedding table E (row = item_idx, row 0 = padding), each pair
  p = (i, t) has d_E(p) = ||E[i] - E[t]||_2 ("euclidean", the paper's choice) or
  d_E(p) = 1 - <E[i], E[t]> / (||E[i]|| ||E[t]||) ("cosine"). The two spaces may have
  different dimensions; only the distances are compared.
* Buckets. P_b = the pairs whose *target* is in frequency bucket b (1 = warmest).
* Tau. For spaces A and B, over the n = |P_b| pairs of a bucket, with C / D the
  numbers of concordant / discordant pairs of pairs (both distances order the two
  pairs the same way / opposite ways), n0 = n(n-1)/2 and n1 / n2 the pairs of pairs
  tied in A / in B:
    "tau"   = tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2))   (scipy.stats.kendalltau),
    "tau_a" = (C - D) / n0                                  (the paper's Eq. 13).
  Without ties both equal Eq. 13; ties arise from repeated pairs or an item that is
  both in the history and the target (distance 0 in both spaces). "p_value" is
  scipy's two-sided test of tau = 0. With fewer than two pairs, or distances that are
  all equal in one space, tau is undefined and reported as None.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import kendalltau

Metric = Literal["cosine", "euclidean"]


def test_pairs(history: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(history item, target) index pairs [P, 2], users in order, padding (0) skipped."""
    history = np.asarray(history)
    target = np.asarray(target)
    if history.ndim != 2 or target.shape != (history.shape[0],):
        raise ValueError(f"history must be [U, L] and target [U]; got {history.shape} and {target.shape}")
    users, _ = np.nonzero(history)
    return np.stack([history[history != 0], target[users]], axis=1).astype(np.int64)


test_pairs.__test__ = False  # a library function, not a pytest test, despite its name


def _check_pairs(emb: np.ndarray, pairs: np.ndarray) -> None:
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [P, 2]; got {pairs.shape}")
    if pairs.size and (pairs.min() < 1 or pairs.max() >= emb.shape[0]):
        raise ValueError(f"pairs hold item indices outside 1..{emb.shape[0] - 1} (row 0 is padding)")


def pair_distances(emb: np.ndarray, pairs: np.ndarray, metric: Metric = "euclidean") -> np.ndarray:
    """Distance [P] between the two items of each pair in the table ``emb`` [N+1, d]."""
    emb = np.asarray(emb, dtype=np.float64)
    pairs = np.asarray(pairs)
    _check_pairs(emb, pairs)
    left, right = emb[pairs[:, 0]], emb[pairs[:, 1]]
    if metric == "euclidean":
        return np.linalg.norm(left - right, axis=1)
    if metric == "cosine":
        row_norms = np.linalg.norm(emb, axis=1)
        zero_items = pairs[row_norms[pairs] == 0]
        if zero_items.size:
            raise ValueError(f"item {int(zero_items[0])} has a zero embedding; cosine distance is undefined")
        return 1.0 - np.einsum("pd,pd->p", left, right) / (row_norms[pairs[:, 0]] * row_norms[pairs[:, 1]])
    raise ValueError(f"metric must be 'cosine' or 'euclidean'; got {metric!r}")


def _tied_pairs(values: np.ndarray) -> int:
    """Pairs of positions holding equal values."""
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def kendall_tau(dist_a: np.ndarray, dist_b: np.ndarray) -> dict:
    """{"tau" (tau-b), "tau_a", "p_value", "pairs"} between two distance vectors of the same pairs."""
    dist_a, dist_b = np.asarray(dist_a, dtype=np.float64), np.asarray(dist_b, dtype=np.float64)
    if dist_a.shape != dist_b.shape or dist_a.ndim != 1:
        raise ValueError(f"distance vectors must be 1-D and of equal length; got {dist_a.shape} and {dist_b.shape}")
    n = len(dist_a)
    if n < 2 or np.ptp(dist_a) == 0 or np.ptp(dist_b) == 0:
        return {"tau": None, "tau_a": None, "p_value": None, "pairs": n}
    result = kendalltau(dist_a, dist_b, variant="b")
    n0 = n * (n - 1) / 2
    concordance = result.statistic * np.sqrt((n0 - _tied_pairs(dist_a)) * (n0 - _tied_pairs(dist_b)))
    return {"tau": float(result.statistic), "tau_a": float(concordance / n0),
            "p_value": float(result.pvalue), "pairs": n}


def kendall_by_bucket(emb_a: np.ndarray, emb_b: np.ndarray, pairs: np.ndarray, item_buckets: np.ndarray,
                      n_buckets: int, metric: Metric = "euclidean") -> dict[int, dict]:
    """Kendall's tau of the pairs' distances in spaces A and B, per bucket 1..n_buckets of the target."""
    pairs = np.asarray(pairs)
    dist_a = pair_distances(emb_a, pairs, metric)
    dist_b = pair_distances(emb_b, pairs, metric)
    target_bucket = np.asarray(item_buckets)[pairs[:, 1]]
    return {b: kendall_tau(dist_a[target_bucket == b], dist_b[target_bucket == b]) for b in range(1, n_buckets + 1)}
