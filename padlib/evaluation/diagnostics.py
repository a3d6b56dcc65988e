"""Why a gated mixture scores what it scores: each expert alone, the learned gate per bucket, and
the "gate prior only" ranking (the phase-1 model's scores tilted by the gate's initial ID weight).

The last one separates a lift that comes from text from one that is a popularity tilt: the
frequency gate starts by weighting the ID expert by bucket, and multiplying an ID model's scores
by a bucket-dependent weight alone already reorders warm against cold items.

Items held out of training (``protocol.new_items``) are scored as new ones here too, each scorer
with its own new-item rows (``padlib.evaluation.new_items``), as the mixture itself is evaluated.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from padlib.data.dataset import EvalSplit
from padlib.evaluation.metrics import summarize
from padlib.evaluation.new_items import catalog_with_new_items
from padlib.evaluation.ranking import target_ranks
from padlib.models.newitems import NewItemPolicy
from padlib.models.recommender import Catalog, FrequencyGate, PADModel, SingleExpert


class ScaledCatalog(nn.Module):
    """A model whose catalogue rows are multiplied by a per-item weight: score(u, i) = w(i)·s(u, i)."""

    def __init__(self, model: nn.Module, weight: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("weight", weight.float(), persistent=False)

    def catalog(self) -> Catalog:
        return self.scaled(self.model.catalog())

    def scaled(self, inner: Catalog) -> Catalog:
        """``inner`` (the wrapped model's catalogue, or its catalogue with new-item rows) scaled."""
        return Catalog(inner.tables, inner.matrix * self.weight.unsqueeze(-1))

    def users(self, history: torch.Tensor, catalog: Catalog) -> torch.Tensor:
        return self.model.users(history, catalog)


def gate_weights(model: PADModel) -> torch.Tensor:
    """[K, B + 1]: each expert's mean gate weight over the items of each bucket (index 0 unused).

    The frequency gate's weight depends on the bucket only; the gate network's also on the item,
    so its weights are averaged over the bucket's items.
    """
    with torch.no_grad():
        tables = [e.item_table() for e in model.experts.values()]
        per_item = model.gate(model.item_buckets, tables)                      # [K, N + 1]
    buckets = model.item_buckets
    n = int(buckets.max()) + 1
    total = torch.zeros(per_item.shape[0], n, device=per_item.device).index_add_(1, buckets, per_item)
    count = torch.zeros(n, device=per_item.device).index_add_(0, buckets, torch.ones_like(per_item[0]))
    return total / count.clamp_min(1)


def initial_gate_weights(experts: list[str], gate_init: dict[str, list[float]], n_buckets: int) -> torch.Tensor:
    """[K, B + 1]: the weights the frequency gate starts from (``finetune.gate_init``)."""
    gate = FrequencyGate(n_buckets, [tuple(gate_init[name]) for name in experts])
    with torch.no_grad():
        return gate(torch.arange(n_buckets + 1))


def mixture_diagnostics(model: PADModel, gate_init: dict[str, list[float]], split: EvalSplit, n_items: int,
                        n_buckets: int, k: int, batch_size: int, device: torch.device | str, source: str,
                        phase1: nn.Module | None = None, held_out: torch.Tensor | None = None,
                        policy: NewItemPolicy | None = None, unseen: torch.Tensor | None = None) -> dict[str, Any]:
    """Test-split metrics of each expert alone and of the gate prior (with the phase-1 model
    ``phase1``), and the learned and initial gate weights per bucket (``source`` names the model
    in errors). ``held_out`` [N + 1] (bool): items scored with ``policy``'s new-item rows;
    ``unseen`` [N + 1] (bool): the items whose targets form the ``new`` group."""
    buckets = model.item_buckets.cpu()
    target_buckets = buckets[split.target].numpy()
    target_new = None if unseen is None else unseen.cpu()[split.target].numpy()
    held_out = torch.zeros(n_items + 1, dtype=torch.bool) if held_out is None else held_out
    policy = policy or NewItemPolicy()

    def new_rows(scorer: nn.Module) -> Catalog:
        return catalog_with_new_items(scorer, held_out.to(device), policy)

    def metrics(scorer: nn.Module, catalog: Catalog) -> dict:
        ranks = target_ranks(scorer, split.history, split.target, n_items, batch_size, device=device,
                             source=source, known=split.known, repeat_target=split.repeat_target, catalog=catalog)
        return summarize(ranks, target_buckets, n_buckets, k, target_new)

    names = list(model.experts)
    learned = gate_weights(model).cpu()
    initial = initial_gate_weights(names, gate_init, n_buckets)
    experts = {}
    for name, expert in model.experts.items():
        alone = SingleExpert(expert)
        experts[name] = metrics(alone, new_rows(alone))
    out: dict[str, Any] = {
        "experts": experts,
        "gate": {"learned": {name: learned[i, 1:].tolist() for i, name in enumerate(names)},
                 "initial": {name: initial[i, 1:].tolist() for i, name in enumerate(names)}},
    }
    if phase1 is not None and "id" in names:
        weight = initial[names.index("id")][buckets].to(device)
        prior = ScaledCatalog(phase1, weight)
        out["gate_prior"] = metrics(prior, prior.scaled(new_rows(phase1)))
    return out
