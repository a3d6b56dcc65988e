"""An expert = an item encoder + a sequence backbone; a user's score for an item is
dot(user vector, item vector). PAD's three experts and every baseline are built from these.
"""

from __future__ import annotations

import torch
from torch import nn

# Item vectors for a whole catalogue are computed in chunks of this many items, so a text
# projection over 10^6 items never holds all its hidden activations at once.
TABLE_CHUNK = 65536


class Expert(nn.Module):
    def __init__(self, items: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.items = items
        self.backbone = backbone

    def user_states(self, history: torch.Tensor, vectors: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden state per position [B, L, d] for left-padded item indices [B, L]
        (``vectors``: the history's item vectors when the caller already has them)."""
        return self.backbone(self.items(history) if vectors is None else vectors, history != 0)

    def user_vector(self, history: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """[B, d]: the user vector (last position), the history's item vectors looked up in
        ``table`` (``item_table()``) when given instead of recomputed."""
        vectors = self.items(history) if table is None else table[history]
        last_state = getattr(self.backbone, "last_state", None)
        if last_state is not None:
            return last_state(vectors, history != 0)
        return self.backbone(vectors, history != 0)[:, -1]

    def item_vectors(self, idx: torch.Tensor) -> torch.Tensor:
        return self.items(idx)

    def shared_item_vectors(self, *idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Item vectors for several index tensors, each distinct item encoded once.

        Text-based item encoders (a projection MLP per item) dominate a training step when
        applied per occurrence; here they run once per distinct item of the step, so dropout
        draws one mask per distinct item rather than per occurrence. ID tables need no sharing.
        """
        if not getattr(self.items, "costly", False):
            return tuple(self.items(i) for i in idx)
        flat = torch.cat([i.reshape(-1) for i in idx])
        unique, inverse = torch.unique(flat, return_inverse=True)
        rows = self.items(unique)[inverse]
        out, start = [], 0
        for i in idx:
            out.append(rows[start:start + i.numel()].view(*i.shape, -1))
            start += i.numel()
        return tuple(out)

    def item_table(self, chunk: int = TABLE_CHUNK) -> torch.Tensor:
        """[N + 1, d]: every item's vector (row 0 = padding), computed in item chunks (full-softmax
        training, evaluation and serving)."""
        device = next(self.parameters()).device
        n = self.items.n_items + 1
        return torch.cat([self.items(torch.arange(lo, min(lo + chunk, n), device=device))
                          for lo in range(0, n, chunk)])
