"""Exact top-k for one user through a half-precision screen of the catalogue.

Scoring one user reads the whole catalogue, so serving is memory-bound: a 10^6-item PAD
catalogue (three 128-d experts) is 1.5 GB in fp32. The screen is a float16 copy, half the bytes;
PyTorch's CPU float16 matrix-vector kernel multiplies and sums in fp32 and rounds the result to
float16. Serving then takes the best ``pool`` items by screened score, rescores those in fp32,
and accepts their top-k only when the k-th fp32 score beats every other item's screened score
plus a rigorous bound on the screen's error. Otherwise (near-ties at the pool's edge) it scores
the catalogue in fp32. Either way the answer is the fp32 top-k, not an approximation.

The error bound, for user u and item row v scaled by powers of two (exact) into x and y:
rounding each to float16 costs at most ε|·| + η per element (ε = 2^-11, the unit roundoff;
η = 2^-25, half the subnormal spacing), the fp32 sum of D products at most γ_D times the sum of
their magnitudes (γ_D = D·2^-24 / (1 - D·2^-24)), the result's rounding ε|s| + η, so

    |screened - exact| ≤ (3ε + 2γ_D)·‖x‖₂‖y‖₂ + 3η·(‖x‖₁ + ‖y‖₁ + D·η) + η

up to second-order terms, which a 5 % margin covers (the 2γ_D also covers the fp32 path's own
rounding, so no item's fp32 score can beat an accepted top-k). Rows are bounded with the largest
‖y‖₂ and ‖y‖₁ over the catalogue (summed in fp32: off by at most γ_D, well inside the
margin). The bound holds wherever fp32 scores themselves are finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EPS = 2.0 ** -11
ETA = 2.0 ** -25
ROW_MAX = 2.0 ** 14
SCORE_MAX = 2.0 ** 15
BLOCK = 65536
FP32_TINY = 2.0 ** -149  # the unscaled score's underflow, if it falls below fp32's normal range


def _pow2_at_most(limit: float) -> int:
    """The largest integer e with 2^e ≤ limit (limit > 0)."""
    return math.floor(math.log2(limit))


@dataclass(frozen=True)
class HalfScreen:
    """The catalogue's rows [N + 1, D] times 2^shift, in float16, with the largest scaled row norms."""

    rows: torch.Tensor
    shift: int
    l2_max: float
    l1_max: float

    @classmethod
    def build(cls, matrix: torch.Tensor) -> HalfScreen:
        """matrix [N + 1, D] fp32 (finite). Scaled so the largest element is just under 2^14."""
        matrix = matrix.detach()
        peak = float(matrix.abs().max())
        shift = _pow2_at_most(ROW_MAX / peak) if peak > 0 else 0
        rows = torch.empty(matrix.shape, dtype=torch.float16)
        l2_max = l1_max = 0.0
        for lo in range(0, matrix.shape[0], BLOCK):
            scaled = matrix[lo:lo + BLOCK] * 2.0 ** shift  # exact: a power of two, within fp32's range
            rows[lo:lo + BLOCK] = scaled
            l2_max = max(l2_max, float(scaled.norm(dim=1).max()))
            l1_max = max(l1_max, float(scaled.abs().sum(1).max()))
        return cls(rows=rows, shift=shift, l2_max=l2_max, l1_max=l1_max)

    def scores(self, user: torch.Tensor) -> tuple[torch.Tensor, float]:
        """user [D] fp32 → (screened scores [N + 1] fp32, error bound): every item's exact score
        lies within the bound of its screened score."""
        norm = float(user.double().norm())
        if norm == 0 or self.l2_max == 0:
            return torch.zeros(self.rows.shape[0]), 0.0
        user_shift = _pow2_at_most(SCORE_MAX / (norm * self.l2_max))
        scale = 2.0 ** user_shift
        x = user.float() * scale  # exact: a power of two, so x's norms are the user's times scale
        d = user.numel()
        gamma = d * 2.0 ** -24 / (1 - d * 2.0 ** -24)
        bound = 1.05 * ((3 * EPS + 2 * gamma) * norm * scale * self.l2_max
                        + 3 * ETA * (float(user.double().abs().sum()) * scale + self.l1_max + d * ETA) + ETA)
        unscale = 2.0 ** -(user_shift + self.shift)
        return (self.rows @ x.half()).float().mul_(unscale), bound * unscale + FP32_TINY

    def shortlist(self, user: torch.Tensor, excluded: torch.Tensor, size: int) -> tuple[torch.Tensor, float]:
        """user [D] fp32, excluded [N + 1] bool → (candidates [≤ size], ceiling): no item outside
        the candidates, excluded items aside, has an fp32 score above ``ceiling`` (-inf when the
        candidates hold every item not excluded). Candidates may include excluded items when
        fewer than ``size`` remain."""
        screened, bound = self.scores(user)
        screened.masked_fill_(excluded, -math.inf)
        best = screened.topk(min(size + 1, screened.numel()))
        if best.values.numel() <= size or best.values[size] == -math.inf:
            return best.indices[:size], -math.inf
        return best.indices[:size], float(best.values[size]) + bound
