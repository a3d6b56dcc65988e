"""HR@k and nDCG@k from target ranks, overall, per frequency bucket and per group: warm / median /
cold by bucket, and ``new``: targets that training never saw (held-out items, or items that occur only
as a validation or test target). New items sit in the coldest bucket too, so ``new`` overlaps ``cold``."""

from __future__ import annotations

import numpy as np

# Paper Fig. 2: with B = 10 buckets, warm = 1–3, median = 4–7, cold = 8–10.
GROUPS = {"warm": (1, 3), "median": (4, 7), "cold": (8, 10)}
NEW_GROUP = "new"


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    return (np.asarray(ranks) < k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """One relevant item: 1/log2(rank + 2) for a 0-based rank inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def group_of_bucket(n_buckets: int) -> dict[str, tuple[int, int]]:
    """Warm/median/cold bucket ranges scaled to ``n_buckets`` (the paper's 3/4/3 split of 10)."""
    if n_buckets == 10:
        return dict(GROUPS)
    warm = max(1, round(0.3 * n_buckets))
    cold = max(1, round(0.3 * n_buckets))
    return {"warm": (1, warm), "median": (warm + 1, n_buckets - cold), "cold": (n_buckets - cold + 1, n_buckets)}


def summarize(ranks: np.ndarray, target_buckets: np.ndarray, n_buckets: int, k: int = 10,
              target_new: np.ndarray | None = None) -> dict:
    """Metrics dict: overall, per bucket and per group, each with users / HR@k / nDCG@k; the ``new``
    group when ``target_new`` (per user: whether training never saw the target) is given."""
    hr, nd = hit_rate(ranks, k), ndcg(ranks, k)
    target_buckets = np.asarray(target_buckets)

    def block(mask: np.ndarray) -> dict:
        n = int(mask.sum())
        return {"users": n,
                f"hr@{k}": float(hr[mask].mean()) if n else None,
                f"ndcg@{k}": float(nd[mask].mean()) if n else None}

    groups = {name: block((target_buckets >= lo) & (target_buckets <= hi))
              for name, (lo, hi) in group_of_bucket(n_buckets).items()}
    if target_new is not None:
        groups[NEW_GROUP] = block(np.asarray(target_new, dtype=bool))
    return {
        "k": k,
        "overall": block(np.ones_like(hr, dtype=bool)),
        "buckets": {str(b): block(target_buckets == b) for b in range(1, n_buckets + 1)},
        "groups": groups,
    }
