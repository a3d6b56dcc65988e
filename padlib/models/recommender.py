"""Recommenders the trainer and evaluator drive: one expert alone, or PAD's gated mixture.

Both expose ``position_logits`` (training: a logit per position and candidate),
``all_position_logits`` (full-softmax training: every position against the whole
catalogue, item vectors computed once) and ``catalog_logits`` (evaluation/serving:
the last position against a chunk of items).
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.models.experts import Expert


class SingleExpert(nn.Module):
    def __init__(self, expert: Expert) -> None:
        super().__init__()
        self.expert = expert

    def position_logits(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """history [B, L], candidates [B, L, C] → logits [B, L, C]."""
        states = self.expert.user_states(history)
        return (states.unsqueeze(2) * self.expert.item_vectors(candidates)).sum(-1)

    def all_position_logits(self, history: torch.Tensor) -> torch.Tensor:
        """history [B, L] → logits [B, L, N + 1] against every item (column 0 = padding)."""
        return self.expert.user_states(history) @ self.expert.all_item_vectors().T

    def catalog_logits(self, history: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """history [B, L], items [M] → logits [B, M] of the latest position."""
        users = self.expert.user_states(history)[:, -1]
        return users @ self.expert.item_vectors(items).T


class FrequencyGate(nn.Module):
    """PAD's frequency-aware gate: per expert a learnable vector over item buckets.

    w_k(b) = σ(α_k[b]) / Σ_j σ(α_j[b]) for the target item's bucket b (index 0 = padding).
    """

    def __init__(self, n_buckets: int, init: list[tuple[float, float]], shared: bool = False) -> None:
        super().__init__()
        alpha = torch.stack([torch.linspace(start, end, n_buckets + 1) for start, end in init])
        self.alpha = nn.Parameter(alpha.mean(1, keepdim=True) if shared else alpha)
        self.shared = shared

    def forward(self, buckets: torch.Tensor) -> torch.Tensor:
        """buckets [...] → weights [K, ...] that sum to 1 over the K experts."""
        sig = torch.sigmoid(self.alpha)
        weights = sig / sig.sum(0, keepdim=True)
        return weights[:, torch.zeros_like(buckets) if self.shared else buckets]


class PADModel(nn.Module):
    """Phase 3: experts' logits mixed by the frequency gate of the scored item."""

    def __init__(self, experts: dict[str, Expert], gate: FrequencyGate, item_buckets: torch.Tensor) -> None:
        super().__init__()
        self.experts = nn.ModuleDict(experts)
        self.gate = gate
        self.register_buffer("item_buckets", item_buckets.long(), persistent=False)

    def expert_position_logits(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """[K, B, L, C]: each expert's logits, before gating."""
        return torch.stack([
            (e.user_states(history).unsqueeze(2) * e.item_vectors(candidates)).sum(-1)
            for e in self.experts.values()
        ])

    def position_logits(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        weights = self.gate(self.item_buckets[candidates])
        return (weights * self.expert_position_logits(history, candidates)).sum(0)

    def all_position_logits(self, history: torch.Tensor) -> torch.Tensor:
        """history [B, L] → [B, L, N + 1]: the gated mixture against every item, each item
        weighted by its own bucket's gate (as ``position_logits`` does for a candidate)."""
        weights = self.gate(self.item_buckets)  # [K, N + 1]
        total = None
        for w, e in zip(weights, self.experts.values()):
            part = (e.user_states(history) @ e.all_item_vectors().T) * w
            total = part if total is None else total + part
        return total

    def catalog_logits(self, history: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        weights = self.gate(self.item_buckets[items])  # [K, M]
        total = None
        for w, e in zip(weights, self.experts.values()):
            part = (e.user_states(history)[:, -1] @ e.item_vectors(items).T) * w
            total = part if total is None else total + part
        return total
