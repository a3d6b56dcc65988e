"""Item encoders: how an expert turns item indices into vectors.

ID (a learned table), text (a projection MLP over frozen LLM embeddings) and fused
(the official "CAT" fusion of both). Index 0 is padding everywhere. Each exposes
``n_items`` (catalogue size, padding excluded) so an expert can score the whole catalogue, and
``new_rows`` (the vectors of items added after training, from their normalised text alone: the
ID part from a :class:`~padlib.models.newitems.NewItemPolicy`), so serving can append items
without rebuilding the catalogue.
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.models.dropout import Dropout
from padlib.models.newitems import NewItemPolicy


class IdItems(nn.Module):
    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.table.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.table.weight[0].zero_()

    @property
    def n_items(self) -> int:
        return self.table.num_embeddings - 1

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table(idx)

    def new_rows(self, text: torch.Tensor, policy: NewItemPolicy) -> torch.Tensor:
        """[M, d]: the policy's row for each of M new items (their text [M, d_text] is not used)."""
        return policy.id_vector(self.table.weight).expand(text.shape[0], -1)


def projection_mlp(text_dim: int, dim: int, layers: int, dropout: float) -> nn.Sequential:
    """Official text projection: Linear(d_text→d)+GELU, then ``layers``×[Dropout, Linear d→d, GELU]."""
    modules: list[nn.Module] = [nn.Linear(text_dim, dim), nn.GELU()]
    for _ in range(layers):
        modules += [Dropout(dropout), nn.Linear(dim, dim), nn.GELU()]
    return nn.Sequential(*modules)


class TextItems(nn.Module):
    """Frozen text embeddings (a buffer, never trained) through a trainable projection."""

    costly = True  # an MLP per item: Expert.shared_item_vectors encodes each distinct item once

    def __init__(self, text: torch.Tensor, dim: int, layers: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("text", text.float(), persistent=False)
        self.proj = projection_mlp(text.shape[1], dim, layers, dropout)

    @property
    def n_items(self) -> int:
        return self.text.shape[0] - 1

    def project(self, idx: torch.Tensor) -> torch.Tensor:
        """The projection of each index's text, padding included: the official code projects the
        padding row's (all-zero) text too, and its alignment sample compares that vector."""
        return self.proj(self.text[idx])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.project(idx) * (idx != 0).unsqueeze(-1)

    def new_rows(self, text: torch.Tensor, policy: NewItemPolicy | None = None) -> torch.Tensor:
        """[M, d]: the projection of M new items' normalised text [M, d_text]."""
        return self.proj(text.to(self.text.dtype))


class FusedItems(nn.Module):
    """The alignment expert's items: concat(ID, projected text) → dropout → Linear 2d→d → GELU.

    With ``keep_text`` set, each training forward (with gradients) keeps the projected text it
    computed, so the alignment loss can compare the very vectors the recommendation loss saw, as
    the official code does (``align.text_vectors: forward``); ``kept_text`` hands them over."""

    costly = True

    def __init__(self, ids: IdItems, text: TextItems, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.ids = ids
        self.text = text
        self.fuse = nn.Sequential(Dropout(dropout), nn.Linear(2 * dim, dim), nn.GELU())
        self.keep_text = False
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def n_items(self) -> int:
        return self.ids.n_items

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        text = self.text.project(idx)  # the padding rows' output is zeroed below
        if self.keep_text and self.training and torch.is_grad_enabled():
            self._kept.append((idx.reshape(-1), text.reshape(-1, text.shape[-1])))
        return self.fuse(torch.cat([self.ids(idx), text], dim=-1)) * (idx != 0).unsqueeze(-1)

    def new_rows(self, text: torch.Tensor, policy: NewItemPolicy) -> torch.Tensor:
        """[M, d]: M new items fused from the policy's ID row and their projected text."""
        return self.fuse(torch.cat([self.ids.new_rows(text, policy), self.text.new_rows(text)], dim=-1))

    def kept_text(self, items: torch.Tensor) -> torch.Tensor:
        """The projected text of ``items`` that the forwards since the last call computed (their
        dropout draw included), and forget them; a fresh pass when no forward ran (a phase 2
        without the recommendation loss). The padding item 0 is the projection of the all-zero
        text (``TextItems.project``), computed afresh when no forward had a padded position."""
        if not self._kept:
            return self.text.project(items)
        idx = torch.cat([i for i, _ in self._kept])
        vectors = torch.cat([v for _, v in self._kept])
        self._kept.clear()
        if bool((items == 0).any()) and not bool((idx == 0).any()):
            idx = torch.cat([idx, idx.new_zeros(1)])
            vectors = torch.cat([vectors, self.text.project(idx[-1:]).to(vectors.dtype)])
        idx, order = idx.sort()
        pos = torch.searchsorted(idx, items).clamp_max(idx.numel() - 1)
        if not bool((idx[pos] == items).all()):
            raise RuntimeError("the alignment loss needs items the training forward did not project")
        return vectors[order[pos]]
