"""Baselines of the paper's Table 2 that are not a PAD phase, as functions of files.

- Hybrid: ID and projected text concatenated (the "CAT" fusion) into one backbone, from scratch.
- MoRec: projected text only, from scratch.
- CTRL: the ID table and the text projection are first aligned item by item with InfoNCE
  (no recommendation loss), then the ID model alone is trained on recommendation.
- DisCo-style: shared and specific parts per modality (``padlib.training.disco``).
- MAKE (Sheng et al., 2024): an ID expert (phase 1) and a text expert pre-trained as MoRec, mixed
  by one learned weight per expert for all items and fine-tuned (``phases.train_mixture``).
The first four train from scratch and are one workflow rule (``scratch``, :func:`scratch`
dispatching on the method); MAKE starts from two trained models, so it is its own rule
(``make_experts``). SASRec is phase 1 alone and SMEM is PAD with γ = 0: no code of their own.
"""

from __future__ import annotations

from typing import Any

import torch

from padlib.losses.infonce import info_nce
from padlib.models.build import aligned_expert, build_backbone, text_expert
from padlib.models.experts import Expert
from padlib.models.recommender import SingleExpert
from padlib.training.loop import FitResult, TrainConfig
from padlib.training.disco import disco
from padlib.training.phases import train_mixture
from padlib.training.stage import TrainingStage
from padlib.variants import SCRATCH_METHODS

SINGLE_EXPERT_ARCHITECTURES = {"hybrid": "fused", "morec": "text"}


def scratch(data_dir: str, embeddings: str, out: str, params: dict[str, Any], seed: int, method: str, *,
            device: str = "auto") -> FitResult:
    """Any baseline trained from scratch (``padlib.variants.SCRATCH_METHODS``), by its method."""
    if method == "ctrl":
        return ctrl(data_dir, embeddings, out, params, seed, device=device)
    if method == "disco":
        return disco(data_dir, embeddings, out, params, seed, device=device)
    return single_expert(data_dir, embeddings, out, params, seed, method, device=device)


def single_expert(data_dir: str, embeddings: str, out: str, params: dict[str, Any], seed: int, method: str, *,
                  device: str = "auto") -> FitResult:
    """Hybrid or MoRec: one expert over (ID ⊕ text) or text alone, trained from scratch with BCE."""
    if method not in SINGLE_EXPERT_ARCHITECTURES:
        raise ValueError(f"unknown from-scratch baseline {method!r}; known: {sorted(SCRATCH_METHODS)}")
    stage = TrainingStage.open(data_dir, out, params, seed, device, embeddings)
    data, model_cfg, text = stage.data, stage.model_cfg, stage.text
    if SINGLE_EXPERT_ARCHITECTURES[method] == "fused":
        expert = aligned_expert(data.n_items, text, model_cfg, data.max_input_length)
    else:
        expert = text_expert(text, model_cfg, data.max_input_length)
    model = SingleExpert(expert)
    result = stage.fit(model, TrainConfig(**params["train"]), method)
    stage.save(model, method, result)
    return result


def contrastive_item_alignment(expert: Expert, n_items: int, epochs: int, batch_size: int, lr: float,
                               temperature: float, seed: int, device: torch.device) -> list[float]:
    """CTRL's pre-alignment: InfoNCE between each item's ID vector and its projected text, per item batch."""
    gen = torch.Generator().manual_seed(seed)
    fused = expert.items.to(device)
    optimizer = torch.optim.AdamW([p for p in fused.parameters() if p.requires_grad], lr=lr)
    losses = []
    fused.train()
    for _ in range(epochs):
        order = torch.randperm(n_items, generator=gen) + 1
        total = 0.0
        for lo in range(0, n_items, batch_size):
            items = order[lo:lo + batch_size].to(device)
            loss = info_nce(fused.ids(items), fused.text(items), temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * items.numel()
        losses.append(total / n_items)
    return losses


def ctrl(data_dir: str, embeddings: str, out: str, params: dict[str, Any], seed: int, *,
         device: str = "auto") -> FitResult:
    """CTRL: contrastive ID↔text pre-alignment, then the ID model alone fine-tuned with BCE."""
    cfg = params["ctrl"]
    stage = TrainingStage.open(data_dir, out, params, seed, device, embeddings)
    data, model_cfg = stage.data, stage.model_cfg
    paired = aligned_expert(data.n_items, stage.text, model_cfg, data.max_input_length)
    align_losses = contrastive_item_alignment(paired, data.n_items, cfg["align_epochs"], cfg["align_batch_size"],
                                              params["train"]["lr"], cfg["temperature"], seed, stage.device)
    model = SingleExpert(Expert(paired.items.ids, build_backbone(model_cfg, data.max_input_length)))
    result = stage.fit(model, TrainConfig(**params["train"]), "ctrl")
    stage.save(model, "ctrl", result, contrastive_losses=align_losses)
    return result


def make_experts(data_dir: str, embeddings: str, pretrain_ckpt: str, morec_ckpt: str, out: str,
                 params: dict[str, Any], seed: int, *, device: str = "auto") -> FitResult:
    """MAKE: the phase-1 ID expert and the MoRec text expert, one learned weight each, fine-tuned."""
    mixture = {**params, "finetune": {**params["finetune"], "experts": ["id", "text"], "gate": "shared"}}
    return train_mixture(data_dir, embeddings, {"id": pretrain_ckpt, "text": morec_ckpt}, out, mixture, seed,
                         phase="make", device=device)
