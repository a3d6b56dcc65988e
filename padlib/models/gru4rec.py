"""GRU4Rec backbone: a (multi-layer) GRU over a left-padded item-embedding sequence.

Same interface as SASRec: ``forward(item_vectors [B, L, d], valid [B, L]) -> [B, L, d]``.
Follows the sequential-recommendation form of GRU4Rec (as in RecBole): embedding
dropout → GRU → Linear back to ``dim``, the hidden state at every position.

Left padding: a GRU run over leading padding would carry a non-zero state (biases)
into the first real item, so each row is rotated to be right-padded (items first),
run through the GRU, and rotated back. Trailing padding can only affect positions
after the last item, which are zeroed, so valid positions see exactly their items.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from padlib.models.dropout import Dropout


@dataclass(frozen=True)
class GRU4RecConfig:
    dim: int = 128
    hidden: int | None = None  # None: same as ``dim`` (no projection needed)
    layers: int = 1
    dropout: float = 0.3       # RecBole's GRU4Rec default embedding dropout


def rotate_rows(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """out[b, t] = x[b, (t + shift[b]) mod L] for x [B, L, ...] — a per-row roll to the left."""
    length = x.shape[1]
    idx = (torch.arange(length, device=x.device).unsqueeze(0) + shift.unsqueeze(1)) % length
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class GRU4Rec(nn.Module):
    def __init__(self, cfg: GRU4RecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hidden = cfg.hidden or cfg.dim
        self.emb_dropout = Dropout(cfg.dropout)
        self.gru = nn.GRU(cfg.dim, hidden, num_layers=cfg.layers, batch_first=True,
                          dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.proj = nn.Linear(hidden, cfg.dim) if hidden != cfg.dim else nn.Identity()
        for name, param in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(param)

    def forward(self, item_vectors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Assumes ``valid`` is a suffix of each row (left padding), as the data stage writes it."""
        length = item_vectors.shape[1]
        n_valid = valid.sum(1)
        x = self.emb_dropout(item_vectors) * valid.unsqueeze(-1)
        right_padded = rotate_rows(x, length - n_valid)
        states, _ = self.gru(right_padded)
        out = rotate_rows(self.proj(states), n_valid)
        return out * valid.unsqueeze(-1)
