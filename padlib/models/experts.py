"""An expert = an item encoder + a sequence backbone; a user's score for an item is
dot(user vector, item vector). PAD's three experts and every baseline are built from these.
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.models.newitems import NewItemPolicy

# Item vectors for a whole catalogue are computed in chunks of this many items, so a text
# projection over 10^6 items never holds all its hidden activations at once.
TABLE_CHUNK = 65536


ITEM_PASSES = ("distinct", "rows")


class Expert(nn.Module):
    def __init__(self, items: nn.Module, backbone: nn.Module, item_passes: str = "distinct") -> None:
        super().__init__()
        if item_passes not in ITEM_PASSES:
            raise ValueError(f"model.item_passes: {item_passes!r} is not one of {list(ITEM_PASSES)}")
        self.items = items
        self.backbone = backbone
        self.item_passes = item_passes

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

    def training_item_vectors(self, history: torch.Tensor, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training forward's input vectors [B, L, d] and candidate vectors [B, L, C, d].

        ``item_passes: distinct`` (``shared_item_vectors``): a text item encoder runs once per
        distinct item. ``rows`` (the official code): it runs on the official rows, each with its own
        dropout draw: the user's sequence (the history and the last target; row j + 1 serves as the
        input at j + 1 and as the target at j) and the negatives. That needs BCE's candidates
        [target, negative] with the targets the history shifted by one (a training batch); anything
        else takes the distinct path.
        """
        target = candidates[..., 0]
        official = (self.item_passes == "rows" and getattr(self.items, "costly", False) and candidates.shape[-1] == 2
                    and bool(((target[:, :-1] == history[:, 1:]) | (target[:, :-1] == 0)).all()))
        if not official:
            return self.shared_item_vectors(history, candidates)
        rows = self.items(torch.cat([history, target[:, -1:]], 1))
        return rows[:, :-1], torch.stack([rows[:, 1:], self.items(candidates[..., 1])], 2)

    def item_table(self, chunk: int = TABLE_CHUNK) -> torch.Tensor:
        """[N + 1, d]: every item's vector (row 0 = padding), computed in item chunks (full-softmax
        training, evaluation and serving)."""
        device = next(self.parameters()).device
        n = self.items.n_items + 1
        return torch.cat([self.items(torch.arange(lo, min(lo + chunk, n), device=device))
                          for lo in range(0, n, chunk)])

    def new_item_table(self, text: torch.Tensor, policy: NewItemPolicy, chunk: int = TABLE_CHUNK) -> torch.Tensor:
        """[M, d]: the vectors of M items added after training, from their normalised text [M, d_text]
        and the policy's ID row, as ``item_table`` would hold them had they been in the catalogue
        (computed for these items only, in chunks, so appending costs O(M), not O(N))."""
        device = next(self.parameters()).device
        text = text.to(device)
        return torch.cat([self.items.new_rows(text[lo:lo + chunk], policy) for lo in range(0, max(len(text), 1), chunk)])
