"""Caser backbone (Tang & Wang, WSDM 2018): convolutions over the last ``window`` item embeddings.

Same interface as SASRec: ``forward(item_vectors [B, L, d], valid [B, L]) -> [B, L, d]``.
Training predicts the next item at every position, so position t gets Caser's user
vector computed from the window of items ending at t (items before the sequence start
and padding are zero rows), which makes it causal by construction.

Per window E [window, d], as in the official code:
  vertical:   n_v filters of shape (window, 1) → n_v·d values (no activation);
  horizontal: for each height h in 1..window, n_h filters (h, d) → ReLU → max over time;
  z = ReLU(Linear(Dropout(concat(vertical, horizontal)))) ∈ R^d.
Computed for all windows at once: the horizontal filters run once over the padded
sequence and a stride-1 max-pool of width window−h+1 gathers each window's maximum,
which is the per-window max-pool of the paper without recomputing overlapping convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from padlib.models.dropout import Dropout


@dataclass(frozen=True)
class CaserConfig:
    dim: int = 128
    window: int = 5      # L in the paper
    n_h: int = 16        # horizontal filters per height
    n_v: int = 4         # vertical filters
    dropout: float = 0.5


class Caser(nn.Module):
    def __init__(self, cfg: CaserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # A (window × 1) vertical filter is a weighted sum of the window's rows, shared over dims.
        self.vertical = nn.Linear(cfg.window, cfg.n_v)
        self.horizontal = nn.ModuleList(nn.Conv1d(cfg.dim, cfg.n_h, h) for h in range(1, cfg.window + 1))
        self.dropout = Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.n_v * cfg.dim + cfg.n_h * cfg.window, cfg.dim)
        nn.init.xavier_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, item_vectors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        w = self.cfg.window
        x = item_vectors * valid.unsqueeze(-1)
        padded = F.pad(x, (0, 0, w - 1, 0))                          # [B, L + w - 1, d]
        out_v = self.vertical(padded.unfold(1, w, 1)).flatten(2)     # [B, L, d · n_v]
        seq = padded.transpose(1, 2)                                 # [B, d, L + w - 1]
        out_h = torch.cat([
            F.max_pool1d(F.relu(conv(seq)), w - h + 1, stride=1)    # [B, n_h, L]
            for h, conv in enumerate(self.horizontal, start=1)
        ], dim=1).transpose(1, 2)                                    # [B, L, n_h · w]
        z = F.relu(self.fc(self.dropout(torch.cat([out_v, out_h], dim=-1))))
        return z * valid.unsqueeze(-1)
