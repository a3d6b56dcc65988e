"""Normalising frozen text embeddings before the projection MLP.

Mean-pooled LLM states are nearly collinear (SmolLM2: mean pairwise cosine ≈ 0.9) and
have a few huge outlier dimensions; centring and scaling them gives the projection a
well-conditioned input. Statistics use only real items (row 0 is padding and stays 0).
"""

from __future__ import annotations

import numpy as np

NORMS = ("none", "center", "standardize", "l2")


def normalize_text(matrix: np.ndarray, norm: str = "standardize") -> np.ndarray:
    if norm not in NORMS:
        raise ValueError(f"unknown text normalisation {norm!r}; expected one of {NORMS}")
    out = np.array(matrix, dtype=np.float32, copy=True)
    items = out[1:]
    if norm in {"center", "standardize"}:
        items -= items.mean(0, keepdims=True)
    if norm == "standardize":
        items /= items.std(0, keepdims=True) + 1e-6
    if norm == "l2":
        items /= np.linalg.norm(items, axis=1, keepdims=True) + 1e-12
    out[0] = 0.0
    return out
