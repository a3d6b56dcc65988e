"""DisCo-style baseline (paper Table 2) as a function of files: train from scratch, save the run.

The paper names DisCo but gives no losses; this is the reading documented in docs/disco.md:
ID and text vectors split into a shared and a specific part (``padlib.models.disco``), trained
with the recommendation BCE on the combined vector plus
w_s·(each part alone is predictive) + w_a·(shared ID ↔ shared text InfoNCE)
+ w_d·(specific parts decorrelated from their modality's shared part).
"""

from __future__ import annotations

from typing import Any

import torch

from padlib.errors import ConfigError
from padlib.losses.disco import decorrelation
from padlib.losses.infonce import info_nce
from padlib.models.build import ModelConfig, disco_expert
from padlib.models.disco import PART_NAMES, DisCoItems, part_sizes
from padlib.models.recommender import SingleExpert
from padlib.training.loop import Batch, ExtraLoss, FitResult, TrainConfig, bce_loss
from padlib.training.stage import TrainingStage

LOSS_KEYS = ("sufficiency_weight", "alignment_weight", "decorrelation_weight", "temperature")


def check_config(cfg: dict[str, Any]) -> None:
    """The ``disco`` section names exactly the loss keys, with non-negative weights and τ > 0."""
    for key in LOSS_KEYS:
        if key not in cfg:
            raise ConfigError(f"disco.{key}: missing; the disco section needs {list(LOSS_KEYS)}")
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], (int, float)):
            raise ConfigError(f"disco.{key}: expected a number, got {cfg[key]!r}")
    unknown = sorted(set(cfg) - set(LOSS_KEYS))
    if unknown:
        raise ConfigError(f"disco: unknown key(s) {unknown}; known: {list(LOSS_KEYS)}")
    for key in LOSS_KEYS[:3]:
        if cfg[key] < 0:
            raise ConfigError(f"disco.{key}: must be >= 0, got {cfg[key]}")
    if cfg["temperature"] <= 0:
        raise ConfigError(f"disco.temperature: must be > 0, got {cfg['temperature']}")


def sufficiency_loss(states: torch.Tensor, parts: dict[str, torch.Tensor], slices: dict[str, slice],
                     valid: torch.Tensor) -> torch.Tensor:
    """Mean over the four parts of the BCE of that part alone against its slice of the user state.

    states [B, L, d]; each part [B, L, 2, ·] for (target, negative)."""
    total = states.new_zeros(())
    for name in PART_NAMES:
        logits = (states[..., slices[name]].unsqueeze(2) * parts[name]).sum(-1)
        total = total + bce_loss(logits[..., 0], logits[..., 1], valid)
    return total / len(PART_NAMES)


def disentanglement_losses(items: DisCoItems, batch_items: torch.Tensor,
                           temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(InfoNCE of shared ID ↔ shared text, decorrelation of specific vs shared per modality)
    over the batch's distinct items; both 0 with fewer than two items."""
    zero = next(items.parameters()).new_zeros(())
    if batch_items.numel() < 2:
        return zero, zero
    parts = items.parts(batch_items)
    align = info_nce(parts["shared_id"], parts["shared_text"], temperature)
    decor = (decorrelation(parts["specific_id"], parts["shared_id"])
             + decorrelation(parts["specific_text"], parts["shared_text"]))
    return align, decor


def disco_loss(cfg: dict[str, Any]) -> ExtraLoss:
    """The whole DisCo objective as the loop's extra loss (run it with ``rec_weight: 0``):
    L_rec + w_s·L_suff + w_a·L_align + w_d·L_decor, one backbone pass per batch."""
    check_config(cfg)
    w_s, w_a, w_d = cfg["sufficiency_weight"], cfg["alignment_weight"], cfg["decorrelation_weight"]
    temperature = cfg["temperature"]

    def loss(model: SingleExpert, batch: Batch) -> torch.Tensor:
        if batch.negatives is None:
            raise ConfigError("train.loss: DisCo trains with the BCE loss on sampled negatives "
                              "(`train.loss: bce`), not the full softmax")
        items: DisCoItems = model.expert.items
        states = model.expert.user_states(batch.history)
        parts = items.parts(torch.stack([batch.target, batch.negatives], -1))
        valid = (batch.target != 0).float()
        logits = (states.unsqueeze(2) * items.combine(parts)).sum(-1)
        total = bce_loss(logits[..., 0], logits[..., 1], valid)
        if w_s:
            total = total + w_s * sufficiency_loss(states, parts, items.part_slices, valid)
        if w_a or w_d:
            align, decor = disentanglement_losses(items, batch.items, temperature)
            total = total + w_a * align + w_d * decor
        return total
    return loss


def disco(data_dir: str, embeddings: str, out: str, params: dict[str, Any], seed: int, *,
          device: str = "auto") -> FitResult:
    """DisCo-style baseline: disentangled ID/text items + backbone, trained from scratch."""
    extra = disco_loss(params.get("disco", {}))
    train = TrainConfig(**{**params["train"], "rec_weight": 0.0})
    if train.loss != "bce":
        raise ConfigError(f"train.loss: DisCo trains with the BCE loss (`train.loss: bce`); got {train.loss!r}")
    part_sizes(ModelConfig.from_dict(params["model"]).dim)  # a bad model.dim fails before any data is read
    stage = TrainingStage.open(data_dir, out, params, seed, device, embeddings)
    data = stage.data
    model = SingleExpert(disco_expert(data.n_items, stage.text, stage.model_cfg, data.max_input_length))
    result = stage.fit(model, train, "disco", extra_loss=extra)
    stage.save(model, "disco", result)
    return result
