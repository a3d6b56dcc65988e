"""Dropout with a cheaper mask on the CPU.

``torch.nn.Dropout`` draws one Bernoulli sample per element, about 6 ns each on a CPU core:
a third of a PAD training step at batch 16. Here the keep-mask comes from 16-bit slices of
64-bit random words (one draw per four elements), compared with ``round(p·2^16)``, so the
drop probability is ``p`` to within 2^-17. Other devices use the native kernel, which is
already cheap there. Same expectation and variance as ``nn.Dropout`` (inverted scaling).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_INT16_MIN = -(2 ** 15)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A bool tensor of ``shape``, each element True with probability ``1 - p`` (global torch RNG)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2 ** 63), 2 ** 63 - 1)
    lanes = words.view(torch.int16)[:n].view(shape)
    return lanes >= _INT16_MIN + round(p * 2 ** 16)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, True)
    return x * (keep_mask(x.shape, p, x.device).to(x.dtype) * (1.0 / (1.0 - p)))


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (no parameters, so checkpoints are unchanged)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
