"""DisCo-style items: ID and text vectors split into a shared and a modality-specific part.

Of the model dim d, d_s = d/2 is shared between the modalities and d_p = d/4 is specific
to each. Both the ID table and the text projection emit d_s + d_p values: the first d_s
are that modality's view of the shared part, the last d_p its specific part. The item
vector the backbone reads and the user is scored against is
concat[(shared_id + shared_text)/2, specific_id, specific_text] (size d), so a DisCo
recommender is an ordinary ``SingleExpert`` and evaluation/serving need no special code.
See docs/disco.md for the training losses.
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.errors import ConfigError
from padlib.models.items import IdItems, TextItems
from padlib.models.newitems import NewItemPolicy

PART_NAMES = ("shared_id", "specific_id", "shared_text", "specific_text")


def part_sizes(dim: int) -> tuple[int, int]:
    """(d_s, d_p) = (d/2, d/4) for model dim ``dim``; the split needs d divisible by 4."""
    if dim <= 0 or dim % 4:
        raise ConfigError(f"model.dim: DisCo splits the item vector into halves and quarters, so the dim "
                          f"must be a positive multiple of 4; got {dim}")
    return dim // 2, dim // 4


def part_slices(dim: int) -> dict[str, slice]:
    """For each part, the slice of the d-dim user state (and item vector) it is scored with."""
    shared, specific = part_sizes(dim)
    return {
        "shared_id": slice(0, shared),
        "shared_text": slice(0, shared),
        "specific_id": slice(shared, shared + specific),
        "specific_text": slice(shared + specific, dim),
    }


class DisCoItems(nn.Module):
    """An ID table and a text projection, each of width d_s + d_p, combined into one d-dim vector."""

    costly = True  # a text MLP per item: Expert.shared_item_vectors encodes each distinct item once

    def __init__(self, n_items: int, text: torch.Tensor, dim: int, layers: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.shared_dim, self.specific_dim = part_sizes(dim)
        self.dim = dim
        width = self.shared_dim + self.specific_dim
        self.ids = IdItems(n_items, width)
        self.text = TextItems(text, width, layers, dropout)

    @property
    def n_items(self) -> int:
        return self.ids.n_items

    @property
    def part_slices(self) -> dict[str, slice]:
        return part_slices(self.dim)

    def parts(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """idx [...] → the four parts, each [..., d_s] (shared) or [..., d_p] (specific); zero at padding."""
        ids = self.ids(idx) * (idx != 0).unsqueeze(-1)
        text = self.text(idx)
        s = self.shared_dim
        return {"shared_id": ids[..., :s], "specific_id": ids[..., s:],
                "shared_text": text[..., :s], "specific_text": text[..., s:]}

    def new_rows(self, text: torch.Tensor, policy: NewItemPolicy) -> torch.Tensor:
        """[M, d]: M new items from the policy's ID row and their normalised text [M, d_text]."""
        ids, projected, s = self.ids.new_rows(text, policy), self.text.new_rows(text), self.shared_dim
        return self.combine({"shared_id": ids[..., :s], "specific_id": ids[..., s:],
                             "shared_text": projected[..., :s], "specific_text": projected[..., s:]})

    @staticmethod
    def combine(parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The d-dim item vector from its parts (so a loss can reuse one ``parts`` pass)."""
        shared = 0.5 * (parts["shared_id"] + parts["shared_text"])
        return torch.cat([shared, parts["specific_id"], parts["specific_text"]], dim=-1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.combine(self.parts(idx))
