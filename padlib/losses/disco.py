"""DisCo-style disentanglement: keep a specific part free of what the shared part already holds.

The shared parts of the ID and text views are aligned with InfoNCE
(``padlib.losses.infonce.info_nce``); the specific part of each modality is decorrelated
from that modality's shared part with ``decorrelation`` below, so it can only carry what
the shared part does not.
"""

from __future__ import annotations

import torch

EPS = 1e-6


def standardize_columns(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Each column of ``x`` [n, p] to mean 0 and (biased) std 1 over the rows; constant columns become 0."""
    centred = x - x.mean(0, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(0, keepdim=True) + eps)


def decorrelation(a: torch.Tensor, b: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Mean squared cross-correlation between the columns of ``a`` [n, p] and ``b`` [n, q].

    C = std(a)ᵀ std(b) / n is the [p, q] Pearson cross-correlation over the n rows; the loss is
    mean(C²): 0 when the columns are uncorrelated, 1/p for ``b = a`` with uncorrelated columns,
    at most 1, and unchanged by any per-column scale or shift (so it cannot be lowered by
    shrinking a part). Fewer than two rows carry no correlation: 0.
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"decorrelation needs paired rows; got {a.shape[0]} and {b.shape[0]}")
    n = a.shape[0]
    if n < 2:
        return a.new_zeros(())
    c = standardize_columns(a, eps).T @ standardize_columns(b, eps) / n
    return c.pow(2).mean()
