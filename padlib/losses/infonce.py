"""InfoNCE between two views of the same items (the contrastive alternative to MMD, paper Fig. 5a).

Item i's projected-text vector and its ID vector form the positive pair; every other item
in the batch is a negative. Symmetric: text→ID and ID→text cross-entropies, averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(x: torch.Tensor, y: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE for paired rows of ``x`` [n, d] and ``y`` [n, d] (cosine similarities / τ)."""
    if x.shape != y.shape:
        raise ValueError(f"InfoNCE needs paired samples; got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / temperature
    labels = torch.arange(x.shape[0], device=x.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
