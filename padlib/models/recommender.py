"""Recommenders the trainer and evaluator drive: one expert alone, or PAD's gated mixture.

Both expose ``position_logits`` (training: a logit per position and candidate),
``states`` (every position's state, which ``softmax_logits`` scores against the whole catalogue
for full-softmax training), and for evaluation and serving ``catalog()``
(every item's vector, computed once per pass) with ``users(history, catalog)``: a user's
score for item i is ``users(...) @ catalog.matrix[i]``, one matrix product. PAD's gate
depends on the item only, so its mixture folds into the catalogue: row i is
[w_1(i)·v_1(i), ..., w_K(i)·v_K(i)] and the user vector is [u_1, ..., u_K].
``catalog_logits`` scores the last position against some items without a prepared catalogue.
``new_item_rows`` computes the catalogue rows of items added after training from their text
alone (``padlib.models.newitems``), for ``Catalog.extend`` / ``ServingCatalog.extend``; the
model itself keeps its trained items (``position_logits`` and ``catalog_logits`` know only those).
"""

from __future__ import annotations

import torch
from torch import nn

from padlib.models.catalog import Catalog, CatalogRows
from padlib.models.experts import Expert
from padlib.models.newitems import NewItemPolicy


def softmax_logits(model: SingleExpert | PADModel, history: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """history [B, L], where [B, L] (bool) → logits [P, N] of the P marked positions against
    items 1..N. Only positions with a target are scored (short sequences are mostly padding),
    and the history's inputs are looked up in the same item table as the catalogue. For PAD the
    gate folds into the catalogue's rows, each item weighted by its own gate (as
    ``position_logits`` does for a candidate)."""
    catalog = model.catalog()
    return model.states(history, catalog)[where] @ catalog.matrix[1:].T


class SingleExpert(nn.Module):
    def __init__(self, expert: Expert) -> None:
        super().__init__()
        self.expert = expert

    def position_logits(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """history [B, L], candidates [B, L, C] → logits [B, L, C]."""
        inputs, targets = self.expert.training_item_vectors(history, candidates)
        states = self.expert.user_states(history, inputs)
        return (states.unsqueeze(2) * targets).sum(-1)

    def catalog(self) -> Catalog:
        table = self.expert.item_table()
        return Catalog([table], table)

    def new_item_rows(self, text: torch.Tensor, policy: NewItemPolicy) -> CatalogRows:
        """Rows of M new items from their normalised text [M, d_text] (ignored by an ID-only model,
        whose new items all get the policy's ID row)."""
        table = self.expert.new_item_table(text, policy)
        return CatalogRows([table], table)

    def users(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        """history [B, L] → user vectors [B, D] to score against ``catalog.matrix``."""
        return self.expert.user_vector(history, catalog.tables[0])

    def states(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        """history [B, L] → per-position states [B, L, D] to score against ``catalog.matrix``."""
        return self.expert.user_states(history, catalog.tables[0][history])

    def catalog_logits(self, history: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """history [B, L], items [M] → logits [B, M] of the latest position."""
        return self.expert.user_vector(history) @ self.expert.item_vectors(items).T


class FrequencyGate(nn.Module):
    """PAD's frequency-aware gate: per expert a learnable vector over item buckets.

    w_k(b) = σ(α_k[b]) / Σ_j σ(α_j[b]) for the target item's bucket b (index 0 = padding).
    ``shared`` keeps one α_k for all buckets (the "no frequency gate" ablation).
    """

    def __init__(self, n_buckets: int, init: list[tuple[float, float]], shared: bool = False) -> None:
        super().__init__()
        alpha = torch.stack([torch.linspace(start, end, n_buckets + 1) for start, end in init])
        self.alpha = nn.Parameter(alpha.mean(1, keepdim=True) if shared else alpha)
        self.shared = shared
        self.n_buckets = n_buckets

    def scores(self, buckets: torch.Tensor) -> torch.Tensor:
        """[K, ...]: each expert's gate score α_k[b] before normalisation."""
        return self.alpha[:, torch.zeros_like(buckets) if self.shared else buckets]

    def forward(self, buckets: torch.Tensor, vectors: list[torch.Tensor] | None = None) -> torch.Tensor:
        """buckets [...] → weights [K, ...] that sum to 1 over the K experts (``vectors`` unused)."""
        sig = torch.sigmoid(self.scores(buckets))
        return sig / sig.sum(0, keepdim=True)


class NetworkGate(FrequencyGate):
    """The gate network of the paper's text (Eq. 11): expert k's probability depends on the
    target item's bucket *and* that expert's embedding of the item,

        w_k(i) ∝ σ(α_k[b(i)] + MLP_k(h_i^k)),

    with MLP_k's output layer zero-initialised, so training starts from the frequency gate.
    """

    def __init__(self, n_buckets: int, init: list[tuple[float, float]], dims: list[int], hidden: int) -> None:
        super().__init__(n_buckets, init)
        self.nets = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, 1)) for d in dims)
        for net in self.nets:
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)

    def forward(self, buckets: torch.Tensor, vectors: list[torch.Tensor] | None = None) -> torch.Tensor:
        if vectors is None or len(vectors) != len(self.nets):
            raise ValueError(f"the gate network needs each of the {len(self.nets)} experts' item vectors")
        corrections = torch.stack([net(v).squeeze(-1) for net, v in zip(self.nets, vectors)])
        sig = torch.sigmoid(self.scores(buckets) + corrections)
        return sig / sig.sum(0, keepdim=True)


class PADModel(nn.Module):
    """Phase 3: experts' logits mixed by the gate, evaluated at the scored item."""

    def __init__(self, experts: dict[str, Expert], gate: FrequencyGate, item_buckets: torch.Tensor) -> None:
        super().__init__()
        self.experts = nn.ModuleDict(experts)
        self.gate = gate
        self.register_buffer("item_buckets", item_buckets.long(), persistent=False)

    def _mix(self, items: torch.Tensor, vectors: list[torch.Tensor], logits: list[torch.Tensor]) -> torch.Tensor:
        weights = self.gate(self.item_buckets[items], vectors)
        return sum(w * part for w, part in zip(weights, logits))

    def position_logits(self, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        vectors, logits = [], []
        for expert in self.experts.values():
            inputs, targets = expert.training_item_vectors(history, candidates)
            vectors.append(targets)
            logits.append((expert.user_states(history, inputs).unsqueeze(2) * targets).sum(-1))
        return self._mix(candidates, vectors, logits)

    def catalog(self) -> Catalog:
        tables = [e.item_table() for e in self.experts.values()]
        weights = self.gate(self.item_buckets, tables)            # [K, N + 1]
        return Catalog(tables, torch.cat([w.unsqueeze(-1) * t for w, t in zip(weights, tables)], dim=-1))

    def new_item_rows(self, text: torch.Tensor, policy: NewItemPolicy) -> CatalogRows:
        """Rows of M new items from their normalised text [M, d_text]: each expert's vectors (the
        ID parts from the policy's row) weighted by the gate at the policy's bucket, as ``catalog``
        weighs a trained item of that bucket."""
        tables = [e.new_item_table(text, policy) for e in self.experts.values()]
        buckets = torch.full((len(text),), policy.bucket_of_new(self.gate.n_buckets), dtype=torch.long,
                             device=self.item_buckets.device)
        weights = self.gate(buckets, tables)                       # [K, M]
        return CatalogRows(tables, torch.cat([w.unsqueeze(-1) * t for w, t in zip(weights, tables)], dim=-1))

    def users(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        """history [B, L] → [B, K·d]: the experts' user vectors side by side."""
        return torch.cat([e.user_vector(history, t) for e, t in zip(self.experts.values(), catalog.tables)], -1)

    def states(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        """history [B, L] → [B, L, K·d]: the experts' per-position states side by side."""
        return torch.cat([e.user_states(history, t[history]) for e, t in zip(self.experts.values(), catalog.tables)],
                         -1)

    def catalog_logits(self, history: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        vectors = [e.item_vectors(items) for e in self.experts.values()]
        logits = [e.user_vector(history) @ v.T for e, v in zip(self.experts.values(), vectors)]
        return self._mix(items, vectors, logits)
