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

Items added to a served catalogue (:meth:`HalfScreen.extend`) are scaled by the same power of two
while their scaled elements stay within 2^15 (float16 ends at 65504) and only raise the row-norm
maxima, so the bound holds for them as for the rest; larger ones rebuild the screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EPS = 2.0 ** -11
ETA = 2.0 ** -25
ROW_MAX = 2.0 ** 14
APPEND_MAX = 2.0 ** 15  # the largest scaled element an appended row may have under the current shift
SCORE_MAX = 2.0 ** 15
BLOCK = 65536
FP32_TINY = 2.0 ** -149  # the unscaled score's underflow, if it falls below fp32's normal range


def _pow2_at_most(limit: float) -> int:
    """The largest integer e with 2^e ≤ limit (limit > 0)."""
    return math.floor(math.log2(limit))


def _scale_into(matrix: torch.Tensor, shift: int, rows: torch.Tensor) -> tuple[float, float]:
    """Write ``matrix`` times 2^shift into the float16 ``rows``; return the largest scaled row norms (L2, L1)."""
    l2_max = l1_max = 0.0
    for lo in range(0, matrix.shape[0], BLOCK):
        scaled = matrix[lo:lo + BLOCK] * 2.0 ** shift  # exact: a power of two, within fp32's range
        rows[lo:lo + BLOCK] = scaled
        l2_max = max(l2_max, float(scaled.norm(dim=1).max()))
        l1_max = max(l1_max, float(scaled.abs().sum(1).max()))
    return l2_max, l1_max


@dataclass(frozen=True)
class HalfScreen:
    """The catalogue's rows [N + 1, D] times 2^shift, in float16, with the largest scaled row norms."""

    rows: torch.Tensor
    shift: int
    l2_max: float
    l1_max: float

    @classmethod
    def build(cls, matrix: torch.Tensor, out: torch.Tensor | None = None) -> HalfScreen:
        """matrix [N + 1, D] fp32 (finite). Scaled so the largest element is just under 2^14.
        ``out`` [≥ N + 1, D] float16: storage whose first N + 1 rows receive the screen, the rest
        left as room for :meth:`extend` to append into without copying the screen."""
        matrix = matrix.detach()
        peak = float(matrix.abs().max()) if matrix.numel() else 0.0
        shift = _pow2_at_most(ROW_MAX / peak) if peak > 0 else 0
        rows = torch.empty(matrix.shape, dtype=torch.float16) if out is None else out[:matrix.shape[0]]
        l2_max, l1_max = _scale_into(matrix, shift, rows)
        return cls(rows=rows, shift=shift, l2_max=l2_max, l1_max=l1_max)

    def extend(self, matrix: torch.Tensor, out: torch.Tensor) -> HalfScreen | None:
        """The screen with rows ``matrix`` [M, D] fp32 appended, written into ``out`` [≥ N + 1 + M, D]
        float16, whose first N + 1 rows must already hold this screen's rows; None when the new rows
        do not fit the current scale (their scaled peak over ``APPEND_MAX``): rebuild the screen then."""
        n, m = self.rows.shape[0], matrix.shape[0]
        low, high = matrix.detach().aminmax() if m else (torch.tensor(0.0), torch.tensor(0.0))
        peak = max(-float(low), float(high))
        if peak * 2.0 ** self.shift > APPEND_MAX:
            return None
        l2_max, l1_max = _scale_into(matrix.detach(), self.shift, out[n:n + m])
        return HalfScreen(rows=out[:n + m], shift=self.shift, l2_max=max(self.l2_max, l2_max),
                          l1_max=max(self.l1_max, l1_max))

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
