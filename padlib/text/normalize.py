"""Normalising frozen text embeddings before the projection MLP.

Mean-pooled LLM states are nearly collinear (SmolLM2: mean pairwise cosine ≈ 0.9) and
have a few huge outlier dimensions; centring and scaling them gives the projection a
well-conditioned input. Statistics use only real items (row 0 is padding and stays 0).

An item added after training (``pad add-items``) must reach the projection exactly as a
trained item did, so :class:`TextNorm` keeps the training catalogue's statistics and applies
them to new vectors instead of recomputing them with the new items in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMS = ("none", "center", "standardize", "l2")


@dataclass(frozen=True)
class TextNorm:
    """A normalisation and the catalogue statistics it uses: the mean for ``center`` and
    ``standardize``, the (centred) standard deviation for ``standardize``; ``l2`` is per row."""

    norm: str
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, matrix: np.ndarray, norm: str = "standardize") -> TextNorm:
        """The statistics of ``matrix``'s real items (rows 1..N; row 0 is padding)."""
        if norm not in NORMS:
            raise ValueError(f"unknown text normalisation {norm!r}; expected one of {NORMS}")
        items = np.asarray(matrix, dtype=np.float32)[1:]
        if norm not in {"center", "standardize"}:
            return cls(norm)
        mean = items.mean(0, keepdims=True)
        std = (items - mean).std(0, keepdims=True) if norm == "standardize" else None
        return cls(norm, mean, std)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` [M, d] (real items, no padding row) normalised with these statistics, float32."""
        out = np.array(vectors, dtype=np.float32, copy=True)
        if self.mean is not None:
            out -= self.mean
        if self.std is not None:
            out /= self.std + 1e-6
        if self.norm == "l2":
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
        return out


def normalize_text(matrix: np.ndarray, norm: str = "standardize") -> np.ndarray:
    """``matrix`` [N + 1, d] normalised with its own items' statistics; row 0 stays zero."""
    out = np.zeros(np.shape(matrix), dtype=np.float32)
    out[1:] = TextNorm.fit(matrix, norm).apply(np.asarray(matrix)[1:])
    return out
