"""An expert = an item encoder + a sequence backbone; a user's score for an item is
dot(user vector, item vector). PAD's three experts and every baseline are built from these.
"""

from __future__ import annotations

import torch
from torch import nn


class Expert(nn.Module):
    def __init__(self, items: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.items = items
        self.backbone = backbone

    def user_states(self, history: torch.Tensor) -> torch.Tensor:
        """Hidden state per position [B, L, d] for left-padded item indices [B, L]."""
        return self.backbone(self.items(history), history != 0)

    def item_vectors(self, idx: torch.Tensor) -> torch.Tensor:
        return self.items(idx)

    def all_item_vectors(self) -> torch.Tensor:
        """[N + 1, d]: every item's vector (row 0 = padding), for full-softmax training."""
        device = next(self.parameters()).device
        return self.items(torch.arange(self.items.n_items + 1, device=device))
